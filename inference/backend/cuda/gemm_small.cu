// Small-M tensor-core GEMM: y = x·Wᵀ for 1–64 rows of x, bound by streaming W once at copy bandwidth.
//
// W is the mma A operand (16 weight rows per m16n8k16) and x the B operand (8 rows of x per n8 tile), so
// M is padded to a multiple of 8, not 16. The k order inside a dot product is free: lane (g, t) loads 16
// contiguous bytes W[row][k0 + 8t .. k0 + 8t + 7] with one 128-bit load and feeds them to two mmas (the
// first takes k0+8t+{0..3}, the second k0+8t+{4..7}); its x fragment is the same 16 bytes of an x row, so
// both operands use the same permutation and no shuffles are needed.
//
// A block owns 16·RG weight rows; its 8 warps are RG row groups × (8 / RG) k groups. Every block stages
// all the x it multiplies, so x traffic from L2 is M / (16·RG) times the weight traffic: blocks should be
// tall. When tall blocks would leave SMs idle (small N), a cluster of S ≤ 8 blocks (Hopper) splits K and the
// partial sums are added through distributed shared memory; without clusters S = 1. K is walked in slices
// of 256: x[0:M, slice] is staged in shared memory by cp.async (3-stage ring, zero-filled past M and K),
// and every warp does RG 32-wide k steps of each slice. Weights go straight from DRAM to registers
// through a ring of 4–8 steps per lane (no shared-memory round trip), so 4–8 KiB per warp are always in
// flight. Partial sums of the k groups meet in shared memory at the end, in a fixed order, and
// the epilogue (bias, residual, bf16 rounding or SwiGLU) is applied there: one kernel, deterministic.
//
// That is variant A. Its loads cover only 64 bytes of each of 8 rows per warp instruction (the mma layout
// gives a row 4 lanes); variant B (gemm_small_smem_kernel, opt-in until measured) stages the weights through
// shared memory as well, with whole 128-byte lines per instruction, at the cost of one block per SM.
#include "backend/cuda/gemm_small.h"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "backend/cuda/cuda_common.cuh"

namespace tessera::cuda {
namespace {

constexpr int kWarps = 8;
constexpr int kThreads = kWarps * 32;
constexpr int kSliceK = 256;  // k per staged x slice
constexpr int kChunksPerSlice = kSliceK / 32;
constexpr int kStages = 3;  // x ring depth
// Weight k steps in flight per warp (1 KiB each): 8 while the accumulators leave room in 128 registers.
constexpr int ring_steps(int mx) {
    return mx <= 4 ? 8 : 4;
}
constexpr int kRowChunks = kSliceK / 8;  // 16-byte chunks per staged x row
// Each warp does RG of a slice's 32-wide chunks and the 8 / RG k groups share it out.
static_assert(kChunksPerSlice == kWarps, "one slice is one 32-wide k step for each of the 8 warps");

__device__ __forceinline__ uint4 load_weights(const uint16_t* p) {
    // Streamed once: not kept in L1; the L2 fetches the 256-byte block, which the row's next steps read.
    uint4 v;
    asm volatile("ld.global.nc.L1::no_allocate.L2::256B.v4.u32 {%0, %1, %2, %3}, [%4];"
                 : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
                 : "l"(p));
    return v;
}

// 16 bytes global → shared, or 16 zero bytes (nothing read) when !valid.
__device__ __forceinline__ void cp_async16(void* dst, const void* src, bool valid) {
    const uint32_t d = static_cast<uint32_t>(__cvta_generic_to_shared(dst));
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(d), "l"(src), "r"(valid ? 16 : 0)
                 : "memory");
}

// The same for weights, streamed once: the L2 fetches whole 256-byte blocks of the row.
__device__ __forceinline__ void cp_async16_stream(void* dst, const void* src, bool valid) {
    const uint32_t d = static_cast<uint32_t>(__cvta_generic_to_shared(dst));
    asm volatile("cp.async.cg.shared.global.L2::256B [%0], [%1], 16, %2;" ::"r"(d), "l"(src),
                 "r"(valid ? 16 : 0)
                 : "memory");
}

__device__ __forceinline__ void cp_async_commit() {
    asm volatile("cp.async.commit_group;" ::: "memory");
}

template <int N>
__device__ __forceinline__ void cp_async_wait() {
    asm volatile("cp.async.wait_group %0;" ::"n"(N) : "memory");
}

// c += A·B for one m16n8k16 tile; A = 16 weight rows, B = 8 rows of x (as columns).
__device__ __forceinline__ void mma_bf16(float (&c)[4], uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3,
                                         uint32_t b0, uint32_t b1) {
    asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
        "{%0, %1, %2, %3};"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

// c += 16 weight rows × 32 k times 8 x rows: wa holds row g's 16 bytes, wb row g + 8's, b the x row's (the
// lane's k permutation; see the file comment): two k16 products.
__device__ __forceinline__ void mma_k32(float (&c)[4], uint4 wa, uint4 wb, uint4 b) {
    mma_bf16(c, wa.x, wb.x, wa.y, wb.y, b.x, b.y);
    mma_bf16(c, wa.z, wb.z, wa.w, wb.w, b.z, b.w);
}

// The same shared-memory location in block `rank` of this cluster (a generic address).
__device__ __forceinline__ const float* cluster_peer(const float* p, int rank) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    uint64_t out;
    asm volatile("mapa.u64 %0, %1, %2;" : "=l"(out) : "l"(p), "r"(rank));
    return reinterpret_cast<const float*>(out);
#else
    (void)rank;
    return p;
#endif
}

// All threads of all blocks of the cluster; orders shared-memory writes before the barrier against reads
// after. Not .aligned: threads may leave the epilogue loops at different iterations.
__device__ __forceinline__ void cluster_sync() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("barrier.cluster.arrive.release;\n\tbarrier.cluster.wait.acquire;" ::: "memory");
#endif
}

