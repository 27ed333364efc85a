// From a GGUF file to what our models expect: LlmConfig from the `{arch}.*` metadata, Hugging Face tensor
// names from GGUF's short ones, and the row order of llama's permuted q/k projections.
#include <charconv>
#include <limits>

#include "io/gguf.h"

namespace tessera {

namespace {

Result<int> positive_int(const GgufFile& f, const std::string& key) {
    TESSERA_ASSIGN(int64_t v, f.get_int(key));
    if (v <= 0 || v > std::numeric_limits<int>::max())
        return make_error(ErrorCode::Config, f.file_name() + ": " + key + ": " + std::to_string(v) + " is out of range");
    return int(v);
}

Error config_error(const GgufFile& f, const std::string& what) {
    return make_error(ErrorCode::Config, f.file_name() + ": " + what);
}

}  // namespace

Result<LlmConfig> gguf_llm_config(const GgufFile& f) {
    TESSERA_ASSIGN(std::string_view arch_sv, f.get_string("general.architecture"));
    const std::string arch(arch_sv);
    LlmConfig c;
    if (arch == "qwen2") {
        c.family = ModelFamily::Qwen2;
        c.architecture = "Qwen2ForCausalLM";
    } else if (arch == "llama") {
        c.family = ModelFamily::Llama;
        c.architecture = "LlamaForCausalLM";
    } else {
        return make_error(ErrorCode::Unsupported,
                          f.file_name() + ": general.architecture '" + arch + "' is not supported (qwen2, llama)");
    }
    const std::string p = arch + ".";
    TESSERA_ASSIGN(c.hidden_size, positive_int(f, p + "embedding_length"));
    TESSERA_ASSIGN(c.intermediate_size, positive_int(f, p + "feed_forward_length"));
    TESSERA_ASSIGN(c.num_hidden_layers, positive_int(f, p + "block_count"));
    TESSERA_ASSIGN(c.num_attention_heads, positive_int(f, p + "attention.head_count"));
    c.num_key_value_heads = c.num_attention_heads;
    if (f.find(p + "attention.head_count_kv")) {
        TESSERA_ASSIGN(c.num_key_value_heads, positive_int(f, p + "attention.head_count_kv"));
    }
    if (c.num_attention_heads % c.num_key_value_heads != 0)
        return config_error(f, p + "attention.head_count " + std::to_string(c.num_attention_heads) +
                                   " is not a multiple of head_count_kv " + std::to_string(c.num_key_value_heads));
    if (f.find(p + "attention.key_length")) {
        TESSERA_ASSIGN(c.head_dim, positive_int(f, p + "attention.key_length"));
    } else {
        if (c.hidden_size % c.num_attention_heads != 0)
            return config_error(f, p + "embedding_length " + std::to_string(c.hidden_size) +
                                       " is not a multiple of attention.head_count");
        c.head_dim = c.hidden_size / c.num_attention_heads;
    }
    TESSERA_ASSIGN(c.max_position_embeddings, positive_int(f, p + "context_length"));
    TESSERA_ASSIGN(double eps, f.get_float(p + "attention.layer_norm_rms_epsilon"));
    c.rms_norm_eps = float(eps);
    if (f.find(p + "rope.freq_base")) {
        TESSERA_ASSIGN(double theta, f.get_float(p + "rope.freq_base"));
        c.rope_theta = float(theta);
    }
    // LlmConfig has no RoPE scaling: refuse rather than run with silently wrong positions.
    if (const GgufValue* s = f.find(p + "rope.scaling.type")) {
        auto type = s->as_string();
        if (!type || (*type != "none" && !type->empty()))
            return make_error(ErrorCode::Unsupported, f.file_name() + ": " + p + "rope.scaling.type " + s->to_string() +
                                                          " is not supported");
    }

    if (const GgufTensor* emb = f.find_tensor("token_embd.weight")) {
        if (emb->shape.ndim != 2 || emb->cols() != c.hidden_size)
            return make_error(ErrorCode::Shape, f.file_name() + ": token_embd.weight: expected [V, " +
                                                    std::to_string(c.hidden_size) + "], file has " + emb->shape.to_string());
        c.vocab_size = int(emb->rows());
        if (auto dt = quant_float_dtype(emb->type)) c.dtype = *dt;
        else c.dtype = DType::F32;
    } else if (const GgufValue* tokens = f.find("tokenizer.ggml.tokens");
               tokens && tokens->type() == GgufType::Array && tokens->array_type() == GgufType::String) {
        c.vocab_size = int(tokens->array_size());
        c.dtype = DType::F32;
    } else {
        return config_error(f, "no token_embd.weight tensor and no tokenizer.ggml.tokens: vocabulary size unknown");
    }
    c.tie_word_embeddings = f.find_tensor("output.weight") == nullptr;
    c.attention_bias = f.find_tensor("blk.0.attn_q.bias") != nullptr;
    if (f.find("tokenizer.ggml.bos_token_id")) {
        TESSERA_ASSIGN(int64_t bos, f.get_int("tokenizer.ggml.bos_token_id"));
        c.bos_token_id = int(bos);
    }
    for (const char* key : {"tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id"}) {
        if (!f.find(key)) continue;
        TESSERA_ASSIGN(int64_t id, f.get_int(key));
        bool seen = false;
        for (int e : c.eos_token_ids) seen = seen || e == id;
        if (!seen) c.eos_token_ids.push_back(int(id));
    }
    return c;
}

std::optional<std::string> gguf_to_hf_name(std::string_view n) {
    if (n == "token_embd.weight") return "model.embed_tokens.weight";
    if (n == "output_norm.weight") return "model.norm.weight";
    if (n == "output.weight") return "lm_head.weight";
    constexpr std::string_view kBlk = "blk.";
    if (n.substr(0, kBlk.size()) != kBlk) return std::nullopt;
    n.remove_prefix(kBlk.size());
    size_t dot = n.find('.');
    if (dot == 0 || dot == std::string_view::npos) return std::nullopt;
    std::string_view layer = n.substr(0, dot);
    unsigned value = 0;
    auto [end, ec] = std::from_chars(layer.data(), layer.data() + layer.size(), value);
    if (ec != std::errc() || end != layer.data() + layer.size()) return std::nullopt;
    std::string_view rest = n.substr(dot + 1);  // "attn_q.weight"
    size_t suffix_at = rest.rfind('.');
    if (suffix_at == std::string_view::npos) return std::nullopt;
    std::string_view part = rest.substr(0, suffix_at), suffix = rest.substr(suffix_at);  // ".weight" / ".bias"
    if (suffix != ".weight" && suffix != ".bias") return std::nullopt;
    static constexpr std::pair<std::string_view, std::string_view> kParts[] = {
        {"attn_q", "self_attn.q_proj"},    {"attn_k", "self_attn.k_proj"},
        {"attn_v", "self_attn.v_proj"},    {"attn_output", "self_attn.o_proj"},
        {"ffn_gate", "mlp.gate_proj"},     {"ffn_up", "mlp.up_proj"},
        {"ffn_down", "mlp.down_proj"},     {"attn_norm", "input_layernorm"},
        {"ffn_norm", "post_attention_layernorm"},
    };
    for (const auto& [g, hf] : kParts)
        if (part == g) return "model.layers." + std::to_string(value) + "." + std::string(hf) + std::string(suffix);
    return std::nullopt;
}

bool gguf_needs_qk_unpermute(std::string_view architecture, std::string_view gguf_name) {
    if (architecture != "llama" || gguf_name.substr(0, 4) != "blk.") return false;
    auto ends_with = [&](std::string_view s) {
        return gguf_name.size() >= s.size() && gguf_name.substr(gguf_name.size() - s.size()) == s;
    };
    return ends_with(".attn_q.weight") || ends_with(".attn_k.weight") || ends_with(".attn_q.bias") ||
           ends_with(".attn_k.bias");
}

// The converter reshapes each head's rows as [2, hd/2] and swaps the axes: HF row (h, j, i) with j < 2,
// i < hd/2 is stored as GGUF row (h, i, j).
int64_t gguf_llama_qk_row(int64_t hf_row, int64_t head_dim) {
    int64_t h = hf_row / head_dim, t = hf_row % head_dim, half = head_dim / 2;
    return h * head_dim + 2 * (t % half) + t / half;
}

}  // namespace tessera
