// InferenceWorker: model loading with least-recently-used eviction, fitting a conversation into the
// model's context (and saying what was left out), and the coalesced streaming loop.
#include "app/InferenceWorker.h"

#include <QDir>
#include <QFileInfo>

#include <algorithm>
#include <functional>
#include <utility>

InferenceWorker::InferenceWorker(std::unique_ptr<ChatEngine> engine, QObject* parent)
    : QObject(parent), m_engine(std::move(engine)) {}

InferenceWorker::~InferenceWorker() = default;

quint64 InferenceWorker::nextRequestId() {
    static std::atomic<quint64> next{1};
    return next.fetch_add(1);
}

void InferenceWorker::cancel(quint64 requestId) {
    // Order matters (see generate): record the id first, then raise the flag if it is the running one.
    {
        QMutexLocker lock(&m_cancelMutex);
        m_cancelled.insert(requestId);
    }
    if (m_active.load() == requestId) m_cancelFlag.store(true);
}

bool InferenceWorker::isCancelled(quint64 requestId) const {
    if (m_cancelFlag.load() && m_active.load() == requestId) return true;
    QMutexLocker lock(&m_cancelMutex);
    return m_cancelled.contains(requestId);
}

void InferenceWorker::forgetCancel(quint64 requestId) {
    QMutexLocker lock(&m_cancelMutex);
    m_cancelled.remove(requestId);
}

void InferenceWorker::start() { emit deviceInfo(m_engine->deviceName(), m_engine->memoryCapacity()); }

void InferenceWorker::setMemoryBudget(qint64 bytes) { m_budget = bytes; }

qint64 InferenceWorker::budget() const { return m_budget > 0 ? m_budget : m_engine->memoryCapacity(); }

qint64 InferenceWorker::usedBytes() const {
    qint64 sum = 0;
    for (auto it = m_loaded.cbegin(); it != m_loaded.cend(); ++it) sum += it.value();
    return sum;
}

ModelEntry InferenceWorker::entryFor(const QString& path) {
    auto it = m_entries.find(path);
    if (it != m_entries.end()) return it.value();
    ModelEntry e = m_engine->probe(path);
    m_entries.insert(path, e);
    return e;
}

void InferenceWorker::probe(quint64 requestId, const QStringList& paths) {
    QList<ModelEntry> out;
    for (const auto& p : paths) {
        m_entries.remove(p);  // a folder may have changed on disk since the last look
        ModelEntry e = entryFor(p);
        if (m_loaded.contains(p)) e.state = ModelEntry::State::Loaded;
        out << e;
    }
    emit probed(requestId, out);
}

QStringList InferenceWorker::findModelPaths(const QString& folder) {
    QStringList out;
    const QFileInfo root(folder);
    if (root.isFile()) return QStringList{folder};
    std::function<void(const QString&, int)> walk = [&](const QString& dir, int depth) {
        QDir d(dir);
        if (d.exists(QStringLiteral("config.json"))) {
            out << d.absolutePath();
            return;
        }
        for (const QFileInfo& f : d.entryInfoList({QStringLiteral("*.gguf")}, QDir::Files, QDir::Name))
            out << f.absoluteFilePath();
        if (depth == 0) return;
        for (const QFileInfo& sub : d.entryInfoList(QDir::Dirs | QDir::NoDotAndDotDot, QDir::Name))
            walk(sub.absoluteFilePath(), depth - 1);
    };
    walk(folder, 2);
    // A folder the user added that holds nothing usable is itself reported (as broken) by the probe.
    if (out.isEmpty()) out << root.absoluteFilePath();
    return out;
}

void InferenceWorker::scanFolders(quint64 requestId, const QStringList& folders) {
    QStringList paths;
    for (const QString& f : folders) {
        for (const QString& p : findModelPaths(f)) {
            if (!paths.contains(p)) paths << p;
        }
    }
    probe(requestId, paths);
}

