// Multi-head / grouped-query self-attention with rotate-half RoPE and a KV cache: the attention of the
// Llama family (DeepSeek LLM, models.md §2.3) and of Qwen2 (q/k/v biases, §3.3). MLA lives elsewhere.
#pragma once

#include <cstdint>
#include <string>

#include "core/tensor.h"
#include "core/thread_pool.h"
#include "layers/weights.h"

namespace tessera {

struct AttentionDims {
    int hidden = 0;    // H
    int heads = 0;     // nh
    int kv_heads = 0;  // n_kv; query head h reads kv head h / (nh / n_kv) (§1.8)
    int head_dim = 0;  // hd; nh·hd need not equal H
    int q_dim() const { return heads * head_dim; }
    int kv_dim() const { return kv_heads * head_dim; }
};

// Weight names below are relative to "model.layers.N.self_attn.".
struct AttentionWeights {
    Weight q_proj;       // [nh·hd, H]
    Tensor q_proj_bias;  // [nh·hd]   Qwen2 (and Llama with attention_bias); empty otherwise
    Weight k_proj;       // [n_kv·hd, H]
    Tensor k_proj_bias;  // [n_kv·hd]
    Weight v_proj;       // [n_kv·hd, H]
    Tensor v_proj_bias;  // [n_kv·hd]
    Weight o_proj;       // [H, nh·hd]
    Tensor o_proj_bias;  // [H]       Llama with attention_bias only (Qwen2's o_proj has none, §11.34)
};

struct AttentionBiases {
    bool qkv = false;
    bool o = false;
};

Status load_attention(WeightLoader& loader, const std::string& prefix, const AttentionDims& dims,
                      AttentionBiases biases, AttentionWeights& out);

// Activations the attention step writes into; sized by the caller for T rows (no allocation here).
struct AttentionScratch {
    float* q = nullptr;        // [T, nh·hd]
    float* context = nullptr;  // [T, nh·hd] softmax(q·kᵀ·scale)·v per head
    float* scores = nullptr;   // pool.size() · (pos + T) floats for the backend kernel
};

// out[T, H] = o_proj(attention(rope(q_proj x), cached rope(k_proj x), cached v_proj x)) for tokens at
// positions [pos, pos + T). Writes this step's keys and values into rows [pos, pos + T) of the caches
// ([max_seq, n_kv, hd] each), which must already hold rows [0, pos).
void attention_forward(const AttentionWeights& w, const AttentionDims& dims, const float* inv_freq,
                       const int32_t* positions, const float* x, int64_t T, int64_t pos, float* k_cache,
                       float* v_cache, const AttentionScratch& scratch, float* out, ThreadPool& pool);

}  // namespace tessera
