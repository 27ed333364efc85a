// Helpers shared by the .cu files: bf16 conversion, warp reductions, launch checking.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <type_traits>
#include <utility>

#include "backend/cuda/cuda_ops.h"
#include "backend/cuda/dispatch.h"

namespace tessera::cuda {

__device__ __forceinline__ float bf16_bits_to_f32(uint16_t b) {
    return __uint_as_float(uint32_t(b) << 16);
}

__device__ __forceinline__ uint16_t f32_to_bf16_bits(float f) {
    return __bfloat16_as_ushort(__float2bfloat16_rn(f));
}

// The 8 bf16 of a 16-byte word as f32, in memory order.
__device__ __forceinline__ void bf16x8_to_f32(uint4 v, float (&f)[8]) {
    const uint32_t u[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
    for (int i = 0; i < 4; ++i) {
        f[2 * i] = __uint_as_float(u[i] << 16);
        f[2 * i + 1] = __uint_as_float(u[i] & 0xffff0000u);
    }
}

// Σ w[i]·x[i] over the 8 bf16 pairs of two 16-byte words (the decode products' inner step), in f32.
__device__ __forceinline__ float dot8(uint4 w, uint4 x) {
    float s = 0.f;
    const uint32_t wv[4] = {w.x, w.y, w.z, w.w};
    const uint32_t xv[4] = {x.x, x.y, x.z, x.w};
#pragma unroll
    for (int i = 0; i < 4; ++i) {
        s = fmaf(__uint_as_float(wv[i] << 16), __uint_as_float(xv[i] << 16), s);
        s = fmaf(__uint_as_float(wv[i] & 0xffff0000u), __uint_as_float(xv[i] & 0xffff0000u), s);
    }
    return s;
}

// The epilogue of one output row of a decode product: y[i, row] = acc[i] (+ bias[row]) (+ residual[i, row])
// for the B batch rows, in f32 or rounded to bf16; ldy is the row stride of y and residual. The residual was
// written by an earlier kernel, so it is read from L2 (see pdl_wait). The stored values, before any rounding,
// are left in acc.
template <int B>
__device__ __forceinline__ void store_gemv_row(int row, float (&acc)[B], const uint16_t* bias,
                                               const float* residual, float* y_f32, uint16_t* y_bf16,
                                               int ldy) {
    const float b = bias ? bf16_bits_to_f32(bias[row]) : 0.f;
#pragma unroll
    for (int i = 0; i < B; ++i) {
        float v = acc[i] + b;
        if (residual) v += __ldcg(residual + size_t(i) * ldy + row);
        acc[i] = v;
        if (y_f32)
            y_f32[size_t(i) * ldy + row] = v;
        else
            y_bf16[size_t(i) * ldy + row] = f32_to_bf16_bits(v);
    }
}

// Where one row's q, k and v go after the q/k/v product: its q [nh, hd], and the caches
// [slots, nkv, max_seq, hd] at its slot and position (each head's keys contiguous for the attention kernels).
struct QkvDest {
    uint16_t* q_row;
    uint16_t* k_cache;
    uint16_t* v_cache;
    size_t cache_row;    // (slot · nkv · max_seq + pos) · hd
    size_t head_stride;  // max_seq · hd
    int nh, nkv, hd, pos;
};

__device__ __forceinline__ QkvDest qkv_dest(uint16_t* q_row, uint16_t* k_cache, uint16_t* v_cache, int slot,
                                            int pos, int nh, int nkv, int hd, int max_seq) {
    const size_t head_stride = size_t(max_seq) * hd;
    return {q_row, k_cache, v_cache, size_t(slot) * nkv * head_stride + size_t(pos) * hd, head_stride, nh,
            nkv,   hd,      pos};
}

// The q/k/v epilogue of one rotate-half pair, shared by every kernel that ends in it: rows (i, i + hd/2) of
// head `head` of the concatenated [q | k | v] heads, bias added. q and k heads are rotated (models.md §1.6:
// angle = f32(pos) · inv_freq[i] in f32, cos and sin rounded to bf16 as the references do); v heads are
// stored as they are.
__device__ __forceinline__ void store_qkv_pair(const QkvDest& d, int head, int i, float a, float b,
                                               const float* inv_freq) {
    const int half = d.hd / 2;
    if (head >= d.nh + d.nkv) {
        uint16_t* dst = d.v_cache + d.cache_row + size_t(head - d.nh - d.nkv) * d.head_stride;
        dst[i] = f32_to_bf16_bits(a);
        dst[i + half] = f32_to_bf16_bits(b);
        return;
    }
    float s, c;
    sincosf(float(d.pos) * inv_freq[i], &s, &c);
    c = bf16_bits_to_f32(f32_to_bf16_bits(c));
    s = bf16_bits_to_f32(f32_to_bf16_bits(s));
    uint16_t* dst = head < d.nh ? d.q_row + size_t(head) * d.hd
                                : d.k_cache + d.cache_row + size_t(head - d.nh) * d.head_stride;
    dst[i] = f32_to_bf16_bits(a * c - b * s);
    dst[i + half] = f32_to_bf16_bits(b * c + a * s);
}

__device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ __forceinline__ float warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

// Multiprocessors of the current device (132 when it cannot be asked), looked up once per process: the
// launch shapes that depend on it are chosen at capture time.
inline int current_multiprocessors() {
    static const int sms = [] {
        int dev = 0, n = 0;
        if (cudaGetDevice(&dev) != cudaSuccess ||
            cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess || n < 1)
            return 132;
        return n;
    }();
    return sms;
}

// Calls f(i) for every i in [0, n), the grid striding over the range: the elementwise kernels' loop, so
// their grids can be capped (grid_blocks) whatever the size.
template <class F>
__device__ __forceinline__ void for_each_index(int64_t n, F&& f) {
    for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
         i += int64_t(gridDim.x) * blockDim.x)
        f(i);
}

// Blocks of `threads` for n elements of a for_each_index kernel: one per element up to `cap` blocks.
inline int grid_blocks(int64_t n, int threads, int64_t cap) {
    const int64_t b = (n + threads - 1) / threads;
    return int(b > cap ? cap : (b < 1 ? 1 : b));
}

#define TESSERA_LAUNCH_CHECK(what) ::tessera::cuda::check(cudaGetLastError(), what)

// Programmatic dependent launch (Hopper and newer): each kernel lets the next one be scheduled while it
// runs (pdl_trigger), and waits for the previous one only where it first reads that kernel's output
// (pdl_wait). Reads that do not depend on it — the weights — can start before the wait, which hides the
// memory ramp at the start of every decode kernel. Both are no-ops on older GPUs and without the attribute.
// Rule for every kernel launched this way: data written by an earlier kernel is never read through the
// non-coherent path (no __ldg, no `const T* __restrict__` parameter for it): a block can be resident before
// its producer writes, and on the H200 such loads returned stale lines after griddepcontrol.wait (decode
// layers that did not replay bit for bit; check_cuda_persistent). Coherent loads (plain, __ldca, __ldcg) are
// ordered by the wait. Weights, written before any launch, may take __ldg.
__device__ __forceinline__ void pdl_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

__device__ __forceinline__ void pdl_trigger() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}

