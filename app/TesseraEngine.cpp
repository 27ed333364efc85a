// TesseraEngine: conversions between the app's values and the engine's, and error mapping.
#include "app/TesseraEngine.h"

#include <QFileInfo>
#include <QRandomGenerator>

#include <QImage>

#include <algorithm>
#include <cstring>

#include <unistd.h>

#include "tessera/engine.h"

namespace {

AppError toAppError(const tessera::Error& e, const QString& path) {
    AppError out;
    out.detail = QString::fromStdString(e.to_string());
    const QString name = QFileInfo(path).fileName();
    switch (e.code) {
    case tessera::ErrorCode::OutOfMemory:
        out.kind = AppError::Kind::OutOfMemory;
        out.message = QStringLiteral("Not enough memory for %1").arg(name);
        break;
    case tessera::ErrorCode::Cancelled:
        out.kind = AppError::Kind::Cancelled;
        out.message = QStringLiteral("Stopped");
        break;
    case tessera::ErrorCode::Io:
        out.kind = AppError::Kind::Io;
        out.message = QStringLiteral("Cannot read %1: %2").arg(name, QString::fromStdString(e.message));
        break;
    case tessera::ErrorCode::Format:
    case tessera::ErrorCode::Shape:
    case tessera::ErrorCode::DType:
    case tessera::ErrorCode::Config:
    case tessera::ErrorCode::Tokenizer:
        out.kind = AppError::Kind::BadModel;
        out.message = QStringLiteral("%1 is not a usable model folder: %2").arg(name, QString::fromStdString(e.message));
        break;
    case tessera::ErrorCode::Unsupported:
        out.kind = AppError::Kind::Unsupported;
        out.message = QStringLiteral("%1 is not supported: %2").arg(name, QString::fromStdString(e.message));
        break;
    default:
        out.kind = AppError::Kind::Internal;
        out.message = QStringLiteral("The engine failed: %1").arg(QString::fromStdString(e.message));
        break;
    }
    return out;
}

std::vector<tessera::Message> toMessages(const EngineRequest& request) {
    std::vector<tessera::Message> out;
    if (!request.systemPrompt.isEmpty()) out.push_back({"system", request.systemPrompt.toStdString()});
    for (const auto& t : request.turns) {
        const char* role = t.role == ChatMessage::Role::Assistant ? "assistant"
                           : t.role == ChatMessage::Role::System  ? "system"
                                                                   : "user";
        out.push_back({role, t.content.toStdString()});
    }
    return out;
}

// Reads the pictures attached to the turns into the messages (models that see images). The system prompt,
// when there is one, is the first message, so turn i is message i + offset.
std::optional<AppError> attachImages(const EngineRequest& request, std::vector<tessera::Message>& messages) {
    const size_t offset = request.systemPrompt.isEmpty() ? 0 : 1;
    for (qsizetype i = 0; i < request.turns.size(); ++i) {
        for (const QString& file : request.turns[i].imagePaths) {
            auto image = tessera::read_image(file.toStdString());
            if (!image)
                return AppError{AppError::Kind::Io,
                                QStringLiteral("Cannot read the attached image %1").arg(QFileInfo(file).fileName()),
                                QString::fromStdString(image.error().to_string())};
            messages[size_t(i) + offset].images.push_back(std::move(image).value());
        }
    }
    return std::nullopt;
}

int imageCount(const EngineRequest& request) {
    int n = 0;
    for (const auto& t : request.turns) n += int(t.imagePaths.size());
    return n;
}

}  // namespace

TesseraEngine::TesseraEngine() = default;
TesseraEngine::~TesseraEngine() = default;

QString TesseraEngine::deviceName() const {
    // Where the most recently loaded model runs (the engine picks the GPU when the model fits there);
    // nothing loaded yet: the CPU, which is always there.
    for (auto it = m_loadOrder.crbegin(); it != m_loadOrder.crend(); ++it) {
        auto found = m_loaded.find(*it);
        if (found == m_loaded.end()) continue;
        const tessera::Model& model = *found->second.model;
        const QString name = QString::fromStdString(model.device_name());
        return model.device() == tessera::Device::Cuda ? QStringLiteral("CUDA · %1").arg(name) : name;
    }
    return QStringLiteral("CPU");
}

