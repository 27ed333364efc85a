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

// Software prefetch of the weight stream: the rows of a chunk are contiguous, so asking for the bytes
// kPrefetch ahead keeps more cache-line requests in flight than the hardware prefetcher does while the
// core is busy decoding. `bytes` is the block size just consumed (one request per 64-byte line).
constexpr int kPrefetch = 1024;
inline void prefetch_ahead(const uint8_t* p, int bytes) {
    for (int o = 0; o < bytes; o += 64) _mm_prefetch(reinterpret_cast<const char*>(p + kPrefetch + o), _MM_HINT_T0);
}

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

// The eight 6-bit scales and mins of a Q4_K/Q5_K super-block (12 bytes, layout in quant.cpp) widened to
// i16: bytes 0-3 hold scales 0-3 in their low 6 bits and the top 2 bits of scales 4-7 above them; bytes 4-7
// the same for the mins; bytes 8-11 the low nibbles of scales 4-7 and the high nibbles of mins 4-7.
inline void k_scales_i16(const uint8_t* p, __m128i& sc, __m128i& mn) {
    uint32_t s[3];
    std::memcpy(s, p, 12);
    const uint32_t sc_lo = s[0] & 0x3f3f3f3fu, mn_lo = s[1] & 0x3f3f3f3fu;
    const uint32_t sc_hi = (s[2] & 0x0f0f0f0fu) | ((s[0] >> 2) & 0x30303030u);
    const uint32_t mn_hi = ((s[2] >> 4) & 0x0f0f0f0fu) | ((s[1] >> 2) & 0x30303030u);
    sc = _mm_cvtepu8_epi16(_mm_set_epi32(0, 0, int(sc_hi), int(sc_lo)));
    mn = _mm_cvtepu8_epi16(_mm_set_epi32(0, 0, int(mn_hi), int(mn_lo)));
}

// Shuffle controls that broadcast i16 element j of a 128-bit lane across the lane.
struct BroadcastI16 {
    __m256i at[8];
    BroadcastI16() {
        for (int j = 0; j < 8; ++j) at[j] = _mm256_set1_epi16(int16_t(((2 * j + 1) << 8) | (2 * j)));
    }
};

inline __m128i load16(const uint8_t* p) { return _mm_loadu_si128(static_cast<const __m128i*>(static_cast<const void*>(p))); }
inline __m256i load_i16x16(const int16_t* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(static_cast<const void*>(p))); }

// Signed bytes times signed bytes: |w| as unsigned (−128 becomes 128) times x carrying w's sign.
inline __m256i dot_i8_i8(__m256i w, __m256i x) { return dot_u8_i8(_mm256_abs_epi8(w), _mm256_sign_epi8(x, w)); }

// Q4_0 and Q8_0 take two blocks per step into two accumulators, so the FMA latency does not bound a
// chain of 18- or 34-byte blocks.
// Q4_0 nibbles as unsigned bytes 0..15; the −8 of the encoding is applied through the activation sums.
inline __m256i q4_0_block(const uint8_t* blk) {
    __m128i raw = load16(blk + 2);
    return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(raw, 4), raw), _mm256_set1_epi8(0x0F));
}

float dot_q4_0(const uint8_t* w, const ActRow& x, int64_t k) {
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    float off0 = 0.f, off1 = 0.f;  // Σ d_w·d_x·Σq_x, times the −8
    const int64_t nb = k / 32;
    int64_t b = 0;
    for (; b + 2 <= nb; b += 2, w += 36) {
        prefetch_ahead(w, 36);
        __m256i p0 = dot_u8_i8(q4_0_block(w), load32(x.q + 32 * b));
        __m256i p1 = dot_u8_i8(q4_0_block(w + 18), load32(x.q + 32 * b + 32));
        const float d0 = f16_at(w), d1 = f16_at(w + 18);
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(d0 * x.d[b]), _mm256_cvtepi32_ps(p0), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_set1_ps(d1 * x.d[b + 1]), _mm256_cvtepi32_ps(p1), acc1);
        off0 += d0 * x.ds[b];
        off1 += d1 * x.ds[b + 1];
    }
    if (b < nb) {
        __m256i p0 = dot_u8_i8(q4_0_block(w), load32(x.q + 32 * b));
        const float d0 = f16_at(w);
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(d0 * x.d[b]), _mm256_cvtepi32_ps(p0), acc0);
        off0 += d0 * x.ds[b];
    }
    return hsum(_mm256_add_ps(acc0, acc1)) - 8.f * (off0 + off1);
}

float dot_q8_0(const uint8_t* w, const ActRow& x, int64_t k) {
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    const int64_t nb = k / 32;
    int64_t b = 0;
    for (; b + 2 <= nb; b += 2, w += 68) {
        prefetch_ahead(w, 68);
        __m256i p0 = dot_i8_i8(load32(w + 2), load32(x.q + 32 * b));
        __m256i p1 = dot_i8_i8(load32(w + 36), load32(x.q + 32 * b + 32));
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(f16_at(w) * x.d[b]), _mm256_cvtepi32_ps(p0), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_set1_ps(f16_at(w + 34) * x.d[b + 1]), _mm256_cvtepi32_ps(p1), acc1);
    }
    if (b < nb) {
        __m256i p0 = dot_i8_i8(load32(w + 2), load32(x.q + 32 * b));
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(f16_at(w) * x.d[b]), _mm256_cvtepi32_ps(p0), acc0);
    }
    return hsum(_mm256_add_ps(acc0, acc1));
}

