// Decode-time matrix-vector products with bf16 weights: y = x·Wᵀ for a handful of rows of x. Batch-1
// decode is bound by reading the weights, so each warp streams whole weight rows with 16-byte loads, four
// loads in flight per lane, and reuses every loaded weight for all B rows of x.
#include <cstdlib>

#include "backend/cuda/cuda_common.cuh"

namespace tessera::cuda {
namespace {

constexpr int kWarpsPerBlock = 8;
using NormIn = GemvNormIn;

// The RMSNorm in front of a product, computed by every block of the product while its first weights are in
// flight: the product before (a residual-writing gemv_vec_kernel) left one partial Σy² per block and batch
// row, so each block sums those in a fixed order (every block gets the same scale, run after run) and writes
// xn = bf16(bf16(h · rsqrt(mean(h²) + eps)) · w) (models.md §1.1) for all B rows into shared memory. This
// replaces the norm's own launch, which costs a kernel boundary (3–4 µs on the H200) twice a layer. Every
// thread of the block must call it.
template <int B>
__device__ const uint4* stage_norm(const NormIn& n, int K, uint4* sm) {
    __shared__ float red[kWarpsPerBlock][B];
    __shared__ float scale[B];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    float ss[B];
#pragma unroll
    for (int b = 0; b < B; ++b) ss[b] = 0.f;
    for (int i = threadIdx.x; i < n.nparts; i += kWarpsPerBlock * 32)
#pragma unroll
        for (int b = 0; b < B; ++b) ss[b] += __ldcg(n.partials + size_t(b) * n.nparts + i);
#pragma unroll
    for (int b = 0; b < B; ++b) {
        const float t = warp_sum(ss[b]);
        if (lane == 0) red[warp][b] = t;
    }
    __syncthreads();
    if (threadIdx.x < B) {
        float t = 0.f;
#pragma unroll
        for (int w = 0; w < kWarpsPerBlock; ++w) t += red[w][threadIdx.x];
        scale[threadIdx.x] = rsqrtf(t / float(K) + n.eps);
    }
    __syncthreads();
    const int K8 = K >> 3;
    const uint4* nw = reinterpret_cast<const uint4*>(n.w);
#pragma unroll 4
    for (int i = threadIdx.x; i < B * K8; i += kWarpsPerBlock * 32) {
        const int b = i / K8, k8 = i - b * K8;
        const float4* hp = reinterpret_cast<const float4*>(n.h + size_t(b) * K) + 2 * k8;
        const float4 h0 = __ldcg(hp), h1 = __ldcg(hp + 1);
        const uint4 wv = __ldg(nw + k8);
        const float r = scale[b];
        const float hv[8] = {h0.x, h0.y, h0.z, h0.w, h1.x, h1.y, h1.z, h1.w};
        const uint32_t wb[4] = {wv.x, wv.y, wv.z, wv.w};
        uint32_t o[4];
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            const float lo = bf16_bits_to_f32(f32_to_bf16_bits(hv[2 * j] * r)) * __uint_as_float(wb[j] << 16);
            const float hi =
                bf16_bits_to_f32(f32_to_bf16_bits(hv[2 * j + 1] * r)) * __uint_as_float(wb[j] & 0xffff0000u);
            o[j] = uint32_t(f32_to_bf16_bits(lo)) | (uint32_t(f32_to_bf16_bits(hi)) << 16);
        }
        sm[i] = make_uint4(o[0], o[1], o[2], o[3]);
    }
    __syncthreads();
    return sm;
}

// The product's input: x through L1 (ld_x), or the block's normalised rows in shared memory.
template <bool kNorm>
__device__ __forceinline__ uint4 rd_x(const uint4* p) {
    if constexpr (kNorm)
        return *p;
    else
        return ld_x(p);
}

// Each block of a residual-writing product leaves Σ over its rows of y² for every batch row b in
// sq[b · gridDim.x + blockIdx.x], for the RMSNorm of the product after it (stage_norm). The values are those
// in acc after store_gemv_row; rows beyond N count as zero. Every thread of the block must call it.
template <int B, int kRows>
__device__ __forceinline__ void store_sq_partials(float* sq, int slot, bool mine, const float (&v)[B]) {
    __shared__ float part[kRows][B];
    if (mine)
#pragma unroll
        for (int b = 0; b < B; ++b) part[slot][b] = v[b] * v[b];
    __syncthreads();
    if (threadIdx.x < B) {
        float t = 0.f;
#pragma unroll
        for (int r = 0; r < kRows; ++r) t += part[r][threadIdx.x];
        sq[size_t(threadIdx.x) * gridDim.x + blockIdx.x] = t;
    }
}

// K a multiple of 8 and rows 16-byte aligned. kWpr warps share a row (each takes every kWpr-th 16-byte
// column block, partial sums meet in shared memory): small-N products (o_proj and down_proj of a 1.5B
// model have 1536 rows, 192 blocks of one row per warp) otherwise leave most multiprocessors with too few
// loads in flight to approach the bandwidth. The first kUnroll weights of each lane are loaded before the
// wait for the previous kernel, so they are in flight while it finishes. sq: see store_sq_partials (null:
// none).
template <int B, int kUnroll, int kWpr>
__global__ void __launch_bounds__(kWarpsPerBlock * 32)
    gemv_vec_kernel(const uint16_t* __restrict__ W, const uint16_t* x, const uint16_t* __restrict__ bias,
                    const float* residual, float* y_f32, uint16_t* y_bf16, int N, int K, float* sq) {
    constexpr int kRows = kWarpsPerBlock / kWpr;
    constexpr int kStep = kWpr * 32;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int row = blockIdx.x * kRows + warp / kWpr, part = warp % kWpr;
    const bool active = row < N;
    const int K8 = K >> 3;
    const uint4* w = reinterpret_cast<const uint4*>(W + size_t(active ? row : 0) * K);
    const uint4* xs = reinterpret_cast<const uint4*>(x);
    float acc[B];
#pragma unroll
    for (int b = 0; b < B; ++b) acc[b] = 0.f;

    pdl_trigger();
    int i = part * 32 + lane;
    const bool full = active && i + (kUnroll - 1) * kStep < K8;
    uint4 wv[kUnroll];
    if (full)
#pragma unroll
        for (int u = 0; u < kUnroll; ++u) wv[u] = ld_w(w + i + u * kStep);
    pdl_wait();
    xs = after_wait(xs);
    if (full) {
        while (true) {
#pragma unroll
            for (int u = 0; u < kUnroll; ++u)
#pragma unroll
                for (int b = 0; b < B; ++b) acc[b] += dot8(wv[u], ld_x(xs + size_t(b) * K8 + i + u * kStep));
            i += kUnroll * kStep;
            if (i + (kUnroll - 1) * kStep >= K8) break;
#pragma unroll
            for (int u = 0; u < kUnroll; ++u) wv[u] = ld_w(w + i + u * kStep);
        }
    }
    if (active) {
        for (; i < K8; i += kStep) {
            const uint4 wt = ld_w(w + i);
#pragma unroll
            for (int b = 0; b < B; ++b) acc[b] += dot8(wt, ld_x(xs + size_t(b) * K8 + i));
        }
    }
#pragma unroll
    for (int b = 0; b < B; ++b) acc[b] = warp_sum(acc[b]);
    if constexpr (kWpr > 1) {
        __shared__ float red[kWarpsPerBlock][B];
        if (lane == 0)
#pragma unroll
            for (int b = 0; b < B; ++b) red[warp][b] = acc[b];
        __syncthreads();
        if (part == 0)
#pragma unroll
            for (int b = 0; b < B; ++b) {
                float t = red[warp][b];
#pragma unroll
                for (int p = 1; p < kWpr; ++p) t += red[warp + p][b];
                acc[b] = t;
            }
    }
    if (active && lane == 0 && part == 0) store_gemv_row<B>(row, acc, bias, residual, y_f32, y_bf16, N);
    if (sq) store_sq_partials<B, kRows>(sq, warp / kWpr, lane == 0 && part == 0, acc);
}

// The streaming loop of the two-row products (a q/k/v rotate-half pair, a gate/up pair): acc0[b] and
// acc1[b] += Σ over this lane's 16-byte words i, i + kStep, … of rows w0 and w1 against batch row b of x.
// The first kUnroll words of both rows are loaded before the wait for the kernel that writes x (or, kNorm,
// the sums of squares stage_norm normalises x with).
template <int B, int kUnroll, int kStep, bool kNorm>
__device__ __forceinline__ void stream_two_rows(const uint4* w0, const uint4* w1, const uint16_t* x, int K,
                                                bool active, int i, const NormIn& n, uint4* xsm,
                                                float (&acc0)[B], float (&acc1)[B]) {
    const int K8 = K >> 3;
    const uint4* xs = reinterpret_cast<const uint4*>(x);
    const bool full = active && i + (kUnroll - 1) * kStep < K8;
    uint4 u0[kUnroll], u1[kUnroll];
    if (full)
#pragma unroll
        for (int u = 0; u < kUnroll; ++u) {
            u0[u] = ld_w(w0 + i + u * kStep);
            u1[u] = ld_w(w1 + i + u * kStep);
        }
    pdl_wait();
    if constexpr (kNorm)
        xs = stage_norm<B>(n, K, xsm);
    else
        xs = after_wait(xs);
    if (full) {
        while (true) {
#pragma unroll
            for (int u = 0; u < kUnroll; ++u)
#pragma unroll
                for (int b = 0; b < B; ++b) {
                    const uint4 xv = rd_x<kNorm>(xs + size_t(b) * K8 + i + u * kStep);
                    acc0[b] += dot8(u0[u], xv);
                    acc1[b] += dot8(u1[u], xv);
                }
            i += kUnroll * kStep;
            if (i + (kUnroll - 1) * kStep >= K8) break;
#pragma unroll
            for (int u = 0; u < kUnroll; ++u) {
                u0[u] = ld_w(w0 + i + u * kStep);
                u1[u] = ld_w(w1 + i + u * kStep);
            }
        }
    }
    if (active) {
        for (; i < K8; i += kStep) {
            const uint4 t0 = ld_w(w0 + i), t1 = ld_w(w1 + i);
#pragma unroll
            for (int b = 0; b < B; ++b) {
                const uint4 xv = rd_x<kNorm>(xs + size_t(b) * K8 + i);
                acc0[b] += dot8(t0, xv);
                acc1[b] += dot8(t1, xv);
            }
        }
    }
}

// q/k/v product fused with rotate-half RoPE and the KV-cache write (the work of rope_kv_write, see rope.cu,
// with the same arithmetic): a warp group computes the two rows (i, i + hd/2) of one head, so the rotation
// has both halves in registers and q, k and v go straight to their bf16 destinations.
// W bf16 [(nh + 2·nkv)·hd, K]; x bf16 [B, K]; bias bf16 or null.
struct QkvRopeArgs {
    const uint16_t* bias;
    const int32_t* pos;
    const int32_t* slot;
    const float* inv_freq;
    int nh, nkv, hd, max_seq;
    uint16_t* q_out;
    uint16_t* k_cache;
    uint16_t* v_cache;
};

template <int B, int kWpr, bool kNorm>
__global__ void __launch_bounds__(kWarpsPerBlock * 32)
    gemv_qkv_rope_kernel(const uint16_t* __restrict__ W, const uint16_t* x, QkvRopeArgs a, int K, NormIn n) {
    extern __shared__ uint4 xsm[];
    constexpr int kPairs = kWarpsPerBlock / kWpr;
    constexpr int kStep = kWpr * 32;
    constexpr int kUnroll = 4;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int half = a.hd / 2;
    const int npairs = (a.nh + 2 * a.nkv) * half;
    const int pair = blockIdx.x * kPairs + warp / kWpr, part = warp % kWpr;
    const bool active = pair < npairs;
    const int head = active ? pair / half : 0, hi = active ? pair % half : 0;
    const int r0 = head * a.hd + hi, r1 = r0 + half;
    const uint4* w0 = reinterpret_cast<const uint4*>(W + size_t(r0) * K);
    const uint4* w1 = reinterpret_cast<const uint4*>(W + size_t(r1) * K);
    float acc0[B], acc1[B];
#pragma unroll
    for (int b = 0; b < B; ++b) acc0[b] = acc1[b] = 0.f;

    pdl_trigger();
    stream_two_rows<B, kUnroll, kStep, kNorm>(w0, w1, x, K, active, part * 32 + lane, n, xsm, acc0, acc1);
#pragma unroll
    for (int b = 0; b < B; ++b) {
        acc0[b] = warp_sum(acc0[b]);
        acc1[b] = warp_sum(acc1[b]);
    }
    if constexpr (kWpr > 1) {
        __shared__ float red[kWarpsPerBlock][2 * B];
        if (lane == 0)
#pragma unroll
            for (int b = 0; b < B; ++b) {
                red[warp][b] = acc0[b];
                red[warp][B + b] = acc1[b];
            }
        __syncthreads();
        if (part != 0) return;
#pragma unroll
        for (int b = 0; b < B; ++b) {
            float t0 = red[warp][b], t1 = red[warp][B + b];
#pragma unroll
            for (int p = 1; p < kWpr; ++p) {
                t0 += red[warp + p][b];
                t1 += red[warp + p][B + b];
            }
            acc0[b] = t0;
            acc1[b] = t1;
        }
    }
    if (!active || lane >= B) return;
    // Lane b finishes batch row b (B ≤ 8 ≤ 32): the rows' positions and slots differ.
    float v0 = 0.f, v1 = 0.f;
#pragma unroll
    for (int b = 0; b < B; ++b)
        if (b == lane) {
            v0 = acc0[b];
            v1 = acc1[b];
        }
    const int b = lane;
    if (a.bias) {
        v0 += bf16_bits_to_f32(a.bias[r0]);
        v1 += bf16_bits_to_f32(a.bias[r1]);
    }
    const QkvDest d = qkv_dest(a.q_out + size_t(b) * a.nh * a.hd, a.k_cache, a.v_cache, a.slot[b], a.pos[b],
                               a.nh, a.nkv, a.hd, a.max_seq);
    store_qkv_pair(d, head, hi, v0, v1, a.inv_freq);
}

// act[b, row] = bf16(silu(g)·u) from this warp's partial sums of gate row `row` and up row `row`.
template <int B>
__device__ __forceinline__ void store_swiglu_row(int row, int I, int lane, const float (&g)[B],
                                                 const float (&u)[B], uint16_t* act) {
#pragma unroll
    for (int b = 0; b < B; ++b) {
        const float gs = warp_sum(g[b]), us = warp_sum(u[b]);
        if (lane == 0) act[size_t(b) * I + row] = f32_to_bf16_bits(gs / (1.f + __expf(-gs)) * us);
    }
}

// Gate row i (at 2i) and up row i (at 2i + 1) of the interleaved gate/up weight, finished with silu(g)·u.
// K a multiple of 8, W and x 16-byte aligned.
template <int B, bool kNorm>
__global__ void __launch_bounds__(kWarpsPerBlock * 32)
    gemv_swiglu_kernel(const uint16_t* __restrict__ W, const uint16_t* x, uint16_t* __restrict__ act, int I,
                       int K, NormIn n) {
    extern __shared__ uint4 xsm[];
    constexpr int kUnroll = 4;
    const int lane = threadIdx.x & 31;
    const int row = blockIdx.x * kWarpsPerBlock + (threadIdx.x >> 5);
    const bool active = row < I;
    const uint4* wg = reinterpret_cast<const uint4*>(W + 2 * size_t(active ? row : 0) * K);
    const uint4* wu = wg + (K >> 3);
    float g[B], u[B];
#pragma unroll
    for (int b = 0; b < B; ++b) g[b] = u[b] = 0.f;

    pdl_trigger();
    stream_two_rows<B, kUnroll, 32, kNorm>(wg, wu, x, K, active, lane, n, xsm, g, u);
    if (!active) return;
    store_swiglu_row<B>(row, I, lane, g, u, act);
}

// gemv_swiglu_kernel for any K (odd fixture shapes): scalar loads.
template <int B>
__global__ void gemv_swiglu_scalar_kernel(const uint16_t* __restrict__ W, const uint16_t* x,
                                          uint16_t* __restrict__ act, int I, int K) {
    pdl_trigger();
    pdl_wait();
    const int lane = threadIdx.x & 31;
    const int row = blockIdx.x * kWarpsPerBlock + (threadIdx.x >> 5);
    if (row >= I) return;
    float g[B], u[B];
#pragma unroll
    for (int b = 0; b < B; ++b) g[b] = u[b] = 0.f;
    for (int k = lane; k < K; k += 32) {
        const float gk = bf16_bits_to_f32(W[2 * size_t(row) * K + k]),
                    uk = bf16_bits_to_f32(W[(2 * size_t(row) + 1) * K + k]);
#pragma unroll
        for (int b = 0; b < B; ++b) {
            const float xk = bf16_bits_to_f32(__ldcg(x + size_t(b) * K + k));
            g[b] = fmaf(gk, xk, g[b]);
            u[b] = fmaf(uk, xk, u[b]);
        }
    }
    store_swiglu_row<B>(row, I, lane, g, u, act);
}

// Any K (odd fixture shapes): scalar loads.
template <int B>
__global__ void gemv_scalar_kernel(const uint16_t* __restrict__ W, const uint16_t* x,
                                   const uint16_t* __restrict__ bias, const float* residual, float* y_f32,
                                   uint16_t* y_bf16, int N, int K) {
    pdl_trigger();
    pdl_wait();
    const int lane = threadIdx.x & 31;
    const int row = blockIdx.x * kWarpsPerBlock + (threadIdx.x >> 5);
    if (row >= N) return;
    const uint16_t* w = W + size_t(row) * K;
    float acc[B];
#pragma unroll
    for (int b = 0; b < B; ++b) acc[b] = 0.f;
    for (int k = lane; k < K; k += 32) {
        const float wk = bf16_bits_to_f32(w[k]);
#pragma unroll
        for (int b = 0; b < B; ++b)
            acc[b] = fmaf(wk, bf16_bits_to_f32(__ldcg(x + size_t(b) * K + k)), acc[b]);
    }
#pragma unroll
    for (int b = 0; b < B; ++b) acc[b] = warp_sum(acc[b]);
    if (lane == 0) store_gemv_row<B>(row, acc, bias, residual, y_f32, y_bf16, N);
}

// Warps per row: enough blocks that every multiprocessor streams several rows at once. two_from: two warps a
// row from N / 4 ≥ two_from · multiprocessors blocks (else four).
int gemv_wpr(int N, const char* env = "TESSERA_GEMV_WPR", int two_from = 2) {
    const char* e = std::getenv(env);  // read per launch: launches happen at capture time only
    const int forced = e ? std::atoi(e) : 0;
    if (forced == 1 || forced == 2 || forced == 4) return forced;
    const int sms = current_multiprocessors();
    // One warp per row from four blocks per multiprocessor up: 7B's 4096-row o_proj and down_proj (512 blocks
    // of one row per warp, under four a multiprocessor) measured 2% faster a step with two warps per row.
    if (N / kWarpsPerBlock >= 4 * sms) return 1;
    return N / (kWarpsPerBlock / 2) >= two_from * sms ? 2 : 4;
}

// Calls f(std::integral_constant<int, w>{}) for w = 1, 2 or 4 warps per row.
template <class F>
void with_wpr(int wpr, F&& f) {
    with_value<1, 2, 4>(wpr, std::forward<F>(f));
}

// Loads in flight per lane for a batch-1–2 product whose lane share of a row (K / 8 / step 16-byte words)
// splits into equal rounds of 3, 5, 6 or 7 loads: then no remainder is left to the loop that issues one
// dependent load at a time. The 1.5B's o_proj at two warps a row is 3 words a lane: one round instead of
// three dependent loads, 1–1.5 µs a layer inside the graph on the H200. (The same for gate/up, 6 words a
// lane, measured slower than a round of 4 and two single loads, so the two-row kernels keep theirs.)
// 0: the default. TESSERA_GEMV_EXACT=0 turns it off, for comparisons.
int exact_unroll(int B, int K, int step) {
    const char* e = std::getenv("TESSERA_GEMV_EXACT");  // read per launch: launches happen at capture time
    if ((e && std::atoi(e) == 0) || B > 2 || K % 8 != 0 || (K / 8) % step != 0) return 0;
    const int words = K / 8 / step, rounds = (words + 7) / 8;
    if (words % rounds != 0) return 0;
    const int u = words / rounds;
    return u == 3 || u == 5 || u == 6 || u == 7 ? u : 0;
}

// Calls f(std::integral_constant<int, u>{}) with u = exact (3, 5, 6 or 7) or else kDefault. Batches above 2
// get only the default instantiation.
template <int B, int kDefault, class F>
void with_unroll(int exact, F&& f) {
    if constexpr (B > 2)
        f(std::integral_constant<int, kDefault>{});
    else
        with_value<3, 5, 6, 7, kDefault>(exact, std::forward<F>(f));
}

template <int B>
void launch(const uint16_t* W, const uint16_t* x, const uint16_t* bias, const float* residual, float* y_f32,
            uint16_t* y_bf16, int N, int K, cudaStream_t stream, float* sq = nullptr) {
    const dim3 block(kWarpsPerBlock * 32);
    const bool aligned = K % 8 == 0 && (reinterpret_cast<uintptr_t>(W) & 15) == 0 &&
                         (reinterpret_cast<uintptr_t>(x) & 15) == 0;
    // Eight loads in flight per lane at small batch, where registers are plentiful.
    constexpr int kU = B <= 2 ? 8 : 4;
    if (!aligned) {
        launch_kernel(gemv_scalar_kernel<B>, dim3((N + kWarpsPerBlock - 1) / kWarpsPerBlock), block, 0,
                      stream, W, x, bias, residual, y_f32, y_bf16, N, K);
        return;
    }
    // kWpr warps per row: 8 / kWpr rows per block.
    with_wpr(gemv_wpr(N), [&](auto w) {
        constexpr int kWpr = decltype(w)::value, kRows = kWarpsPerBlock / kWpr;
        with_unroll<B, kU>(exact_unroll(B, K, kWpr * 32), [&](auto u) {
            launch_kernel(gemv_vec_kernel<B, decltype(u)::value, kWpr>, dim3((N + kRows - 1) / kRows), block,
                          0, stream, W, x, bias, residual, y_f32, y_bf16, N, K, sq);
        });
    });
}

template <int B>
void launch_qkv_rope(const uint16_t* W, const uint16_t* x, const QkvRopeArgs& a, int K, const NormIn* n,
                     cudaStream_t stream) {
    const int npairs = (a.nh + 2 * a.nkv) * a.hd / 2;
    const dim3 block(kWarpsPerBlock * 32);
    const size_t smem = n ? size_t(B) * K * 2 : 0;
    // Two warps a row pair from one block a multiprocessor: the 1.5B's 1024 pairs (256 blocks) measured 3%
    // faster a step than at four warps (bench/results/2026-11-29-h200-session9.md).
    with_wpr(gemv_wpr(npairs, std::getenv("TESSERA_QKV_WPR") ? "TESSERA_QKV_WPR" : "TESSERA_GEMV_WPR", 1),
             [&](auto w) {
                 constexpr int kWpr = decltype(w)::value, kPairs = kWarpsPerBlock / kWpr;
                 const dim3 grid((npairs + kPairs - 1) / kPairs);
                 if (n)
                     launch_kernel(gemv_qkv_rope_kernel<B, kWpr, true>, grid, block, smem, stream, W, x, a, K,
                                   *n);
                 else
                     launch_kernel(gemv_qkv_rope_kernel<B, kWpr, false>, grid, block, 0, stream, W, x, a, K,
                                   NormIn{});
             });
}

template <int B>
void launch_swiglu(const uint16_t* W, const uint16_t* x, uint16_t* act, int I, int K, const NormIn* n,
                   cudaStream_t stream) {
    const dim3 grid((I + kWarpsPerBlock - 1) / kWarpsPerBlock), block(kWarpsPerBlock * 32);
    if (K % 8 != 0) {
        launch_kernel(gemv_swiglu_scalar_kernel<B>, grid, block, 0, stream, W, x, act, I, K);
        return;
    }
    if (n)
        launch_kernel(gemv_swiglu_kernel<B, true>, grid, block, size_t(B) * K * 2, stream, W, x, act, I, K,
                      *n);
    else
        launch_kernel(gemv_swiglu_kernel<B, false>, grid, block, 0, stream, W, x, act, I, K, NormIn{});
}

// The normalised rows live in the default 48 KB of shared memory.
bool norm_in_fits(int B, int K) {
    return K % 8 == 0 && size_t(B) * K * 2 <= 48 * 1024;
}

}  // namespace

