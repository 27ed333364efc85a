// A ChatEngine for tests and demos that needs no weights: it streams a scripted reply as fast as asked,
// and fails on purpose (refuses to load, runs out of memory, breaks mid-reply) so the app's error paths
// can be exercised.
#pragma once

#include <QHash>
#include <QSet>

#include "app/ChatEngine.h"

class FaultyEngine : public ChatEngine {
public:
    struct Options {
        QString reply = QStringLiteral("This is a scripted reply from the test engine.");
        QString thinking;                   // non-empty: streamed first, as R1 thinking
        int tokenDelayMicros = 0;           // 0 = full speed
        int repeatReply = 1;                // the reply is streamed this many times
        int failAfterTokens = -1;           // >= 0: a Device error after that many pieces
        QString failLoadSubstring;          // paths containing it fail to load (BadModel)
        qint64 modelBytes = 100 * 1024 * 1024;  // each model's memory need
        qint64 capacity = qint64(8) * 1024 * 1024 * 1024;
        int contextLength = 4096;
        bool seesImages = false;
        QString loadedDevice;               // non-empty: where models run once one is loaded
        // Text-to-image: paths containing imageModelSubstring (any case) see and generate images. A batch
        // is one prompt step, imageSteps token steps and one decode step per image; the images are a
        // pattern drawn from the seed, prompt and place in the batch (same settings, same images).
        QString imageModelSubstring = QStringLiteral("janus");
        int imageSteps = 24;
        int imageStepMicros = 0;            // each token step's delay
        int imageSize = 64;                 // pixels per side
        int failImagesAfterSteps = -1;      // >= 0: a Device error after that many token steps
    };

    FaultyEngine();
    explicit FaultyEngine(Options options);

    QString deviceName() const override;
    qint64 memoryCapacity() const override;
    ModelEntry probe(const QString& path) override;
    std::optional<AppError> load(const QString& path, const std::function<bool(double)>& progress) override;
    void unload(const QString& path) override;
    int countPromptTokens(const QString& path, const EngineRequest& request) override;
    std::optional<AppError> generate(const QString& path, const EngineRequest& request,
                                     const EngineCallbacks& callbacks, const std::atomic<bool>& cancel,
                                     GenerationStats* stats) override;
    std::optional<AppError> generateImages(const QString& path, const ImageGenParams& params,
                                           const ImageProgressCallback& progress, const std::atomic<bool>& cancel,
                                           ImageGenResult* result) override;

    // The picture generateImages makes for one image of a batch.
    static QImage patternImage(const ImageGenParams& params, int index, int size);

    QSet<QString> loadedPaths() const { return m_loaded; }

private:
    Options m_options;
    QSet<QString> m_loaded;
};
