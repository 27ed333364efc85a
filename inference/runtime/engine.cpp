// Public API glue (tessera/engine.h): probing a folder, loading a Model, tokenizer access, chat prompts.
// Every entry point converts an escaping exception (allocation failure, a library bug) into an Error.
#include <algorithm>
#include <cctype>
#include <map>
#include <new>
#include <set>
#include <thread>

#include "models/causal_lm_gpu.h"
#include "runtime/model_state.h"
#include "tessera/engine.h"
#include "tokenizer/chat_format.h"
#include "tokenizer/gguf_tokenizer.h"

namespace tessera {

const char* model_kind_name(ModelKind kind) {
    switch (kind) {
        case ModelKind::Llama: return "llama";
        case ModelKind::Qwen2: return "qwen2";
        case ModelKind::Janus: return "janus";
    }
    return "?";
}

const char* stop_reason_name(StopReason reason) {
    switch (reason) {
        case StopReason::Eos: return "eos";
        case StopReason::StopString: return "stop string";
        case StopReason::MaxTokens: return "max tokens";
        case StopReason::ContextFull: return "context full";
        case StopReason::Callback: return "stopped by caller";
        case StopReason::Cancelled: return "cancelled";
    }
    return "?";
}

namespace {

Error from_exception(const std::exception& e) {
    if (dynamic_cast<const std::bad_alloc*>(&e)) return make_error(ErrorCode::OutOfMemory, "out of host memory");
    return make_error(ErrorCode::Internal, std::string("unexpected exception: ") + e.what());
}

int default_threads() { return int(std::max(1u, std::thread::hardware_concurrency())); }

ModelInfo make_info(const std::filesystem::path& dir, const ResolvedModel& r, const Checkpoint& ck, int threads) {
    const LlmConfig& c = r.config;
    ModelInfo info;
    info.dir = dir;
    info.kind = r.spec.kind;
    info.architecture = c.architecture;
    info.chat_format = r.spec.chat_format_name;
    info.weight_format = ck.format();
    info.vocab_size = c.vocab_size;
    info.hidden_size = c.hidden_size;
    info.intermediate_size = c.intermediate_size;
    info.num_layers = c.num_hidden_layers;
    info.num_heads = c.num_attention_heads;
    info.num_kv_heads = c.num_key_value_heads;
    info.head_dim = c.head_dim;
    info.max_position_embeddings = c.max_position_embeddings;
    info.tie_word_embeddings = c.tie_word_embeddings;
    info.default_sampling = r.sampling;

    // Parameters the model uses: every stored tensor except a recomputed rotary buffer and a tied copy of
    // the embedding (models.md §12 counts the same way).
    // GGUF block types count under their GGML name in lower case ("q4_k").
    std::map<std::string, uint64_t> bytes_by_dtype;
    std::set<std::string> files;
    for (const TensorEntry& e : ck.tensors()) {
        files.insert(e.file);
        if (e.name.ends_with("rotary_emb.inv_freq")) continue;
        if (c.tie_word_embeddings && e.name == "lm_head.weight") continue;
        info.parameters += e.tensor.numel();
        info.weight_bytes += e.stored_bytes();
        std::string type(e.quant ? quant_name(*e.quant) : dtype_name(e.tensor.dtype));
        std::transform(type.begin(), type.end(), type.begin(), [](unsigned char ch) { return char(std::tolower(ch)); });
        bytes_by_dtype[type] += e.stored_bytes();
    }
    auto dominant = std::max_element(bytes_by_dtype.begin(), bytes_by_dtype.end(),
                                     [](const auto& a, const auto& b) { return a.second < b.second; });
    info.dtype = dominant == bytes_by_dtype.end() ? std::string("?") : dominant->first;
    std::error_code file_ec;
    const bool single_file = std::filesystem::is_regular_file(dir, file_ec);  // a .gguf path
    for (const std::string& f : files) {
        std::error_code ec;
        const auto size = std::filesystem::file_size(single_file ? dir : dir / f, ec);
        if (!ec) info.file_bytes += size;
    }

    info.context_length = std::min(c.max_position_embeddings, kDefaultContext);
    info.kv_bytes_per_token = 2ull * uint64_t(c.num_hidden_layers) * uint64_t(c.num_key_value_heads) *
                              uint64_t(c.head_dim) * sizeof(float);
    info.memory_estimate = info.weight_bytes +
                           r.spec.state_bytes(c, info.context_length, kPrefillChunk, threads) +
                           uint64_t(c.vocab_size) * sizeof(float);
    if (r.janus) {
        // Janus-Pro: pictures in, pictures out. Generating the default 4 images keeps 2 x 4 sequences of
        // prompt + image tokens (§7.5), each with its own KV cache and activations.
        info.vision_input = true;
        info.image_generation = true;
        info.image_tokens = r.janus->gen_image_tokens;
        constexpr int kDefaultImages = 4, kPromptAllowance = 256;
        info.memory_estimate += uint64_t(2 * kDefaultImages) *
                                r.spec.state_bytes(c, kPromptAllowance + info.image_tokens, kPrefillChunk, threads);
    }
    return info;
}

}  // namespace

Result<ModelInfo> probe_model(const std::filesystem::path& dir) {
    try {
        TESSERA_ASSIGN(ResolvedModel r, resolve_model(dir));
        TESSERA_ASSIGN(std::unique_ptr<Checkpoint> ck, Checkpoint::open(dir));
        return make_info(dir, r, *ck, default_threads());
    } catch (const std::exception& e) {
        return from_exception(e);
    }
}

Model::Model(std::shared_ptr<const ModelState> state) : m_state(std::move(state)) {}
Model::~Model() = default;

Result<std::shared_ptr<Model>> Model::load(const std::filesystem::path& dir, const LoadOptions& options) {
    try {
        if (options.threads < 0) return make_error(ErrorCode::InvalidArgument, "threads must be >= 0");
        auto st = std::make_shared<ModelState>();
        TESSERA_ASSIGN(st->resolved, resolve_model(dir));
        TESSERA_ASSIGN(std::unique_ptr<Checkpoint> ck, Checkpoint::open(dir));
        st->checkpoint = std::move(ck);
        TESSERA_ASSIGN(st->tokenizer, load_model_tokenizer(dir));
        // Device::Auto takes the GPU when there is one and the model fits in its free memory.
        CudaLmOptions gpu;
        gpu.max_seq = std::min(st->resolved.config.max_position_embeddings > 0 ? st->resolved.config.max_position_embeddings
                                                                                : kDefaultContext,
                               kDefaultContext);
        // GGUF block-quantized weights run on the GPU when asked for (Q4_0, Q8_0, Q4_K, Q5_K, Q6_K; the GPU
        // model names any other type it meets); Auto keeps them on the CPU, whose kernels the file's
        // quantization was tuned against.
        const bool block_quantized = std::any_of(st->checkpoint->tensors().begin(), st->checkpoint->tensors().end(),
                                                 [](const TensorEntry& e) { return e.quant.has_value(); });
        bool use_gpu = options.device == Device::Cuda;
        if (options.device == Device::Auto && cuda_device_count() > 0 && !block_quantized)
            use_gpu = cuda_memory_estimate(st->resolved.config, gpu) < cuda_free_memory(gpu.device);
        if (st->resolved.spec.kind == ModelKind::Janus) {
            // Janus-Pro: image generation on the GPU when one is present and a batch fits in its free memory
            // (models/janus_gpu.h), and then understanding too, over the same device weights with a KV cache
            // of its own (janus_take_chat_lm); otherwise both on the CPU (runtime/janus_runtime.cpp).
            TESSERA_TRY(load_janus(dir, *st));
            if (options.device != Device::Cpu && cuda_device_count() > 0) {
                // The batch size leaves room for the understanding model's cache and image encoder; when no
                // batch fits beside them, generation keeps the GPU and understanding goes to the CPU.
                const uint64_t chat_bytes = cuda_shared_memory_estimate(st->resolved.janus->llm, gpu) +
                                            janus_vision_gpu_bytes(*st->janus);
                int images =
                    janus_gpu_max_images(*st->resolved.janus, st->janus->vq(), gpu.device, chat_bytes);
                if (images == 0)
                    images = janus_gpu_max_images(*st->resolved.janus, st->janus->vq(), gpu.device);
                if (images > 0) {
                    TESSERA_ASSIGN(st->janus_gpu, janus_gpu_load(*st->resolved.janus, *st->checkpoint, st->janus->vq(),
                                                                 gpu.device, images, 448));
                    st->device = Device::Cuda;
                    st->device_name = cuda_device_description(gpu.device);
                    janus_take_chat_lm(*st, janus_gpu_chat_lm(*st->janus_gpu, gpu));
                    if (st->janus_cpu_chat_reason.empty()) janus_load_gpu_vision(*st, gpu.device);
                } else if (options.device == Device::Cuda) {
                    return make_error(ErrorCode::OutOfMemory, dir.string() + ": Janus-Pro image generation does not fit in the "
                                                                             "free memory of " +
                                                                             cuda_device_description(gpu.device));
                }
            } else if (options.device == Device::Cuda) {
                return make_error(ErrorCode::Unsupported, dir.string() + ": no CUDA device is available");
            }
        } else if (use_gpu) {
            TESSERA_ASSIGN(st->lm, load_cuda_lm(st->resolved.config, *st->checkpoint, gpu));
            st->device = Device::Cuda;
            st->device_name = cuda_device_description(gpu.device);
        } else {
            TESSERA_ASSIGN(st->lm, st->resolved.spec.load(st->resolved.config, st->checkpoint));
            st->device = Device::Cpu;
            st->device_name = "CPU";
        }
        if (options.threads > 0) {
            st->own_pool = std::make_unique<ThreadPool>(options.threads);
            st->pool = st->own_pool.get();
        } else {
            st->pool = &ThreadPool::global();
        }

        // Special tokens come from the tokenizer, never from config.json alone (models.md §9, §11.21).
        const Tokenizer& tok = *st->tokenizer;
        const int V = st->resolved.config.vocab_size;
        const auto bos = tok.bos_id(), eos = tok.eos_id();
        if (!bos || !eos)
            return make_error(ErrorCode::Tokenizer, "tokenizer_config.json: the BOS and EOS tokens must be named "
                                                    "(bos_token, eos_token) for chat prompts");
        for (int32_t id : {*bos, *eos})
            if (id >= V)
                return make_error(ErrorCode::Config, "tokenizer.json: special token id " + std::to_string(id) +
                                                         " is outside the model's " + std::to_string(V) +
                                                         " embedding rows (config.json vocab_size)");
        st->bos_text = tok.token_bytes(*bos);
        st->eos_text = tok.token_bytes(*eos);
        st->eos_ids.push_back(*eos);
        // generation_config's extra stop ids count when the tokenizer agrees they are special tokens.
        for (int id : st->resolved.config.eos_token_ids)
            if (id != *eos && id < V && id < tok.vocab_size() && tok.is_special(id)) st->eos_ids.push_back(id);

        st->info = make_info(dir, st->resolved, *st->checkpoint, st->pool->size());
        return std::shared_ptr<Model>(new Model(std::move(st)));
    } catch (const std::exception& e) {
        return from_exception(e);
    }
}

const ModelInfo& Model::info() const { return m_state->info; }
Device Model::device() const { return m_state->device; }
std::string Model::device_name() const { return m_state->device_name; }

std::vector<int32_t> Model::tokenize(std::string_view text, bool add_special) const {
    return m_state->tokenizer->encode(text, add_special);
}

std::string Model::detokenize(const std::vector<int32_t>& ids, bool skip_special) const {
    return m_state->tokenizer->decode(ids, skip_special);
}

std::vector<int32_t> ModelState::chat_prompt(const std::vector<Message>& messages) const {
    if (janus) return janus_chat_prompt(messages);
    std::vector<ChatMessage> chat;
    chat.reserve(messages.size());
    for (const Message& m : messages) chat.push_back(ChatMessage{m.role, m.content});
    const std::string text = render_chat(resolved.spec.chat_format, chat, bos_text, eos_text);
    return tokenizer->encode(text, /*add_special=*/false);
}

std::vector<int32_t> Model::chat_prompt(const std::vector<Message>& messages) const {
    return m_state->chat_prompt(messages);
}

std::vector<int32_t> Model::eos_ids() const { return m_state->eos_ids; }

}  // namespace tessera
