// FaultyEngine: splits its scripted reply into word-sized pieces, like tokens, and fails where told.
#include "app/FaultyEngine.h"

#include <QCryptographicHash>
#include <QElapsedTimer>
#include <QPainter>
#include <QRadialGradient>
#include <QRandomGenerator>
#include <QFileInfo>
#include <QRegularExpression>
#include <QThread>

#include <algorithm>

namespace {

QStringList pieces(const QString& text) {
    // Each word keeps its leading space, as a BPE token would.
    QStringList out;
    static const QRegularExpression re(QStringLiteral("\\s*\\S+|\\s+"));
    auto it = re.globalMatch(text);
    while (it.hasNext()) out << it.next().captured(0);
    return out;
}

}  // namespace

FaultyEngine::FaultyEngine() : FaultyEngine(Options{}) {}

FaultyEngine::FaultyEngine(Options options) : m_options(std::move(options)) {}

QString FaultyEngine::deviceName() const {
    return m_loaded.isEmpty() || m_options.loadedDevice.isEmpty() ? QStringLiteral("CPU (test engine)")
                                                                  : m_options.loadedDevice;
}

qint64 FaultyEngine::memoryCapacity() const { return m_options.capacity; }

ModelEntry FaultyEngine::probe(const QString& path) {
    ModelEntry e;
    e.path = path;
    e.name = QFileInfo(path).fileName();
    e.architecture = QStringLiteral("TestForCausalLM");
    e.dtype = QStringLiteral("bf16");
    e.parameters = m_options.modelBytes / 2;
    e.fileBytes = m_options.modelBytes;
    e.memoryBytes = m_options.modelBytes;
    e.availableBytes = m_options.capacity;
    e.contextLength = m_options.contextLength;
    e.thinks = !m_options.thinking.isEmpty();
    e.seesImages = m_options.seesImages;
    e.kind = m_options.seesImages ? ModelEntry::Kind::Vision : ModelEntry::Kind::Chat;
    if (!m_options.imageModelSubstring.isEmpty() && e.name.contains(m_options.imageModelSubstring, Qt::CaseInsensitive)) {
        e.architecture = QStringLiteral("MultiModalityCausalLM");
        e.kind = ModelEntry::Kind::Vision;
        e.seesImages = true;
        e.generatesImages = true;
    }
    if (!m_options.failLoadSubstring.isEmpty() && path.contains(m_options.failLoadSubstring)) {
        e.kind = ModelEntry::Kind::Broken;
        e.error = QStringLiteral("%1/config.json: missing field \"hidden_size\"").arg(path);
        e.hint = QStringLiteral("Download the whole checkpoint folder again.");
    }
    return e;
}

std::optional<AppError> FaultyEngine::load(const QString& path, const std::function<bool(double)>& progress) {
    if (!m_options.failLoadSubstring.isEmpty() && path.contains(m_options.failLoadSubstring)) {
        return AppError{AppError::Kind::BadModel,
                        QStringLiteral("Cannot load %1: config.json is missing \"hidden_size\"")
                            .arg(QFileInfo(path).fileName()),
                        QStringLiteral("Config: %1/config.json: missing field \"hidden_size\"").arg(path)};
    }
    for (int i = 1; i <= 4; ++i) {
        if (progress && !progress(i / 4.0))
            return AppError{AppError::Kind::Cancelled, QStringLiteral("Loading was cancelled"), {}};
    }
    m_loaded.insert(path);
    return std::nullopt;
}

void FaultyEngine::unload(const QString& path) { m_loaded.remove(path); }

int FaultyEngine::countPromptTokens(const QString&, const EngineRequest& request) {
    // About four characters a token, like the real tokenizers on English text.
    qsizetype chars = request.systemPrompt.size();
    for (const auto& t : request.turns) chars += t.content.size() + 8;
    return int(chars / 4) + 1;
}

