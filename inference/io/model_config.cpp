// config.json (+ generation_config.json) -> LlmConfig for the dense decoder families (models.md §2.1,
// §3.1). Fields the transformers config classes give a default may be absent; the shape fields may not.
// Anything that would change the maths and that the engine does not implement yet (RoPE scaling, sliding
// windows, MLP bias, another activation) is refused here rather than silently computed wrongly.
#include "io/model_config.h"

#include <climits>
#include <string>

#include "io/json_util.h"

namespace tessera {

namespace {

const std::string kConfig = "config.json";
const std::string kGeneration = "generation_config.json";

Error config_error(const std::string& msg) { return make_error(ErrorCode::Config, kConfig + ": " + msg); }
Error unsupported(const std::string& msg) { return make_error(ErrorCode::Unsupported, kConfig + ": " + msg); }

Result<int> positive_int(const nlohmann::json& cfg, const std::string& field) {
    TESSERA_ASSIGN(int64_t v, json_get_int(cfg, field, kConfig));
    if (v <= 0 || v > INT_MAX)
        return config_error("field '" + field + "' must be a positive integer, got " + std::to_string(v));
    return int(v);
}

Result<int> positive_int_or(const nlohmann::json& cfg, const std::string& field, int fallback) {
    if (!json_has(cfg, field)) return fallback;
    return positive_int(cfg, field);
}

Result<bool> bool_or(const nlohmann::json& cfg, const std::string& field, bool fallback) {
    if (!json_has(cfg, field)) return fallback;
    return json_get_bool(cfg, field, kConfig);
}

// Token ids are an int or (for several stop tokens) a list of ints.
Result<std::vector<int>> token_ids(const nlohmann::json& obj, const std::string& field, const std::string& label) {
    const nlohmann::json& v = obj.at(field);
    std::vector<int> ids;
    auto one = [&](const nlohmann::json& x) -> Status {
        if (!x.is_number_integer() || x.get<int64_t>() < 0 || x.get<int64_t>() > INT_MAX)
            return make_error(ErrorCode::Config, label + ": field '" + field +
                                                     "' must be a token id or a list of token ids, got " +
                                                     json_type_name(x));
        ids.push_back(int(x.get<int64_t>()));
        return {};
    };
    if (v.is_array()) {
        for (const nlohmann::json& x : v) TESSERA_TRY(one(x));
    } else {
        TESSERA_TRY(one(v));
    }
    return ids;
}

// rope_scaling (transformers 4.x) or rope_parameters (5.x): only plain RoPE is implemented so far.
Status check_rope_kind(const nlohmann::json& cfg, const std::string& field) {
    if (!json_has(cfg, field)) return {};
    const nlohmann::json& r = cfg.at(field);
    if (!r.is_object()) return config_error("field '" + field + "' must be an object or null, got " + json_type_name(r));
    std::string kind = "default";
    for (const char* key : {"rope_type", "type"}) {
        if (json_has(r, key)) {
            TESSERA_ASSIGN(kind, json_get_string(r, key, kConfig, field + "."));
            break;
        }
    }
    if (kind != "default")
        return unsupported(field + " type '" + kind + "' is not supported yet (only default RoPE)");
    return {};
}

Result<DType> parse_dtype(const nlohmann::json& cfg) {
    // transformers 5 writes "dtype"; 4.x wrote "torch_dtype". Without either, checkpoints here are bf16.
    const char* field = json_has(cfg, "dtype") ? "dtype" : json_has(cfg, "torch_dtype") ? "torch_dtype" : nullptr;
    if (!field) return DType::BF16;
    TESSERA_ASSIGN(std::string s, json_get_string(cfg, field, kConfig));
    if (s.starts_with("torch.")) s = s.substr(6);
    if (s == "bfloat16") return DType::BF16;
    if (s == "float16" || s == "half") return DType::F16;
    if (s == "float32" || s == "float") return DType::F32;
    return unsupported(std::string(field) + " '" + s + "' is not supported (bfloat16, float16, float32)");
}

Result<LlmConfig> parse(const nlohmann::json& cfg, const std::filesystem::path& dir) {
    if (!cfg.is_object()) return config_error(std::string("must be a JSON object, got ") + json_type_name(cfg));
    LlmConfig c;

    if (!json_has(cfg, "architectures")) return config_error("missing field 'architectures'");
    const nlohmann::json& archs = cfg.at("architectures");
    if (!archs.is_array() || archs.empty() || !archs[0].is_string())
        return config_error("field 'architectures' must be a non-empty list of strings");
    c.architecture = archs[0].get<std::string>();
    if (c.architecture == "LlamaForCausalLM") c.family = ModelFamily::Llama;
    else if (c.architecture == "Qwen2ForCausalLM") c.family = ModelFamily::Qwen2;
    else
        return unsupported("architecture '" + c.architecture +
                           "' is not supported (supported: LlamaForCausalLM, Qwen2ForCausalLM)");
    const bool qwen2 = c.family == ModelFamily::Qwen2;

    TESSERA_ASSIGN(c.hidden_size, positive_int(cfg, "hidden_size"));
    TESSERA_ASSIGN(c.intermediate_size, positive_int(cfg, "intermediate_size"));
    TESSERA_ASSIGN(c.num_hidden_layers, positive_int(cfg, "num_hidden_layers"));
    TESSERA_ASSIGN(c.num_attention_heads, positive_int(cfg, "num_attention_heads"));
    TESSERA_ASSIGN(c.vocab_size, positive_int(cfg, "vocab_size"));
    TESSERA_ASSIGN(c.num_key_value_heads, positive_int_or(cfg, "num_key_value_heads", c.num_attention_heads));
    if (c.num_attention_heads % c.num_key_value_heads != 0)
        return config_error("num_attention_heads (" + std::to_string(c.num_attention_heads) +
                            ") is not a multiple of num_key_value_heads (" + std::to_string(c.num_key_value_heads) + ")");
    if (json_has(cfg, "head_dim")) {
        TESSERA_ASSIGN(c.head_dim, positive_int(cfg, "head_dim"));
    } else {
        if (c.hidden_size % c.num_attention_heads != 0)
            return config_error("hidden_size (" + std::to_string(c.hidden_size) +
                                ") is not a multiple of num_attention_heads (" + std::to_string(c.num_attention_heads) +
                                ") and head_dim is not given");
        c.head_dim = c.hidden_size / c.num_attention_heads;
    }
    if (c.head_dim % 2 != 0) return config_error("head_dim " + std::to_string(c.head_dim) + " must be even for RoPE");
    // Class defaults of LlamaConfig / Qwen2Config for a missing field.
    TESSERA_ASSIGN(c.max_position_embeddings, positive_int_or(cfg, "max_position_embeddings", qwen2 ? 32768 : 2048));

    if (json_has(cfg, "rms_norm_eps")) {
        TESSERA_ASSIGN(double eps, json_get_number(cfg, "rms_norm_eps", kConfig));
        if (!(eps > 0 && eps < 1)) return config_error("field 'rms_norm_eps' must be in (0, 1)");
        c.rms_norm_eps = float(eps);
    }

    TESSERA_TRY(check_rope_kind(cfg, "rope_scaling"));
    TESSERA_TRY(check_rope_kind(cfg, "rope_parameters"));
    double theta = 10000.0;
    if (json_has(cfg, "rope_theta")) {
        TESSERA_ASSIGN(theta, json_get_number(cfg, "rope_theta", kConfig));
    }
    if (json_has(cfg, "rope_parameters") && json_has(cfg.at("rope_parameters"), "rope_theta")) {
        TESSERA_ASSIGN(theta, json_get_number(cfg.at("rope_parameters"), "rope_theta", kConfig, "rope_parameters."));
    }
    if (!(theta > 1)) return config_error("rope_theta must be greater than 1");
    c.rope_theta = float(theta);

    if (json_has(cfg, "hidden_act")) {
        TESSERA_ASSIGN(std::string act, json_get_string(cfg, "hidden_act", kConfig));
        if (act != "silu") return unsupported("hidden_act '" + act + "' is not supported (only silu)");
    }
    TESSERA_ASSIGN(bool mlp_bias, bool_or(cfg, "mlp_bias", false));
    if (mlp_bias) return unsupported("mlp_bias true is not supported");
    if (qwen2) {
        // Qwen2's q/k/v projections always carry a bias (models.md §3.2); the config has no switch.
        c.attention_bias = true;
        TESSERA_ASSIGN(bool sliding, bool_or(cfg, "use_sliding_window", false));
        if (sliding) return unsupported("use_sliding_window true is not supported (full causal attention only)");
    } else {
        TESSERA_ASSIGN(c.attention_bias, bool_or(cfg, "attention_bias", false));
    }
    TESSERA_ASSIGN(c.tie_word_embeddings, bool_or(cfg, "tie_word_embeddings", false));
    TESSERA_ASSIGN(c.dtype, parse_dtype(cfg));

    if (json_has(cfg, "bos_token_id")) {
        TESSERA_ASSIGN(int64_t bos, json_get_int(cfg, "bos_token_id", kConfig));
        if (bos < 0 || bos > INT_MAX) return config_error("field 'bos_token_id' is out of range");
        c.bos_token_id = int(bos);
    }
    if (json_has(cfg, "eos_token_id")) {
        TESSERA_ASSIGN(c.eos_token_ids, token_ids(cfg, "eos_token_id", kConfig));
    }
    // generation_config.json is what generate() uses, so its eos wins (R1 distills differ from config.json).
    std::error_code ec;
    if (std::filesystem::is_regular_file(dir / kGeneration, ec)) {
        TESSERA_ASSIGN(nlohmann::json gen, read_json_file(dir / kGeneration));
        if (!gen.is_object()) return make_error(ErrorCode::Config, kGeneration + ": must be a JSON object");
        if (json_has(gen, "eos_token_id")) {
            TESSERA_ASSIGN(c.eos_token_ids, token_ids(gen, "eos_token_id", kGeneration));
        }
    }
    return c;
}

}  // namespace

Result<LlmConfig> load_llm_config(const std::filesystem::path& dir) {
    try {
        TESSERA_ASSIGN(nlohmann::json cfg, read_json_file(dir / kConfig));
        return parse(cfg, dir);
    } catch (const std::exception& e) {
        // Every access above is type-checked first; this only guards against a missed case.
        return make_error(ErrorCode::Internal, kConfig + ": " + e.what());
    }
}

}  // namespace tessera