// Position of 16-byte chunk c of staged x row m. Odd rows swap the two 64-byte halves of each 128 bytes, so
// the 8 lanes of a quarter warp (rows g, g+1 × 64 bytes each) hit all 32 banks once.
__device__ __forceinline__ int swizzle(int m, int c) {
    return m * kRowChunks + (c ^ ((m & 1) << 2));
}

// cp.async of x[0 : 8·MX, k0 : k0 + kSliceK] into a swizzled slice at dst, zero past M and K; the whole
// block takes part (MX chunks a thread). The caller commits.
template <int MX>
__device__ __forceinline__ void copy_x_slice(uint4* dst, const uint16_t* x, int M, int K, int k0) {
#pragma unroll
    for (int it = 0; it < MX; ++it) {
        const int i = threadIdx.x + it * kThreads;
        const int m = i / kRowChunks, c = i % kRowChunks, k = k0 + 8 * c;
        const bool valid = m < M && k < K;
        cp_async16(dst + swizzle(m, c), valid ? x + size_t(m) * K + k : x, valid);
    }
}

constexpr int red_stride(int rows) {
    return rows + 4;
}  // pads the k-group partials against bank conflicts

// The end of both kernels: the k groups' partials (and, in a cluster, the other blocks') meet in shared
// memory and the epilogue writes the outputs. acc holds this warp's 16 weight rows (row group rg, k group
// kg).
template <int MX, int RG, bool kSwiglu>
__device__ __forceinline__ void finish(const float (&acc)[MX][4], int rg, int kg, int n_base, int rank,
                                       int splits, const uint16_t* __restrict__ bias, const float* residual,
                                       float* y_f32, uint16_t* y_bf16, int M, int N, uint4* smem) {
    constexpr int KG = kWarps / RG;
    constexpr int R = 16 * RG;
    constexpr int M8 = 8 * MX;
    const int lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
    // Partials of the k groups: red[kg][m][r], r the block-local weight row.
    cp_async_wait<0>();
    __syncthreads();
    float* red = reinterpret_cast<float*>(smem);
    constexpr int RS = red_stride(R);
#pragma unroll
    for (int mt = 0; mt < MX; ++mt) {
        const int m = 8 * mt + 2 * t, r = 16 * rg + g;
        float* p = red + (kg * M8 + m) * RS + r;
        p[0] = acc[mt][0];
        p[RS] = acc[mt][1];
        p[8] = acc[mt][2];
        p[RS + 8] = acc[mt][3];
    }
    __syncthreads();
    if (splits > 1) cluster_sync();  // every block of the cluster has its partials in shared memory

    // The cluster's blocks share the epilogue: block `rank` takes every splits-th run of kThreads outputs.
    // Outputs go in batches whose loads (partials, possibly in other blocks' shared memory; bias; residual)
    // are all issued before any store: the residual may alias y, so one at a time they would be a chain of
    // round trips to memory.
    constexpr int kBatch = 8;
    constexpr int kCols = kSwiglu ? R / 2 : R;  // outputs per x row of this tile
    constexpr int kOut = M8 * kCols;
    const int e0 = threadIdx.x + rank * kThreads, estep = kThreads * splits;
    for (int eb = e0; eb < kOut; eb += estep * kBatch) {
        float v[kBatch], w[kBatch];  // the sums at [m][c] (gate sums for SwiGLU), and the up sums
#pragma unroll
        for (int u = 0; u < kBatch; ++u) v[u] = w[u] = 0.f;
        // Σ over the cluster's blocks in rank order, then their k groups: a fixed order.
        for (int b = 0; b < splits; ++b) {
            const float* src = splits > 1 ? cluster_peer(red, b) : red;
#pragma unroll
            for (int u = 0; u < kBatch; ++u) {
                const int e = eb + u * estep;
                if (e < kOut) {
                    const int m = e / kCols, c = e % kCols;
#pragma unroll
                    for (int q = 0; q < KG; ++q) {
                        const float* row = src + (q * M8 + m) * RS;
                        if constexpr (kSwiglu) {
                            v[u] += row[2 * c];
                            w[u] += row[2 * c + 1];
                        } else {
                            v[u] += row[c];
                        }
                    }
                }
            }
        }
        if constexpr (kSwiglu) {
            const int I = N / 2, i_base = n_base / 2;
#pragma unroll
            for (int u = 0; u < kBatch; ++u) {
                const int e = eb + u * estep, m = e / kCols, i = i_base + e % kCols;
                if (e < kOut && m < M && i < I)
                    y_bf16[size_t(m) * I + i] = f32_to_bf16_bits(v[u] / (1.f + __expf(-v[u])) * w[u]);
            }
        } else {
            float bv[kBatch], rv[kBatch];
#pragma unroll
            for (int u = 0; u < kBatch; ++u) {
                const int e = eb + u * estep, m = e / kCols, n = n_base + e % kCols;
                const bool live = e < kOut && m < M && n < N;
                bv[u] = live && bias ? bf16_bits_to_f32(bias[n]) : 0.f;
                rv[u] = live && residual ? residual[size_t(m) * N + n] : 0.f;
            }
#pragma unroll
            for (int u = 0; u < kBatch; ++u) {
                const int e = eb + u * estep, m = e / kCols, n = n_base + e % kCols;
                if (e < kOut && m < M && n < N) {
                    const float o = (v[u] + bv[u]) + rv[u];  // bias, then residual, as gemv_bf16 adds them
                    if (y_f32)
                        y_f32[size_t(m) * N + n] = o;
                    else
                        y_bf16[size_t(m) * N + n] = f32_to_bf16_bits(o);
                }
            }
        }
    }
    if (splits > 1) cluster_sync();  // keep this block's partials alive until the whole cluster has read them
}

