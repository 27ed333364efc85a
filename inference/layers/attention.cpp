// GQA self-attention with RoPE over a KV cache (see attention.h); models.md §1.6 (layout A), §1.8.
#include "layers/attention.h"

#include <cmath>

#include "backend/cpu/ops.h"
#include "layers/linear.h"

namespace tessera {

Status load_attention(WeightLoader& loader, const std::string& prefix, const AttentionDims& d,
                      AttentionBiases biases, AttentionWeights& w) {
    const int64_t H = d.hidden, q_dim = d.q_dim(), kv_dim = d.kv_dim();
    TESSERA_ASSIGN(w.q_proj, loader.get_weight(prefix + "q_proj.weight", {q_dim, H}));
    TESSERA_ASSIGN(w.k_proj, loader.get_weight(prefix + "k_proj.weight", {kv_dim, H}));
    TESSERA_ASSIGN(w.v_proj, loader.get_weight(prefix + "v_proj.weight", {kv_dim, H}));
    TESSERA_ASSIGN(w.o_proj, loader.get_weight(prefix + "o_proj.weight", {H, q_dim}));
    if (biases.qkv) {
        TESSERA_ASSIGN(w.q_proj_bias, loader.get(prefix + "q_proj.bias", {q_dim}));
        TESSERA_ASSIGN(w.k_proj_bias, loader.get(prefix + "k_proj.bias", {kv_dim}));
        TESSERA_ASSIGN(w.v_proj_bias, loader.get(prefix + "v_proj.bias", {kv_dim}));
    }
    if (biases.o) {
        TESSERA_ASSIGN(w.o_proj_bias, loader.get(prefix + "o_proj.bias", {H}));
    }
    return {};
}

void attention_forward(const AttentionWeights& w, const AttentionDims& d, const float* inv_freq,
                       const int32_t* positions, const float* x, int64_t T, int64_t pos, float* k_cache,
                       float* v_cache, const AttentionScratch& s, float* out, ThreadPool& pool) {
    const int64_t H = d.hidden, kv_dim = d.kv_dim();
    // Projections; this step's k and v go straight into their cache rows.
    float* k_new = k_cache + pos * kv_dim;
    float* v_new = v_cache + pos * kv_dim;
    linear(x, T, H, w.q_proj, w.q_proj_bias, s.q, pool);
    linear(x, T, H, w.k_proj, w.k_proj_bias, k_new, pool);
    linear(x, T, H, w.v_proj, w.v_proj_bias, v_new, pool);

    // Rotate-half RoPE on every head of q and k (§1.6 layout A); the cache keeps rotated keys.
    cpu::rope_rotate_half(s.q, T, d.heads, d.head_dim, positions, inv_freq);
    cpu::rope_rotate_half(k_new, T, d.kv_heads, d.head_dim, positions, inv_freq);

    // softmax(q·kᵀ / sqrt(hd) + causal mask)·v, softmax in f32 (§1.8). The reference multiplies by
    // head_dim**-0.5 computed in double and applied as an f32 scalar.
    const float scale = float(1.0 / std::sqrt(double(d.head_dim)));
    cpu::attention(s.q, k_cache, v_cache, T, pos, d.heads, d.kv_heads, d.head_dim, scale, s.context, s.scores,
                   pool);

    linear(s.context, T, d.q_dim(), w.o_proj, w.o_proj_bias, out, pool);
}

}  // namespace tessera