// The decode products' input vector, written by the kernel before and read by every warp (so through L1).
// Coherent loads (ld.global.ca): with programmatic dependent launch the non-coherent path returned stale data
// (decode layers that did not replay bit for bit, check_cuda_persistent). TESSERA_X_NC=1 builds the
// non-coherent path with the pointer passed through an opaque move after the wait, for measurements.
#ifndef TESSERA_X_NC
#define TESSERA_X_NC 0
#endif
template <class T>
__device__ __forceinline__ T ld_x(const T* p) {
#if TESSERA_X_NC
    return __ldg(p);
#else
    return __ldca(p);
#endif
}
// A 16-byte weight load. Weights are read once per step, so they do not allocate in L1, where the activation
// vector that every warp re-reads should stay (1–2% a decode step on the H200; TESSERA_W_LOAD=0 at build
// time restores plain __ldg, for comparisons).
#ifndef TESSERA_W_LOAD
#define TESSERA_W_LOAD 1
#endif
__device__ __forceinline__ uint4 ld_w(const uint4* p) {
#if TESSERA_W_LOAD == 0 || !defined(__CUDA_ARCH__)
    return __ldg(p);
#else
    uint4 r;
    asm("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];"
        : "=r"(r.x), "=r"(r.y), "=r"(r.z), "=r"(r.w)
        : "l"(p));
    return r;
#endif
}

template <class T>
__device__ __forceinline__ const T* after_wait(const T* p) {
#if TESSERA_X_NC
    asm volatile("mov.b64 %0, %0;" : "+l"(p)::"memory");
#endif
    return p;
}

// True when the current device supports programmatic dependent launch (compute capability 9.0+) and
// TESSERA_NO_PDL is not set.
bool pdl_enabled();

// Calls f(std::integral_constant<int, b>{}) for the decode batch b = B in [1, 8] (larger B as 8): the decode
// kernels take the batch as a template argument so their per-row accumulators stay in registers.
template <class F>
decltype(auto) with_batch(int B, F&& f) {
    return with_value<1, 2, 3, 4, 5, 6, 7, 8>(B, std::forward<F>(f));
}

template <class... KernelArgs, class... Args>
void launch_kernel(void (*kernel)(KernelArgs...), dim3 grid, dim3 block, size_t smem, cudaStream_t stream,
                   Args&&... args) {
    cudaLaunchConfig_t config{};
    config.gridDim = grid;
    config.blockDim = block;
    config.dynamicSmemBytes = smem;
    config.stream = stream;
    cudaLaunchAttribute attribute[1];
    attribute[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attribute[0].val.programmaticStreamSerializationAllowed = 1;
    config.attrs = attribute;
    config.numAttrs = pdl_enabled() ? 1 : 0;
    // The error, if any, is picked up by the caller's TESSERA_LAUNCH_CHECK.
    (void)cudaLaunchKernelEx(&config, kernel, std::forward<Args>(args)...);
}

}  // namespace tessera::cuda