bool gemv_norm_in_supported(int B, int K) {
    return B >= 1 && B <= kGemvMaxBatch && norm_in_fits(B, K);
}

int gemv_sq_partials_count(int N) {
    const int rows = kWarpsPerBlock / gemv_wpr(N);
    return (N + rows - 1) / rows;
}

namespace {
// Checks a GemvNormIn for a product over K columns at batch B (null: no norm, fine).
Status check_norm_in(const GemvNormIn* n, int B, int K, const char* what) {
    if (!n) return {};
    if (!norm_in_fits(B, K) || !n->h || !n->partials || n->nparts < 1 || !n->w ||
        (reinterpret_cast<uintptr_t>(n->h) & 15) || (reinterpret_cast<uintptr_t>(n->w) & 15))
        return make_error(ErrorCode::InvalidArgument, std::string(what) +
                                                          ": bad fused norm (B=" + std::to_string(B) +
                                                          ", K=" + std::to_string(K) + ")");
    return {};
}
}  // namespace

Status gemv_swiglu_bf16(const bf16_t* W_gu, const bf16_t* x, bf16_t* act, int B, int I, int K,
                        cudaStream_t stream, const GemvNormIn* norm) {
    if (B < 1 || B > kGemvMaxBatch || I < 1 || K < 1 || (!x && !norm))
        return make_error(ErrorCode::InvalidArgument, "gemv_swiglu_bf16: bad arguments");
    if ((reinterpret_cast<uintptr_t>(W_gu) & 15) || (reinterpret_cast<uintptr_t>(x) & 15))
        return make_error(ErrorCode::InvalidArgument, "gemv_swiglu_bf16: operands must be 16-byte aligned");
    TESSERA_TRY(check_norm_in(norm, B, K, "gemv_swiglu_bf16"));
    with_batch(B, [&](auto b) { launch_swiglu<decltype(b)::value>(W_gu, x, act, I, K, norm, stream); });
    return TESSERA_LAUNCH_CHECK("gemv_swiglu_bf16");
}

