// The app's boundary to an inference engine. InferenceWorker owns one ChatEngine and calls it only from
// its own thread, so implementations need no locking; the cancel flag is the one thing written by the
// GUI thread. TesseraEngine wraps the real engine; FaultyEngine fails on purpose for tests.
#pragma once

#include <QString>
#include <QStringList>
#include <QVector>

#include <atomic>
#include <functional>
#include <optional>

#include "ui/common/ChatTypes.h"
#include "ui/imagegen/ImageGenTypes.h"

// One turn of the conversation sent to the model.
struct EngineTurn {
    ChatMessage::Role role = ChatMessage::Role::User;
    QString content;
    QStringList imagePaths;
};

struct EngineRequest {
    QString systemPrompt;
    QVector<EngineTurn> turns;
    SamplingSettings sampling;
};

// Text comes back in pieces; a callback returning false asks the engine to stop (like the cancel flag).
struct EngineCallbacks {
    std::function<bool(const QString&)> onAnswer;
    std::function<bool(const QString&)> onThinking;
};

// Text-to-image: what came out of one batch. codes are the image tokens of each image (raster order).
struct ImageGenResult {
    QList<QImage> images;
    QList<QVector<qint32>> codes;
};

// Progress of a batch: phase, steps done and steps in the phase. Returning false asks the engine to stop.
using ImageProgressCallback = std::function<bool(ImageGenPhase phase, int step, int total)>;

class ChatEngine {
public:
    virtual ~ChatEngine() = default;

    // Where models run: "CPU" or "CUDA · NVIDIA H200 · 139 GiB" (the most recently loaded model's device).
    virtual QString deviceName() const = 0;
    // Bytes the engine may use for weights and caches on its device (RAM or VRAM).
    virtual qint64 memoryCapacity() const = 0;

    // Reads a folder (or .gguf file) without loading weights: kind, size, memory estimate, or the reason
    // it cannot be used (entry.kind == Broken, entry.error).
    virtual ModelEntry probe(const QString& path) = 0;

    // Loads a model. progress(0..1) returning false cancels the load.
    virtual std::optional<AppError> load(const QString& path, const std::function<bool(double)>& progress) = 0;
    virtual void unload(const QString& path) = 0;

    // Tokens the request's prompt takes with this model (used to fit the conversation in the context).
    virtual int countPromptTokens(const QString& path, const EngineRequest& request) = 0;

    // Generates one reply. Returns an error (Cancelled when the flag or a callback stopped it, with the
    // partial text already delivered).
    virtual std::optional<AppError> generate(const QString& path, const EngineRequest& request,
                                             const EngineCallbacks& callbacks, const std::atomic<bool>& cancel,
                                             GenerationStats* stats) = 0;

    // Makes params.count images for params.prompt with a model whose probe said generatesImages. Returns an
    // error (Cancelled when the flag or the callback stopped it; then `result` stays empty).
    virtual std::optional<AppError> generateImages(const QString& path, const ImageGenParams& params,
                                                   const ImageProgressCallback& progress,
                                                   const std::atomic<bool>& cancel, ImageGenResult* result) {
        (void)path, (void)params, (void)progress, (void)cancel, (void)result;
        return AppError{AppError::Kind::Unsupported, QStringLiteral("This engine cannot generate images"), {}};
    }
};
