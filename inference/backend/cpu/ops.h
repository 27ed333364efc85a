// CPU backend: the operations every model is written against. Activations are f32; weights may be f32,
// bf16 or f16 and are converted in registers (AVX2/FMA with a portable fallback). Work is split over the
// ThreadPool. Nothing here allocates on the hot path except where a scratch argument is documented.
#pragma once

#include <cstdint>

#include "core/tensor.h"
#include "core/thread_pool.h"

namespace tessera::cpu {

// y[M, N] = x[M, K] · W[N, K]ᵀ (+ bias[N]).  W: f32/bf16/f16 [N, K]; bias: f32/bf16/f16 [N] or empty.
void matmul(const float* x, int64_t M, int64_t K, const Tensor& W, const Tensor& bias, float* y,
            ThreadPool& pool);

// y[r, :] = (x[r, :] / sqrt(mean(x²) + eps)) ⊙ weight  for r in [0, rows).  y may alias x.
void rms_norm(const float* x, const Tensor& weight, int64_t rows, int64_t dim, float eps, float* y);

// Rotate-half RoPE (models.md §1.6 layout A) in place on x[T, n_heads, head_dim]; token t has position
// positions[t]. inv_freq[head_dim/2] computed by the caller (fp32, §1.6).
void rope_rotate_half(float* x, int64_t T, int64_t n_heads, int64_t head_dim, const int32_t* positions,
                      const float* inv_freq);

// Causal attention for T new queries at positions [pos0, pos0+T) over a cache holding pos0+T keys.
//   q:   [T, n_heads, head_dim]
//   k,v: cache [max_seq, n_kv_heads, head_dim]; rows [0, pos0+T) valid
//   out: [T, n_heads, head_dim]
// GQA: query head h uses kv head h / (n_heads / n_kv_heads). Softmax in f32 (online, max-subtracted).
// scratch: at least pool.size() * (pos0 + T) floats; reserved (the current kernels keep their blocks on the
// stack), so callers that size it this way keep working if a kernel starts to use it.
void attention(const float* q, const float* k_cache, const float* v_cache, int64_t T, int64_t pos0,
               int64_t n_heads, int64_t n_kv_heads, int64_t head_dim, float scale, float* out,
               float* scratch, ThreadPool& pool);

// out[i] = silu(gate[i]) * up[i]. out may alias gate or up (element-wise, read before write).
void silu_mul(const float* gate, const float* up, int64_t n, float* out);

// out[t, :] = table[ids[t], :] converted to f32; table f32/bf16/f16 [V, D]. ids must be in range.
void embedding(const Tensor& table, const int32_t* ids, int64_t T, float* out);

// x += y
void add_inplace(float* x, const float* y, int64_t n);

// Fused residual step of a pre-norm block: x += delta, then y = rms_norm(x). y must not alias x.
void add_rms_norm(float* x, const float* delta, const Tensor& weight, int64_t rows, int64_t dim, float eps,
                  float* y);

// Row-wise softmax in place over x[rows, n], f32, max subtracted first so large logits cannot overflow.
void softmax(float* x, int64_t rows, int64_t n);

// Index of the largest element (the first one on ties; NaNs are skipped). -1 when n == 0 or all NaN.
int64_t argmax(const float* x, int64_t n);

// Tests and numerics checks: force the portable scalar kernels even on a CPU with AVX2/FMA/F16C.
// Process-wide; not meant to be flipped while another thread is inside an op.
void set_force_scalar(bool force);
// True when the AVX2 kernels are in use (CPU support present and the scalar path not forced).
bool simd_enabled();

}  // namespace tessera::cpu
