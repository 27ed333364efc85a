// Causal attention over the KV cache (models.md §1.8): scores q·k·scale, f32 softmax with the row maximum
// subtracted, then the probability-weighted sum of v. One work item is one (query, head) pair; items are
// spread over the pool and each thread keeps its scores in its own slice of the caller's scratch.
#include <algorithm>
#include <cmath>

#include "backend/cpu/kernels.h"
#include "backend/cpu/ops.h"

namespace tessera::cpu {

namespace {

float dot(const float* a, const float* b, int64_t n) {
#if TESSERA_CPU_X86
    if (detail::use_avx2()) return detail::dot_avx2(a, b, n);
#endif
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

void axpy(float* y, float a, const float* x, int64_t n) {
#if TESSERA_CPU_X86
    if (detail::use_avx2()) return detail::axpy_avx2(y, a, x, n);
#endif
    for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}

void scale_vec(float* y, float a, int64_t n) {
#if TESSERA_CPU_X86
    if (detail::use_avx2()) return detail::scale_avx2(y, a, n);
#endif
    for (int64_t i = 0; i < n; ++i) y[i] *= a;
}

// scores[0, n) = exp(scores - max); returns the sum.
float exp_sum(float* scores, int64_t n, float mx) {
#if TESSERA_CPU_X86
    if (detail::use_avx2()) return detail::exp_sum_avx2(scores, n, mx);
#endif
    double sum = 0.0;  // long contexts: a single f32 running sum would drift
    for (int64_t j = 0; j < n; ++j) {
        scores[j] = std::exp(scores[j] - mx);
        sum += double(scores[j]);
    }
    return float(sum);
}

}  // namespace

void attention(const float* q, const float* k_cache, const float* v_cache, int64_t T, int64_t pos0,
               int64_t n_heads, int64_t n_kv_heads, int64_t head_dim, float scale, float* out,
               float* scratch, ThreadPool& pool) {
    if (T <= 0 || n_heads <= 0 || n_kv_heads <= 0) return;
    const int64_t group = n_heads / n_kv_heads;
    const int64_t S = pos0 + T;  // keys in the cache after this step
    const int64_t q_stride = n_heads * head_dim;
    const int64_t kv_stride = n_kv_heads * head_dim;

    pool.parallel_for(T * n_heads, 1, [&](int64_t b, int64_t e) {
        float* scores = scratch + int64_t(pool.thread_index()) * S;
        for (int64_t item = b; item < e; ++item) {
            // Latest queries first: they see the most keys, so handing them out early balances the
            // threads' load in prefill. Consecutive items are consecutive heads of one query, which share
            // kv heads under GQA and keep those cache rows warm.
            const int64_t t = T - 1 - item / n_heads;
            const int64_t h = item % n_heads;
            const int64_t kvh = h / group;
            const int64_t L = pos0 + t + 1;  // causal: keys [0, pos0 + t]
            const float* qv = q + t * q_stride + h * head_dim;
            const float* kb = k_cache + kvh * head_dim;
            const float* vb = v_cache + kvh * head_dim;

            float mx = -INFINITY;
            for (int64_t j = 0; j < L; ++j) {
                scores[j] = dot(qv, kb + j * kv_stride, head_dim) * scale;
                mx = std::max(mx, scores[j]);
            }
            const float sum = exp_sum(scores, L, mx);

            float* o = out + t * q_stride + h * head_dim;
            std::fill(o, o + head_dim, 0.0f);
            for (int64_t j = 0; j < L; ++j) axpy(o, scores[j], vb + j * kv_stride, head_dim);
            scale_vec(o, 1.0f / sum, head_dim);
        }
    });
}

}  // namespace tessera::cpu
