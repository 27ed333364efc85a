// InferenceWorker: owns the ChatEngine and lives on its own QThread. Requests arrive as queued slot calls
// carrying an id; results leave as queued signals keyed by that id. Streaming text is coalesced to about
// 30 updates a second so the GUI thread never drowns in signals, and cancel() is safe from any thread.
#pragma once

#include <QElapsedTimer>
#include <QHash>
#include <QMutex>
#include <QObject>
#include <QSet>
#include <QStringList>

#include <atomic>
#include <memory>

#include "app/ChatEngine.h"

class InferenceWorker : public QObject {
    Q_OBJECT
public:
    explicit InferenceWorker(std::unique_ptr<ChatEngine> engine, QObject* parent = nullptr);
    ~InferenceWorker() override;

    // Thread-safe: stops request `requestId` at the next token, image step or load step — that request only,
    // so cancelling an image batch queued behind a chat reply leaves the reply running. A request cancelled
    // before it starts is not run.
    void cancel(quint64 requestId);

    static constexpr int kEmitIntervalMs = 33;  // ~30 Hz

    // Request ids are unique across every client (chat, images, model loads).
    static quint64 nextRequestId();
    // What scanFolders looks at: the folder itself, and folders and .gguf files up to two levels below.
    static QStringList findModelPaths(const QString& folder);

public slots:
    void start();
    void probe(quint64 requestId, const QStringList& paths);
    // Finds checkpoint folders (a config.json) and .gguf files in the folders, then probes each.
    void scanFolders(quint64 requestId, const QStringList& folders);
    void loadModel(quint64 requestId, const QString& path);
    void unloadModel(const QString& path);
    void generate(quint64 requestId, const QString& modelPath, const EngineRequest& request);
    // Text-to-image with a model that generates images; answers with imageProgress, then imagesReady or
    // imageError (kind Cancelled after cancel(requestId)).
    void generateImages(quint64 requestId, const QString& modelPath, const ImageGenParams& params);
    // Limits the memory models may take together (0 = the engine's capacity).
    void setMemoryBudget(qint64 bytes);

signals:
    void deviceInfo(const QString& device, qint64 capacityBytes);
    void probed(quint64 requestId, const QList<ModelEntry>& entries);
    void loadProgress(quint64 requestId, const QString& path, double fraction);
    void modelLoaded(quint64 requestId, const QString& path);
    // reason is set when the worker unloaded it on its own to make room.
    void modelUnloaded(const QString& path, const QString& reason);
    void memoryInUse(qint64 bytes);
    void contextTrimmed(quint64 requestId, int droppedTurns, int contextLength);
    void textDelta(quint64 requestId, const QString& text);
    void thinkingDelta(quint64 requestId, const QString& text);
    void stats(quint64 requestId, const GenerationStats& stats);
    void failed(quint64 requestId, const AppError& error);
    // stopped: cut short by cancel() (the partial text stays); failed() came first when it broke.
    void finished(quint64 requestId, bool stopped);
    // etaSeconds: time left from the measured step time (< 0 while unknown). Coalesced like the text stream,
    // but the first and last step of each phase always arrive.
    void imageProgress(quint64 requestId, ImageGenPhase phase, int step, int total, double etaSeconds);
    // params as given, with the model's name and path filled in.
    void imagesReady(quint64 requestId, const QList<QImage>& images, const ImageGenParams& params);
    void imageError(quint64 requestId, const AppError& error);

private:
    bool isCancelled(quint64 requestId) const;
    void forgetCancel(quint64 requestId);
    std::optional<AppError> ensureLoaded(quint64 requestId, const QString& path);
    ModelEntry entryFor(const QString& path);
    qint64 budget() const;
    qint64 usedBytes() const;
    void flush(quint64 requestId, bool force);

    std::unique_ptr<ChatEngine> m_engine;
    QHash<QString, ModelEntry> m_entries;  // probe results, by path
    QHash<QString, qint64> m_loaded;       // loaded models and their memory
    QStringList m_lru;                     // least recently used first
    qint64 m_budget = 0;

    std::atomic<quint64> m_active{0};
    mutable QMutex m_cancelMutex;
    QSet<quint64> m_cancelled;  // ids cancelled and not yet finished
    std::atomic<bool> m_cancelFlag{false};

    QElapsedTimer m_sinceEmit;
    QElapsedTimer m_genTimer;
    QString m_pendingAnswer;
    QString m_pendingThinking;
    int m_pieces = 0;
};
