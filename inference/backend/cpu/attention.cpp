// Causal attention over the KV cache (models.md §1.8): scores q·k·scale, f32 softmax, probability-weighted
// sum of v.
//
// Keys are visited in blocks of kKeyBlock with an online softmax: each query head keeps its running max m,
// normaliser l and output accumulator; when a block raises the max, the old l and output are scaled by
// exp(m_old - m_new) before the block's terms are added, so every exponent is <= 0 (no overflow) and the
// result equals the max-subtracted softmax up to rounding. The query heads that share a kv head (GQA) are
// processed together against each block, so a block of K and V is read from memory once for the whole
// group and reused from L1, instead of once per query head.
//
// Work items are (query, kv head, slice of that kv head's query heads). Decode has few items, so the
// slices are made smaller until every thread has work; prefill has plenty and hands out the latest queries
// (which see the most keys) first to balance the threads.
#include <algorithm>
#include <cmath>

#include "backend/cpu/kernels.h"
#include "backend/cpu/ops.h"

namespace tessera::cpu {

namespace detail {

// s[j] = scale · q·k_j for the nb keys starting at k (rows k_stride apart).
void qk_scores(const float* q, const float* k, int64_t k_stride, int64_t nb, int64_t hd, float scale, float* s) {
#if TESSERA_CPU_X86
    if (detail::use_avx2()) return detail::qk_scores_avx2(q, k, k_stride, nb, hd, scale, s);
#endif
    for (int64_t j = 0; j < nb; ++j) {
        const float* kj = k + j * k_stride;
        float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
        int64_t d = 0;
        for (; d + 4 <= hd; d += 4) {
            s0 += q[d] * kj[d];
            s1 += q[d + 1] * kj[d + 1];
            s2 += q[d + 2] * kj[d + 2];
            s3 += q[d + 3] * kj[d + 3];
        }
        for (; d < hd; ++d) s0 += q[d] * kj[d];
        s[j] = ((s0 + s1) + (s2 + s3)) * scale;
    }
}

// p[j] = exp(s[j] - mx) in place; returns Σ p (f64 inside: long rows would drift in one f32 sum).
float exp_sum(float* p, int64_t n, float mx) {
#if TESSERA_CPU_X86
    if (detail::use_avx2()) return detail::exp_sum_avx2(p, n, mx);
#endif
    double sum = 0.0;
    for (int64_t j = 0; j < n; ++j) {
        p[j] = std::exp(p[j] - mx);
        sum += double(p[j]);
    }
    return float(sum);
}

// o = alpha·o + Σ_j p[j]·v_j over the nb value rows starting at v.
void pv_accumulate(float* o, float alpha, const float* p, const float* v, int64_t v_stride, int64_t nb, int64_t hd) {
#if TESSERA_CPU_X86
    if (detail::use_avx2()) return detail::pv_accumulate_avx2(o, alpha, p, v, v_stride, nb, hd);
#endif
    for (int64_t d = 0; d < hd; ++d) o[d] *= alpha;
    for (int64_t j = 0; j < nb; ++j) {
        const float pj = p[j];
        const float* vj = v + j * v_stride;
        for (int64_t d = 0; d < hd; ++d) o[d] += pj * vj[d];
    }
}

}  // namespace detail

namespace {

using detail::exp_sum;
using detail::pv_accumulate;
using detail::qk_scores;

constexpr int64_t kKeyBlock = 64;  // K and V blocks of 64 rows: 32 KiB each at head_dim 128
constexpr int64_t kMaxSlice = 8;   // query heads processed together against one block

void scale_vec(float* y, float a, int64_t n) {
#if TESSERA_CPU_X86
    if (detail::use_avx2()) return detail::scale_avx2(y, a, n);
#endif
    for (int64_t i = 0; i < n; ++i) y[i] *= a;
}

struct Geometry {
    int64_t T, pos0, n_heads, n_kv, hd, group, q_stride, kv_stride;
    float scale;
};

// Query t, query heads [h0, h0 + nq) which all read kv head kvh.
void attend(const Geometry& g, const float* q, const float* k_cache, const float* v_cache, int64_t t, int64_t kvh,
            int64_t h0, int64_t nq, float* out) {
    const int64_t L = g.pos0 + t + 1;  // causal: keys [0, pos0 + t]
    const float* kb = k_cache + kvh * g.hd;
    const float* vb = v_cache + kvh * g.hd;
    float m[kMaxSlice], l[kMaxSlice];
    alignas(32) float p[kMaxSlice][kKeyBlock];
    for (int64_t i = 0; i < nq; ++i) {
        m[i] = -INFINITY;
        l[i] = 0.0f;
        float* o = out + t * g.q_stride + (h0 + i) * g.hd;
        std::fill(o, o + g.hd, 0.0f);
    }
    for (int64_t j0 = 0; j0 < L; j0 += kKeyBlock) {
        const int64_t nb = std::min(kKeyBlock, L - j0);
        for (int64_t i = 0; i < nq; ++i) {
            const float* qv = q + t * g.q_stride + (h0 + i) * g.hd;
            qk_scores(qv, kb + j0 * g.kv_stride, g.kv_stride, nb, g.hd, g.scale, p[i]);
            float bm = p[i][0];
            for (int64_t j = 1; j < nb; ++j) bm = std::max(bm, p[i][j]);
            const float m_new = std::max(m[i], bm);
            // exp(-inf) = 0 on the first block: the empty accumulator is simply replaced.
            const float alpha = std::exp(m[i] - m_new);
            l[i] = l[i] * alpha + exp_sum(p[i], nb, m_new);
            m[i] = m_new;
            float* o = out + t * g.q_stride + (h0 + i) * g.hd;
            pv_accumulate(o, alpha, p[i], vb + j0 * g.kv_stride, g.kv_stride, nb, g.hd);
        }
    }
    for (int64_t i = 0; i < nq; ++i) scale_vec(out + t * g.q_stride + (h0 + i) * g.hd, 1.0f / l[i], g.hd);
}

}  // namespace

void attention(const float* q, const float* k_cache, const float* v_cache, int64_t T, int64_t pos0,
               int64_t n_heads, int64_t n_kv_heads, int64_t head_dim, float scale, float* out,
               float* /*scratch*/, ThreadPool& pool) {
    if (T <= 0 || n_heads <= 0 || n_kv_heads <= 0) return;
    Geometry g{T, pos0, n_heads, n_kv_heads, head_dim, n_heads / n_kv_heads, n_heads * head_dim,
               n_kv_heads * head_dim, scale};

    // Slice the query heads of a group only as finely as needed to give every thread two items: each slice
    // re-reads its kv head's K and V.
    const int64_t per_group = std::max<int64_t>(1, (2 * int64_t(pool.size()) + T * n_kv_heads - 1) / (T * n_kv_heads));
    const int64_t slice = std::clamp<int64_t>((g.group + per_group - 1) / per_group, 1, kMaxSlice);
    const int64_t slices = (g.group + slice - 1) / slice;

    pool.parallel_for(T * n_kv_heads * slices, 1, [&](int64_t b, int64_t e) {
        for (int64_t item = b; item < e; ++item) {
            const int64_t t = T - 1 - item / (n_kv_heads * slices);  // latest queries first
            const int64_t rest = item % (n_kv_heads * slices);
            const int64_t kvh = rest / slices, s = rest % slices;
            const int64_t h0 = kvh * g.group + s * slice;
            const int64_t nq = std::min(slice, g.group - s * slice);
            attend(g, q, k_cache, v_cache, t, kvh, h0, nq, out);
        }
    });
}

}  // namespace tessera::cpu
