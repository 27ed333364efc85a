// Causal prefill attention in one kernel, FlashAttention-2 style. A block owns 64 query rows of one head
// (16 per warp) and walks the key tiles up to its causal limit: K and V tiles of 64 keys are staged in
// shared memory by cp.async one tile ahead, S = Q·Kᵀ and O += P·V run on mma.sync m16n8k16 (bf16 in, f32
// accumulate), and the softmax is the online one (running max and sum per row, O rescaled when the max
// grows). The score matrix never leaves registers, which is what the cuBLAS path (f32 [nh, T, L] scores,
// then bf16 probabilities, both through memory) pays for. Only mma.sync, ldmatrix and cp.async are used, so
// it runs on sm_80 and newer.
#include <cmath>
#include <cstdint>
#include <string>

#include "backend/cuda/attention_prefill.h"
#include "backend/cuda/cuda_common.cuh"

namespace tessera::cuda {
namespace {

constexpr int kBlockM = 64;  // query rows per block
constexpr int kBlockN = 64;  // keys per tile
constexpr int kWarps = kBlockM / 16;
constexpr int kThreads = kWarps * 32;

__device__ __forceinline__ uint32_t smem_u32(const void* p) {
    return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// 16-byte copy global → shared that bypasses L1; with valid false it writes zeros and reads nothing, which
// is how rows past the sequence (or past T) are filled without touching memory that may hold anything.
__device__ __forceinline__ void cp_async16(uint32_t dst, const void* src, bool valid) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(valid ? 16 : 0));
}
__device__ __forceinline__ void cp_async_commit() {
    asm volatile("cp.async.commit_group;\n" ::);
}
template <int kPending>
__device__ __forceinline__ void cp_async_wait() {
    asm volatile("cp.async.wait_group %0;\n" ::"n"(kPending) : "memory");
}

__device__ __forceinline__ void ldsm_x4(uint32_t addr, uint32_t& r0, uint32_t& r1, uint32_t& r2,
                                        uint32_t& r3) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3)
                 : "r"(addr));
}
__device__ __forceinline__ void ldsm_x4_trans(uint32_t addr, uint32_t& r0, uint32_t& r1, uint32_t& r2,
                                              uint32_t& r3) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3)
                 : "r"(addr));
}