std::optional<AppError> InferenceWorker::ensureLoaded(quint64 requestId, const QString& path) {
    if (m_loaded.contains(path)) {
        m_lru.removeAll(path);
        m_lru.append(path);
        return std::nullopt;
    }
    const ModelEntry entry = entryFor(path);
    const QString name = entry.name.isEmpty() ? QFileInfo(path).fileName() : entry.name;
    if (entry.kind == ModelEntry::Kind::Broken)
        return AppError{AppError::Kind::BadModel, QStringLiteral("%1 cannot be used: %2").arg(name, entry.error),
                        entry.error + QLatin1Char('\n') + entry.hint};
    if (entry.kind == ModelEntry::Kind::Gguf)
        return AppError{AppError::Kind::Unsupported,
                        QStringLiteral("%1 is a GGUF file; Tessera runs the official checkpoint folders").arg(name),
                        path};
    if (entry.memoryBytes > budget())
        return AppError{AppError::Kind::OutOfMemory,
                        QStringLiteral("%1 needs about %2 but only %3 is available")
                            .arg(name, formatBytes(entry.memoryBytes), formatBytes(budget())),
                        path};
    // Make room: unload the least recently used models until the new one fits, and say so.
    while (!m_lru.isEmpty() && usedBytes() + entry.memoryBytes > budget()) {
        const QString victim = m_lru.takeFirst();
        m_engine->unload(victim);
        m_loaded.remove(victim);
        emit modelUnloaded(victim, tr("Unloaded %1 to make room for %2")
                                       .arg(entryFor(victim).name.isEmpty() ? QFileInfo(victim).fileName()
                                                                            : entryFor(victim).name,
                                            name));
    }
    emit loadProgress(requestId, path, 0.0);
    auto error = m_engine->load(path, [&](double fraction) {
        emit loadProgress(requestId, path, fraction);
        return !isCancelled(requestId);
    });
    if (error) return error;
    m_loaded.insert(path, entry.memoryBytes);
    m_lru.append(path);
    emit modelLoaded(requestId, path);
    emit memoryInUse(usedBytes());
    emit deviceInfo(m_engine->deviceName(), m_engine->memoryCapacity());  // the engine chose where it runs
    return std::nullopt;
}

void InferenceWorker::loadModel(quint64 requestId, const QString& path) {
    m_active.store(requestId);
    m_cancelFlag.store(false);
    auto error = ensureLoaded(requestId, path);
    m_active.store(0);
    forgetCancel(requestId);
    if (error) {
        emit failed(requestId, *error);
        emit finished(requestId, error->kind == AppError::Kind::Cancelled);
        return;
    }
    emit finished(requestId, false);
}

void InferenceWorker::unloadModel(const QString& path) {
    if (!m_loaded.contains(path)) return;
    m_engine->unload(path);
    m_loaded.remove(path);
    m_lru.removeAll(path);
    emit modelUnloaded(path, QString());
    emit memoryInUse(usedBytes());
    emit deviceInfo(m_engine->deviceName(), m_engine->memoryCapacity());
}

void InferenceWorker::flush(quint64 requestId, bool force) {
    if (!force && m_sinceEmit.isValid() && m_sinceEmit.elapsed() < kEmitIntervalMs) return;
    if (!m_pendingThinking.isEmpty()) emit thinkingDelta(requestId, std::exchange(m_pendingThinking, QString()));
    if (!m_pendingAnswer.isEmpty()) emit textDelta(requestId, std::exchange(m_pendingAnswer, QString()));
    GenerationStats live;
    live.generatedTokens = m_pieces;
    live.seconds = double(m_genTimer.nsecsElapsed()) / 1e9;
    live.tokensPerSecond = live.seconds > 0 ? m_pieces / live.seconds : 0.0;
    emit stats(requestId, live);
    m_sinceEmit.restart();
}

