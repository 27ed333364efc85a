// Token selection on the GPU, so a decode step ends with one small device-to-host copy of the chosen ids.
#include <cfloat>

#include "backend/cuda/cuda_common.cuh"

namespace tessera::cuda {
namespace {

constexpr int kThreads = 1024;

__global__ void __launch_bounds__(kThreads) argmax_kernel(const float* __restrict__ logits, int V, int32_t* out) {
    pdl_trigger();
    pdl_wait();
    const float* row = logits + size_t(blockIdx.x) * V;
    float best = -FLT_MAX;
    int idx = 0x7fffffff;
    for (int i = threadIdx.x; i < V; i += kThreads) {
        const float v = row[i];
        if (v > best) {  // strided walk visits increasing i, so ">" keeps the lowest index per thread
            best = v;
            idx = i;
        }
    }
    for (int o = 16; o > 0; o >>= 1) {
        const float ob = __shfl_xor_sync(0xffffffffu, best, o);
        const int oi = __shfl_xor_sync(0xffffffffu, idx, o);
        if (ob > best || (ob == best && oi < idx)) {
            best = ob;
            idx = oi;
        }
    }
    __shared__ float sb[32];
    __shared__ int si[32];
    if ((threadIdx.x & 31) == 0) {
        sb[threadIdx.x >> 5] = best;
        si[threadIdx.x >> 5] = idx;
    }
    __syncthreads();
    if (threadIdx.x < 32) {
        best = sb[threadIdx.x];
        idx = si[threadIdx.x];
        for (int o = 16; o > 0; o >>= 1) {
            const float ob = __shfl_xor_sync(0xffffffffu, best, o);
            const int oi = __shfl_xor_sync(0xffffffffu, idx, o);
            if (ob > best || (ob == best && oi < idx)) {
                best = ob;
                idx = oi;
            }
        }
        if (threadIdx.x == 0) out[blockIdx.x] = idx == 0x7fffffff ? 0 : idx;
    }
}

}  // namespace

Status argmax(const float* logits, int B, int V, int32_t* out, cudaStream_t stream) {
    if (B < 1 || V < 1) return make_error(ErrorCode::InvalidArgument, "argmax: empty input");
    launch_kernel(argmax_kernel, dim3(B), dim3(kThreads), 0, stream, logits, V, out);
    return TESSERA_LAUNCH_CHECK("argmax");
}

}  // namespace tessera::cuda
