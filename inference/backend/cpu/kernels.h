// Internal to the CPU backend (not part of ops.h): the switch between the portable kernels and the AVX2
// ones, and the AVX2 entry points. The *_avx2.cpp files are compiled with -mavx2 -mfma -mf16c, so nothing
// in them may run before use_avx2() has said yes.
#pragma once

#include <cstdint>

#include "core/dtype.h"

#if defined(__x86_64__) || defined(__i386__)
#define TESSERA_CPU_X86 1
#else
#define TESSERA_CPU_X86 0
#endif

namespace tessera::cpu::detail {

// True when the CPU has AVX2, FMA and F16C and the scalar path is not forced (set_force_scalar).
bool use_avx2();

// Rows [n0, n1) of y[M, N] = x[M, K] · W[N, K]ᵀ, no bias. W points at the whole weight (row 0).
void matmul_rows_scalar(const float* x, int64_t M, int64_t K, const void* W, DType wt, int64_t N,
                        int64_t n0, int64_t n1, float* y);

// Attention building blocks, AVX2 or portable (attention.cpp; the ViT attention uses them too):
// s[j] = scale·q·k_j over nb key rows k_stride apart; p = exp(p − mx) in place returning Σ p (f64 sum in the
// portable path); o = alpha·o + Σ_j p[j]·v_j over nb value rows.
void qk_scores(const float* q, const float* k, int64_t k_stride, int64_t nb, int64_t hd, float scale, float* s);
float exp_sum(float* p, int64_t n, float mx);
void pv_accumulate(float* o, float alpha, const float* p, const float* v, int64_t v_stride, int64_t nb, int64_t hd);

#if TESSERA_CPU_X86
// Decode (M == 1): y[n] = x · W[n] for n in [n0, n1).
void gemv_rows_avx2(const float* x, int64_t K, const void* W, DType wt, int64_t n0, int64_t n1, float* y);
// Prefill (M > 1): columns [n0, n1) of y[M, N]; n0 must be a multiple of kGemmNr.
void gemm_cols_avx2(const float* x, int64_t M, int64_t K, const void* W, DType wt, int64_t N, int64_t n0,
                    int64_t n1, float* y);
constexpr int64_t kGemmNr = 16;  // weight rows per packed panel (two ymm registers of outputs)

// Attention (attention.cpp): s[j] = scale·q·k_j over nb key rows; o = alpha·o + Σ_j p[j]·v_j.
void qk_scores_avx2(const float* q, const float* k, int64_t k_stride, int64_t nb, int64_t hd, float scale, float* s);
void pv_accumulate_avx2(float* o, float alpha, const float* p, const float* v, int64_t v_stride, int64_t nb,
                        int64_t hd);
void scale_avx2(float* y, float a, int64_t n);                        // y *= a
float exp_sum_avx2(float* x, int64_t n, float max);                    // x = exp(x - max), returns Σ
void silu_mul_avx2(const float* gate, const float* up, int64_t n, float* out);
void add_avx2(float* x, const float* y, int64_t n);
float sum_squares_avx2(const float* x, int64_t n);
void scale_mul_avx2(const float* x, float r, const void* w, DType wt, int64_t n, float* y);  // y = x·r⊙w
#endif

}  // namespace tessera::cpu::detail
