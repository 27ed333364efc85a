// GGUF block-quantized weights on the GPU: the decode matvec straight from the blocks and the bf16
// dequantization for prefill. Block layouts as described in backend/cpu/quant.cpp.
//
// Block sizes (18, 34, 144, 176, 210 bytes) do not line up with 16-byte loads, and a row need not start on
// a 16-byte boundary (Q6_K rows of 14 super-blocks are 2940 bytes). So each warp streams its rows (two by
// default) in rounds: the 16-byte-aligned chunks covering a round's whole blocks are loaded into registers
// (the next round's while the current one is decoded, which keeps eight loads in flight per lane), stored to
// the warp's slice of shared memory, and every lane then decodes groups of eight consecutive weights from
// there, so the bf16 activations are read with 16-byte loads too. Every weight is reused for all B rows of
// x, and every activation load for both weight rows.
//
// Dequantized values are formed with the same f32 operations, in the same order, as cpu::dequantize_row
// (__fmul_rn / __fsub_rn keep nvcc from contracting them into an FMA), so dequantize_bf16 matches it bit
// for bit and gemv_quant differs from an exact product only by f32 accumulation order.
#include <cuda_fp16.h>

#include <cstdlib>
#include <string>

#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/gemv_quant.h"

namespace tessera::cuda {
namespace {

constexpr int kWarpsPerBlock = 8;

template <QuantType T>
struct Layout;
template <>
struct Layout<QuantType::Q4_0> {
    static constexpr int elems = 32, bytes = 18;
};
template <>
struct Layout<QuantType::Q8_0> {
    static constexpr int elems = 32, bytes = 34;
};
template <>
struct Layout<QuantType::Q4_K> {
    static constexpr int elems = 256, bytes = 144;
};
template <>
struct Layout<QuantType::Q5_K> {
    static constexpr int elems = 256, bytes = 176;
};
template <>
struct Layout<QuantType::Q6_K> {
    static constexpr int elems = 256, bytes = 210;
};

// Blocks are 2-byte aligned wherever they are (W is 16-byte aligned, every block and row size is even), and
// so is every field read below.
__device__ __forceinline__ uint32_t ld_u16(const uint8_t* p) {
    return *reinterpret_cast<const uint16_t*>(p);
}

__device__ __forceinline__ float ld_f16(const uint8_t* p) {
    return __half2float(__ushort_as_half(static_cast<unsigned short>(ld_u16(p))));
}

// The eight bytes at p, byte i in bits 8·(i % 4) of word i / 4.
__device__ __forceinline__ uint2 ld8(const uint8_t* p) {
    return make_uint2(ld_u16(p) | ld_u16(p + 2) << 16, ld_u16(p + 4) | ld_u16(p + 6) << 16);
}

// The same with one 8-byte load where p allows it: Q4_K/Q5_K blocks (144, 176 bytes) keep their fields
// 8-byte aligned in rows that are 16-byte multiples, which holds for a whole warp at once, so the branch
// does not diverge. (The other block sizes are 2 mod 8: their lanes would split over both paths.)
__device__ __forceinline__ uint2 ld8_a8(const uint8_t* p) {
    if ((reinterpret_cast<uintptr_t>(p) & 7) == 0) return *reinterpret_cast<const uint2*>(p);
    return ld8(p);
}

__device__ __forceinline__ uint32_t byte_of(uint2 v, int i) {
    return ((i < 4 ? v.x : v.y) >> (8 * (i & 3))) & 0xffu;
}

// w[i] = the weight of element t + i of the block at blk (t a multiple of 8).
template <QuantType T>
__device__ __forceinline__ void decode8(const uint8_t* blk, int t, float (&w)[8]);

template <>
__device__ __forceinline__ void decode8<QuantType::Q4_0>(const uint8_t* blk, int t, float (&w)[8]) {
    const float d = ld_f16(blk);
    const uint2 q = ld8(blk + 2 + (t & 15));  // elements l and l + 16 share byte l
    const int shift = t >= 16 ? 4 : 0;
#pragma unroll
    for (int i = 0; i < 8; ++i) w[i] = __fmul_rn(d, float(int((byte_of(q, i) >> shift) & 15) - 8));
}

template <>
__device__ __forceinline__ void decode8<QuantType::Q8_0>(const uint8_t* blk, int t, float (&w)[8]) {
    const float d = ld_f16(blk);
    const uint2 q = ld8(blk + 2 + t);
#pragma unroll
    for (int i = 0; i < 8; ++i) w[i] = __fmul_rn(d, float(int8_t(byte_of(q, i))));
}

// Scale and min of sub-block j of a Q4_K/Q5_K super-block (the 12-byte packing k_scales in quant.cpp reads).
__device__ __forceinline__ void k_scale_min(const uint8_t* s, int j, uint32_t& sc, uint32_t& mn) {
    if (j < 4) {
        sc = s[j] & 63u;
        mn = s[j + 4] & 63u;
    } else {
        sc = (s[j + 4] & 0xFu) | ((s[j - 4] >> 6) << 4);
        mn = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
    }
}

template <>
__device__ __forceinline__ void decode8<QuantType::Q4_K>(const uint8_t* blk, int t, float (&w)[8]) {
    const int j = t >> 5, l0 = t & 31;
    uint32_t sc, mn;
    k_scale_min(blk + 4, j, sc, mn);
    const float dl = __fmul_rn(ld_f16(blk), float(sc)), ml = __fmul_rn(ld_f16(blk + 2), float(mn));
    const uint2 q = ld8_a8(blk + 16 + 32 * (j >> 1) + l0);
    const int shift = (j & 1) * 4;
#pragma unroll
    for (int i = 0; i < 8; ++i) w[i] = __fsub_rn(__fmul_rn(dl, float((byte_of(q, i) >> shift) & 15)), ml);
}

template <>
__device__ __forceinline__ void decode8<QuantType::Q5_K>(const uint8_t* blk, int t, float (&w)[8]) {
    const int j = t >> 5, l0 = t & 31;
    uint32_t sc, mn;
    k_scale_min(blk + 4, j, sc, mn);
    const float dl = __fmul_rn(ld_f16(blk), float(sc)), ml = __fmul_rn(ld_f16(blk + 2), float(mn));
    const uint2 h = ld8_a8(blk + 16 + l0);
    const uint2 q = ld8_a8(blk + 48 + 32 * (j >> 1) + l0);
    const int shift = (j & 1) * 4;
#pragma unroll
    for (int i = 0; i < 8; ++i) {
        const uint32_t v = ((byte_of(q, i) >> shift) & 15) | (((byte_of(h, i) >> j) & 1) << 4);
        w[i] = __fsub_rn(__fmul_rn(dl, float(v)), ml);
    }
}

template <>
__device__ __forceinline__ void decode8<QuantType::Q6_K>(const uint8_t* blk, int t, float (&w)[8]) {
    const int half = t >> 7, g = (t >> 5) & 3, l0 = t & 31;
    const uint2 lo = ld8(blk + 64 * half + 32 * (g & 1) + l0);
    const uint2 hi = ld8(blk + 128 + 32 * half + l0);
    const int lshift = g >= 2 ? 4 : 0;
    // The eight elements share one of the 16-element scales.
    const float ds = __fmul_rn(ld_f16(blk + 208), float(int8_t(blk[192 + 8 * half + 2 * g + (l0 >> 4)])));
#pragma unroll
    for (int i = 0; i < 8; ++i) {
        const int v = int(((byte_of(lo, i) >> lshift) & 15) | (((byte_of(hi, i) >> (2 * g)) & 3) << 4)) - 32;
        w[i] = __fmul_rn(ds, float(v));
    }
}

// The 16 bytes at W + at, of which only those before `end` exist (the allocation may stop there).
__device__ __forceinline__ uint4 load_chunk(const uint8_t* W, size_t at, size_t end) {
    if (at + 16 <= end) return __ldg(reinterpret_cast<const uint4*>(W + at));
    uint32_t v[4] = {0, 0, 0, 0};
#pragma unroll
    for (int i = 0; i < 16; ++i)
        if (at + i < end) v[i >> 2] |= uint32_t(W[at + i]) << (8 * (i & 3));
    return make_uint4(v[0], v[1], v[2], v[3]);
}

// RPW rows per warp, U 16-byte chunks per lane per row and round. The lane-to-element mapping is the same
// for every row, so each activation load serves all RPW rows: with 4-bit weights the activations are
// read 3.5× as many bytes as the weights (from L1), which would otherwise limit B = 1. `end` is the byte
// offset just past the last row's blocks.
template <QuantType T, int B, int U, int RPW>
__global__ void __launch_bounds__(kWarpsPerBlock * 32)
    gemv_quant_kernel(const uint8_t* __restrict__ W, size_t row_bytes, size_t end, const uint16_t* x,
                      const uint16_t* __restrict__ bias, const float* residual, float* y_f32,
                      uint16_t* y_bf16, int N, int K, int ldy) {
    using L = Layout<T>;
    constexpr int kBuf = 32 * U * 16;
    // Whole groups of 256 elements per round, so each round has a multiple of 32 octets; 15 bytes of the
    // buffer go to the misalignment of the round's start.
    constexpr int kGroupBlocks = 256 / L::elems;
    constexpr int kRoundBlocks = (kBuf - 15) / (L::bytes * kGroupBlocks) * kGroupBlocks;
    static_assert(kRoundBlocks > 0, "round buffer too small for one group of blocks");
    __shared__ uint4 smem[kWarpsPerBlock][RPW][32 * U];

    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int row0 = (blockIdx.x * kWarpsPerBlock + warp) * RPW;
    pdl_trigger();
    if (row0 >= N) return;  // only warp-level synchronisation below
    const int rows = min(RPW, N - row0);
    const int nb = K / L::elems;
    const int rounds = (nb + kRoundBlocks - 1) / kRoundBlocks;
    // Round r of row row0 + j: bytes [rs, rs + blocks·bytes) of W, loaded as the chunks from rs rounded down.
    auto round_start = [&](int j, int r) {
        return size_t(row0 + j) * row_bytes + size_t(r) * kRoundBlocks * L::bytes;
    };
    auto round_chunks = [&](size_t rs, int r) {
        const size_t re = rs + size_t(min(kRoundBlocks, nb - r * kRoundBlocks)) * L::bytes;
        return int((re - (rs & ~size_t(15)) + 15) >> 4);
    };

    uint4 reg[RPW][U];
    auto fetch = [&](int r) {
#pragma unroll
        for (int j = 0; j < RPW; ++j) {
            if (j >= rows) break;
            const size_t rs = round_start(j, r), a0 = rs & ~size_t(15);
            const int chunks = round_chunks(rs, r);
#pragma unroll
            for (int u = 0; u < U; ++u) {
                const int c = lane + 32 * u;
                if (c < chunks) reg[j][u] = load_chunk(W, a0 + 16 * size_t(c), end);
            }
        }
    };

    float acc[RPW][B];
#pragma unroll
    for (int j = 0; j < RPW; ++j)
#pragma unroll
        for (int b = 0; b < B; ++b) acc[j][b] = 0.f;
    fetch(0);  // the weights do not depend on the previous kernel: in flight while it finishes
    pdl_wait();
    const uint4* xs = after_wait(reinterpret_cast<const uint4*>(x));
    const int K8 = K >> 3;
    for (int r = 0; r < rounds; ++r) {
        const int blocks = min(kRoundBlocks, nb - r * kRoundBlocks);
        const uint8_t* base[RPW] = {};
        __syncwarp();  // every lane is done decoding the previous round
#pragma unroll
        for (int j = 0; j < RPW; ++j) {
            if (j >= rows) break;
            const size_t rs = round_start(j, r);
            const int chunks = round_chunks(rs, r);
#pragma unroll
            for (int u = 0; u < U; ++u)
                if (lane + 32 * u < chunks) smem[warp][j][lane + 32 * u] = reg[j][u];
            base[j] = reinterpret_cast<const uint8_t*>(smem[warp][j]) + (rs & 15);
        }
        __syncwarp();
        if (r + 1 < rounds) fetch(r + 1);
        const int octets = blocks * (L::elems / 8);
        const int k_round = r * kRoundBlocks * L::elems;
        for (int o = lane; o < octets; o += 32) {
            const int e = 8 * o;
            float w[RPW][8];
#pragma unroll
            for (int j = 0; j < RPW; ++j)
                if (j < rows) decode8<T>(base[j] + (e / L::elems) * L::bytes, e % L::elems, w[j]);
            const int k8 = (k_round + e) >> 3;
#pragma unroll
            for (int b = 0; b < B; ++b) {
                float xf[8];
                bf16x8_to_f32(ld_x(xs + size_t(b) * K8 + k8), xf);
#pragma unroll
                for (int j = 0; j < RPW; ++j)
#pragma unroll
                    for (int i = 0; i < 8; ++i) acc[j][b] = fmaf(w[j][i], xf[i], acc[j][b]);
            }
        }
    }
#pragma unroll
    for (int j = 0; j < RPW; ++j) {
#pragma unroll
        for (int b = 0; b < B; ++b) acc[j][b] = warp_sum(acc[j][b]);
        if (lane == 0 && j < rows) store_gemv_row<B>(row0 + j, acc[j], bias, residual, y_f32, y_bf16, ldy);
    }
}

// One thread per eight consecutive outputs, read straight from global memory (prefill: one pass per
// matrix, not worth staging). The values are formed before pdl_wait; only the store waits, since the
// previous kernel may still be reading `out` (a reused scratch buffer).
template <QuantType T>
__global__ void dequant_kernel(const uint8_t* __restrict__ W, size_t row_bytes, int N, int K,
                               uint16_t* __restrict__ out) {
    using L = Layout<T>;
    pdl_trigger();
    const size_t K8 = size_t(K) >> 3;
    const size_t idx = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
    const bool active = idx < size_t(N) * K8;
    uint4 packed = make_uint4(0, 0, 0, 0);
    size_t row = 0, e = 0;
    if (active) {
        row = idx / K8;
        e = (idx - row * K8) * 8;
        float w[8];
        decode8<T>(W + row * row_bytes + (e / L::elems) * L::bytes, int(e % L::elems), w);
        packed.x = f32_to_bf16_bits(w[0]) | uint32_t(f32_to_bf16_bits(w[1])) << 16;
        packed.y = f32_to_bf16_bits(w[2]) | uint32_t(f32_to_bf16_bits(w[3])) << 16;
        packed.z = f32_to_bf16_bits(w[4]) | uint32_t(f32_to_bf16_bits(w[5])) << 16;
        packed.w = f32_to_bf16_bits(w[6]) | uint32_t(f32_to_bf16_bits(w[7])) << 16;
    }
    pdl_wait();
    if (active) *reinterpret_cast<uint4*>(out + row * K + e) = packed;
}

template <QuantType T, int B, int RPW>
void launch_gemv(const uint8_t* W, size_t row_bytes, size_t end, const uint16_t* x, const uint16_t* bias,
                 const float* residual, float* y_f32, uint16_t* y_bf16, int N, int K, int ldy,
                 cudaStream_t stream) {
    // Eight chunks in flight per lane (as gemv_vec_kernel at small batch): one row with U = 8 or two rows
    // with U = 4, which also keeps the static shared memory at 32 KiB a block.
    constexpr int U = RPW == 1 && B <= 2 ? 8 : 4;
    constexpr int kRowsPerBlock = kWarpsPerBlock * RPW;
    launch_kernel(gemv_quant_kernel<T, B, U, RPW>, dim3((N + kRowsPerBlock - 1) / kRowsPerBlock),
                  dim3(kWarpsPerBlock * 32), 0, stream, W, row_bytes, end, x, bias, residual, y_f32, y_bf16,
                  N, K, ldy);
}

// Two rows per warp unless TESSERA_QUANT_RPW=1 asks for one at B = 1 (kept to measure the difference).
template <QuantType T>
void launch_gemv_b(int B, const uint8_t* W, size_t row_bytes, size_t end, const uint16_t* x,
                   const uint16_t* bias, const float* residual, float* y_f32, uint16_t* y_bf16, int N, int K,
                   int ldy, cudaStream_t stream) {
    const char* rpw = std::getenv("TESSERA_QUANT_RPW");
    const bool one_row = rpw && rpw[0] == '1';
    with_batch(B, [&](auto b) {
        if (decltype(b)::value == 1 && one_row)
            launch_gemv<T, 1, 1>(W, row_bytes, end, x, bias, residual, y_f32, y_bf16, N, K, ldy, stream);
        else
            launch_gemv<T, decltype(b)::value, 2>(W, row_bytes, end, x, bias, residual, y_f32, y_bf16, N, K,
                                                  ldy, stream);
    });
}

template <QuantType T>
void launch_dequant(const uint8_t* W, size_t row_bytes, int N, int K, uint16_t* out, cudaStream_t stream) {
    constexpr int kThreads = 256;
    const size_t work = size_t(N) * (size_t(K) >> 3);
    launch_kernel(dequant_kernel<T>, dim3(unsigned((work + kThreads - 1) / kThreads)), dim3(kThreads), 0,
                  stream, W, row_bytes, N, K, out);
}

// The checks gemv_quant and dequantize_bf16 share; empty when the arguments are usable.
std::string bad_layout(QuantType type, const void* W, size_t row_bytes, int N, int K) {
    if (!gpu_quant_supported(type)) return "type " + std::string(quant_name(type)) + " has no GPU kernel";
    const QuantTraits tr = quant_traits(type);
    if (N < 1 || K < 1 || K % tr.block_size != 0)
        return "K=" + std::to_string(K) + " is not a positive multiple of " + std::to_string(tr.block_size);
    if (row_bytes < size_t(K / tr.block_size * tr.block_bytes) || row_bytes % 2 != 0)
        return "row_bytes=" + std::to_string(row_bytes) + " does not hold K=" + std::to_string(K) +
               " (or is odd)";
    if (reinterpret_cast<uintptr_t>(W) & 15) return "W is not 16-byte aligned";
    return {};
}

}  // namespace

bool gpu_quant_supported(QuantType type) {
    switch (type) {
        case QuantType::Q4_0:
        case QuantType::Q8_0:
        case QuantType::Q4_K:
        case QuantType::Q5_K:
        case QuantType::Q6_K:
            return true;
        default:
            return false;
    }
}

Status gemv_quant(QuantType type, const void* W, size_t row_bytes, const bf16_t* x, const bf16_t* bias,
                  const float* residual, float* y_f32, bf16_t* y_bf16, int B, int N, int K,
                  cudaStream_t stream, int ldy) {
    std::string bad = bad_layout(type, W, row_bytes, N, K);
    if (ldy == 0) ldy = N;
    if (bad.empty() && ldy < N) bad = "ldy=" + std::to_string(ldy) + " is less than N";
    if (bad.empty() && (B < 1 || B > kGemvMaxBatch)) bad = "B=" + std::to_string(B) + " is not in [1, 8]";
    if (bad.empty() && ((y_f32 == nullptr) == (y_bf16 == nullptr) || (residual && !y_f32)))
        bad = "exactly one of y_f32 / y_bf16 is needed, and residual needs y_f32";
    if (bad.empty() && (reinterpret_cast<uintptr_t>(x) & 15)) bad = "x is not 16-byte aligned";
    if (!bad.empty())
        return make_error(ErrorCode::InvalidArgument,
                          "gemv_quant (N=" + std::to_string(N) + ", K=" + std::to_string(K) + "): " + bad);
    const auto* w = static_cast<const uint8_t*>(W);
    const QuantTraits tr = quant_traits(type);
    const size_t end = size_t(N - 1) * row_bytes + size_t(K / tr.block_size * tr.block_bytes);
    switch (type) {
        case QuantType::Q4_0:
            launch_gemv_b<QuantType::Q4_0>(B, w, row_bytes, end, x, bias, residual, y_f32, y_bf16, N, K, ldy,
                                           stream);
            break;
        case QuantType::Q8_0:
            launch_gemv_b<QuantType::Q8_0>(B, w, row_bytes, end, x, bias, residual, y_f32, y_bf16, N, K, ldy,
                                           stream);
            break;
        case QuantType::Q4_K:
            launch_gemv_b<QuantType::Q4_K>(B, w, row_bytes, end, x, bias, residual, y_f32, y_bf16, N, K, ldy,
                                           stream);
            break;
        case QuantType::Q5_K:
            launch_gemv_b<QuantType::Q5_K>(B, w, row_bytes, end, x, bias, residual, y_f32, y_bf16, N, K, ldy,
                                           stream);
            break;
        default:
            launch_gemv_b<QuantType::Q6_K>(B, w, row_bytes, end, x, bias, residual, y_f32, y_bf16, N, K, ldy,
                                           stream);
            break;
    }
    return TESSERA_LAUNCH_CHECK("gemv_quant");
}

Status dequantize_bf16(QuantType type, const void* W, size_t row_bytes, int N, int K, bf16_t* out,
                       cudaStream_t stream) {
    std::string bad = bad_layout(type, W, row_bytes, N, K);
    if (bad.empty() && (reinterpret_cast<uintptr_t>(out) & 15)) bad = "out is not 16-byte aligned";
    if (!bad.empty())
        return make_error(ErrorCode::InvalidArgument, "dequantize_bf16 (N=" + std::to_string(N) +
                                                          ", K=" + std::to_string(K) + "): " + bad);
    const auto* w = static_cast<const uint8_t*>(W);
    switch (type) {
        case QuantType::Q4_0:
            launch_dequant<QuantType::Q4_0>(w, row_bytes, N, K, out, stream);
            break;
        case QuantType::Q8_0:
            launch_dequant<QuantType::Q8_0>(w, row_bytes, N, K, out, stream);
            break;
        case QuantType::Q4_K:
            launch_dequant<QuantType::Q4_K>(w, row_bytes, N, K, out, stream);
            break;
        case QuantType::Q5_K:
            launch_dequant<QuantType::Q5_K>(w, row_bytes, N, K, out, stream);
            break;
        default:
            launch_dequant<QuantType::Q6_K>(w, row_bytes, N, K, out, stream);
            break;
    }
    return TESSERA_LAUNCH_CHECK("dequantize_bf16");
}

}  // namespace tessera::cuda