void InferenceWorker::generate(quint64 requestId, const QString& modelPath, const EngineRequest& request) {
    // Publish the id first, then clear the flag, then look at the cancelled id (cancel() does the reverse).
    m_active.store(requestId);
    m_cancelFlag.store(false);
    auto finish = [&](std::optional<AppError> error) {
        m_active.store(0);
        forgetCancel(requestId);
        if (error && error->kind != AppError::Kind::Cancelled) emit failed(requestId, *error);
        emit finished(requestId, error && error->kind == AppError::Kind::Cancelled);
    };
    if (isCancelled(requestId)) return finish(AppError{AppError::Kind::Cancelled, {}, {}});
    if (auto error = ensureLoaded(requestId, modelPath)) return finish(error);

    // Fit the conversation into the context: drop the oldest turns (never the system prompt or the newest
    // message) and tell the GUI exactly how many went, instead of truncating silently.
    const ModelEntry entry = entryFor(modelPath);
    EngineRequest fitted = request;
    const int context = entry.contextLength > 0 ? entry.contextLength : 4096;
    const int reserve = std::min(std::max(request.sampling.maxNewTokens, 16), context / 4);
    int dropped = 0;
    while (fitted.turns.size() > 1 && m_engine->countPromptTokens(modelPath, fitted) + reserve > context) {
        fitted.turns.removeFirst();
        ++dropped;
        // A conversation sent to the model starts with the user's turn.
        while (fitted.turns.size() > 1 && fitted.turns.first().role != ChatMessage::Role::User) {
            fitted.turns.removeFirst();
            ++dropped;
        }
    }
    const int promptTokens = m_engine->countPromptTokens(modelPath, fitted);
    if (promptTokens + reserve > context) {
        return finish(AppError{AppError::Kind::Unsupported,
                               tr("The message is too long for this model: %1 tokens, and the model's context "
                                  "holds %2 including room for the reply").arg(promptTokens).arg(context),
                               {}});
    }
    if (dropped > 0) emit contextTrimmed(requestId, dropped, context);

    m_pendingAnswer.clear();
    m_pendingThinking.clear();
    m_pieces = 0;
    m_genTimer.start();
    m_sinceEmit.start();
    EngineCallbacks callbacks;
    callbacks.onAnswer = [&](const QString& text) {
        m_pendingAnswer += text;
        ++m_pieces;
        flush(requestId, false);
        return !isCancelled(requestId);
    };
    callbacks.onThinking = [&](const QString& text) {
        m_pendingThinking += text;
        ++m_pieces;
        flush(requestId, false);
        return !isCancelled(requestId);
    };
    GenerationStats totals;
    auto error = m_engine->generate(modelPath, fitted, callbacks, m_cancelFlag, &totals);
    // The engine may report a plain stop as success when the flag ended it between tokens.
    if (!error && isCancelled(requestId)) error = AppError{AppError::Kind::Cancelled, {}, {}};
    flush(requestId, true);
    if (totals.promptTokens == 0) totals.promptTokens = promptTokens;
    emit stats(requestId, totals);
    m_lru.removeAll(modelPath);
    m_lru.append(modelPath);
    finish(error);
}

void InferenceWorker::generateImages(quint64 requestId, const QString& modelPath, const ImageGenParams& params) {
    m_active.store(requestId);
    m_cancelFlag.store(false);
    auto fail = [&](const AppError& error) {
        m_active.store(0);
        forgetCancel(requestId);
        emit imageError(requestId, error);
    };
    if (isCancelled(requestId)) return fail(AppError{AppError::Kind::Cancelled, tr("Stopped"), {}});
    if (auto error = ensureLoaded(requestId, modelPath)) return fail(*error);
    const ModelEntry entry = entryFor(modelPath);
    if (!entry.generatesImages) {
        const QString name = entry.name.isEmpty() ? QFileInfo(modelPath).fileName() : entry.name;
        return fail(AppError{AppError::Kind::Unsupported,
                             tr("%1 cannot generate images; pick a Janus-Pro model").arg(name), modelPath});
    }
    ImageGenParams filled = params;
    filled.model = entry.name.isEmpty() ? QFileInfo(modelPath).fileName() : entry.name;
    filled.modelPath = modelPath;

    // ETA from the measured time per step of the running phase (the first steps of a phase include its
    // warm-up, so the estimate settles after a few steps).
    QElapsedTimer phaseTimer;
    QElapsedTimer sinceEmit;
    ImageGenPhase current = ImageGenPhase::Prompt;
    int firstStep = -1;
    phaseTimer.start();
    auto onProgress = [&](ImageGenPhase phase, int step, int total) {
        if (phase != current || firstStep < 0) {
            current = phase;
            firstStep = step;
            phaseTimer.restart();
            sinceEmit.invalidate();
        }
        const bool edge = step == firstStep || step >= total;
        if (edge || !sinceEmit.isValid() || sinceEmit.elapsed() >= kEmitIntervalMs) {
            double eta = -1.0;
            const int done = step - firstStep;
            if (done > 0 && total > 0) eta = double(phaseTimer.nsecsElapsed()) / 1e9 / done * (total - step);
            emit imageProgress(requestId, phase, step, total, eta);
            sinceEmit.start();
        }
        return !isCancelled(requestId);
    };
    ImageGenResult result;
    auto error = m_engine->generateImages(modelPath, filled, onProgress, m_cancelFlag, &result);
    if (!error && isCancelled(requestId)) error = AppError{AppError::Kind::Cancelled, tr("Stopped"), {}};
    m_lru.removeAll(modelPath);
    m_lru.append(modelPath);
    if (error) return fail(*error);
    m_active.store(0);
    forgetCancel(requestId);
    emit imagesReady(requestId, result.images, filled);
}
