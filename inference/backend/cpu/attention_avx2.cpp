// AVX2/FMA kernels of the blocked attention in attention.cpp (declared in kernels.h, called only after
// use_avx2()). Scores take eight keys per pass so each q vector load feeds eight independent FMA chains;
// the probability·V product keeps up to 64 output lanes in registers across the whole key block, so the
// output row is read and written once per block rather than once per key.
#include "backend/cpu/kernels.h"

#if TESSERA_CPU_X86

#include "backend/cpu/simd_avx2.h"

namespace tessera::cpu::detail {

using namespace avx2;

namespace {

// [Σa0, Σa1, Σa2, Σa3]: three horizontal adds and one cross-lane add instead of four full hsums.
inline __m128 reduce4(__m256 a0, __m256 a1, __m256 a2, __m256 a3) {
    const __m256 h = _mm256_hadd_ps(_mm256_hadd_ps(a0, a1), _mm256_hadd_ps(a2, a3));
    return _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
}

}  // namespace

void qk_scores_avx2(const float* q, const float* k, int64_t k_stride, int64_t nb, int64_t hd, float scale,
                    float* s) {
    const __m128 vs = _mm_set1_ps(scale);
    const int64_t hd8 = hd & ~int64_t(7);
    const int64_t rem = hd - hd8;
    int64_t j = 0;
    for (; j + 8 <= nb; j += 8) {
        const float* kj = k + j * k_stride;
        __m256 a[8];
        for (int i = 0; i < 8; ++i) a[i] = _mm256_setzero_ps();
        for (int64_t d = 0; d < hd8; d += 8) {
            const __m256 qv = _mm256_loadu_ps(q + d);
#pragma GCC unroll 8
            for (int i = 0; i < 8; ++i) a[i] = _mm256_fmadd_ps(qv, _mm256_loadu_ps(kj + i * k_stride + d), a[i]);
        }
        if (rem) {
            const __m256 qv = load_partial<DType::F32>(q + hd8, rem);
#pragma GCC unroll 8
            for (int i = 0; i < 8; ++i)
                a[i] = _mm256_fmadd_ps(qv, load_partial<DType::F32>(kj + i * k_stride + hd8, rem), a[i]);
        }
        _mm_storeu_ps(s + j, _mm_mul_ps(reduce4(a[0], a[1], a[2], a[3]), vs));
        _mm_storeu_ps(s + j + 4, _mm_mul_ps(reduce4(a[4], a[5], a[6], a[7]), vs));
    }
    for (; j < nb; ++j) {
        const float* kj = k + j * k_stride;
        __m256 a = _mm256_setzero_ps();
        for (int64_t d = 0; d < hd8; d += 8) a = _mm256_fmadd_ps(_mm256_loadu_ps(q + d), _mm256_loadu_ps(kj + d), a);
        if (rem)
            a = _mm256_fmadd_ps(load_partial<DType::F32>(q + hd8, rem), load_partial<DType::F32>(kj + hd8, rem), a);
        s[j] = hsum(a) * scale;
    }
}

void pv_accumulate_avx2(float* o, float alpha, const float* p, const float* v, int64_t v_stride, int64_t nb,
                        int64_t hd) {
    const __m256 va = _mm256_set1_ps(alpha);
    int64_t d = 0;
    for (; d + 64 <= hd; d += 64) {
        __m256 c[8];
#pragma GCC unroll 8
        for (int i = 0; i < 8; ++i) c[i] = _mm256_mul_ps(_mm256_loadu_ps(o + d + 8 * i), va);
        for (int64_t j = 0; j < nb; ++j) {
            const __m256 pj = _mm256_broadcast_ss(p + j);
            const float* vj = v + j * v_stride + d;
#pragma GCC unroll 8
            for (int i = 0; i < 8; ++i) c[i] = _mm256_fmadd_ps(pj, _mm256_loadu_ps(vj + 8 * i), c[i]);
        }
#pragma GCC unroll 8
        for (int i = 0; i < 8; ++i) _mm256_storeu_ps(o + d + 8 * i, c[i]);
    }
    for (; d + 8 <= hd; d += 8) {
        __m256 c = _mm256_mul_ps(_mm256_loadu_ps(o + d), va);
        for (int64_t j = 0; j < nb; ++j)
            c = _mm256_fmadd_ps(_mm256_broadcast_ss(p + j), _mm256_loadu_ps(v + j * v_stride + d), c);
        _mm256_storeu_ps(o + d, c);
    }
    for (; d < hd; ++d) {
        float c = o[d] * alpha;
        for (int64_t j = 0; j < nb; ++j) c += p[j] * v[j * v_stride + d];
        o[d] = c;
    }
}

}  // namespace tessera::cpu::detail

#endif  // TESSERA_CPU_X86
