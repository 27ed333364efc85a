// CPU operations of the ViT-style encoders (SigLIP towers, models.md §1.2, §1.4, §5.1) that the decoder-only
// LLM ops in ops.h do not cover: LayerNorm with bias, exact and tanh GELU, and attention without a mask
// over one image's tokens. Activations are f32; norm parameters may be f32, bf16 or f16.
#pragma once

#include <cstdint>

#include "core/tensor.h"
#include "core/thread_pool.h"

namespace tessera::cpu {

// y[r, :] = (x[r, :] - mean) / sqrt(var + eps) ⊙ weight + bias, biased variance, for r in [0, rows).
// Mean and variance are accumulated in double. y may alias x.
void layer_norm(const float* x, const Tensor& weight, const Tensor& bias, int64_t rows, int64_t dim,
                float eps, float* y, ThreadPool& pool);

// GELU, exact: 0.5·x·(1 + erf(x/√2)).
float gelu_exact(float x);
// GELU, tanh approximation: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).
float gelu_tanh(float x);
// x[i] = gelu(x[i]) for i in [0, n), exact or tanh form, split over the pool.
void gelu_inplace(float* x, int64_t n, bool tanh_approx, ThreadPool& pool);

// Multi-head attention with no mask (every token sees every token), softmax in f32 with the max subtracted.
//   q, k, v: row t of head h at base + t·stride + h·head_dim (e.g. slices of one fused qkv [T, 3·W] buffer
//            with stride 3·W)
//   out:     [T, n_heads·head_dim] rows out_stride apart
void attention_full(const float* q, const float* k, const float* v, int64_t stride, int64_t T,
                    int64_t n_heads, int64_t head_dim, float scale, float* out, int64_t out_stride,
                    ThreadPool& pool);

}  // namespace tessera::cpu
