// GGML block formats: the type table, row dequantization, the portable dot kernels and the quant_matmul
// driver that quantizes activations once and splits the weight rows over the thread pool.
//
// Block layouts (QK_K = 256 elements per super-block; d, dmin are f16):
//   Q4_0 (18 B / 32):  d, qs[16]: element l is qs[l] & 15, element l+16 is qs[l] >> 4; value d·(q−8)
//   Q8_0 (34 B / 32):  d, int8 qs[32]; value d·q
//   Q4_K (144 B / 256): d, dmin, scales[12] (eight 6-bit scales and mins), qs[128]; sub-block j of 32 uses
//                      the low (j even) or high (j odd) nibbles of qs[32·(j/2) ..]; value d·sc_j·q − dmin·m_j
//   Q5_K (176 B / 256): as Q4_K plus qh[32]: bit j of qh[l] is bit 4 of element l of sub-block j
//   Q6_K (210 B / 256): ql[128], qh[64], int8 scales[16], d. Two halves of 128; in half h element 32·g+l
//                      (g < 4, l < 32) takes 4 low bits from ql[64h + l + 32·(g&1)] (low nibble for g < 2,
//                      high for g ≥ 2) and 2 high bits (qh[32h + l] >> 2g) & 3; value d·scales[8h+2g+l/16]·(q−32)
#include "backend/cpu/quant.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "backend/cpu/ops.h"
#include "core/thread_pool.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