// MX: x tiles of 8 rows (M ≤ 8·MX); RG: 16-row weight groups per block; kSwiglu: W holds interleaved
// gate/up rows and the output is act (y_bf16, [M, N/2]). splits: blocks per cluster sharing one row tile,
// each taking a contiguous share of the K slices (the launcher keeps splits ≤ the number of slices).
// Two blocks per SM (≤ 128 registers, ≤ 96 KiB shared memory each) keep enough weight bytes in flight.
template <int MX, int RG, bool kSwiglu>
__global__ void __launch_bounds__(kThreads, 2)
    gemm_small_kernel(const uint16_t* __restrict__ W, const uint16_t* __restrict__ x,
                      const uint16_t* __restrict__ bias, const float* residual, float* y_f32,
                      uint16_t* y_bf16, int M, int N, int K, int splits) {
    constexpr int R = 16 * RG;  // weight rows per block
    constexpr int M8 = 8 * MX;  // staged x rows
    constexpr int kStageChunks = M8 * kRowChunks;
    constexpr int kRing = ring_steps(MX);
    extern __shared__ uint4 smem[];

    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
    const int rg = warp % RG, kg = warp / RG;
    const int tile = blockIdx.x / splits,
              rank = blockIdx.x - tile * splits;  // rank: this block's cluster rank
    const int n_base = tile * R;
    const int nsl_all = (K + kSliceK - 1) / kSliceK;
    const int sl_lo = rank * nsl_all / splits,
              nsl = (rank + 1) * nsl_all / splits - sl_lo;  // this block's slices
    const int nsteps = nsl * RG;                            // k steps of 32 per warp
    // Blocks start at different slices so they do not all read the same x lines from L2 at once.
    const int rot = tile % nsl;
    const int row0 = n_base + 16 * rg + g;
    const bool ok0 = row0 < N, ok1 = row0 + 8 < N;
    const uint16_t* w0 = W + size_t(ok0 ? row0 : 0) * K + 8 * t;
    const uint16_t* w1 = W + size_t(ok1 ? row0 + 8 : 0) * K + 8 * t;

    auto slice_of = [&](int s) {
        const int sl = s + rot;
        return sl_lo + (sl >= nsl ? sl - nsl : sl);
    };
    // This lane's weights of step j: rows row0 and row0 + 8, 8 k values each (zero past N or K).
    auto load_step = [&](int j, uint4& a, uint4& b) {
        const int k = slice_of(j / RG) * kSliceK + (kg * RG + j % RG) * 32;
        const bool in_k = k + 8 * t < K;
        a = ok0 && in_k ? load_weights(w0 + k) : make_uint4(0, 0, 0, 0);
        b = ok1 && in_k ? load_weights(w1 + k) : make_uint4(0, 0, 0, 0);
    };
    // x[0:M8, slice] into ring stage s % kStages; one commit group per call, empty past the last slice.
    auto stage_x = [&](int s) {
        if (s < nsl) {
            copy_x_slice<MX>(smem + (s % kStages) * kStageChunks, x, M, K, slice_of(s) * kSliceK);
        }
        cp_async_commit();
    };

    pdl_trigger();
    uint4 wa[kRing], wb[kRing];
#pragma unroll
    for (int p = 0; p < kRing; ++p) {
        wa[p] = wb[p] = make_uint4(0, 0, 0, 0);
        if (p < nsteps) load_step(p, wa[p], wb[p]);
    }
    pdl_wait();  // the weights above are in flight while the kernel that writes x finishes
#pragma unroll
    for (int s = 0; s < kStages - 1; ++s) stage_x(s);

    float acc[MX][4] = {};

    for (int jb = 0; jb < nsteps; jb += kRing) {
#pragma unroll
        for (int p = 0; p < kRing; ++p) {
            const int j = jb + p;
            if (j < nsteps) {  // uniform across the block
                if (j % RG == 0) {
                    // Slice j / RG has landed for every thread, and every warp is done with the stage the
                    // next cp.async overwrites (the one read in the previous slice).
                    cp_async_wait<kStages - 2>();
                    __syncthreads();
                    stage_x(j / RG + kStages - 1);
                }
                const uint4* xs = smem + ((j / RG) % kStages) * kStageChunks;
                const int c = 4 * (kg * RG + j % RG) + t;
#pragma unroll
                for (int mt = 0; mt < MX; ++mt) {
                    const uint4 b = xs[swizzle(8 * mt + g, c)];
                    mma_k32(acc[mt], wa[p], wb[p], b);
                }
                if (j + kRing < nsteps) load_step(j + kRing, wa[p], wb[p]);
            }
        }
    }

    finish<MX, RG, kSwiglu>(acc, rg, kg, n_base, rank, splits, bias, residual, y_f32, y_bf16, M, N, smem);
}