qint64 TesseraEngine::memoryCapacity() const {
    // Physical memory; models are weighed against it (leaving the rest of the machine room is the
    // estimate's job, which includes the KV cache and activations).
    const long pages = sysconf(_SC_PHYS_PAGES);
    const long pageSize = sysconf(_SC_PAGE_SIZE);
    return pages > 0 && pageSize > 0 ? qint64(pages) * qint64(pageSize) : qint64(8) * 1024 * 1024 * 1024;
}

ModelEntry TesseraEngine::probe(const QString& path) {
    ModelEntry e;
    e.path = path;
    e.name = QFileInfo(path).fileName();
    e.availableBytes = memoryCapacity();
    // A .gguf file is a model like a folder (the engine reads config, weights and tokenizer from it).
    const bool gguf = path.endsWith(QLatin1String(".gguf"), Qt::CaseInsensitive);
    auto info = tessera::probe_model(path.toStdString());
    if (!info) {
        e.kind = ModelEntry::Kind::Broken;
        e.error = QString::fromStdString(info.error().to_string());
        e.hint = gguf ? QStringLiteral("Check that the GGUF file is complete (a finished download) and holds a qwen2 "
                                       "or llama model in F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q5_K or Q6_K.")
                      : QStringLiteral("Check that the folder holds the whole checkpoint (config.json, the weight "
                                       "files, tokenizer.json) as published on Hugging Face.");
        if (gguf) e.fileBytes = QFileInfo(path).size();
        return e;
    }
    e.kind = ModelEntry::Kind::Chat;
    e.architecture = QString::fromStdString(info->architecture);
    e.dtype = QString::fromStdString(info->dtype);
    e.parameters = info->parameters;
    e.fileBytes = qint64(info->file_bytes);
    e.memoryBytes = qint64(info->memory_estimate);
    e.contextLength = info->context_length;
    e.thinks = info->chat_format == "r1-distill";
    e.seesImages = info->vision_input;
    e.generatesImages = info->image_generation;
    if (info->vision_input) e.kind = ModelEntry::Kind::Vision;
    return e;
}

std::optional<AppError> TesseraEngine::load(const QString& path, const std::function<bool(double)>& progress) {
    if (progress && !progress(0.0)) return AppError{AppError::Kind::Cancelled, QStringLiteral("Loading was cancelled"), {}};
    auto model = tessera::Model::load(path.toStdString());
    if (!model) return toAppError(model.error(), path);
    if (progress && !progress(0.9)) return AppError{AppError::Kind::Cancelled, QStringLiteral("Loading was cancelled"), {}};
    auto session = (*model)->open_session();
    if (!session) return toAppError(session.error(), path);
    m_loaded[path] = Loaded{std::move(model).value(), std::move(session).value()};
    m_loadOrder.removeAll(path);
    m_loadOrder.append(path);
    if (progress) progress(1.0);
    return std::nullopt;
}

void TesseraEngine::unload(const QString& path) {
    m_loaded.erase(path);
    m_loadOrder.removeAll(path);
}

int TesseraEngine::countPromptTokens(const QString& path, const EngineRequest& request) {
    auto it = m_loaded.find(path);
    if (it == m_loaded.end()) return 0;
    // Pictures are not decoded just to be counted: each takes the model's image tokens in the prompt.
    const tessera::ModelInfo& info = it->second.model->info();
    const int perImage = info.vision_input ? std::max(info.image_tokens, 576) : 0;
    return int(it->second.model->chat_prompt(toMessages(request)).size()) + imageCount(request) * perImage;
}

