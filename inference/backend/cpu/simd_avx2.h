// Internal to the CPU backend, included only by *_avx2.cpp (compiled with -mavx2 -mfma -mf16c): loading
// 8 weights of any stored dtype as f32 lanes, horizontal sums, and a vector exp.
#pragma once

#include <immintrin.h>

#include <cstdint>
#include <cstring>
#include <type_traits>

#include "core/dtype.h"

namespace tessera::cpu::detail::avx2 {

// 8 consecutive elements starting at p, as f32. bf16 is the top half of an f32, so widening each
// 16-bit value into a 32-bit lane and shifting it up by 16 is exact; f16 goes through F16C.
template <DType T>
inline __m256 load8(const void* p) {
    if constexpr (T == DType::F32) {
        return _mm256_loadu_ps(static_cast<const float*>(p));
    } else if constexpr (T == DType::BF16) {
        __m128i h = _mm_loadu_si128(static_cast<const __m128i*>(p));
        return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
    } else {
        return _mm256_cvtph_ps(_mm_loadu_si128(static_cast<const __m128i*>(p)));
    }
}

template <DType T>
using elem_t = std::conditional_t<T == DType::F32, float, uint16_t>;

// First n (< 8) elements at p, the rest zero: lets loop tails use the same vector code.
template <DType T>
inline __m256 load_partial(const void* p, int64_t n) {
    alignas(32) elem_t<T> buf[8] = {};
    std::memcpy(buf, p, size_t(n) * sizeof(elem_t<T>));
    return load8<T>(buf);
}

inline float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

inline float hmax(__m256 v) {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

// exp(x) for f32 lanes, relative error about 2e-7 over the normal range. x = n·ln2 + r with
// |r| <= ln2/2 (ln2 split in a high part exact in f32 and a low correction), e^r by a degree-6 Taylor
// polynomial (truncation error r^7/7! < 1.2e-7 there), 2^n built in the exponent bits. Inputs below
// -87 give 0 (the true value is a denormal at most); inputs are capped at 88 so 2^n stays finite.
inline __m256 exp(__m256 x) {
    const __m256 lo = _mm256_set1_ps(-87.0f);
    const __m256 underflow = _mm256_cmp_ps(x, lo, _CMP_GE_OQ);
    x = _mm256_min_ps(_mm256_max_ps(x, lo), _mm256_set1_ps(88.0f));
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);  // ln2 high part: 8 bits
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);      // ln2 - high part
    __m256 p = _mm256_set1_ps(1.0f / 720.0f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_and_ps(_mm256_mul_ps(p, _mm256_castsi256_ps(e)), underflow);
}

}  // namespace tessera::cpu::detail::avx2
