// matmul: y[M, N] = x[M, K] · W[N, K]ᵀ (+ bias). Splits the output columns (weight rows) over the thread
// pool so each weight row is read by exactly one thread, then calls the AVX2 kernels (matmul_avx2.cpp) or
// the portable one below. The portable kernel converts a block of one weight row to f32 once and reuses it
// for every row of x, so it is also usable for prefill on CPUs without AVX2.
#include <algorithm>

#include "backend/cpu/convert.h"
#include "backend/cpu/kernels.h"
#include "backend/cpu/ops.h"

namespace tessera::cpu {

namespace detail {

namespace {

constexpr int64_t kScalarBlock = 256;  // f32 copy of a weight-row block: 1 KiB, stays in L1

float dot_scalar(const float* a, const float* b, int64_t n) {
    // Four partial sums: independent chains the compiler can keep in flight, as the AVX2 kernel does.
    float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        s0 += a[i] * b[i];
        s1 += a[i + 1] * b[i + 1];
        s2 += a[i + 2] * b[i + 2];
        s3 += a[i + 3] * b[i + 3];
    }
    for (; i < n; ++i) s0 += a[i] * b[i];
    return (s0 + s1) + (s2 + s3);
}

}  // namespace

void matmul_rows_scalar(const float* x, int64_t M, int64_t K, const void* W, DType wt, int64_t N,
                        int64_t n0, int64_t n1, float* y) {
    float wbuf[kScalarBlock];
    for (int64_t n = n0; n < n1; ++n) {
        for (int64_t m = 0; m < M; ++m) y[m * N + n] = 0.0f;
        for (int64_t k0 = 0; k0 < K; k0 += kScalarBlock) {
            int64_t kb = std::min(kScalarBlock, K - k0);
            convert_to_f32(W, wt, n * K + k0, kb, wbuf);
            for (int64_t m = 0; m < M; ++m) y[m * N + n] += dot_scalar(x + m * K + k0, wbuf, kb);
        }
    }
}

}  // namespace detail

void matmul(const float* x, int64_t M, int64_t K, const Tensor& W, const Tensor& bias, float* y,
            ThreadPool& pool) {
    const int64_t N = W.dim(0);
    if (M <= 0 || N <= 0) return;
    const void* w = W.data;
    const DType wt = W.dtype;
    const bool has_bias = !bias.empty();

    // Bias is added by the thread that produced those columns, while they are still in its cache.
    auto add_bias = [&](int64_t n0, int64_t n1) {
        if (!has_bias) return;
        for (int64_t m = 0; m < M; ++m)
            for (int64_t n = n0; n < n1; ++n) y[m * N + n] += detail::load_as_f32(bias.data, bias.dtype, n);
    };

#if TESSERA_CPU_X86
    if (detail::use_avx2()) {
        if (M == 1) {
            // Units of 4 weight rows (the kernel's row block); 16 units minimum keeps a chunk well above
            // the cost of handing it out.
            constexpr int64_t kRows = 4;
            pool.parallel_for((N + kRows - 1) / kRows, 16, [&](int64_t b, int64_t e) {
                int64_t n0 = b * kRows, n1 = std::min(N, e * kRows);
                detail::gemv_rows_avx2(x, K, w, wt, n0, n1, y);
                add_bias(n0, n1);
            });
        } else {
            constexpr int64_t kRows = detail::kGemmNr;
            pool.parallel_for((N + kRows - 1) / kRows, 1, [&](int64_t b, int64_t e) {
                int64_t n0 = b * kRows, n1 = std::min(N, e * kRows);
                detail::gemm_cols_avx2(x, M, K, w, wt, N, n0, n1, y);
                add_bias(n0, n1);
            });
        }
        return;
    }
#endif
    pool.parallel_for(N, 16, [&](int64_t n0, int64_t n1) {
        detail::matmul_rows_scalar(x, M, K, w, wt, N, n0, n1, y);
        add_bias(n0, n1);
    });
}

}  // namespace tessera::cpu