std::optional<AppError> TesseraEngine::generate(const QString& path, const EngineRequest& request,
                                                const EngineCallbacks& callbacks, const std::atomic<bool>& cancel,
                                                GenerationStats* stats) {
    auto it = m_loaded.find(path);
    if (it == m_loaded.end()) return AppError{AppError::Kind::BadModel, QStringLiteral("The model is not loaded"), path};
    tessera::GenerateOptions options;
    options.sampling = it->second.model->info().default_sampling;
    options.sampling.greedy = request.sampling.temperature <= 0.0;
    options.sampling.temperature = float(std::max(request.sampling.temperature, 1e-3));
    options.sampling.top_p = float(request.sampling.topP);
    options.sampling.seed = QRandomGenerator::global()->generate64();
    options.max_tokens = request.sampling.maxNewTokens;
    options.cancel = &cancel;
    bool stoppedByCallback = false;
    auto onText = [&](const tessera::TextEvent& ev) {
        bool go = true;
        if (!ev.thinking.empty() && callbacks.onThinking) go = callbacks.onThinking(QString::fromStdString(ev.thinking)) && go;
        if (!ev.answer.empty() && callbacks.onAnswer) go = callbacks.onAnswer(QString::fromStdString(ev.answer)) && go;
        if (!go) stoppedByCallback = true;
        return go ? tessera::Flow::Continue : tessera::Flow::Stop;
    };
    std::vector<tessera::Message> messages = toMessages(request);
    if (it->second.model->info().vision_input) {
        if (auto error = attachImages(request, messages)) return error;
    }
    auto result = it->second.session->chat(messages, options, onText);
    if (!result) return toAppError(result.error(), path);
    if (stats) {
        stats->promptTokens = result->prompt_tokens;
        stats->generatedTokens = result->generated_tokens;
        stats->seconds = result->prefill_seconds + result->decode_seconds;
        stats->tokensPerSecond = result->decode_tokens_per_second;
    }
    if (stoppedByCallback || result->stop_reason == tessera::StopReason::Cancelled ||
        result->stop_reason == tessera::StopReason::Callback)
        return AppError{AppError::Kind::Cancelled, QStringLiteral("Stopped"), {}};
    return std::nullopt;
}

#ifdef TESSERA_HAVE_IMAGE_GENERATION
std::optional<AppError> TesseraEngine::generateImages(const QString& path, const ImageGenParams& params,
                                                      const ImageProgressCallback& progress,
                                                      const std::atomic<bool>& cancel, ImageGenResult* result) {
    auto it = m_loaded.find(path);
    if (it == m_loaded.end()) return AppError{AppError::Kind::BadModel, QStringLiteral("The model is not loaded"), path};
    if (!it->second.model->info().image_generation)
        return AppError{AppError::Kind::Unsupported,
                        QStringLiteral("%1 cannot generate images").arg(QFileInfo(path).fileName()), path};
    tessera::ImageGenerationOptions options;
    options.count = params.count;
    options.cfg_weight = float(params.cfgWeight);
    options.temperature = float(std::max(params.temperature, 0.0));  // 0: greedy image tokens
    options.seed = uint64_t(params.seed);
    options.cancel = &cancel;
    auto onProgress = [&](const tessera::ImageGenerationProgress& p) {
        ImageGenPhase phase = ImageGenPhase::Prompt;
        if (p.phase == tessera::ImageGenerationProgress::Phase::Tokens) phase = ImageGenPhase::Tokens;
        if (p.phase == tessera::ImageGenerationProgress::Phase::Pixels) phase = ImageGenPhase::Pixels;
        const bool go = !progress || progress(phase, p.step, p.total_steps);
        return go ? tessera::Flow::Continue : tessera::Flow::Stop;
    };
    auto out = it->second.session->generate_images(params.prompt.toStdString(), options, onProgress);
    if (!out) return toAppError(out.error(), path);
    if (cancel.load()) return AppError{AppError::Kind::Cancelled, QStringLiteral("Stopped"), {}};
    ImageGenResult converted;
    for (const tessera::Image& image : out->images) {
        QImage q(image.width, image.height, QImage::Format_RGB888);
        for (int y = 0; y < image.height; ++y)
            std::memcpy(q.scanLine(y), image.rgb.data() + size_t(y) * size_t(image.width) * 3, size_t(image.width) * 3);
        converted.images << q;
    }
    for (const auto& codes : out->codes) converted.codes << QVector<qint32>(codes.begin(), codes.end());
    if (result) *result = std::move(converted);
    return std::nullopt;
}
#else
std::optional<AppError> TesseraEngine::generateImages(const QString& path, const ImageGenParams&,
                                                      const ImageProgressCallback&, const std::atomic<bool>&,
                                                      ImageGenResult*) {
    return AppError{AppError::Kind::Unsupported, QStringLiteral("This build of Tessera cannot generate images"), path};
}
#endif
