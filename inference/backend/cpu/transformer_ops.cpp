// LayerNorm, GELU and unmasked attention for the vision towers (see transformer_ops.h). Attention scores of
// one query against all T keys fit in a small per-chunk buffer (T is 576 or 729), so the softmax is computed
// over the whole row at once; the dot products and the weighted sum of V reuse the AVX2 kernels of the
// causal attention when the CPU has them.
#include "backend/cpu/transformer_ops.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "backend/cpu/convert.h"
#include "backend/cpu/kernels.h"

namespace tessera::cpu {

namespace {

// o = Σ_j p[j]·v_j (o starts at zero).
void pv_sum(float* o, const float* p, const float* v, int64_t v_stride, int64_t nb, int64_t hd) {
    std::fill(o, o + hd, 0.0f);
    detail::pv_accumulate(o, 1.0f, p, v, v_stride, nb, hd);
}

}  // namespace

void layer_norm(const float* x, const Tensor& weight, const Tensor& bias, int64_t rows, int64_t dim,
                float eps, float* y, ThreadPool& pool) {
    if (rows <= 0 || dim <= 0) return;
    pool.parallel_for(rows, 8, [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
            const float* xr = x + r * dim;
            float* yr = y + r * dim;
            double sum = 0.0;
            for (int64_t i = 0; i < dim; ++i) sum += double(xr[i]);
            const double mean = sum / double(dim);
            double sq = 0.0;
            for (int64_t i = 0; i < dim; ++i) {
                const double d = double(xr[i]) - mean;
                sq += d * d;
            }
            const float rstd = float(1.0 / std::sqrt(sq / double(dim) + double(eps)));
            const float m = float(mean);
            for (int64_t i = 0; i < dim; ++i)
                yr[i] = (xr[i] - m) * rstd * detail::load_as_f32(weight.data, weight.dtype, i) +
                        detail::load_as_f32(bias.data, bias.dtype, i);
        }
    });
}

float gelu_exact(float x) {
    return 0.5f * x * (1.0f + std::erf(x * 0.70710678118654752440f));
}

float gelu_tanh(float x) {
    constexpr float kAlpha = 0.79788456080286535588f;  // √(2/π)
    return 0.5f * x * (1.0f + std::tanh(kAlpha * (x + 0.044715f * x * x * x)));
}

void gelu_inplace(float* x, int64_t n, bool tanh_approx, ThreadPool& pool) {
    if (n <= 0) return;
    pool.parallel_for(n, 4096, [&](int64_t b, int64_t e) {
        if (tanh_approx) {
            for (int64_t i = b; i < e; ++i) x[i] = gelu_tanh(x[i]);
        } else {
            for (int64_t i = b; i < e; ++i) x[i] = gelu_exact(x[i]);
        }
    });
}

void attention_full(const float* q, const float* k, const float* v, int64_t stride, int64_t T,
                    int64_t n_heads, int64_t head_dim, float scale, float* out, int64_t out_stride,
                    ThreadPool& pool) {
    if (T <= 0 || n_heads <= 0 || head_dim <= 0) return;
    // Work items are (head, block of queries): a block reads its head's K and V once from cache.
    constexpr int64_t kQueryBlock = 16;
    const int64_t blocks = (T + kQueryBlock - 1) / kQueryBlock;
    pool.parallel_for(n_heads * blocks, 1, [&](int64_t b, int64_t e) {
        std::vector<float> p(static_cast<size_t>(T));
        for (int64_t item = b; item < e; ++item) {
            const int64_t h = item / blocks;
            const int64_t t0 = (item % blocks) * kQueryBlock;
            const int64_t t1 = std::min(T, t0 + kQueryBlock);
            const float* kh = k + h * head_dim;
            const float* vh = v + h * head_dim;
            for (int64_t t = t0; t < t1; ++t) {
                detail::qk_scores(q + t * stride + h * head_dim, kh, stride, T, head_dim, scale, p.data());
                const float mx = *std::max_element(p.begin(), p.end());
                const float sum = detail::exp_sum(p.data(), T, mx);
                const float inv = 1.0f / sum;
                for (float& pj : p) pj *= inv;
                pv_sum(out + t * out_stride + h * head_dim, p.data(), vh, stride, T, head_dim);
            }
        }
    });
}

}  // namespace tessera::cpu
