// AVX2/FMA/F16C dot kernels for the GGML block formats (layouts in quant.cpp's header comment). Compiled
// with -mavx2 -mfma -mf16c; quant_matmul calls them only after quant_cpu_has_avx2().
//
// Weights are unpacked to unsigned bytes in registers and multiplied with the int8 activations by
// maddubs (u8·i8 pairs summed to i16, then to i32 by madd), so a 256-element super-block costs a few dozen
// instructions and the decode matvec stays bound by the weight bytes it streams. Every i16 intermediate
// is bounded below 2¹⁵: |q| ≤ 63 (Q6_K), |x| ≤ 127, two products per lane.
#include <immintrin.h>

#include <cstring>

#include "backend/cpu/quant.h"

namespace tessera::cpu::detail {

namespace {

inline float f16_at(const uint8_t* p) {
    uint16_t h;
    std::memcpy(&h, p, 2);
    return _cvtsh_ss(h);
}

inline __m256i load32(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }

inline float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

// Σ over adjacent pairs of u·s (u unsigned bytes, s signed bytes), as eight i32 lanes.
inline __m256i dot_u8_i8(__m256i u, __m256i s) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}

inline void k_scales(const uint8_t* s, float* sc, float* mn) {
    for (int j = 0; j < 4; ++j) {
        sc[j] = float(s[j] & 63);
        mn[j] = float(s[j + 4] & 63);
    }
    for (int j = 4; j < 8; ++j) {
        sc[j] = float((s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4));
        mn[j] = float((s[j + 4] >> 4) | ((s[j] >> 6) << 4));
    }
}

float dot_q4_0(const uint8_t* w, const ActRow& x, int64_t k) {
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    __m256 acc = _mm256_setzero_ps();
    float offset = 0.f;  // Σ d_w·d_x·Σq_x, times the −8 of the encoding
    for (int64_t b = 0; b < k / 32; ++b, w += 18) {
        __m128i raw = _mm_loadu_si128(static_cast<const __m128i*>(static_cast<const void*>(w + 2)));
        __m256i q = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(raw, 4), raw), m4);
        __m256i p = dot_u8_i8(q, load32(x.q + 32 * b));
        float dw = f16_at(w);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(dw * x.d[b]), _mm256_cvtepi32_ps(p), acc);
        offset += dw * x.ds[b];
    }
    return hsum(acc) - 8.f * offset;
}

float dot_q8_0(const uint8_t* w, const ActRow& x, int64_t k) {
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < k / 32; ++b, w += 34) {
        __m256i wq = load32(w + 2);
        __m256i xq = load32(x.q + 32 * b);
        // |w| as unsigned bytes (−128 becomes 128) times x carrying w's sign.
        __m256i p = dot_u8_i8(_mm256_abs_epi8(wq), _mm256_sign_epi8(xq, wq));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(f16_at(w) * x.d[b]), _mm256_cvtepi32_ps(p), acc);
    }
    return hsum(acc);
}

float dot_q4_k(const uint8_t* w, const ActRow& x, int64_t k) {
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    __m256 acc = _mm256_setzero_ps();
    float mins = 0.f;
    for (int64_t b = 0; b < k / 256; ++b, w += 144) {
        float d = f16_at(w), dmin = f16_at(w + 2);
        float sc[8], mn[8];
        k_scales(w + 4, sc, mn);
        const uint8_t* qs = w + 16;
        const int64_t g0 = 8 * b;
        float m = 0.f;
        for (int c = 0; c < 4; ++c) {
            __m256i raw = load32(qs + 32 * c);
            int64_t ga = g0 + 2 * c, gb = ga + 1;
            __m256i pa = dot_u8_i8(_mm256_and_si256(raw, m4), load32(x.q + 32 * ga));
            __m256i pb = dot_u8_i8(_mm256_and_si256(_mm256_srli_epi16(raw, 4), m4), load32(x.q + 32 * gb));
            acc = _mm256_fmadd_ps(_mm256_set1_ps(d * sc[2 * c] * x.d[ga]), _mm256_cvtepi32_ps(pa), acc);
            acc = _mm256_fmadd_ps(_mm256_set1_ps(d * sc[2 * c + 1] * x.d[gb]), _mm256_cvtepi32_ps(pb), acc);
            m += mn[2 * c] * x.ds[ga] + mn[2 * c + 1] * x.ds[gb];
        }
        mins += dmin * m;
    }
    return hsum(acc) - mins;
}