std::optional<AppError> FaultyEngine::generate(const QString& path, const EngineRequest& request,
                                               const EngineCallbacks& callbacks, const std::atomic<bool>& cancel,
                                               GenerationStats* stats) {
    if (!m_loaded.contains(path))
        return AppError{AppError::Kind::BadModel, QStringLiteral("The model is not loaded"), path};
    QElapsedTimer timer;
    timer.start();
    int emitted = 0;
    auto step = [&](const QString& piece, const std::function<bool(const QString&)>& cb) -> std::optional<AppError> {
        if (cancel.load(std::memory_order_relaxed))
            return AppError{AppError::Kind::Cancelled, QStringLiteral("Stopped"), {}};
        if (m_options.failAfterTokens >= 0 && emitted >= m_options.failAfterTokens)
            return AppError{AppError::Kind::Internal, QStringLiteral("The engine failed while generating"),
                            QStringLiteral("Device: test fault injected after %1 tokens").arg(emitted)};
        if (m_options.tokenDelayMicros > 0) QThread::usleep(static_cast<unsigned long>(m_options.tokenDelayMicros));
        ++emitted;
        if (cb && !cb(piece)) return AppError{AppError::Kind::Cancelled, QStringLiteral("Stopped"), {}};
        return std::nullopt;
    };
    std::optional<AppError> error;
    double thinkingSeconds = 0.0;
    for (const auto& p : pieces(m_options.thinking)) {
        if ((error = step(p, callbacks.onThinking))) break;
    }
    thinkingSeconds = double(timer.nsecsElapsed()) / 1e9;
    if (!error) {
        for (int r = 0; r < m_options.repeatReply && !error; ++r) {
            for (const auto& p : pieces(m_options.reply)) {
                if ((error = step(p, callbacks.onAnswer))) break;
            }
        }
    }
    if (stats) {
        stats->promptTokens = countPromptTokens(path, request);
        stats->generatedTokens = emitted;
        stats->seconds = double(timer.nsecsElapsed()) / 1e9;
        stats->tokensPerSecond = stats->seconds > 0 ? emitted / stats->seconds : 0.0;
        stats->thinkingSeconds = thinkingSeconds;
    }
    return error;
}

QImage FaultyEngine::patternImage(const ImageGenParams& params, int index, int size) {
    // Seeded by everything that defines the image, so equal settings give equal pictures.
    const QByteArray key = QStringLiteral("%1|%2|%3|%4|%5")
                               .arg(params.prompt)
                               .arg(params.seed)
                               .arg(params.cfgWeight, 0, 'f', 3)
                               .arg(params.temperature, 0, 'f', 3)
                               .arg(index)
                               .toUtf8();
    const QByteArray digest = QCryptographicHash::hash(key, QCryptographicHash::Sha256);
    quint64 seed = 0;
    for (int i = 0; i < 8; ++i) seed = (seed << 8) | quint8(digest[i]);
    QRandomGenerator rng(seed);
    auto colour = [&] { return QColor::fromHsv(rng.bounded(360), 90 + rng.bounded(120), 150 + rng.bounded(100)); };
    QImage image(size, size, QImage::Format_RGB888);
    QPainter p(&image);
    p.setRenderHint(QPainter::Antialiasing);
    QRadialGradient sky(QPointF(size * 0.3, size * 0.25), size * 1.1);
    sky.setColorAt(0.0, colour());
    sky.setColorAt(1.0, colour().darker(160));
    p.fillRect(image.rect(), sky);
    p.setPen(Qt::NoPen);
    for (int i = 0; i < 5; ++i) {
        QColor c = colour();
        c.setAlpha(150);
        p.setBrush(c);
        const double r = size * (0.08 + rng.generateDouble() * 0.22);
        p.drawEllipse(QPointF(rng.generateDouble() * size, rng.generateDouble() * size), r, r);
    }
    p.end();
    return image;
}

std::optional<AppError> FaultyEngine::generateImages(const QString& path, const ImageGenParams& params,
                                                     const ImageProgressCallback& progress,
                                                     const std::atomic<bool>& cancel, ImageGenResult* result) {
    if (!m_loaded.contains(path))
        return AppError{AppError::Kind::BadModel, QStringLiteral("The model is not loaded"), path};
    if (params.count < 1 || params.count > 16)
        return AppError{AppError::Kind::Unsupported, QStringLiteral("A batch holds 1 to 16 images"), {}};
    const AppError stopped{AppError::Kind::Cancelled, QStringLiteral("Stopped"), {}};
    auto report = [&](ImageGenPhase phase, int step, int total) {
        return !cancel.load(std::memory_order_relaxed) && (!progress || progress(phase, step, total));
    };
    if (!report(ImageGenPhase::Prompt, 1, 1)) return stopped;
    const int steps = std::max(1, m_options.imageSteps);
    for (int step = 1; step <= steps; ++step) {
        if (cancel.load(std::memory_order_relaxed)) return stopped;
        if (m_options.failImagesAfterSteps >= 0 && step > m_options.failImagesAfterSteps)
            return AppError{AppError::Kind::Internal, QStringLiteral("The engine failed while generating images"),
                            QStringLiteral("Device: test fault injected after %1 image-token steps")
                                .arg(m_options.failImagesAfterSteps)};
        if (m_options.imageStepMicros > 0) QThread::usleep(static_cast<unsigned long>(m_options.imageStepMicros));
        if (!report(ImageGenPhase::Tokens, step, steps)) return stopped;
    }
    ImageGenResult out;
    for (int i = 0; i < params.count; ++i) {
        out.images << patternImage(params, i, m_options.imageSize);
        out.codes << QVector<qint32>(steps, qint32(i));
        if (!report(ImageGenPhase::Pixels, i + 1, params.count)) return stopped;
    }
    if (result) *result = std::move(out);
    return std::nullopt;
}