// Variant B: the weights are staged through shared memory as well (cp.async), so every warp instruction
// fetches whole 128-byte lines (2 rows × 256 bytes) instead of 8 rows × 64 bytes as the register ring
// does; fragments are then read from shared memory. 128 weight rows per block (8 warps × 16 rows, one k
// group), K split only across a cluster. Units of 128 k (4 steps per warp): the weights of unit u + 2
// and, every other unit, the x slice they need are one cp.async group, issued while unit u is computed.
// Needs 96 KiB + MX·8 KiB of shared memory: one block per SM, Hopper / A100 only.
constexpr int kUnitK = 128;
constexpr int kUnitChunks = 128 * (kUnitK / 8);  // 16-byte chunks of one unit of 128 weight rows (32 KiB)
constexpr int kWStages = 3;                      // weight ring
constexpr int kXStagesB = 2;                     // x ring (slices)
constexpr int kAhead = 2;                        // units in flight ahead of the one computed

size_t smem_bytes_b(int mx) {
    return (size_t(kWStages) * kUnitChunks + size_t(kXStagesB) * 8 * mx * kRowChunks) * 16;
}

template <int MX, bool kSwiglu>
__global__ void __launch_bounds__(kThreads, 1)
    gemm_small_smem_kernel(const uint16_t* __restrict__ W, const uint16_t* __restrict__ x,
                           const uint16_t* __restrict__ bias, const float* residual, float* y_f32,
                           uint16_t* y_bf16, int M, int N, int K, int splits) {
    constexpr int M8 = 8 * MX;
    constexpr int kXChunks = M8 * kRowChunks;
    extern __shared__ uint4 smem[];
    uint4* wring = smem;
    uint4* xring = smem + kWStages * kUnitChunks;

    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
    const int tile = blockIdx.x / splits, rank = blockIdx.x - tile * splits;
    const int n_base = tile * 128;
    const int nsl_all = (K + kSliceK - 1) / kSliceK;
    const int sl_lo = rank * nsl_all / splits, nsl = (rank + 1) * nsl_all / splits - sl_lo;
    const int nunits = 2 * nsl;
    const int rot = tile % nsl;
    auto slice_of = [&](int s) {
        const int sl = s + rot;
        return sl_lo + (sl >= nsl ? sl - nsl : sl);
    };
    // Unit u: weight rows [n_base, n_base + 128) × k [k0, k0 + 128) into ring stage u % kWStages, rows
    // swizzled like the x rows; zero past N and K.
    auto issue_w = [&](int u) {
        if (u >= nunits) return;
        uint4* dst = wring + (u % kWStages) * kUnitChunks;
        const int k0 = slice_of(u >> 1) * kSliceK + (u & 1) * kUnitK;
#pragma unroll
        for (int it = 0; it < kUnitChunks / kThreads; ++it) {
            const int q = it * kThreads + threadIdx.x, r = q >> 4, c = q & 15;
            const int n = n_base + r, k = k0 + 8 * c;
            const bool valid = n < N && k < K;
            cp_async16_stream(dst + r * 16 + (c ^ ((r & 1) << 2)), valid ? W + size_t(n) * K + k : W, valid);
        }
    };
    auto issue_x = [&](int s) {
        if (s >= nsl) return;
        copy_x_slice<MX>(xring + (s % kXStagesB) * kXChunks, x, M, K, slice_of(s) * kSliceK);
    };

    pdl_trigger();
    issue_w(0);
    issue_w(1);
    pdl_wait();  // the first weights are in flight while the kernel that writes x finishes
    issue_x(0);
    cp_async_commit();  // group 0: units 0 and 1 and slice 0
    cp_async_commit();  // group 1: empty, so that unit u always waits for group u

    float acc[MX][4] = {};
    const int r0 = 16 * warp + g, r1 = r0 + 8;
    for (int u = 0; u < nunits; ++u) {
        // Unit u (and its slice) has landed for every thread, and every warp is done with unit u − 1, whose
        // weight stage unit u + 2 overwrites (and, at an even u + 2, with the x slice it overwrites).
        cp_async_wait<kAhead - 1>();
        __syncthreads();
        issue_w(u + kAhead);
        if (((u + kAhead) & 1) == 0) issue_x((u + kAhead) >> 1);
        cp_async_commit();
        const uint4* ws = wring + (u % kWStages) * kUnitChunks;
        const uint4* xs = xring + ((u >> 1) % kXStagesB) * kXChunks;
#pragma unroll
        for (int h = 0; h < kUnitK / 32; ++h) {
            const int c = 4 * h + t;
            const uint4 wa = ws[r0 * 16 + (c ^ ((r0 & 1) << 2))];
            const uint4 wb = ws[r1 * 16 + (c ^ ((r1 & 1) << 2))];
#pragma unroll
            for (int mt = 0; mt < MX; ++mt) {
                const uint4 b = xs[swizzle(8 * mt + g, 16 * (u & 1) + c)];
                mma_k32(acc[mt], wa, wb, b);
            }
        }
    }
    finish<MX, 8, kSwiglu>(acc, warp, 0, n_base, rank, splits, bias, residual, y_f32, y_bf16, M, N, smem);
}