// Σ_j mn_j·(Σ of activation sub-block j), from the 16-element sums: adjacent pairs give the 32-element
// sums (|Σ| ≤ 32·127 fits i16), then one madd with the mins.
inline __m128i k_min_dot(__m128i mn, const int16_t* bsums) {
    __m256i bs = load_i16x16(bsums);
    __m128i sums32 = _mm_hadd_epi16(_mm256_castsi256_si128(bs), _mm256_extracti128_si256(bs, 1));
    return _mm_madd_epi16(mn, sums32);
}

// Q4_K/Q5_K share everything but the fifth bit; Bits5 adds it.
template <bool Bits5>
float dot_k_asym(const uint8_t* w, const ActRow& x, int64_t k) {
    static const BroadcastI16 bc;
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    const __m256i bit4 = _mm256_set1_epi8(0x10);
    constexpr int64_t kBytes = Bits5 ? 176 : 144;
    __m256 acc = _mm256_setzero_ps();
    __m128 acc_min = _mm_setzero_ps();
    for (int64_t b = 0; b < k / 256; ++b, w += kBytes) {
        prefetch_ahead(w, int(kBytes));
        const float xd = x.d[b];
        __m128i sc, mn;
        k_scales_i16(w + 4, sc, mn);
        acc_min = _mm_fmadd_ps(_mm_set1_ps(f16_at(w + 2) * xd), _mm_cvtepi32_ps(k_min_dot(mn, x.bsums + 16 * b)), acc_min);
        const __m256i sc2 = _mm256_broadcastsi128_si256(sc);  // scales 0-7 as i16 in both lanes
        const uint8_t* qs = w + (Bits5 ? 48 : 16);
        // Sub-block j needs bit j of each qh byte at bit 4: shift right once per sub-block and move bit 0
        // up. 16-bit shifts only leak bits across bytes above the one kept.
        __m256i qh = Bits5 ? load32(w + 16) : _mm256_setzero_si256();
        const int8_t* xq = x.q + 256 * b;
        __m256i isum = _mm256_setzero_si256();
        for (int c = 0; c < 4; ++c) {
            __m256i raw = load32(qs + 32 * c);
            __m256i qa = _mm256_and_si256(raw, m4);
            __m256i qb = _mm256_and_si256(_mm256_srli_epi16(raw, 4), m4);
            if constexpr (Bits5) {
                qa = _mm256_or_si256(qa, _mm256_and_si256(_mm256_slli_epi16(qh, 4), bit4));
                qh = _mm256_srli_epi16(qh, 1);
                qb = _mm256_or_si256(qb, _mm256_and_si256(_mm256_slli_epi16(qh, 4), bit4));
                qh = _mm256_srli_epi16(qh, 1);
            }
            // q ≤ 31, |x| ≤ 127: pairs fit i16; times a 6-bit scale, summed over 8 sub-blocks, fits i32.
            __m256i pa = _mm256_maddubs_epi16(qa, load32(xq + 64 * c));
            __m256i pb = _mm256_maddubs_epi16(qb, load32(xq + 64 * c + 32));
            isum = _mm256_add_epi32(isum, _mm256_madd_epi16(pa, _mm256_shuffle_epi8(sc2, bc.at[2 * c])));
            isum = _mm256_add_epi32(isum, _mm256_madd_epi16(pb, _mm256_shuffle_epi8(sc2, bc.at[2 * c + 1])));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(f16_at(w) * xd), _mm256_cvtepi32_ps(isum), acc);
    }
    __m128 m = _mm_add_ps(acc_min, _mm_movehl_ps(acc_min, acc_min));
    m = _mm_add_ss(m, _mm_movehdup_ps(m));
    return hsum(acc) - _mm_cvtss_f32(m);
}

float dot_q4_k(const uint8_t* w, const ActRow& x, int64_t k) { return dot_k_asym<false>(w, x, k); }
float dot_q5_k(const uint8_t* w, const ActRow& x, int64_t k) { return dot_k_asym<true>(w, x, k); }

// Shuffle controls for Q6_K group g: the low lane broadcasts i16 element 2g (scale of elements 0-15 of
// the group), the high lane element 2g+1 (elements 16-31).
struct Q6Shuffles {
    __m256i at[4];
    Q6Shuffles() {
        for (int g = 0; g < 4; ++g)
            at[g] = _mm256_set_m128i(_mm_set1_epi16(int16_t(((4 * g + 3) << 8) | (4 * g + 2))),
                                     _mm_set1_epi16(int16_t(((4 * g + 1) << 8) | (4 * g))));
    }
};