float dot_q5_k(const uint8_t* w, const ActRow& x, int64_t k) {
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    const __m256i bit4 = _mm256_set1_epi8(0x10);
    __m256 acc = _mm256_setzero_ps();
    float mins = 0.f;
    for (int64_t b = 0; b < k / 256; ++b, w += 176) {
        float d = f16_at(w), dmin = f16_at(w + 2);
        float sc[8], mn[8];
        k_scales(w + 4, sc, mn);
        // Sub-block j needs bit j of each qh byte at bit 4: shift the whole vector right once per
        // sub-block and take bit 0 (moved up to bit 4). 16-bit shifts only leak bits across bytes above
        // the one we keep.
        __m256i qh = load32(w + 16);
        const uint8_t* qs = w + 48;
        const int64_t g0 = 8 * b;
        float m = 0.f;
        for (int c = 0; c < 4; ++c) {
            __m256i raw = load32(qs + 32 * c);
            __m256i ha = _mm256_and_si256(_mm256_slli_epi16(qh, 4), bit4);
            qh = _mm256_srli_epi16(qh, 1);
            __m256i hb = _mm256_and_si256(_mm256_slli_epi16(qh, 4), bit4);
            qh = _mm256_srli_epi16(qh, 1);
            int64_t ga = g0 + 2 * c, gb = ga + 1;
            __m256i qa = _mm256_or_si256(_mm256_and_si256(raw, m4), ha);
            __m256i qb = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(raw, 4), m4), hb);
            __m256i pa = dot_u8_i8(qa, load32(x.q + 32 * ga));
            __m256i pb = dot_u8_i8(qb, load32(x.q + 32 * gb));
            acc = _mm256_fmadd_ps(_mm256_set1_ps(d * sc[2 * c] * x.d[ga]), _mm256_cvtepi32_ps(pa), acc);
            acc = _mm256_fmadd_ps(_mm256_set1_ps(d * sc[2 * c + 1] * x.d[gb]), _mm256_cvtepi32_ps(pb), acc);
            m += mn[2 * c] * x.ds[ga] + mn[2 * c + 1] * x.ds[gb];
        }
        mins += dmin * m;
    }
    return hsum(acc) - mins;
}

float dot_q6_k(const uint8_t* w, const ActRow& x, int64_t k) {
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    const __m256i m2 = _mm256_set1_epi8(0x30);
    const __m256i c32 = _mm256_set1_epi8(32);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < k / 256; ++b, w += 210) {
        float d = f16_at(w + 208);
        const auto* scales = reinterpret_cast<const int8_t*>(w + 192);
        for (int h = 0; h < 2; ++h) {
            __m256i ql0 = load32(w + 64 * h), ql1 = load32(w + 64 * h + 32);
            __m256i qh = load32(w + 128 + 32 * h);
            // The four 32-element groups: low bits from ql (nibble g/2 of ql0 or ql1), bits 4-5 from
            // qh bits 2g..2g+1.
            __m256i q[4] = {
                _mm256_or_si256(_mm256_and_si256(ql0, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 4), m2)),
                _mm256_or_si256(_mm256_and_si256(ql1, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 2), m2)),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), m4), _mm256_and_si256(qh, m2)),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), m4),
                                _mm256_and_si256(_mm256_srli_epi16(qh, 2), m2)),
            };
            for (int g = 0; g < 4; ++g) {
                int64_t gi = 8 * b + 4 * h + g;
                __m256i xq = load32(x.q + 32 * gi);
                // (q − 32)·x pairs as i16: q·x − 32·x, each term within i16.
                __m256i p16 = _mm256_sub_epi16(_mm256_maddubs_epi16(q[g], xq), _mm256_maddubs_epi16(c32, xq));
                // Elements 0-15 (low 128 bits) and 16-31 (high) have their own scale.
                const int8_t* s = scales + 8 * h + 2 * g;
                __m256i sv = _mm256_set_m128i(_mm_set1_epi16(s[1]), _mm_set1_epi16(s[0]));
                __m256i p = _mm256_madd_epi16(p16, sv);
                acc = _mm256_fmadd_ps(_mm256_set1_ps(d * x.d[gi]), _mm256_cvtepi32_ps(p), acc);
            }
        }
    }
    return hsum(acc);
}

// Float weights against f32 activations over k (a multiple of 8; callers finish the tail): two
// accumulators hide the FMA latency.
template <class Load>
inline float fdot(const uint8_t* w, const float* x, int64_t k, int64_t elem_bytes, Load load) {
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= k; i += 16) {
        a0 = _mm256_fmadd_ps(load(w + i * elem_bytes), _mm256_loadu_ps(x + i), a0);
        a1 = _mm256_fmadd_ps(load(w + (i + 8) * elem_bytes), _mm256_loadu_ps(x + i + 8), a1);
    }
    for (; i + 8 <= k; i += 8) a0 = _mm256_fmadd_ps(load(w + i * elem_bytes), _mm256_loadu_ps(x + i), a0);
    return hsum(_mm256_add_ps(a0, a1));
}