using KernelFn = void (*)(const uint16_t*, const uint16_t*, const uint16_t*, const float*, float*, uint16_t*,
                          int, int, int, int);

template <int RG, bool kSwiglu>
KernelFn pick_mx(int mx) {
    return with_value<1, 2, 3, 4, 5, 6, 7, 8>(
        mx, [](auto m) -> KernelFn { return gemm_small_kernel<decltype(m)::value, RG, kSwiglu>; });
}

template <bool kSwiglu>
KernelFn pick(int mx, int rg) {
    return with_value<1, 2, 4, 8>(rg, [&](auto r) { return pick_mx<decltype(r)::value, kSwiglu>(mx); });
}

template <bool kSwiglu>
KernelFn pick_smem(int mx) {
    return with_value<1, 2, 3, 4, 5, 6, 7, 8>(
        mx, [](auto m) -> KernelFn { return gemm_small_smem_kernel<decltype(m)::value, kSwiglu>; });
}

struct DeviceLimits {
    int sms = 132;
    bool clusters = false;
    size_t smem_optin = 48 * 1024;
};

DeviceLimits device_limits() {
    DeviceLimits d;
    int device = 0, sms = 0, cluster = 0, optin = 0;
    if (cudaGetDevice(&device) != cudaSuccess ||
        cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device) != cudaSuccess ||
        cudaDeviceGetAttribute(&cluster, cudaDevAttrClusterLaunch, device) != cudaSuccess ||
        cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device) != cudaSuccess) {
        cudaGetLastError();
        return d;
    }
    d.sms = sms;
    d.clusters = cluster != 0;
    d.smem_optin = size_t(optin);
    return d;
}

