// config.json -> model (see registry.h). Sampling defaults: models.md §10, overridden by the checkpoint's
// generation_config.json (do_sample, temperature, top_k, top_p, repetition_penalty) when present.
#include "models/registry.h"

#include "io/gguf.h"
#include "io/json_util.h"
#include "models/janus.h"
#include "models/llama.h"
#include "tokenizer/gguf_tokenizer.h"

namespace tessera {

namespace {

Result<SamplingParams> read_generation_config(const std::filesystem::path& dir, SamplingParams p) {
    const std::filesystem::path path = dir / "generation_config.json";
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec)) return p;
    TESSERA_ASSIGN(nlohmann::json gen, read_json_file(path));
    const std::string label = "generation_config.json";
    if (!gen.is_object()) return make_error(ErrorCode::Config, label + ": must be a JSON object");
    if (json_has(gen, "do_sample")) {
        TESSERA_ASSIGN(bool sample, json_get_bool(gen, "do_sample", label));
        p.greedy = !sample;
    }
    if (json_has(gen, "temperature")) {
        TESSERA_ASSIGN(double t, json_get_number(gen, "temperature", label));
        p.temperature = float(t);
    }
    if (json_has(gen, "top_p")) {
        TESSERA_ASSIGN(double top_p, json_get_number(gen, "top_p", label));
        p.top_p = float(top_p);
    }
    if (json_has(gen, "top_k")) {
        TESSERA_ASSIGN(int64_t k, json_get_int(gen, "top_k", label));
        p.top_k = int(k);
    }
    if (json_has(gen, "repetition_penalty")) {
        TESSERA_ASSIGN(double r, json_get_number(gen, "repetition_penalty", label));
        p.repetition_penalty = float(r);
    }
    return p;
}

uint64_t decoder_state_bytes(const LlmConfig& c, int max_seq, int max_batch, int threads) {
    return llama_state_bytes(c, max_seq, max_batch, threads);
}

// The family defaults of models.md §10 (the same for a GGUF as for its Hugging Face folder).
SamplingParams family_sampling(ModelFamily family) {
    SamplingParams p;
    p.temperature = family == ModelFamily::Llama ? 0.7f : 0.6f;
    p.top_p = 0.95f;
    return p;
}

// A GGUF model: config and chat format from the header (which a truncated download still holds whole;
// the weights are checked when the Checkpoint opens).
Result<ResolvedModel> resolve_gguf_model(const std::filesystem::path& file) {
    GgufOpenOptions options;
    options.allow_truncated = true;
    TESSERA_ASSIGN(std::unique_ptr<GgufFile> f, GgufFile::open(file, options));
    ResolvedModel r;
    TESSERA_ASSIGN(r.config, gguf_llm_config(*f));
    const GgufChatChoice chat = gguf_chat_format(*f);
    const bool llama = r.config.family == ModelFamily::Llama;
    r.spec = ModelSpec{llama ? ModelKind::Llama : ModelKind::Qwen2, chat.format, chat.name,
                       llama ? &load_llama : &load_qwen2, &decoder_state_bytes};
    r.sampling = family_sampling(r.config.family);
    return r;
}

}  // namespace

Result<ResolvedModel> resolve_model(const std::filesystem::path& dir) {
    TESSERA_ASSIGN(std::optional<std::filesystem::path> gguf, gguf_model_file(dir));
    if (gguf) return resolve_gguf_model(*gguf);
    std::error_code ec;
    if (!std::filesystem::is_directory(dir, ec))
        return make_error(ErrorCode::Io, dir.string() + ": not a model folder (no such directory)");
    ResolvedModel r;
    if (is_janus_folder(dir)) {
        // Janus-Pro (§7): understanding samples as the official demo does (T 0.1, top_p 0.95, §10); the model
        // is assembled by Model::load (load_janus), not through spec.load. Janus-1.3B differs only in its
        // prompts' role names.
        TESSERA_ASSIGN(JanusConfig janus, load_janus_config(dir));
        r.config = janus.llm;
        const bool plain = janus.plain_roles;
        r.janus = std::make_shared<const JanusConfig>(std::move(janus));
        r.spec = ModelSpec{ModelKind::Janus, janus_chat_format(*r.janus), plain ? "janus-1.3b" : "janus",
                           nullptr, &decoder_state_bytes};
        SamplingParams janus_defaults;
        janus_defaults.temperature = 0.1f;
        janus_defaults.top_p = 0.95f;
        TESSERA_ASSIGN(r.sampling, read_generation_config(dir, janus_defaults));
        return r;
    }
    TESSERA_ASSIGN(r.config, load_llm_config(dir));
    SamplingParams defaults;
    switch (r.config.family) {
        case ModelFamily::Llama:
            // DeepSeek LLM chat: generation_config.json samples with T 0.7, top_p 0.95 (§10).
            r.spec = ModelSpec{ModelKind::Llama, ChatFormat::DeepSeekLlm, "deepseek-llm", &load_llama,
                               &decoder_state_bytes};
            defaults.temperature = 0.7f;
            defaults.top_p = 0.95f;
            break;
        case ModelFamily::Qwen2:
            // R1 distills: T 0.6, top_p 0.95 (§3.4, §10).
            r.spec = ModelSpec{ModelKind::Qwen2, ChatFormat::R1Distill, "r1-distill", &load_qwen2,
                               &decoder_state_bytes};
            defaults.temperature = 0.6f;
            defaults.top_p = 0.95f;
            break;
    }
    TESSERA_ASSIGN(r.sampling, read_generation_config(dir, defaults));
    return r;
}

}  // namespace tessera