namespace tessera {

namespace {

constexpr std::array<QuantTraits, 30> kTraits = {{
    {QuantType::F32, "F32", 1, 4},          {QuantType::F16, "F16", 1, 2},
    {QuantType::Q4_0, "Q4_0", 32, 18},      {QuantType::Q4_1, "Q4_1", 32, 20},
    {QuantType::Q5_0, "Q5_0", 32, 22},      {QuantType::Q5_1, "Q5_1", 32, 24},
    {QuantType::Q8_0, "Q8_0", 32, 34},      {QuantType::Q2_K, "Q2_K", 256, 84},
    {QuantType::Q3_K, "Q3_K", 256, 110},    {QuantType::Q4_K, "Q4_K", 256, 144},
    {QuantType::Q5_K, "Q5_K", 256, 176},    {QuantType::Q6_K, "Q6_K", 256, 210},
    {QuantType::IQ2_XXS, "IQ2_XXS", 256, 66}, {QuantType::IQ2_XS, "IQ2_XS", 256, 74},
    {QuantType::IQ3_XXS, "IQ3_XXS", 256, 98}, {QuantType::IQ1_S, "IQ1_S", 256, 50},
    {QuantType::IQ4_NL, "IQ4_NL", 32, 18},  {QuantType::IQ3_S, "IQ3_S", 256, 110},
    {QuantType::IQ2_S, "IQ2_S", 256, 82},   {QuantType::IQ4_XS, "IQ4_XS", 256, 136},
    {QuantType::I8, "I8", 1, 1},            {QuantType::I16, "I16", 1, 2},
    {QuantType::I32, "I32", 1, 4},          {QuantType::I64, "I64", 1, 8},
    {QuantType::F64, "F64", 1, 8},          {QuantType::IQ1_M, "IQ1_M", 256, 56},
    {QuantType::BF16, "BF16", 1, 2},        {QuantType::TQ1_0, "TQ1_0", 256, 54},
    {QuantType::TQ2_0, "TQ2_0", 256, 66},   {QuantType::MXFP4, "MXFP4", 32, 17},
}};

inline float load_f16(const uint8_t* p) {
    uint16_t h;
    std::memcpy(&h, p, 2);
    return f16_to_f32(h);
}

// The eight 6-bit scales and mins of a Q4_K/Q5_K super-block, packed in 12 bytes: bytes 0-3 hold scales
// 0-3 (low 6 bits) and the top 2 bits of scales 4-7; bytes 4-7 the same for the mins; bytes 8-11 the low
// 4 bits of scale j (low nibble) and min j (high nibble) for j = 4..7.
inline void k_scales(const uint8_t* s, uint8_t* sc, uint8_t* mn) {
    for (int j = 0; j < 4; ++j) {
        sc[j] = s[j] & 63;
        mn[j] = s[j + 4] & 63;
    }
    for (int j = 4; j < 8; ++j) {
        sc[j] = uint8_t((s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4));
        mn[j] = uint8_t((s[j + 4] >> 4) | ((s[j] >> 6) << 4));
    }
}

// ---- dequantization (each value rounded once from the same f32 products as the GGML reference) ----

void dequant_q4_0(const uint8_t* w, float* y, int64_t nb) {
    for (int64_t b = 0; b < nb; ++b, w += 18, y += 32) {
        float d = load_f16(w);
        for (int l = 0; l < 16; ++l) {
            y[l] = d * float((w[2 + l] & 15) - 8);
            y[l + 16] = d * float((w[2 + l] >> 4) - 8);
        }
    }
}

void dequant_q8_0(const uint8_t* w, float* y, int64_t nb) {
    for (int64_t b = 0; b < nb; ++b, w += 34, y += 32) {
        float d = load_f16(w);
        for (int l = 0; l < 32; ++l) y[l] = d * float(int8_t(w[2 + l]));
    }
}

void dequant_q4_k(const uint8_t* w, float* y, int64_t nb) {
    for (int64_t b = 0; b < nb; ++b, w += 144) {
        float d = load_f16(w), dmin = load_f16(w + 2);
        uint8_t sc[8], mn[8];
        k_scales(w + 4, sc, mn);
        const uint8_t* qs = w + 16;
        for (int j = 0; j < 8; ++j, y += 32) {
            float dl = d * float(sc[j]), ml = dmin * float(mn[j]);
            int shift = (j & 1) * 4;
            for (int l = 0; l < 32; ++l) y[l] = dl * float((qs[32 * (j / 2) + l] >> shift) & 15) - ml;
        }
    }
}

void dequant_q5_k(const uint8_t* w, float* y, int64_t nb) {
    for (int64_t b = 0; b < nb; ++b, w += 176) {
        float d = load_f16(w), dmin = load_f16(w + 2);
        uint8_t sc[8], mn[8];
        k_scales(w + 4, sc, mn);
        const uint8_t* qh = w + 16;
        const uint8_t* qs = w + 48;
        for (int j = 0; j < 8; ++j, y += 32) {
            float dl = d * float(sc[j]), ml = dmin * float(mn[j]);
            int shift = (j & 1) * 4;
            for (int l = 0; l < 32; ++l) {
                int q = ((qs[32 * (j / 2) + l] >> shift) & 15) | (((qh[l] >> j) & 1) << 4);
                y[l] = dl * float(q) - ml;
            }
        }
    }
}

inline int q6_value(const uint8_t* ql, const uint8_t* qh, int g, int l) {
    int lo = (ql[l + 32 * (g & 1)] >> (g >= 2 ? 4 : 0)) & 15;
    int hi = (qh[l] >> (2 * g)) & 3;
    return (lo | (hi << 4)) - 32;
}

void dequant_q6_k(const uint8_t* w, float* y, int64_t nb) {
    for (int64_t b = 0; b < nb; ++b, w += 210) {
        float d = load_f16(w + 208);
        const auto* scales = reinterpret_cast<const int8_t*>(w + 192);
        for (int h = 0; h < 2; ++h) {
            const uint8_t* ql = w + 64 * h;
            const uint8_t* qh = w + 128 + 32 * h;
            for (int g = 0; g < 4; ++g, y += 32)
                for (int l = 0; l < 32; ++l)
                    y[l] = (d * float(scales[8 * h + 2 * g + l / 16])) * float(q6_value(ql, qh, g, l));
        }
    }
}

// ---- portable dot kernels: integer sums per 32-block, f32 across blocks ----

float dot_q4_0(const uint8_t* w, const cpu::detail::ActRow& x, int64_t k) {
    float sum = 0.f;
    for (int64_t b = 0; b < k / 32; ++b, w += 18) {
        const int8_t* xq = x.q + 32 * b;
        int32_t isum = 0;
        for (int l = 0; l < 16; ++l) isum += (w[2 + l] & 15) * xq[l] + (w[2 + l] >> 4) * xq[l + 16];
        sum += load_f16(w) * (x.d[b] * float(isum) - 8.f * x.ds[b]);
    }
    return sum;
}

float dot_q8_0(const uint8_t* w, const cpu::detail::ActRow& x, int64_t k) {
    float sum = 0.f;
    for (int64_t b = 0; b < k / 32; ++b, w += 34) {
        const int8_t* xq = x.q + 32 * b;
        int32_t isum = 0;
        for (int l = 0; l < 32; ++l) isum += int8_t(w[2 + l]) * xq[l];
        sum += load_f16(w) * x.d[b] * float(isum);
    }
    return sum;
}

// K-quants against 256-element activation blocks: sub-block scales apply to integer sums, the mins to
// the activation's 16-element sums, and only one f32 step per super-block remains.
float dot_q4_k(const uint8_t* w, const cpu::detail::ActRow& x, int64_t k) {
    float sum = 0.f;
    for (int64_t b = 0; b < k / 256; ++b, w += 144) {
        uint8_t sc[8], mn[8];
        k_scales(w + 4, sc, mn);
        const uint8_t* qs = w + 16;
        const int8_t* xq = x.q + 256 * b;
        const int16_t* bs = x.bsums + 16 * b;
        int32_t isum = 0, imin = 0;
        for (int j = 0; j < 8; ++j) {
            int shift = (j & 1) * 4;
            int32_t s = 0;
            for (int l = 0; l < 32; ++l) s += ((qs[32 * (j / 2) + l] >> shift) & 15) * xq[32 * j + l];
            isum += sc[j] * s;
            imin += mn[j] * (bs[2 * j] + bs[2 * j + 1]);
        }
        sum += x.d[b] * (load_f16(w) * float(isum) - load_f16(w + 2) * float(imin));
    }
    return sum;
}

float dot_q5_k(const uint8_t* w, const cpu::detail::ActRow& x, int64_t k) {
    float sum = 0.f;
    for (int64_t b = 0; b < k / 256; ++b, w += 176) {
        uint8_t sc[8], mn[8];
        k_scales(w + 4, sc, mn);
        const uint8_t* qh = w + 16;
        const uint8_t* qs = w + 48;
        const int8_t* xq = x.q + 256 * b;
        const int16_t* bs = x.bsums + 16 * b;
        int32_t isum = 0, imin = 0;
        for (int j = 0; j < 8; ++j) {
            int shift = (j & 1) * 4;
            int32_t s = 0;
            for (int l = 0; l < 32; ++l)
                s += (((qs[32 * (j / 2) + l] >> shift) & 15) | (((qh[l] >> j) & 1) << 4)) * xq[32 * j + l];
            isum += sc[j] * s;
            imin += mn[j] * (bs[2 * j] + bs[2 * j + 1]);
        }
        sum += x.d[b] * (load_f16(w) * float(isum) - load_f16(w + 2) * float(imin));
    }
    return sum;
}

float dot_q6_k(const uint8_t* w, const cpu::detail::ActRow& x, int64_t k) {
    float sum = 0.f;
    for (int64_t b = 0; b < k / 256; ++b, w += 210) {
        const auto* scales = reinterpret_cast<const int8_t*>(w + 192);
        const int8_t* xq = x.q + 256 * b;
        int32_t isum = 0;
        for (int h = 0; h < 2; ++h) {
            const uint8_t* ql = w + 64 * h;
            const uint8_t* qh = w + 128 + 32 * h;
            for (int g = 0; g < 4; ++g) {
                const int8_t* xg = xq + 128 * h + 32 * g;
                int32_t lo = 0, hi = 0;  // the two 16-element halves have their own scales
                for (int l = 0; l < 16; ++l) lo += q6_value(ql, qh, g, l) * xg[l];
                for (int l = 16; l < 32; ++l) hi += q6_value(ql, qh, g, l) * xg[l];
                isum += scales[8 * h + 2 * g] * lo + scales[8 * h + 2 * g + 1] * hi;
            }
        }
        sum += x.d[b] * load_f16(w + 208) * float(isum);
    }
    return sum;
}

float fdot_f32(const uint8_t* w, const float* x, int64_t k) {
    float sum = 0.f;
    for (int64_t i = 0; i < k; ++i) {
        float v;
        std::memcpy(&v, w + 4 * i, 4);
        sum += v * x[i];
    }
    return sum;
}

float fdot_f16(const uint8_t* w, const float* x, int64_t k) {
    float sum = 0.f;
    for (int64_t i = 0; i < k; ++i) sum += load_f16(w + 2 * i) * x[i];
    return sum;
}

float fdot_bf16(const uint8_t* w, const float* x, int64_t k) {
    float sum = 0.f;
    for (int64_t i = 0; i < k; ++i) {
        uint16_t h;
        std::memcpy(&h, w + 2 * i, 2);
        sum += bf16_to_f32(h) * x[i];
    }
    return sum;
}

bool detect_avx2() {
#if defined(__x86_64__) || defined(__i386__)
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return false;
    bool fma = c & (1u << 12), osxsave = c & (1u << 27), f16c = c & (1u << 29), avx = c & (1u << 28);
    if (!(fma && osxsave && f16c && avx)) return false;
    unsigned xlo = 0, xhi = 0;
    __asm__("xgetbv" : "=a"(xlo), "=d"(xhi) : "c"(0));
    if ((xlo & 6u) != 6u) return false;  // the OS saves XMM and YMM state
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
    return b & (1u << 5);
#else
    return false;
#endif
}

// Per calling thread: the quantized activations of the current quant_matmul.
struct ActScratch {
    std::vector<int8_t> q;
    std::vector<float> d, ds;
    std::vector<int16_t> bsums;
};
thread_local ActScratch t_act;

}  // namespace

std::optional<QuantTraits> quant_traits(uint32_t type_id) {
    for (const auto& t : kTraits)
        if (uint32_t(t.type) == type_id) return t;
    return std::nullopt;
}

QuantTraits quant_traits(QuantType type) { return *quant_traits(uint32_t(type)); }

std::string_view quant_name(QuantType type) { return quant_traits(type).name; }

bool quant_supported(QuantType type) {
    switch (type) {
        case QuantType::F32: case QuantType::F16: case QuantType::BF16: case QuantType::Q4_0:
        case QuantType::Q8_0: case QuantType::Q4_K: case QuantType::Q5_K: case QuantType::Q6_K:
            return true;
        default:
            return false;
    }
}

std::optional<DType> quant_float_dtype(QuantType type) {
    switch (type) {
        case QuantType::F32: return DType::F32;
        case QuantType::F16: return DType::F16;
        case QuantType::BF16: return DType::BF16;
        default: return std::nullopt;
    }
}

std::optional<uint64_t> quant_row_bytes(QuantType type, int64_t n) {
    QuantTraits t = quant_traits(type);
    if (n < 0 || n % t.block_size != 0) return std::nullopt;
    uint64_t blocks = uint64_t(n / t.block_size);
    if (blocks > UINT64_MAX / uint64_t(t.block_bytes)) return std::nullopt;
    return blocks * uint64_t(t.block_bytes);
}

namespace cpu {

bool quant_cpu_has_avx2() {
    static const bool has = detect_avx2();
    return has;
}

Status dequantize_row(QuantType type, const void* src, float* dst, int64_t n) {
    if (!quant_supported(type))
        return make_error(ErrorCode::Unsupported, "dequantize_row: no kernel for GGML type " + std::string(quant_name(type)));
    int64_t bs = quant_traits(type).block_size;
    if (n < 0 || n % bs != 0)
        return make_error(ErrorCode::InvalidArgument, "dequantize_row: " + std::to_string(n) + " elements is not a multiple of the " +
                                                          std::string(quant_name(type)) + " block size " + std::to_string(bs));
    const auto* w = static_cast<const uint8_t*>(src);
    switch (type) {
        case QuantType::F32: std::memcpy(dst, w, size_t(n) * 4); break;
        case QuantType::F16:
            for (int64_t i = 0; i < n; ++i) dst[i] = load_f16(w + 2 * i);
            break;
        case QuantType::BF16:
            for (int64_t i = 0; i < n; ++i) {
                uint16_t h;
                std::memcpy(&h, w + 2 * i, 2);
                dst[i] = bf16_to_f32(h);
            }
            break;
        case QuantType::Q4_0: dequant_q4_0(w, dst, n / 32); break;
        case QuantType::Q8_0: dequant_q8_0(w, dst, n / 32); break;
        case QuantType::Q4_K: dequant_q4_k(w, dst, n / 256); break;
        case QuantType::Q5_K: dequant_q5_k(w, dst, n / 256); break;
        case QuantType::Q6_K: dequant_q6_k(w, dst, n / 256); break;
        default: break;
    }
    return {};
}

namespace detail {

namespace {

// One block of n activations to int8 with the scale amax/127; returns the scale's inverse used.
inline float act_inverse_scale(const float* x, int64_t n, float& d) {
    float amax = 0.f;
    for (int64_t l = 0; l < n; ++l) amax = std::max(amax, std::fabs(x[l]));
    // Below 1e-30 the inverse scale would overflow; such a block contributes nothing measurable.
    d = amax > 1e-30f ? amax / 127.f : 0.f;
    return amax > 1e-30f ? 127.f / amax : 0.f;
}

}  // namespace

void quantize_act32_scalar(const float* x, int64_t k, int8_t* q, float* d, float* ds) {
    for (int64_t b = 0; b < k / 32; ++b, x += 32, q += 32) {
        const float id = act_inverse_scale(x, 32, d[b]);
        int32_t sum = 0;
        for (int l = 0; l < 32; ++l) {
            q[l] = int8_t(std::nearbyint(x[l] * id));  // nearest-even, as the AVX2 conversion rounds
            sum += q[l];
        }
        ds[b] = d[b] * float(sum);
    }
}

void quantize_act256_scalar(const float* x, int64_t k, int8_t* q, float* d, int16_t* bsums) {
    for (int64_t b = 0; b < k / 256; ++b, x += 256, q += 256) {
        const float id = act_inverse_scale(x, 256, d[b]);
        for (int g = 0; g < 16; ++g) {
            int32_t sum = 0;
            for (int l = 16 * g; l < 16 * g + 16; ++l) {
                q[l] = int8_t(std::nearbyint(x[l] * id));
                sum += q[l];
            }
            bsums[16 * b + g] = int16_t(sum);
        }
    }
}

QuantDotFn quant_dot_scalar(QuantType type) {
    switch (type) {
        case QuantType::Q4_0: return dot_q4_0;
        case QuantType::Q8_0: return dot_q8_0;
        case QuantType::Q4_K: return dot_q4_k;
        case QuantType::Q5_K: return dot_q5_k;
        case QuantType::Q6_K: return dot_q6_k;
        default: return nullptr;
    }
}

FloatDotFn float_dot_scalar(QuantType type) {
    switch (type) {
        case QuantType::F32: return fdot_f32;
        case QuantType::F16: return fdot_f16;
        case QuantType::BF16: return fdot_bf16;
        default: return nullptr;
    }
}

}  // namespace detail

void quant_round_activations(QuantType type, const float* x, int64_t k, float* out) {
    if (quant_float_dtype(type)) {
        std::copy_n(x, k, out);
        return;
    }
    const int64_t ab = detail::act_block(type);
    std::vector<int8_t> q(static_cast<size_t>(k));
    std::vector<float> d(size_t(k / ab)), ds(size_t(k / ab));
    std::vector<int16_t> bsums(size_t(k / 16));
    if (ab == 256)
        detail::quantize_act256_scalar(x, k, q.data(), d.data(), bsums.data());
    else
        detail::quantize_act32_scalar(x, k, q.data(), d.data(), ds.data());
    for (int64_t i = 0; i < k; ++i) out[i] = float(q[size_t(i)]) * d[size_t(i / ab)];
}

Status quant_matmul(const float* x, int64_t M, int64_t K, const void* W, QuantType type, int64_t N, float* y,
                    ThreadPool& pool, QuantIsa isa) {
    // The message is built only on failure: the decode path must not allocate.
    auto fail = [&](ErrorCode code, const char* what) {
        return make_error(code, "quant_matmul(" + std::string(quant_name(type)) + ", M=" + std::to_string(M) +
                                    ", K=" + std::to_string(K) + ", N=" + std::to_string(N) + "): " + what);
    };
    if (M < 0 || K < 0 || N < 0) return fail(ErrorCode::InvalidArgument, "negative size");
    if (!quant_supported(type)) return fail(ErrorCode::Unsupported, "no CPU kernel for this weight type");
    auto row_bytes = quant_row_bytes(type, K);
    bool is_float = quant_float_dtype(type).has_value();
    if (!row_bytes || (!is_float && K % 32 != 0))
        return fail(ErrorCode::InvalidArgument, "K is not a multiple of the weight type's block size");
    if (M == 0 || N == 0) return {};
    if (!x || !W || !y) return fail(ErrorCode::InvalidArgument, "null pointer");
    if (isa == QuantIsa::Avx2 && !quant_cpu_has_avx2())
        return fail(ErrorCode::Unsupported, "AVX2/FMA/F16C kernels requested but this CPU lacks them");
#if defined(__x86_64__) || defined(__i386__)
    // Auto follows the CPU backend's switch (cpu::set_force_scalar), so one call forces the whole engine
    // onto the portable kernels.
    const bool avx2 = isa == QuantIsa::Avx2 || (isa == QuantIsa::Auto && simd_enabled() && quant_cpu_has_avx2());
#endif
    const auto* w = static_cast<const uint8_t*>(W);
    const size_t rb = size_t(*row_bytes);
    // Weight rows stay in L1 while a tile of activation rows passes over them (prefill); decode is M = 1.
    constexpr int64_t kTileM = 8;

    if (is_float) {
        detail::FloatDotFn dot = detail::float_dot_scalar(type);
#if defined(__x86_64__) || defined(__i386__)
        if (avx2) dot = detail::float_dot_avx2(type);
#endif
        pool.parallel_for(N, 8, [&](int64_t n0, int64_t n1) {
            for (int64_t m0 = 0; m0 < M; m0 += kTileM)
                for (int64_t n = n0; n < n1; ++n)
                    for (int64_t m = m0; m < std::min(M, m0 + kTileM); ++m)
                        y[m * N + n] = dot(w + size_t(n) * rb, x + m * K, K);
        });
        return {};
    }

    // Quantize the activations once; every weight row then reads them from this thread's scratch.
    const int64_t ab = detail::act_block(type);
    const int64_t bpr = K / ab;  // activation blocks per row
    ActScratch& s = t_act;
    const size_t nq = size_t(M) * size_t(K), nb = size_t(M) * size_t(bpr);
    if (s.q.size() < nq) s.q.resize(nq);
    if (s.d.size() < nb) s.d.resize(nb);
    if (ab == 32 && s.ds.size() < nb) s.ds.resize(nb);
    if (ab == 256 && s.bsums.size() < nq / 16) s.bsums.resize(nq / 16);
    auto quantize32 = detail::quantize_act32_scalar;
    auto quantize256 = detail::quantize_act256_scalar;
    detail::QuantDotFn dot = detail::quant_dot_scalar(type);
#if defined(__x86_64__) || defined(__i386__)
    if (avx2) {
        quantize32 = detail::quantize_act32_avx2;
        quantize256 = detail::quantize_act256_avx2;
        dot = detail::quant_dot_avx2(type);
    }
#endif
    int8_t* q = s.q.data();
    float* d = s.d.data();
    float* ds = s.ds.data();
    int16_t* bsums = s.bsums.data();
    auto act_row = [&](int64_t m) {
        return detail::ActRow{q + m * K, d + m * bpr, ab == 32 ? ds + m * bpr : nullptr,
                              ab == 256 ? bsums + m * (K / 16) : nullptr};
    };
    auto quantize_rows = [&](int64_t m0, int64_t m1) {
        for (int64_t m = m0; m < m1; ++m) {
            if (ab == 256)
                quantize256(x + m * K, K, q + m * K, d + m * bpr, bsums + m * (K / 16));
            else
                quantize32(x + m * K, K, q + m * K, d + m * bpr, ds + m * bpr);
        }
    };
    if (M * K >= (int64_t(1) << 16))
        pool.parallel_for(M, 1, quantize_rows);
    else
        quantize_rows(0, M);

    pool.parallel_for(N, 8, [&](int64_t n0, int64_t n1) {
        for (int64_t m0 = 0; m0 < M; m0 += kTileM) {
            int64_t m1 = std::min(M, m0 + kTileM);
            for (int64_t n = n0; n < n1; ++n) {
                const uint8_t* wr = w + size_t(n) * rb;
                for (int64_t m = m0; m < m1; ++m) y[m * N + n] = dot(wr, act_row(m), K);
            }
        }
    });
    return {};
}

}  // namespace cpu
}  // namespace tessera