float dot_q6_k(const uint8_t* w, const ActRow& x, int64_t k) {
    static const Q6Shuffles shuf;
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    const __m256i m2 = _mm256_set1_epi8(0x30);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < k / 256; ++b, w += 210) {
        prefetch_ahead(w, 210);
        const __m128i sc8 = load16(w + 192);
        // The −32 of the encoding, applied once: 32·Σ_i scale_i·(Σ of activation group i of 16).
        __m256i isum = _mm256_slli_epi32(_mm256_madd_epi16(_mm256_cvtepi8_epi16(sc8), load_i16x16(x.bsums + 16 * b)), 5);
        isum = _mm256_sub_epi32(_mm256_setzero_si256(), isum);
        const __m256i half_scales[2] = {_mm256_broadcastsi128_si256(_mm_cvtepi8_epi16(sc8)),
                                        _mm256_broadcastsi128_si256(_mm_cvtepi8_epi16(_mm_srli_si128(sc8, 8)))};
        const int8_t* xq = x.q + 256 * b;
        for (int h = 0; h < 2; ++h) {
            __m256i ql0 = load32(w + 64 * h), ql1 = load32(w + 64 * h + 32);
            __m256i qh = load32(w + 128 + 32 * h);
            // The four 32-element groups: 4 low bits from ql0/ql1 (low nibble for g < 2, high for g ≥ 2),
            // bits 4-5 from qh bits 2g..2g+1.
            const __m256i q[4] = {
                _mm256_or_si256(_mm256_and_si256(ql0, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 4), m2)),
                _mm256_or_si256(_mm256_and_si256(ql1, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 2), m2)),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), m4), _mm256_and_si256(qh, m2)),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), m4),
                                _mm256_and_si256(_mm256_srli_epi16(qh, 2), m2)),
            };
            for (int g = 0; g < 4; ++g) {
                // q ≤ 63, |x| ≤ 127: pairs fit i16; times an i8 scale, summed over 8 groups, fits i32.
                __m256i p = _mm256_maddubs_epi16(q[g], load32(xq + 128 * h + 32 * g));
                isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p, _mm256_shuffle_epi8(half_scales[h], shuf.at[g])));
            }
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(f16_at(w + 208) * x.d[b]), _mm256_cvtepi32_ps(isum), acc);
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

namespace {

inline float abs_max(const float* x, int64_t n) {
    const __m256 sign = _mm256_set1_ps(-0.f);
    __m256 mx = _mm256_setzero_ps();
    for (int64_t i = 0; i < n; i += 8) mx = _mm256_max_ps(mx, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + i)));
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(mx), _mm256_extractf128_ps(mx, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}

inline int32_t hsum_i32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_hadd_epi32(s, s);
    s = _mm_hadd_epi32(s, s);
    return _mm_cvtsi128_si32(s);
}

// 32 activations times id to int8 at q (nearest-even, like nearbyint); the four i32 vectors are returned
// for the sums.
inline void quantize32(const float* x, __m256 id, int8_t* q, __m256i* i) {
    for (int c = 0; c < 4; ++c) i[c] = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 8 * c), id));
    // packs work per 128-bit lane; the permute puts the 4-byte groups back in element order.
    __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(i[0], i[1]), _mm256_packs_epi32(i[2], i[3]));
    p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256(static_cast<__m256i*>(static_cast<void*>(q)), p);
}

}  // namespace

// Same expressions as the scalar versions (scale amax/127, inverse 127/amax, product x·id), so both paths
// produce identical int8 rows.
void quantize_act32_avx2(const float* x, int64_t k, int8_t* q, float* d, float* ds) {
    for (int64_t b = 0; b < k / 32; ++b, x += 32, q += 32) {
        const float amax = abs_max(x, 32);
        __m256i i[4];
        quantize32(x, _mm256_set1_ps(amax > 1e-30f ? 127.f / amax : 0.f), q, i);
        d[b] = amax > 1e-30f ? amax / 127.f : 0.f;
        ds[b] = d[b] * float(hsum_i32(_mm256_add_epi32(_mm256_add_epi32(i[0], i[1]), _mm256_add_epi32(i[2], i[3]))));
    }
}

void quantize_act256_avx2(const float* x, int64_t k, int8_t* q, float* d, int16_t* bsums) {
    for (int64_t b = 0; b < k / 256; ++b, x += 256, q += 256) {
        const float amax = abs_max(x, 256);
        const __m256 id = _mm256_set1_ps(amax > 1e-30f ? 127.f / amax : 0.f);
        for (int c = 0; c < 8; ++c) {
            __m256i i[4];
            quantize32(x + 32 * c, id, q + 32 * c, i);
            bsums[16 * b + 2 * c] = int16_t(hsum_i32(_mm256_add_epi32(i[0], i[1])));
            bsums[16 * b + 2 * c + 1] = int16_t(hsum_i32(_mm256_add_epi32(i[2], i[3])));
        }
        d[b] = amax > 1e-30f ? amax / 127.f : 0.f;
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