struct LaunchShape {
    int rg = 1, splits = 1;
    bool smem_weights = false;  // variant B (gemm_small_smem_kernel), always 128 rows per block
};

std::atomic<int> g_forced_rg{0}, g_forced_splits{1}, g_variant{0};

// Variant B when asked for (gemm_small_force_variant, or TESSERA_GEMM_SMALL_SMEM_W=1) and it fits.
bool want_smem_weights(int M, const DeviceLimits& d) {
    static const bool env = [] {
        const char* v = std::getenv("TESSERA_GEMM_SMALL_SMEM_W");
        return v && v[0] == '1';
    }();
    const int v = g_variant.load(std::memory_order_relaxed);
    return (v == 2 || (v == 0 && env)) && d.smem_optin >= smem_bytes_b((M + 7) / 8);
}

// Blocks per cluster splitting K for `tiles` row tiles and nsl slices, with `slots` blocks resident at once:
// the fewest slice-times in all, counted as waves × (slices per block + about one for a block's start and
// end); ties go to fewer splits.
int best_split(int64_t tiles, int nsl, int slots, int max_splits) {
    int64_t best = INT64_MAX;
    int split = 1;
    for (int sp = 1; sp <= std::min(max_splits, nsl); ++sp) {
        const int64_t waves = (tiles * sp + slots - 1) / slots, cost = waves * ((nsl + sp - 1) / sp + 1);
        if (cost < best) {
            best = cost;
            split = sp;
        }
    }
    return split;
}