Status gemv_bf16(const bf16_t* W, const bf16_t* x, const bf16_t* bias, const float* residual, float* y_f32,
                 bf16_t* y_bf16, int B, int N, int K, cudaStream_t stream, float* sq_partials) {
    const bool aligned =
        K % 8 == 0 && !(reinterpret_cast<uintptr_t>(W) & 15) && !(reinterpret_cast<uintptr_t>(x) & 15);
    if (B < 1 || B > kGemvMaxBatch || N < 1 || K < 1 || (y_f32 == nullptr) == (y_bf16 == nullptr) ||
        (residual && !y_f32) || (sq_partials && !aligned))
        return make_error(ErrorCode::InvalidArgument, "gemv_bf16: bad arguments (B=" + std::to_string(B) +
                                                          ", N=" + std::to_string(N) +
                                                          ", K=" + std::to_string(K) + ")");
    with_batch(B, [&](auto b) {
        launch<decltype(b)::value>(W, x, bias, residual, y_f32, y_bf16, N, K, stream, sq_partials);
    });
    return TESSERA_LAUNCH_CHECK("gemv_bf16");
}

bool gemv_qkv_rope_supported(int B, int K, int hd) {
    return B >= 1 && B <= kGemvMaxBatch && K % 8 == 0 && hd % 2 == 0;
}

