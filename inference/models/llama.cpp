// Llama-family decoder: weight wiring with load-time checks, per-session state, forward pass (llama.h).
#include "models/llama.h"

#include <cstring>
#include <string>

#include "backend/cpu/ops.h"
#include "core/buffer.h"
#include "core/thread_pool.h"
#include "layers/kv_cache.h"
#include "layers/linear.h"
#include "layers/rotary.h"
#include "layers/weights.h"

namespace tessera {

namespace {

// KV cache plus activations for up to max_batch tokens, carved out of one aligned buffer.
struct LlamaState final : ForwardState {
    KvCache cache;
    HostBuffer arena;
    float* x = nullptr;        // [B, H]   residual stream
    float* xn = nullptr;       // [B, H]   normalised input of the current sub-block
    float* out = nullptr;      // [B, H]   output of the current sub-block
    float* gate = nullptr;     // [B, I]
    float* up = nullptr;       // [B, I]
    AttentionScratch attn;     // q, context [B, nh·hd]; scores [threads, max_seq]
    int32_t* positions = nullptr;  // [B]
};

// Float counts of each arena slice, each rounded up to 16 floats (64 bytes) so every slice stays aligned.
struct ArenaLayout {
    size_t x, xn, out, gate, up, q, context, scores, positions, total;
};

size_t round16(size_t n) { return (n + 15) / 16 * 16; }

ArenaLayout arena_layout(const LlmConfig& c, const AttentionDims& d, int max_seq, int max_batch, int threads) {
    const size_t B = size_t(max_batch);
    ArenaLayout a{};
    a.x = round16(B * size_t(c.hidden_size));
    a.xn = a.x;
    a.out = a.x;
    a.gate = round16(B * size_t(c.intermediate_size));
    a.up = a.gate;
    a.q = round16(B * size_t(d.q_dim()));
    a.context = a.q;
    a.scores = round16(size_t(threads) * size_t(max_seq));
    a.positions = round16(B);  // int32 slots, counted as floats (same size)
    a.total = a.x + a.xn + a.out + a.gate + a.up + a.q + a.context + a.scores + a.positions;
    return a;
}

}  // namespace

Status validate_decoder_config(const LlmConfig& c) {
    auto bad = [](const std::string& what) { return make_error(ErrorCode::Config, "config.json: " + what); };
    if (c.hidden_size <= 0 || c.intermediate_size <= 0 || c.num_hidden_layers <= 0 || c.vocab_size <= 0)
        return bad("hidden_size, intermediate_size, num_hidden_layers and vocab_size must be positive");
    if (c.num_attention_heads <= 0 || c.num_key_value_heads <= 0 || c.head_dim <= 0)
        return bad("num_attention_heads, num_key_value_heads and head_dim must be positive");
    if (c.num_attention_heads % c.num_key_value_heads != 0)
        return bad("num_attention_heads (" + std::to_string(c.num_attention_heads) +
                   ") is not a multiple of num_key_value_heads (" + std::to_string(c.num_key_value_heads) + ")");
    if (c.head_dim % 2 != 0) return bad("head_dim " + std::to_string(c.head_dim) + " is odd (RoPE pairs halves)");
    if (!(c.rms_norm_eps > 0.0f) || !(c.rope_theta > 0.0f)) return bad("rms_norm_eps and rope_theta must be positive");
    return {};
}

Result<std::unique_ptr<CausalLm>> LlamaModel::load(const LlmConfig& config,
                                                   std::shared_ptr<const Checkpoint> checkpoint,
                                                   DecoderVariant variant) {
    WeightLoader loader(*checkpoint);
    TESSERA_ASSIGN(std::unique_ptr<LlamaModel> m, load_from(config, loader, "", checkpoint, variant));
    TESSERA_TRY(loader.check_all_used());
    return std::unique_ptr<CausalLm>(std::move(m));
}

Result<std::unique_ptr<LlamaModel>> LlamaModel::load_from(const LlmConfig& config, WeightLoader& loader,
                                                          const std::string& name_prefix,
                                                          std::shared_ptr<const Checkpoint> checkpoint,
                                                          DecoderVariant variant) {
    TESSERA_TRY(validate_decoder_config(config));
    std::unique_ptr<LlamaModel> m(new LlamaModel());
    m->m_config = config;
    m->m_dims = AttentionDims{config.hidden_size, config.num_attention_heads, config.num_key_value_heads,
                              config.head_dim};
    m->m_inv_freq = rope_inv_freq(config.head_dim, config.rope_theta);  // full head dim rotated (§2.3, §3.3)
    if (variant.bf16_rope_frequencies)
        for (float& f : m->m_inv_freq) f = round_bf16(f);

    const int64_t V = config.vocab_size, H = config.hidden_size;
    const std::string& P = name_prefix;
    LlamaWeights& w = m->m_weights;
    TESSERA_ASSIGN(w.embed_tokens, loader.get_weight(P + "model.embed_tokens.weight", {V, H}));
    w.layers.resize(size_t(config.num_hidden_layers));
    for (int l = 0; l < config.num_hidden_layers; ++l) {
        const std::string prefix = P + "model.layers." + std::to_string(l) + ".";
        DecoderLayerWeights& layer = w.layers[size_t(l)];
        TESSERA_ASSIGN(layer.input_layernorm, loader.get(prefix + "input_layernorm.weight", {H}));
        TESSERA_TRY(load_attention(loader, prefix + "self_attn.", m->m_dims, variant.biases, layer.self_attn));
        TESSERA_ASSIGN(layer.post_attention_layernorm, loader.get(prefix + "post_attention_layernorm.weight", {H}));
        TESSERA_TRY(load_mlp(loader, prefix + "mlp.", config.hidden_size, config.intermediate_size, layer.mlp));
    }
    TESSERA_ASSIGN(w.norm, loader.get(P + "model.norm.weight", {H}));
    if (config.tie_word_embeddings) {
        // Tied: the output projection is the embedding table; a stored copy (if any) is not read.
        w.lm_head = w.embed_tokens;
        loader.ignore(P + "lm_head.weight");
    } else {
        TESSERA_ASSIGN(w.lm_head, loader.get_weight(P + "lm_head.weight", {V, H}));
    }
    m->m_checkpoint = std::move(checkpoint);
    return m;
}

uint64_t llama_state_bytes(const LlmConfig& c, int max_seq, int max_batch, int threads) {
    const AttentionDims d{c.hidden_size, c.num_attention_heads, c.num_key_value_heads, c.head_dim};
    const ArenaLayout a = arena_layout(c, d, max_seq, max_batch, threads);
    return KvCache::bytes_needed(c.num_hidden_layers, max_seq, d.kv_heads, d.head_dim) + a.total * sizeof(float);
}

uint64_t LlamaModel::state_bytes(int max_seq, int max_batch, int threads) const {
    return llama_state_bytes(m_config, max_seq, max_batch, threads);
}

Result<std::unique_ptr<ForwardState>> LlamaModel::new_state(int max_seq, int max_batch, int threads) const {
    if (max_seq <= 0 || max_batch <= 0 || threads <= 0)
        return make_error(ErrorCode::InvalidArgument, "session state: sizes must be positive");
    auto s = std::make_unique<LlamaState>();
    s->max_seq = max_seq;
    s->max_batch = max_batch;
    TESSERA_ASSIGN(s->cache, KvCache::allocate(m_config.num_hidden_layers, max_seq, m_dims.kv_heads, m_dims.head_dim));
    const ArenaLayout a = arena_layout(m_config, m_dims, max_seq, max_batch, threads);
    auto arena = HostBuffer::allocate(a.total * sizeof(float), /*zero=*/true);
    if (!arena.ok()) return make_error(ErrorCode::OutOfMemory, "activation scratch: " + arena.error().message);
    s->arena = std::move(arena).value();
    float* p = s->arena.as<float>();
    auto take = [&p](size_t n) {
        float* r = p;
        p += n;
        return r;
    };
    s->x = take(a.x);
    s->xn = take(a.xn);
    s->out = take(a.out);
    s->gate = take(a.gate);
    s->up = take(a.up);
    s->attn.q = take(a.q);
    s->attn.context = take(a.context);
    s->attn.scores = take(a.scores);
    s->positions = reinterpret_cast<int32_t*>(take(a.positions));
    return std::unique_ptr<ForwardState>(std::move(s));
}

Status LlamaModel::forward(ForwardState& state, const int32_t* ids, int T, int pos, float* logits,
                         bool all_positions, ThreadPool& pool) const {
    LlamaState& s = static_cast<LlamaState&>(state);
    embedding_lookup(m_weights.embed_tokens, ids, T, s.x);
    run_layers(state, T, pos, logits, all_positions, /*hidden_only=*/false, pool);
    return {};
}

Status LlamaModel::forward_embeddings(ForwardState& state, const float* x, int T, int pos, float* out,
                                      bool all_positions, bool hidden_only, ThreadPool& pool) const {
    LlamaState& s = static_cast<LlamaState&>(state);
    std::memcpy(s.x, x, size_t(T) * size_t(m_config.hidden_size) * sizeof(float));
    run_layers(state, T, pos, out, all_positions, hidden_only, pool);
    return {};
}

Status LlamaModel::embed(const int32_t* ids, int T, float* out) const {
    embedding_lookup(m_weights.embed_tokens, ids, T, out);
    return {};
}

void LlamaModel::run_layers(ForwardState& state, int T, int pos, float* out, bool all_positions, bool hidden_only,
                            ThreadPool& pool) const {
    LlamaState& s = static_cast<LlamaState&>(state);
    const LlmConfig& c = m_config;
    const int64_t H = c.hidden_size;
    const float eps = c.rms_norm_eps;
    for (int t = 0; t < T; ++t) s.positions[t] = pos + t;  // one unpadded sequence (§1.9)

    for (int l = 0; l < c.num_hidden_layers; ++l) {
        const DecoderLayerWeights& layer = m_weights.layers[size_t(l)];
        // h = x + Attn(RMSNorm₁(x))   (§1.1 RMSNorm, §1.8 attention)
        cpu::rms_norm(s.x, layer.input_layernorm, T, H, eps, s.xn);
        attention_forward(layer.self_attn, m_dims, m_inv_freq.data(), s.positions, s.xn, T, pos, s.cache.k(l),
                          s.cache.v(l), s.attn, s.out, pool);
        cpu::add_inplace(s.x, s.out, T * H);
        // out = h + MLP(RMSNorm₂(h))   (§1.5 SwiGLU)
        cpu::rms_norm(s.x, layer.post_attention_layernorm, T, H, eps, s.xn);
        mlp_forward(layer.mlp, c.hidden_size, c.intermediate_size, s.xn, T, s.gate, s.up, s.out, pool);
        cpu::add_inplace(s.x, s.out, T * H);
    }
    // Final norm and lm_head, for every position or only the last one (generation needs just that).
    const int64_t rows = all_positions ? T : 1;
    const float* last = s.x + (all_positions ? 0 : int64_t(T - 1) * H);
    if (hidden_only) {
        cpu::rms_norm(last, m_weights.norm, rows, H, eps, out);  // what gen_head reads (§7.3)
        return;
    }
    cpu::rms_norm(last, m_weights.norm, rows, H, eps, s.xn);
    linear(s.xn, rows, H, m_weights.lm_head, Tensor{}, out, pool);
}

Result<std::unique_ptr<CausalLm>> load_llama(const LlmConfig& config, std::shared_ptr<const Checkpoint> checkpoint) {
    // LlamaAttention puts config.attention_bias on all four projections (DeepSeek LLM: false).
    DecoderVariant variant;
    variant.biases.qkv = config.attention_bias;
    variant.biases.o = config.attention_bias;
    return LlamaModel::load(config, std::move(checkpoint), variant);
}

}  // namespace tessera
