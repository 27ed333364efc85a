// RMSNorm (models.md §1.1) and the fused residual-add + RMSNorm of a pre-norm block. The sum of squares
// is accumulated in f32 like the reference's fp32 upcast; the weight may be f32, bf16 or f16.
#include <cmath>

#include "backend/cpu/convert.h"
#include "backend/cpu/kernels.h"
#include "backend/cpu/ops.h"

namespace tessera::cpu {

namespace {

float sum_squares(const float* x, int64_t n) {
#if TESSERA_CPU_X86
    if (detail::use_avx2()) return detail::sum_squares_avx2(x, n);
#endif
    float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        s0 += x[i] * x[i];
        s1 += x[i + 1] * x[i + 1];
        s2 += x[i + 2] * x[i + 2];
        s3 += x[i + 3] * x[i + 3];
    }
    for (; i < n; ++i) s0 += x[i] * x[i];
    return (s0 + s1) + (s2 + s3);
}

// y = x · r ⊙ w. Written element by element so y may alias x.
void scale_mul(const float* x, float r, const Tensor& w, int64_t n, float* y) {
#if TESSERA_CPU_X86
    if (detail::use_avx2()) return detail::scale_mul_avx2(x, r, w.data, w.dtype, n, y);
#endif
    for (int64_t i = 0; i < n; ++i) y[i] = x[i] * r * detail::load_as_f32(w.data, w.dtype, i);
}

void rms_norm_row(const float* x, const Tensor& weight, int64_t dim, float eps, float* y) {
    float mean = dim > 0 ? sum_squares(x, dim) / float(dim) : 0.0f;
    float r = 1.0f / std::sqrt(mean + eps);
    scale_mul(x, r, weight, dim, y);
}

}  // namespace

void rms_norm(const float* x, const Tensor& weight, int64_t rows, int64_t dim, float eps, float* y) {
    for (int64_t r = 0; r < rows; ++r) rms_norm_row(x + r * dim, weight, dim, eps, y + r * dim);
}

void add_rms_norm(float* x, const float* delta, const Tensor& weight, int64_t rows, int64_t dim, float eps,
                  float* y) {
    // Row by row so the freshly summed row is still in L1 when it is normalised.
    for (int64_t r = 0; r < rows; ++r) {
        add_inplace(x + r * dim, delta + r * dim, dim);
        rms_norm_row(x + r * dim, weight, dim, eps, y + r * dim);
    }
}

}  // namespace tessera::cpu
