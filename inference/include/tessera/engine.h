// The engine's public API for language models: probe a model folder, load it, open a session, generate
// text with streaming callbacks that may stop it, and read the statistics. Errors come back as values;
// nothing here throws, and no Qt or CUDA type appears.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tessera/error.h"
#include "tessera/image.h"

namespace tessera {

enum class ModelKind { Llama, Qwen2, Janus };
const char* model_kind_name(ModelKind kind);  // "llama" | "qwen2" | "janus"

// Auto: the GPU when one is present and the model fits in its free memory, else the CPU.
enum class Device { Auto, Cpu, Cuda };

// Sampling as Hugging Face generate does it (models.md §1.10): repetition penalty, then greedy argmax or
// temperature -> top-k -> top-p -> multinomial draw from a generator seeded with `seed`.
struct SamplingParams {
    bool greedy = false;
    float temperature = 1.0f;        // > 0 unless greedy
    int top_k = 0;                   // 0: off
    float top_p = 1.0f;              // in (0, 1]; 1: off
    float repetition_penalty = 1.0f; // 1: off; applied to every distinct id of the context (prompt included)
    uint64_t seed = 0;
};

// What a model folder holds, read without loading the weights (config.json and the weight file headers).
struct ModelInfo {
    std::filesystem::path dir;
    ModelKind kind = ModelKind::Llama;
    std::string architecture;   // config.json "architectures"[0], e.g. "Qwen2ForCausalLM"
    std::string chat_format;    // "deepseek-llm" | "r1-distill" | "janus" | "janus-1.3b"
    std::string weight_format;  // "safetensors" | "pytorch"
    std::string dtype;          // the dtype holding most weight bytes: "bf16" | "f16" | "f32"
    int64_t parameters = 0;     // elements of every weight the model uses (a tied lm_head counted once)
    uint64_t weight_bytes = 0;  // bytes of those weights as stored
    uint64_t file_bytes = 0;    // bytes of the weight files on disk
    int context_length = 0;     // default session context: min(max_position_embeddings, 4096)
    uint64_t kv_bytes_per_token = 0;  // KV cache per token as the CPU backend keeps it (f32)
    uint64_t memory_estimate = 0;     // weights + one session at context_length (KV cache + activations)

    int vocab_size = 0;
    int hidden_size = 0;
    int intermediate_size = 0;
    int num_layers = 0;
    int num_heads = 0;
    int num_kv_heads = 0;
    int head_dim = 0;
    int max_position_embeddings = 0;
    bool tie_word_embeddings = false;

    SamplingParams default_sampling;  // generation_config.json, else the family's defaults (models.md §10)

    bool vision_input = false;      // Message::images are understood (Janus-Pro)
    bool image_generation = false;  // Session::generate_images works (Janus-Pro)
    int image_tokens = 0;           // default tokens per generated image (576 for Janus-Pro)
};

Result<ModelInfo> probe_model(const std::filesystem::path& dir);

inline SamplingParams default_sampling(const ModelInfo& info) { return info.default_sampling; }

enum class StopReason { Eos, StopString, MaxTokens, ContextFull, Callback, Cancelled };
const char* stop_reason_name(StopReason reason);  // "eos", "stop string", "max tokens", ...

struct GenerateOptions {
    SamplingParams sampling;
    int max_tokens = 256;                  // generated tokens at most (EOS included, as HF counts it)
    std::vector<std::string> stop_strings; // stop when the output contains one; it is not emitted
    bool stop_at_eos = true;
    const std::atomic<bool>* cancel = nullptr;  // checked before every token
    // R1 models reply "thinking </think> answer". When split_thinking is set, text before </think> comes as
    // TextEvent::thinking and the rest as TextEvent::answer; starts_in_thinking says the prompt already
    // opened <think> (the R1 chat prompt does). Session::chat sets both from the model's chat format.
    bool split_thinking = false;
    bool starts_in_thinking = false;
};

// One step of streamed output. token is the sampled id, or -1 for the final flush of held-back text.
struct TextEvent {
    int32_t token = -1;
    std::string answer;    // new answer text (all text when thinking is not split); whole UTF-8 only
    std::string thinking;  // new thinking text
};

enum class Flow { Continue, Stop };
using TextCallback = std::function<Flow(const TextEvent&)>;

struct GenerationStats {
    int prompt_tokens = 0;     // tokens of the context passed in
    int cached_tokens = 0;     // of those, reused from the session's KV cache
    int generated_tokens = 0;  // sampled tokens (an EOS counts)
    double prefill_seconds = 0;
    double decode_seconds = 0;
    double prefill_tokens_per_second = 0;  // (prompt_tokens - cached_tokens) / prefill_seconds
    double decode_tokens_per_second = 0;   // decode forward steps / decode_seconds
    StopReason stop_reason = StopReason::MaxTokens;
    std::vector<int32_t> tokens;  // the generated ids
};

struct Message {
    Message() = default;
    Message(std::string role_, std::string content_, std::vector<Image> images_ = {})
        : role(std::move(role_)), content(std::move(content_)), images(std::move(images_)) {}