Status gemv_qkv_rope_bf16(const bf16_t* W, const bf16_t* x, const bf16_t* bias, const int32_t* pos,
                          const int32_t* slot, const float* inv_freq, int B, int nh, int nkv, int hd, int K,
                          int max_seq, bf16_t* q_out, bf16_t* k_cache, bf16_t* v_cache, cudaStream_t stream,
                          const GemvNormIn* norm) {
    if (!gemv_qkv_rope_supported(B, K, hd) || nh < 1 || nkv < 1 || nh % nkv != 0 || (!x && !norm) ||
        (reinterpret_cast<uintptr_t>(W) & 15) || (reinterpret_cast<uintptr_t>(x) & 15))
        return make_error(ErrorCode::InvalidArgument,
                          "gemv_qkv_rope_bf16: bad arguments (B=" + std::to_string(B) +
                              ", K=" + std::to_string(K) + ", hd=" + std::to_string(hd) + ")");
    TESSERA_TRY(check_norm_in(norm, B, K, "gemv_qkv_rope_bf16"));
    const QkvRopeArgs a{bias, pos, slot, inv_freq, nh, nkv, hd, max_seq, q_out, k_cache, v_cache};
    with_batch(B, [&](auto b) { launch_qkv_rope<decltype(b)::value>(W, x, a, K, norm, stream); });
    return TESSERA_LAUNCH_CHECK("gemv_qkv_rope_bf16");
}

}  // namespace tessera::cuda
