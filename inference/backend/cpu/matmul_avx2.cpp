// AVX2/FMA matmul kernels (declared in kernels.h, called by matmul.cpp after use_avx2()).
//
// Decode (M == 1) is bound by reading the weights: each weight row is streamed exactly once, four rows at
// a time against the same x block (x stays in L1), with two accumulators per row so eight FMA chains are
// in flight, and a software prefetch runs ahead in each row. bf16/f16 weights are widened in registers,
// never copied.
//
// Prefill (M > 1) is a small GEMM: a panel of kGemmNr = 16 weight rows × kKc columns is converted to f32
// and transposed once into a k-major buffer (16 KiB, L1-resident), then a 6×16 register-tile kernel
// (12 accumulators, x broadcast from its rows) sweeps every row of x over it. Each weight element is
// read from memory once per call and reused M times from L1.
#include <algorithm>
#include <cstdint>

#include "backend/cpu/kernels.h"

#if TESSERA_CPU_X86

#include "backend/cpu/convert.h"
#include "backend/cpu/simd_avx2.h"

namespace tessera::cpu::detail {

using namespace avx2;

namespace {

// ---------------------------------------------------------------------------------------------------
// Decode: y[n] = x · W[n]

// Software prefetch kPrefetchBytes ahead in each weight row: with the hardware streamers alone, bf16 decode
// read 15-21 GB/s where it reads 18-26 GB/s with it (2 threads of a 16-core Xeon, 1.2 GB of weights);
// 2 KiB was the better of the distances tried for both bf16 and f32. The address is formed as an
// integer because it may lie past the end of the matrix (a prefetch never faults).
constexpr uintptr_t kPrefetchBytes = 2048;
inline void prefetch_ahead(const void* p) {
    _mm_prefetch(reinterpret_cast<const char*>(reinterpret_cast<uintptr_t>(p) + kPrefetchBytes), _MM_HINT_T0);
}

template <DType T>
void gemv4(const float* x, int64_t K, const elem_t<T>* w0, const elem_t<T>* w1, const elem_t<T>* w2,
           const elem_t<T>* w3, float* y) {
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(),
           a3 = _mm256_setzero_ps();
    __m256 b0 = _mm256_setzero_ps(), b1 = _mm256_setzero_ps(), b2 = _mm256_setzero_ps(),
           b3 = _mm256_setzero_ps();
    int64_t k = 0;
    for (; k + 16 <= K; k += 16) {
        const __m256 x0 = _mm256_loadu_ps(x + k), x1 = _mm256_loadu_ps(x + k + 8);
        if ((k & 31) == 0) {
            prefetch_ahead(w0 + k);
            prefetch_ahead(w1 + k);
            prefetch_ahead(w2 + k);
            prefetch_ahead(w3 + k);
        }
        a0 = _mm256_fmadd_ps(load8<T>(w0 + k), x0, a0);
        a1 = _mm256_fmadd_ps(load8<T>(w1 + k), x0, a1);
        a2 = _mm256_fmadd_ps(load8<T>(w2 + k), x0, a2);
        a3 = _mm256_fmadd_ps(load8<T>(w3 + k), x0, a3);
        b0 = _mm256_fmadd_ps(load8<T>(w0 + k + 8), x1, b0);
        b1 = _mm256_fmadd_ps(load8<T>(w1 + k + 8), x1, b1);
        b2 = _mm256_fmadd_ps(load8<T>(w2 + k + 8), x1, b2);
        b3 = _mm256_fmadd_ps(load8<T>(w3 + k + 8), x1, b3);
    }
    for (; k < K; k += 8) {
        const int64_t r = std::min<int64_t>(8, K - k);
        const __m256 xv = load_partial<DType::F32>(x + k, r);  // zero lanes cancel the weight tail
        if (r == 8) {
            a0 = _mm256_fmadd_ps(load8<T>(w0 + k), xv, a0);
            a1 = _mm256_fmadd_ps(load8<T>(w1 + k), xv, a1);
            a2 = _mm256_fmadd_ps(load8<T>(w2 + k), xv, a2);
            a3 = _mm256_fmadd_ps(load8<T>(w3 + k), xv, a3);
        } else {
            a0 = _mm256_fmadd_ps(load_partial<T>(w0 + k, r), xv, a0);
            a1 = _mm256_fmadd_ps(load_partial<T>(w1 + k, r), xv, a1);
            a2 = _mm256_fmadd_ps(load_partial<T>(w2 + k, r), xv, a2);
            a3 = _mm256_fmadd_ps(load_partial<T>(w3 + k, r), xv, a3);
        }
    }
    y[0] = hsum(_mm256_add_ps(a0, b0));
    y[1] = hsum(_mm256_add_ps(a1, b1));
    y[2] = hsum(_mm256_add_ps(a2, b2));
    y[3] = hsum(_mm256_add_ps(a3, b3));
}

template <DType T>
float gemv1(const float* x, int64_t K, const elem_t<T>* w) {
    __m256 a = _mm256_setzero_ps(), b = _mm256_setzero_ps();
    int64_t k = 0;
    for (; k + 16 <= K; k += 16) {
        a = _mm256_fmadd_ps(load8<T>(w + k), _mm256_loadu_ps(x + k), a);
        b = _mm256_fmadd_ps(load8<T>(w + k + 8), _mm256_loadu_ps(x + k + 8), b);
    }
    for (; k < K; k += 8) {
        const int64_t r = std::min<int64_t>(8, K - k);
        a = _mm256_fmadd_ps(load_partial<T>(w + k, r), load_partial<DType::F32>(x + k, r), a);
    }
    return hsum(_mm256_add_ps(a, b));
}

template <DType T>
void gemv_rows(const float* x, int64_t K, const void* W, int64_t n0, int64_t n1, float* y) {
    const elem_t<T>* w = static_cast<const elem_t<T>*>(W);
    int64_t n = n0;
    for (; n + 4 <= n1; n += 4)
        gemv4<T>(x, K, w + n * K, w + (n + 1) * K, w + (n + 2) * K, w + (n + 3) * K, y + n);
    for (; n < n1; ++n) y[n] = gemv1<T>(x, K, w + n * K);
}

// ---------------------------------------------------------------------------------------------------
// Prefill: packed panel × register tile

constexpr int64_t kMr = 6;
constexpr int64_t kNr = kGemmNr;
constexpr int64_t kKc = 256;
constexpr int64_t kNc = 8;  // panels per column group (128 columns)

// 8×8 transpose of r[0..7] in registers: r[i] lane j becomes r[j] lane i.
inline void transpose8(__m256 r[8]) {
    __m256 t[8];
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
    }
    __m256 u[8];
    for (int i = 0; i < 8; i += 4) {
        u[i] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
        u[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
        u[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
        u[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
    }
    for (int i = 0; i < 4; ++i) {
        r[i] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x20);
        r[i + 4] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x31);
    }
}

// pack[k·16 + j] = W[n0 + j, k0 + k] as f32 for j < nr, k < kc; rows j >= nr are zero.
template <DType T>
void pack_panel(const elem_t<T>* w, int64_t K, int64_t n0, int64_t nr, int64_t k0, int64_t kc, float* pack) {
    for (int64_t j0 = 0; j0 < kNr; j0 += 8) {
        const int64_t valid = std::clamp<int64_t>(nr - j0, 0, 8);
        if (valid == 0) {
            for (int64_t k = 0; k < kc; ++k) _mm256_store_ps(pack + k * kNr + j0, _mm256_setzero_ps());
            continue;
        }
        const elem_t<T>* rows[8];
        for (int64_t j = 0; j < 8; ++j) rows[j] = w + (n0 + j0 + std::min(j, valid - 1)) * K + k0;
        int64_t k = 0;
        for (; k + 8 <= kc; k += 8) {
            __m256 r[8];
            for (int64_t j = 0; j < 8; ++j) r[j] = j < valid ? load8<T>(rows[j] + k) : _mm256_setzero_ps();
            transpose8(r);
            for (int64_t i = 0; i < 8; ++i) _mm256_store_ps(pack + (k + i) * kNr + j0, r[i]);
        }
        for (; k < kc; ++k)
            for (int64_t j = 0; j < 8; ++j) pack[k * kNr + j0 + j] = j < valid ? load_as_f32(rows[j], T, k) : 0.0f;
    }
}

// y[i, 0..nr) (+)= Σ_k x[i, k] · pack[k, 0..nr) for i < MR. accumulate: add to y (later k blocks).
template <int64_t MR>
void tile(const float* x, int64_t ldx, const float* pack, int64_t kc, float* y, int64_t ldy, int64_t nr,
          bool accumulate) {
    __m256 c0[MR], c1[MR];
#pragma GCC unroll 6
    for (int64_t i = 0; i < MR; ++i) c0[i] = c1[i] = _mm256_setzero_ps();
#pragma GCC unroll 4
    for (int64_t k = 0; k < kc; ++k) {
        const __m256 b0 = _mm256_load_ps(pack + k * kNr), b1 = _mm256_load_ps(pack + k * kNr + 8);
#pragma GCC unroll 6
        for (int64_t i = 0; i < MR; ++i) {
            const __m256 a = _mm256_broadcast_ss(x + i * ldx + k);
            c0[i] = _mm256_fmadd_ps(a, b0, c0[i]);
            c1[i] = _mm256_fmadd_ps(a, b1, c1[i]);
        }
    }
    if (nr == kNr) {
#pragma GCC unroll 6
        for (int64_t i = 0; i < MR; ++i) {
            float* yi = y + i * ldy;
            if (accumulate) {
                c0[i] = _mm256_add_ps(c0[i], _mm256_loadu_ps(yi));
                c1[i] = _mm256_add_ps(c1[i], _mm256_loadu_ps(yi + 8));
            }
            _mm256_storeu_ps(yi, c0[i]);
            _mm256_storeu_ps(yi + 8, c1[i]);
        }
        return;
    }
    // Last panel of a matrix whose N is not a multiple of 16. Unrolled like the loops above: any c0[i]
    // with a run-time i would force GCC to keep the accumulators in memory inside the k loop.
#pragma GCC unroll 6
    for (int64_t i = 0; i < MR; ++i) {
        alignas(32) float buf[kNr];
        _mm256_store_ps(buf, c0[i]);
        _mm256_store_ps(buf + 8, c1[i]);
        float* yi = y + i * ldy;
        for (int64_t j = 0; j < nr; ++j) yi[j] = accumulate ? yi[j] + buf[j] : buf[j];
    }
}

using TileFn = void (*)(const float*, int64_t, const float*, int64_t, float*, int64_t, int64_t, bool);
constexpr TileFn kTiles[kMr + 1] = {nullptr, tile<1>, tile<2>, tile<3>, tile<4>, tile<5>, tile<6>};

template <DType T>
void gemm_cols(const float* x, int64_t M, int64_t K, const void* W, int64_t N, int64_t n0, int64_t n1,
               float* y) {
    const elem_t<T>* w = static_cast<const elem_t<T>*>(W);
    if (K == 0) {
        for (int64_t m = 0; m < M; ++m) std::fill(y + m * N + n0, y + m * N + n1, 0.0f);
        return;
    }
    // Columns go in groups of kNc panels; inside a group the k blocks are the outer loop, so the x block
    // (M × kKc) is reused from L2 by every panel of the group instead of being streamed again per panel,
    // while the group's slice of y (M × 128) stays cache-resident across the k blocks.
    alignas(32) float pack[kKc * kNr];
    for (int64_t c0 = n0; c0 < n1; c0 += kNc * kNr) {
        const int64_t c1 = std::min(n1, c0 + kNc * kNr);
        for (int64_t k0 = 0; k0 < K; k0 += kKc) {
            const int64_t kc = std::min(kKc, K - k0);
            for (int64_t p = c0; p < c1; p += kNr) {
                const int64_t nr = std::min(kNr, c1 - p);
                pack_panel<T>(w, K, p, nr, k0, kc, pack);
                for (int64_t m0 = 0; m0 < M; m0 += kMr) {
                    const int64_t mr = std::min(kMr, M - m0);
                    kTiles[mr](x + m0 * K + k0, K, pack, kc, y + m0 * N + p, N, nr, k0 > 0);
                }
            }
        }
    }
}

}  // namespace

void gemv_rows_avx2(const float* x, int64_t K, const void* W, DType wt, int64_t n0, int64_t n1, float* y) {
    switch (wt) {
        case DType::F32: return gemv_rows<DType::F32>(x, K, W, n0, n1, y);
        case DType::BF16: return gemv_rows<DType::BF16>(x, K, W, n0, n1, y);
        case DType::F16: return gemv_rows<DType::F16>(x, K, W, n0, n1, y);
    }
}

void gemm_cols_avx2(const float* x, int64_t M, int64_t K, const void* W, DType wt, int64_t N, int64_t n0,
                    int64_t n1, float* y) {
    switch (wt) {
        case DType::F32: return gemm_cols<DType::F32>(x, M, K, W, N, n0, n1, y);
        case DType::BF16: return gemm_cols<DType::BF16>(x, M, K, W, N, n0, n1, y);
        case DType::F16: return gemm_cols<DType::F16>(x, M, K, W, N, n0, n1, y);
    }
}

}  // namespace tessera::cpu::detail

#endif  // TESSERA_CPU_X86