    std::string role;  // "system" | "user" | "assistant"
    std::string content;
    // Pictures attached to a user message (models with ModelInfo::vision_input). Where content holds the
    // model's image placeholder ("<image_placeholder>" for Janus) the images go there in order; otherwise
    // each image's placeholder is put before the text, one per line.
    std::vector<Image> images;
};

struct LoadOptions {
    Device device = Device::Auto;
    int threads = 0;  // CPU worker threads; 0: one per hardware thread
};

struct SessionOptions {
    int context_length = 0;  // tokens the KV cache holds; 0: ModelInfo::context_length
};

class Session;
struct ModelState;

class Model {
public:
    static Result<std::shared_ptr<Model>> load(const std::filesystem::path& dir, const LoadOptions& options = {});
    ~Model();
    Model(const Model&) = delete;
    Model& operator=(const Model&) = delete;

    const ModelInfo& info() const;
    Device device() const;            // where it was loaded (never Auto)
    std::string device_name() const;  // "CPU" or e.g. "NVIDIA H200 · 139 GiB"
    std::vector<int32_t> tokenize(std::string_view text, bool add_special = true) const;
    std::string detokenize(const std::vector<int32_t>& ids, bool skip_special = false) const;
    // The conversation in the model's chat format, ending with the generation prompt, tokenized.
    std::vector<int32_t> chat_prompt(const std::vector<Message>& messages) const;
    std::vector<int32_t> eos_ids() const;

    // A session owns a KV cache; sessions of one model must not run at the same time (they share the
    // CPU thread pool). The session keeps the model alive.
    Result<std::unique_ptr<Session>> open_session(const SessionOptions& options = {}) const;

private:
    explicit Model(std::shared_ptr<const ModelState> state);
    std::shared_ptr<const ModelState> m_state;
};

class Session {
public:
    ~Session();
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

    // Runs the model over `context` and generates after it. The KV cache of the longest prefix that
    // `context` shares with the session's history (previous context + generated tokens) is reused, so a
    // chat that re-sends the whole conversation each turn only computes the new part.
    Result<GenerationStats> generate(const std::vector<int32_t>& context, const GenerateOptions& options,
                                     const TextCallback& on_text = {});
    // Renders the messages in the model's chat format and generates the reply; R1 thinking is split.
    Result<GenerationStats> chat(const std::vector<Message>& messages, const GenerateOptions& options,
                                 const TextCallback& on_text = {});
    // Text-to-image generation (ModelInfo::image_generation): the prompt in the model's generation format,
    // classifier-free guidance over 2 x count sequences, then the image decoder. Starts from an empty cache.
    // progress may return Flow::Stop, and options.cancel is checked every step: both give Cancelled.
    Result<ImageGenerationResult> generate_images(std::string_view prompt, const ImageGenerationOptions& options,
                                                  const ImageProgressCallback& progress = {});

    // Teacher-forced float32 logits of every position of ids, row-major [ids.size(), vocab_size].
    // Starts from an empty cache.
    Result<std::vector<float>> logits(const std::vector<int32_t>& ids);

    void reset();
    const std::vector<int32_t>& history() const;
    int context_length() const;

    struct Impl;

private:
    friend class Model;
    explicit Session(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> m_impl;
};

}  // namespace tessera