// Launch shape: a forced one (benchmark, check), else the tallest blocks (fewest x re-reads) with K split
// over a cluster to fill the GPU (Hopper), else without clusters the tallest blocks that still fill it.
LaunchShape pick_shape(int M, int N, int K) {
    const DeviceLimits d = device_limits();
    const int nsl = (K + kSliceK - 1) / kSliceK;
    LaunchShape shape;
    if (want_smem_weights(M, d)) {  // 128 rows, one block per SM
        shape.rg = 8;
        shape.smem_weights = true;
        if (g_forced_rg.load(std::memory_order_relaxed)) {
            shape.splits =
                std::min({g_forced_splits.load(std::memory_order_relaxed), nsl, d.clusters ? 8 : 1});
            return shape;
        }
        shape.splits = best_split(int64_t((N + 127) / 128), nsl, d.sms, d.clusters ? 8 : 1);
        return shape;
    }
    if (const int rg = g_forced_rg.load(std::memory_order_relaxed)) {
        shape.rg = rg;
        shape.splits = std::min({g_forced_splits.load(std::memory_order_relaxed), nsl, d.clusters ? 8 : 1});
        return shape;
    }
    if (d.clusters) {  // 128-row blocks (least x traffic), K split to fill two blocks per SM
        shape.rg = 8;
        shape.splits = best_split(int64_t((N + 127) / 128), nsl, 2 * d.sms, 8);
        return shape;
    }
    // No clusters: the tallest blocks that still give about one block per SM when a warp keeps 8 weight
    // steps in flight (M ≤ 32), two when it keeps 4.
    const int per_sm = ring_steps((M + 7) / 8) >= 8 ? 1 : 2;
    const int64_t target = int64_t(d.sms) * per_sm * 7 / 8;
    for (int rg = 8; rg >= 1; rg /= 2)
        if (int64_t((N + 16 * rg - 1) / (16 * rg)) >= target) return {rg, 1, false};
    return shape;
}

size_t smem_bytes(int mx, int rg) {
    const size_t ring = size_t(kStages) * 8 * mx * kRowChunks * 16;
    const size_t red = size_t(kWarps / rg) * 8 * mx * red_stride(16 * rg) * sizeof(float);
    return ring > red ? ring : red;
}

// Raises a kernel's dynamic shared-memory limit once per device. cudaFuncSetAttribute is not a stream
// operation, but gemm_small_prepare() does it ahead for callers that capture graphs.
Status allow_smem(KernelFn kernel, size_t bytes) {
    if (bytes <= 48 * 1024) return {};
    static std::mutex mutex;
    static std::vector<std::pair<KernelFn, int>> done;
    int device = 0;
    TESSERA_TRY(check(cudaGetDevice(&device), "gemm_small: cudaGetDevice"));
    std::lock_guard<std::mutex> lock(mutex);
    for (const auto& d : done)
        if (d.first == kernel && d.second == device) return {};
    TESSERA_TRY(check(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(bytes)),
                      "gemm_small: cudaFuncSetAttribute"));
    done.emplace_back(kernel, device);
    return {};
}

bool aligned16(const void* p) {
    return (reinterpret_cast<uintptr_t>(p) & 15) == 0;
}

template <bool kSwiglu>
Status launch(const bf16_t* W, const bf16_t* x, const bf16_t* bias, const float* residual, float* y_f32,
              bf16_t* y_bf16, int M, int N, int K, cudaStream_t stream) {
    const int mx = (M + 7) / 8;
    const LaunchShape shape = pick_shape(M, N, K);
    const KernelFn kernel = shape.smem_weights ? pick_smem<kSwiglu>(mx) : pick<kSwiglu>(mx, shape.rg);
    const size_t smem = shape.smem_weights ? smem_bytes_b(mx) : smem_bytes(mx, shape.rg);
    TESSERA_TRY(allow_smem(kernel, smem));
    const int tiles = (N + 16 * shape.rg - 1) / (16 * shape.rg);
    cudaLaunchConfig_t config{};
    config.gridDim = dim3(unsigned(tiles * shape.splits));
    config.blockDim = dim3(kThreads);
    config.dynamicSmemBytes = smem;
    config.stream = stream;
    cudaLaunchAttribute attribute[2];
    unsigned n = 0;
    if (shape.splits > 1) {
        attribute[n].id = cudaLaunchAttributeClusterDimension;
        attribute[n].val.clusterDim.x = unsigned(shape.splits);
        attribute[n].val.clusterDim.y = 1;
        attribute[n].val.clusterDim.z = 1;
        ++n;
    }
    if (pdl_enabled()) {
        attribute[n].id = cudaLaunchAttributeProgrammaticStreamSerialization;
        attribute[n].val.programmaticStreamSerializationAllowed = 1;
        ++n;
    }
    config.attrs = attribute;
    config.numAttrs = n;
    // The error, if any, is picked up by TESSERA_LAUNCH_CHECK.
    (void)cudaLaunchKernelEx(&config, kernel, W, x, bias, residual, y_f32, y_bf16, M, N, K, shape.splits);
    return TESSERA_LAUNCH_CHECK(kSwiglu ? "gemm_small_swiglu_bf16" : "gemm_small_bf16");
}