// c += a·b for one 16×8 tile: a is 16×16 bf16 (row major), b 16×8 bf16 (column major), c f32.
__device__ __forceinline__ void mma_bf16(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
        "{%0, %1, %2, %3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

__device__ __forceinline__ float fast_exp2(float x) {
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
    return y;
}

__device__ __forceinline__ uint32_t pack_bf16x2(float lo, float hi) {
    const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<const uint32_t*>(&v);
}

// Element offset of 16-byte chunk c of row r in a [64, kHd] tile. The chunk index is XORed with r mod 8 so
// the eight row addresses of one ldmatrix (same column, rows kHd·2 bytes apart) land in eight different
// bank groups instead of one.
template <int kHd>
__device__ __forceinline__ int swz(int r, int c) {
    return r * kHd + ((c ^ (r & 7)) << 3);
}

// Stages rows [0, 64) of a [rows, kHd] matrix with row stride `stride` (elements) into a swizzled tile;
// rows ≥ rows_valid become zeros.
template <int kHd>
__device__ __forceinline__ void load_tile(uint32_t tile, const uint16_t* src, size_t stride, int rows_valid) {
    constexpr int kChunks = kHd / 8;
#pragma unroll
    for (int j = 0; j < kBlockN * kChunks / kThreads; ++j) {
        const int i = j * kThreads + int(threadIdx.x);
        const int r = i / kChunks, c = i % kChunks;
        const bool valid = r < rows_valid;
        cp_async16(tile + 2u * uint32_t(swz<kHd>(r, c)), valid ? src + size_t(r) * stride + c * 8 : src,
                   valid);
    }
}

// Shared memory: K tiles 0 and 1, then V tiles 0 and 1 (double buffers). The Q tile is staged in V tile 1,
// which is first written for key tile 1, after every warp holds Q in registers; the output is staged in K
// tile 0 once all tiles are done.
template <int kHd>
__global__ void __launch_bounds__(kThreads)
    prefill_attention_kernel(const uint16_t* __restrict__ q, const uint16_t* __restrict__ k_cache,
                             const uint16_t* __restrict__ v_cache, int slot, int T, int pos0, int nh, int nkv,
                             int max_seq, float scale_log2, uint16_t* __restrict__ out) {
    constexpr int kTile = kBlockN * kHd;  // elements per tile
    constexpr int kSteps = kHd / 16;      // k-steps of Q·Kᵀ, and pairs of 8-wide d tiles in P·V
    extern __shared__ __align__(128) uint16_t smem[];
    pdl_trigger();
    pdl_wait();

    const int h = blockIdx.x;
    // The longest rows first: blocks near the end of the sequence walk the most key tiles, so starting them
    // early keeps the tail of the grid short.
    const int m0 = (gridDim.y - 1 - blockIdx.y) * kBlockM;
    const int L = pos0 + T;
    const int kv = h / (nh / nkv);
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int n_tiles = (min(L, pos0 + m0 + kBlockM) + kBlockN - 1) / kBlockN;
    const size_t head_off = (size_t(slot) * nkv + kv) * size_t(max_seq) * kHd;
    const uint16_t* k_head = k_cache + head_off;
    const uint16_t* v_head = v_cache + head_off;
    const uint32_t sK = smem_u32(smem), sV = sK + 2u * 2u * kTile;
    const uint32_t sQ = sV + 2u * kTile;

    load_tile<kHd>(sQ, q + (size_t(m0) * nh + h) * kHd, size_t(nh) * kHd, T - m0);
    load_tile<kHd>(sK, k_head, kHd, L);
    cp_async_commit();
    load_tile<kHd>(sV, v_head, kHd, L);
    cp_async_commit();
    cp_async_wait<1>();
    __syncthreads();

    // Q fragments for all k-steps stay in registers for the whole walk.
    uint32_t qf[kSteps][4];
#pragma unroll
    for (int ks = 0; ks < kSteps; ++ks)
        ldsm_x4(sQ + 2u * swz<kHd>(warp * 16 + (lane & 15), ks * 2 + (lane >> 4)), qf[ks][0], qf[ks][1],
                qf[ks][2], qf[ks][3]);

    // Each thread holds rows r0 = lane/4 and r0 + 8 of the warp's 16, columns 2·(lane%4) + {0, 1} of every
    // 8-wide tile (the mma accumulator layout).
    float o[2 * kSteps][4];
#pragma unroll
    for (int i = 0; i < 2 * kSteps; ++i) o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.f;
    float row_max[2] = {-INFINITY, -INFINITY};
    float row_sum[2] = {0.f, 0.f};  // this thread's part; the quad's four parts are added at the end
    const int warp_pos = pos0 + m0 + warp * 16;  // position of the warp's first query row
    const int pos_r0 = warp_pos + (lane >> 2), pos_r1 = pos_r0 + 8;

    for (int n = 0; n < n_tiles; ++n) {
        const int kb = n * kBlockN;
        const uint32_t sKn = sK + 2u * uint32_t((n & 1) * kTile), sVn = sV + 2u * uint32_t((n & 1) * kTile);
        if (n > 0) {
            cp_async_wait<1>();  // K tile n has landed (V tile n may still be in flight)
            __syncthreads();
        }
        // K tile n+1 goes where K tile n−1 was: every warp finished with it before the barrier above.
        if (n + 1 < n_tiles)
            load_tile<kHd>(sK + 2u * uint32_t(((n + 1) & 1) * kTile), k_head + size_t(kb + kBlockN) * kHd,
                           kHd, L - kb - kBlockN);
        cp_async_commit();

        // A warp whose rows all precede this tile only takes part in the loads and barriers.
        const bool active = kb <= warp_pos + 15;
        float s[8][4];
        if (active) {
#pragma unroll
            for (int i = 0; i < 8; ++i) s[i][0] = s[i][1] = s[i][2] = s[i][3] = 0.f;
#pragma unroll
            for (int ks = 0; ks < kSteps; ++ks) {
#pragma unroll
                for (int np = 0; np < 4; ++np) {
                    // Matrices: keys +0..7 / d +0..7, keys +0..7 / d +8..15, keys +8..15 / d +0..7, keys
                    // +8..15 / d +8..15.
                    uint32_t b0, b1, b2, b3;
                    ldsm_x4(sKn + 2u * swz<kHd>(np * 16 + ((lane >> 4) << 3) + (lane & 7),
                                                ks * 2 + ((lane >> 3) & 1)),
                            b0, b1, b2, b3);
                    mma_bf16(s[2 * np], qf[ks], b0, b1);
                    mma_bf16(s[2 * np + 1], qf[ks], b2, b3);
                }
            }
            // Causal mask, needed only where the tile reaches past the warp's first row. Rows past T (the
            // last block's padding) are masked like real rows; their keys past L are zeros, and they are
            // never stored.
            if (kb + kBlockN - 1 > warp_pos) {
#pragma unroll
                for (int nt = 0; nt < 8; ++nt) {
                    const int key = kb + nt * 8 + 2 * (lane & 3);
                    if (key > pos_r0) s[nt][0] = -INFINITY;
                    if (key + 1 > pos_r0) s[nt][1] = -INFINITY;
                    if (key > pos_r1) s[nt][2] = -INFINITY;
                    if (key + 1 > pos_r1) s[nt][3] = -INFINITY;
                }
            }
            float mx[2] = {row_max[0], row_max[1]};
#pragma unroll
            for (int nt = 0; nt < 8; ++nt) {
                mx[0] = fmaxf(mx[0], fmaxf(s[nt][0], s[nt][1]));
                mx[1] = fmaxf(mx[1], fmaxf(s[nt][2], s[nt][3]));
            }
            float corr[2], shift[2];
#pragma unroll
            for (int i = 0; i < 2; ++i) {
                mx[i] = fmaxf(mx[i], __shfl_xor_sync(0xffffffffu, mx[i], 1));
                mx[i] = fmaxf(mx[i], __shfl_xor_sync(0xffffffffu, mx[i], 2));
                // Key 0 is in every row's range and tile 0 is walked first, so the max is finite from tile 0
                // on; the guard only keeps a fully masked row from turning into NaN.
                const float m = mx[i] == -INFINITY ? 0.f : mx[i];
                corr[i] = fast_exp2((row_max[i] - m) * scale_log2);
                row_max[i] = mx[i];
                shift[i] = m * scale_log2;
            }
            float part[2] = {0.f, 0.f};
#pragma unroll
            for (int nt = 0; nt < 8; ++nt) {
                s[nt][0] = fast_exp2(fmaf(s[nt][0], scale_log2, -shift[0]));
                s[nt][1] = fast_exp2(fmaf(s[nt][1], scale_log2, -shift[0]));
                s[nt][2] = fast_exp2(fmaf(s[nt][2], scale_log2, -shift[1]));
                s[nt][3] = fast_exp2(fmaf(s[nt][3], scale_log2, -shift[1]));
                part[0] += s[nt][0] + s[nt][1];
                part[1] += s[nt][2] + s[nt][3];
            }
            row_sum[0] = row_sum[0] * corr[0] + part[0];
            row_sum[1] = row_sum[1] * corr[1] + part[1];
#pragma unroll
            for (int i = 0; i < 2 * kSteps; ++i) {
                o[i][0] *= corr[0];
                o[i][1] *= corr[0];
                o[i][2] *= corr[1];
                o[i][3] *= corr[1];
            }
        }

        cp_async_wait<1>();  // V tile n has landed (K tile n+1 may still be in flight)
        __syncthreads();
        // V tile n+1 goes where V tile n−1 (or, for n = 0, the Q tile) was.
        if (n + 1 < n_tiles)
            load_tile<kHd>(sV + 2u * uint32_t(((n + 1) & 1) * kTile), v_head + size_t(kb + kBlockN) * kHd,
                           kHd, L - kb - kBlockN);
        cp_async_commit();

        if (active) {
#pragma unroll
            for (int kk = 0; kk < 4; ++kk) {
                // The accumulators of score tiles 2kk and 2kk+1 are, rounded to bf16, the A fragment of keys
                // 16kk..16kk+15.
                const uint32_t p[4] = {pack_bf16x2(s[2 * kk][0], s[2 * kk][1]),
                                       pack_bf16x2(s[2 * kk][2], s[2 * kk][3]),
                                       pack_bf16x2(s[2 * kk + 1][0], s[2 * kk + 1][1]),
                                       pack_bf16x2(s[2 * kk + 1][2], s[2 * kk + 1][3])};
#pragma unroll
                for (int dp = 0; dp < kSteps; ++dp) {
                    // Transposed matrices: keys +0..7 / d +0..7, keys +8..15 / d +0..7, keys +0..7 / d
                    // +8..15, keys +8..15 / d +8..15.
                    uint32_t b0, b1, b2, b3;
                    ldsm_x4_trans(sVn + 2u * swz<kHd>(kk * 16 + (((lane >> 3) & 1) << 3) + (lane & 7),
                                                      dp * 2 + (lane >> 4)),
                                  b0, b1, b2, b3);
                    mma_bf16(o[2 * dp], p, b0, b1);
                    mma_bf16(o[2 * dp + 1], p, b2, b3);
                }
            }
        }
    }
    cp_async_wait<0>();

    float inv[2];
#pragma unroll
    for (int i = 0; i < 2; ++i) {
        float l = row_sum[i];
        l += __shfl_xor_sync(0xffffffffu, l, 1);
        l += __shfl_xor_sync(0xffffffffu, l, 2);
        inv[i] = 1.f / l;
    }
    __syncthreads();  // every warp is done with the tiles: K tile 0 becomes the output staging area
    uint16_t* stage = smem;
    const int r0 = warp * 16 + (lane >> 2);
#pragma unroll
    for (int dn = 0; dn < 2 * kSteps; ++dn) {
        const int col = 2 * (lane & 3);
        *reinterpret_cast<uint32_t*>(stage + swz<kHd>(r0, dn) + col) =
            pack_bf16x2(o[dn][0] * inv[0], o[dn][1] * inv[0]);
        *reinterpret_cast<uint32_t*>(stage + swz<kHd>(r0 + 8, dn) + col) =
            pack_bf16x2(o[dn][2] * inv[1], o[dn][3] * inv[1]);
    }
    __syncwarp();
    // Each warp writes its own 16 rows back with 16-byte stores.
    constexpr int kChunks = kHd / 8;
#pragma unroll
    for (int j = 0; j < 16 * kChunks / 32; ++j) {
        const int i = j * 32 + lane;
        const int r = i / kChunks, c = i % kChunks;
        const int t = m0 + warp * 16 + r;
        if (t < T)
            *reinterpret_cast<uint4*>(out + (size_t(t) * nh + h) * kHd + c * 8) =
                *reinterpret_cast<const uint4*>(stage + swz<kHd>(warp * 16 + r, c));
    }
}

template <int kHd>
Status launch(const bf16_t* q, const bf16_t* k_cache, const bf16_t* v_cache, int slot, int T, int pos0,
              int nh, int nkv, int max_seq, float scale, bf16_t* out, cudaStream_t stream) {
    constexpr size_t smem = 4 * size_t(kBlockN) * kHd * sizeof(uint16_t);
    auto* kernel = prefill_attention_kernel<kHd>;
    // 64 KiB for hd 128 is over the default 48 KiB limit of dynamic shared memory; the call is a host-side
    // attribute (no stream work), so it is also fine while a graph is being captured.
    TESSERA_TRY(check(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem)),
                      "attention_prefill_flash: shared memory limit"));
    const dim3 grid(nh, (T + kBlockM - 1) / kBlockM);
    launch_kernel(kernel, grid, dim3(kThreads), smem, stream, q, k_cache, v_cache, slot, T, pos0, nh, nkv,
                  max_seq, scale * 1.4426950408889634f, out);
    return TESSERA_LAUNCH_CHECK("attention_prefill_flash");
}

