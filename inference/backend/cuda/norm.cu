// RMSNorm over the f32 residual stream, producing the bf16 activations the next matrix product reads
// (models.md §1.1: normalise in f32, round to bf16, multiply by the bf16 weight in bf16).
#include "backend/cuda/cuda_common.cuh"

namespace tessera::cuda {
namespace {

constexpr int kThreads = 512;

// Block-wide sum of one float per thread; every thread gets it.
__device__ __forceinline__ float block_sum(float v) {
    __shared__ float partial[kThreads / 32];
    v = warp_sum(v);
    if ((threadIdx.x & 31) == 0) partial[threadIdx.x >> 5] = v;
    __syncthreads();
    float t = 0.f;
#pragma unroll
    for (int i = 0; i < kThreads / 32; ++i) t += partial[i];
    return t;
}

// Rows whose width is a multiple of 4 up to 4·kThreads·kVec: the row stays in registers between the sum of
// squares and the scaling (one read of x), the weight is loaded before the wait for the kernel that writes x,
// and loads and stores are 16 and 8 bytes wide. Decode's norms are latency-bound (32 rows for Janus-Pro's
// guidance batch): this is two dependent trips to memory, the generic kernel below four.
constexpr int kVec = 4;

__global__ void __launch_bounds__(kThreads)
    rms_norm_vec_kernel(const float* x, const uint16_t* __restrict__ w, int D, float eps,
                        uint16_t* __restrict__ y) {
    pdl_trigger();
    const int D4 = D / 4;
    uint2 wv[kVec];
#pragma unroll
    for (int u = 0; u < kVec; ++u) {
        const int i = threadIdx.x + u * kThreads;
        wv[u] = i < D4 ? __ldg(reinterpret_cast<const uint2*>(w) + i) : make_uint2(0u, 0u);
    }
    pdl_wait();
    const float4* xr = reinterpret_cast<const float4*>(x + size_t(blockIdx.x) * D);
    float4 xv[kVec];
    float ss = 0.f;
#pragma unroll
    for (int u = 0; u < kVec; ++u) {
        const int i = threadIdx.x + u * kThreads;
        xv[u] = i < D4 ? __ldcg(xr + i) : make_float4(0.f, 0.f, 0.f, 0.f);
        ss = fmaf(xv[u].x, xv[u].x,
                  fmaf(xv[u].y, xv[u].y, fmaf(xv[u].z, xv[u].z, fmaf(xv[u].w, xv[u].w, ss))));
    }
    const float r = rsqrtf(block_sum(ss) / float(D) + eps);
    uint2* yr = reinterpret_cast<uint2*>(y + size_t(blockIdx.x) * D);
    auto scaled = [&](float v, uint32_t wbits) {
        return uint32_t(f32_to_bf16_bits(bf16_bits_to_f32(f32_to_bf16_bits(v * r)) * __uint_as_float(wbits)));
    };
#pragma unroll
    for (int u = 0; u < kVec; ++u) {
        const int i = threadIdx.x + u * kThreads;
        if (i >= D4) break;
        const uint2 wb = wv[u];
        yr[i] = make_uint2(scaled(xv[u].x, wb.x << 16) | (scaled(xv[u].y, wb.x & 0xffff0000u) << 16),
                           scaled(xv[u].z, wb.y << 16) | (scaled(xv[u].w, wb.y & 0xffff0000u) << 16));
    }
}

// Any width: the row is read twice.
__global__ void __launch_bounds__(kThreads) rms_norm_kernel(const float* x, const uint16_t* __restrict__ w,
                                                            int D, float eps, uint16_t* __restrict__ y) {
    pdl_trigger();
    pdl_wait();
    const float* xr = x + size_t(blockIdx.x) * D;
    uint16_t* yr = y + size_t(blockIdx.x) * D;
    float ss = 0.f;
    for (int i = threadIdx.x; i < D; i += kThreads) ss = fmaf(__ldcg(xr + i), __ldcg(xr + i), ss);
    const float r = rsqrtf(block_sum(ss) / float(D) + eps);
    for (int i = threadIdx.x; i < D; i += kThreads) {
        const float n = bf16_bits_to_f32(f32_to_bf16_bits(__ldcg(xr + i) * r));
        yr[i] = f32_to_bf16_bits(n * bf16_bits_to_f32(w[i]));
    }
}

}  // namespace

Status rms_norm(const float* x, const bf16_t* w, int rows, int D, float eps, bf16_t* y, cudaStream_t stream) {
    if (rows < 1 || D < 1) return make_error(ErrorCode::InvalidArgument, "rms_norm: empty input");
    const bool vec = D % 4 == 0 && D <= 4 * kThreads * kVec && reinterpret_cast<uintptr_t>(x) % 16 == 0 &&
                     reinterpret_cast<uintptr_t>(w) % 8 == 0 && reinterpret_cast<uintptr_t>(y) % 8 == 0;
    launch_kernel(vec ? rms_norm_vec_kernel : rms_norm_kernel, dim3(rows), dim3(kThreads), 0, stream, x, w, D,
                  eps, y);
    return TESSERA_LAUNCH_CHECK("rms_norm");
}

}  // namespace tessera::cuda
