// AVX2/FMA vector helpers for softmax, norms and the element-wise ops (declared in kernels.h). Only
// called after detail::use_avx2(). Two accumulators per reduction hide the FMA latency.
#include "backend/cpu/kernels.h"

#if TESSERA_CPU_X86

#include "backend/cpu/simd_avx2.h"

namespace tessera::cpu::detail {

using namespace avx2;

void scale_avx2(float* y, float a, int64_t n) {
    const __m256 va = _mm256_set1_ps(a);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_mul_ps(va, _mm256_loadu_ps(y + i)));
    for (; i < n; ++i) y[i] *= a;
}

float exp_sum_avx2(float* x, int64_t n, float max) {
    // The sum is kept in f64 lanes: a vocabulary-sized row has ~10⁵ terms, and f32 lanes would lose
    // several 1e-6 of relative accuracy in the normaliser. Widening costs little next to the exp.
    const __m256 vm = _mm256_set1_ps(max);
    __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
    auto accumulate = [&](__m256 e) {
        s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
        s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)));
    };
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 e = avx2::exp(_mm256_sub_ps(_mm256_loadu_ps(x + i), vm));
        _mm256_storeu_ps(x + i, e);
        accumulate(e);
    }
    if (i < n) {
        // The tail goes through the same exp so every element sees one approximation; the padding lanes
        // are exp(0 - max) garbage and are masked out before they are summed.
        alignas(32) float buf[8] = {};
        const __m256 e = avx2::exp(_mm256_sub_ps(load_partial<DType::F32>(x + i, n - i), vm));
        _mm256_store_ps(buf, e);
        for (int64_t j = 0; j < 8; ++j) {
            if (i + j < n)
                x[i + j] = buf[j];
            else
                buf[j] = 0.0f;
        }
        accumulate(_mm256_load_ps(buf));
    }
    alignas(32) double lanes[4];
    _mm256_store_pd(lanes, _mm256_add_pd(s0, s1));
    return float((lanes[0] + lanes[1]) + (lanes[2] + lanes[3]));
}

void silu_mul_avx2(const float* gate, const float* up, int64_t n, float* out) {
    const __m256 one = _mm256_set1_ps(1.0f);
    const __m256 sign = _mm256_set1_ps(-0.0f);
    auto silu_mul8 = [&](__m256 g, __m256 u) {
        __m256 e = avx2::exp(_mm256_xor_ps(g, sign));  // exp(-g), capped so 1 + e stays finite
        return _mm256_mul_ps(_mm256_div_ps(g, _mm256_add_ps(one, e)), u);
    };
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(out + i, silu_mul8(_mm256_loadu_ps(gate + i), _mm256_loadu_ps(up + i)));
    if (i < n) {
        alignas(32) float buf[8];
        _mm256_store_ps(buf, silu_mul8(load_partial<DType::F32>(gate + i, n - i),
                                       load_partial<DType::F32>(up + i, n - i)));
        for (int64_t j = 0; i + j < n; ++j) out[i + j] = buf[j];
    }
}

void add_avx2(float* x, const float* y, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(x + i, _mm256_add_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; ++i) x[i] += y[i];
}

float sum_squares_avx2(const float* x, int64_t n) {
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256 a = _mm256_loadu_ps(x + i), b = _mm256_loadu_ps(x + i + 8);
        s0 = _mm256_fmadd_ps(a, a, s0);
        s1 = _mm256_fmadd_ps(b, b, s1);
    }
    for (; i + 8 <= n; i += 8) {
        __m256 a = _mm256_loadu_ps(x + i);
        s0 = _mm256_fmadd_ps(a, a, s0);
    }
    float s = hsum(_mm256_add_ps(s0, s1));
    for (; i < n; ++i) s += x[i] * x[i];
    return s;
}

namespace {

template <DType T>
void scale_mul_t(const float* x, float r, const void* w, int64_t n, float* y) {
    const elem_t<T>* wp = static_cast<const elem_t<T>*>(w);
    const __m256 vr = _mm256_set1_ps(r);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(x + i), vr), load8<T>(wp + i)));
    if (i < n) {
        alignas(32) float buf[8];
        _mm256_store_ps(buf, _mm256_mul_ps(_mm256_mul_ps(load_partial<DType::F32>(x + i, n - i), vr),
                                           load_partial<T>(wp + i, n - i)));
        for (int64_t j = 0; i + j < n; ++j) y[i + j] = buf[j];
    }
}

}  // namespace

void scale_mul_avx2(const float* x, float r, const void* w, DType wt, int64_t n, float* y) {
    switch (wt) {
        case DType::F32: return scale_mul_t<DType::F32>(x, r, w, n, y);
        case DType::BF16: return scale_mul_t<DType::BF16>(x, r, w, n, y);
        case DType::F16: return scale_mul_t<DType::F16>(x, r, w, n, y);
    }
}

}  // namespace tessera::cpu::detail

#endif  // TESSERA_CPU_X86