inline __m128i load16(const uint8_t* p) { return _mm_loadu_si128(static_cast<const __m128i*>(static_cast<const void*>(p))); }

float fdot_f32(const uint8_t* w, const float* x, int64_t k) {
    float sum = fdot(w, x, k & ~int64_t(7), 4,
                     [](const uint8_t* p) { return _mm256_loadu_ps(static_cast<const float*>(static_cast<const void*>(p))); });
    for (int64_t i = k & ~int64_t(7); i < k; ++i) {
        float v;
        std::memcpy(&v, w + 4 * i, 4);
        sum += v * x[i];
    }
    return sum;
}

float fdot_f16(const uint8_t* w, const float* x, int64_t k) {
    float sum = fdot(w, x, k & ~int64_t(7), 2, [](const uint8_t* p) { return _mm256_cvtph_ps(load16(p)); });
    for (int64_t i = k & ~int64_t(7); i < k; ++i) sum += f16_at(w + 2 * i) * x[i];
    return sum;
}

float fdot_bf16(const uint8_t* w, const float* x, int64_t k) {
    float sum = fdot(w, x, k & ~int64_t(7), 2, [](const uint8_t* p) {
        return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(load16(p)), 16));
    });
    for (int64_t i = k & ~int64_t(7); i < k; ++i) {
        uint16_t h;
        std::memcpy(&h, w + 2 * i, 2);
        sum += bf16_to_f32(h) * x[i];
    }
    return sum;
}

}  // namespace

void quantize_act_avx2(const float* x, int64_t k, int8_t* q, float* d, float* ds) {
    const __m256 sign = _mm256_set1_ps(-0.f);
    for (int64_t b = 0; b < k / 32; ++b, x += 32, q += 32) {
        __m256 v[4];
        __m256 mx = _mm256_setzero_ps();
        for (int i = 0; i < 4; ++i) {
            v[i] = _mm256_loadu_ps(x + 8 * i);
            mx = _mm256_max_ps(mx, _mm256_andnot_ps(sign, v[i]));
        }
        __m128 m = _mm_max_ps(_mm256_castps256_ps128(mx), _mm256_extractf128_ps(mx, 1));
        m = _mm_max_ps(m, _mm_movehl_ps(m, m));
        m = _mm_max_ss(m, _mm_movehdup_ps(m));
        float amax = _mm_cvtss_f32(m);
        // Same expressions as quantize_act_scalar, so both paths produce identical int8 rows.
        const __m256 id = _mm256_set1_ps(amax > 1e-30f ? 127.f / amax : 0.f);
        __m256i i0 = _mm256_cvtps_epi32(_mm256_mul_ps(v[0], id));
        __m256i i1 = _mm256_cvtps_epi32(_mm256_mul_ps(v[1], id));
        __m256i i2 = _mm256_cvtps_epi32(_mm256_mul_ps(v[2], id));
        __m256i i3 = _mm256_cvtps_epi32(_mm256_mul_ps(v[3], id));
        __m256i s = _mm256_add_epi32(_mm256_add_epi32(i0, i1), _mm256_add_epi32(i2, i3));
        __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
        s4 = _mm_hadd_epi32(s4, s4);
        s4 = _mm_hadd_epi32(s4, s4);
        int32_t sum = _mm_cvtsi128_si32(s4);
        // packs work per 128-bit lane; the permute puts the 4-byte groups back in element order.
        __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3));
        p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        _mm256_storeu_si256(static_cast<__m256i*>(static_cast<void*>(q)), p);
        d[b] = amax > 1e-30f ? amax / 127.f : 0.f;
        ds[b] = d[b] * float(sum);
    }
}

QuantDotFn quant_dot_avx2(QuantType type) {
    switch (type) {
        case QuantType::Q4_0: return dot_q4_0;
        case QuantType::Q8_0: return dot_q8_0;
        case QuantType::Q4_K: return dot_q4_k;
        case QuantType::Q5_K: return dot_q5_k;
        case QuantType::Q6_K: return dot_q6_k;
        default: return nullptr;
    }
}

FloatDotFn float_dot_avx2(QuantType type) {
    switch (type) {
        case QuantType::F32: return fdot_f32;
        case QuantType::F16: return fdot_f16;
        case QuantType::BF16: return fdot_bf16;
        default: return nullptr;
    }
}

}  // namespace tessera::cpu::detail