template <bool kSwiglu>
Status prepare_all() {
    const size_t optin = device_limits().smem_optin;
    for (int mx = 1; mx <= 8; ++mx) {
        for (int rg = 1; rg <= 8; rg *= 2) TESSERA_TRY(allow_smem(pick<kSwiglu>(mx, rg), smem_bytes(mx, rg)));
        if (smem_bytes_b(mx) <= optin) TESSERA_TRY(allow_smem(pick_smem<kSwiglu>(mx), smem_bytes_b(mx)));
    }
    return {};
}

std::string shape(int M, int N, int K) {
    return "(M=" + std::to_string(M) + ", N=" + std::to_string(N) + ", K=" + std::to_string(K) + ")";
}

}  // namespace

Status gemm_small_prepare() {
    TESSERA_TRY(prepare_all<false>());
    return prepare_all<true>();
}

void gemm_small_force_shape(int rows_per_block, int k_splits) {
    const int rg = rows_per_block / 16;
    g_forced_splits.store(k_splits >= 1 && k_splits <= 8 ? k_splits : 1, std::memory_order_relaxed);
    g_forced_rg.store(rows_per_block == 16 * rg && (rg == 1 || rg == 2 || rg == 4 || rg == 8) ? rg : 0,
                      std::memory_order_relaxed);
}

void gemm_small_force_variant(int variant) {
    g_variant.store(variant == 1 || variant == 2 ? variant : 0, std::memory_order_relaxed);
}

void gemm_small_launch_shape(int M, int N, int K, int* rows_per_block, int* k_splits) {
    const LaunchShape shape = pick_shape(M, N, K);
    *rows_per_block = 16 * shape.rg;
    *k_splits = shape.splits;
}

bool gemm_small_supported(int M, int N, int K) {
    return M >= 1 && M <= kGemmSmallMaxRows && N >= 1 && K >= 8 && K % 8 == 0;
}

Status gemm_small_bf16(const bf16_t* W, const bf16_t* x, const bf16_t* bias, const float* residual,
                       float* y_f32, bf16_t* y_bf16, int M, int N, int K, cudaStream_t stream) {
    if (!gemm_small_supported(M, N, K) || !W || !x || (y_f32 == nullptr) == (y_bf16 == nullptr) ||
        !aligned16(W) || !aligned16(x))
        return make_error(ErrorCode::InvalidArgument, "gemm_small_bf16: bad arguments " + shape(M, N, K));
    return launch<false>(W, x, bias, residual, y_f32, y_bf16, M, N, K, stream);
}

Status gemm_small_swiglu_bf16(const bf16_t* W_gu, const bf16_t* x, bf16_t* act, int M, int I, int K,
                              cudaStream_t stream) {
    if (I < 1 || I >= (1 << 30) || !gemm_small_supported(M, 2 * I, K) || !W_gu || !x || !act ||
        !aligned16(W_gu) || !aligned16(x))
        return make_error(ErrorCode::InvalidArgument,
                          "gemm_small_swiglu_bf16: bad arguments " + shape(M, 2 * I, K));
    return launch<true>(W_gu, x, nullptr, nullptr, nullptr, act, M, 2 * I, K, stream);
}

}  // namespace tessera::cuda
