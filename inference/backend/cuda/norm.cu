// RMSNorm over the f32 residual stream, producing the bf16 activations the next matrix product reads
// (models.md §1.1: normalise in f32, round to bf16, multiply by the bf16 weight in bf16).
#include "backend/cuda/cuda_common.cuh"

namespace tessera::cuda {
namespace {

constexpr int kThreads = 512;  // one pass of float4 loads covers a 2048-wide row

__global__ void __launch_bounds__(kThreads) rms_norm_kernel(const float* x, const uint16_t* __restrict__ w,
                                                            int D, float eps, uint16_t* __restrict__ y) {
    pdl_trigger();
    pdl_wait();
    const float* xr = x + size_t(blockIdx.x) * D;
    uint16_t* yr = y + size_t(blockIdx.x) * D;
    float ss = 0.f;
    if ((D & 3) == 0) {
        const float4* x4 = reinterpret_cast<const float4*>(xr);
        for (int i = threadIdx.x; i < D / 4; i += kThreads) {
            const float4 v = __ldcg(x4 + i);
            ss = fmaf(v.x, v.x, fmaf(v.y, v.y, fmaf(v.z, v.z, fmaf(v.w, v.w, ss))));
        }
    } else {
        for (int i = threadIdx.x; i < D; i += kThreads) ss = fmaf(__ldcg(xr + i), __ldcg(xr + i), ss);
    }
    __shared__ float partial[kThreads / 32];
    ss = warp_sum(ss);
    if ((threadIdx.x & 31) == 0) partial[threadIdx.x >> 5] = ss;
    __syncthreads();
    if (threadIdx.x < 32) {
        float v = threadIdx.x < kThreads / 32 ? partial[threadIdx.x] : 0.f;
        v = warp_sum(v);
        if (threadIdx.x == 0) partial[0] = v;
    }
    __syncthreads();
    const float r = rsqrtf(partial[0] / float(D) + eps);
    for (int i = threadIdx.x; i < D; i += kThreads) {
        const float n = bf16_bits_to_f32(f32_to_bf16_bits(__ldcg(xr + i) * r));
        yr[i] = f32_to_bf16_bits(n * bf16_bits_to_f32(w[i]));
    }
}

}  // namespace

Status rms_norm(const float* x, const bf16_t* w, int rows, int D, float eps, bf16_t* y, cudaStream_t stream) {
    if (rows < 1 || D < 1) return make_error(ErrorCode::InvalidArgument, "rms_norm: empty input");
    launch_kernel(rms_norm_kernel, dim3(rows), dim3(kThreads), 0, stream, x, w, D, eps, y);
    return TESSERA_LAUNCH_CHECK("rms_norm");
}

}  // namespace tessera::cuda