bool aligned16(const void* p) {
    return (reinterpret_cast<uintptr_t>(p) & 15u) == 0;
}

}  // namespace

bool attention_prefill_supported(int hd) {
    return hd == 64 || hd == 128;
}

Status attention_prefill_flash(const bf16_t* q, const bf16_t* k_cache, const bf16_t* v_cache, int slot, int T,
                               int pos0, int nh, int nkv, int hd, int max_seq, float scale, bf16_t* out,
                               cudaStream_t stream) {
    if (!attention_prefill_supported(hd))
        return make_error(ErrorCode::Unsupported, "attention_prefill_flash: head dim " + std::to_string(hd));
    if (T < 0 || pos0 < 0 || slot < 0 || nh < 1 || nkv < 1 || nh % nkv != 0 || int64_t(pos0) + T > max_seq ||
        (T + kBlockM - 1) / kBlockM > 65535)
        return make_error(ErrorCode::InvalidArgument, "attention_prefill_flash: T " + std::to_string(T) +
                                                          ", pos0 " + std::to_string(pos0) + ", heads " +
                                                          std::to_string(nh) + "/" + std::to_string(nkv) +
                                                          ", max_seq " + std::to_string(max_seq));
    if (!aligned16(q) || !aligned16(k_cache) || !aligned16(v_cache) || !aligned16(out))
        return make_error(ErrorCode::InvalidArgument,
                          "attention_prefill_flash: pointers must be 16-byte aligned");
    if (T == 0) return {};
    return hd == 64 ? launch<64>(q, k_cache, v_cache, slot, T, pos0, nh, nkv, max_seq, scale, out, stream)
                    : launch<128>(q, k_cache, v_cache, slot, T, pos0, nh, nkv, max_seq, scale, out, stream);
}

}  // namespace tessera::cuda
