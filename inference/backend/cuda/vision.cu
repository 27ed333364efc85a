// Vision-tower kernels (see vision_ops.h). All are memory-bound elementwise or row passes next to the cuBLAS
// products, so they aim for simple coalesced access; arithmetic is f32 and follows the CPU tower
// (inference/backend/cpu/transformer_ops.cpp) where that costs nothing: two-pass LayerNorm, erf/tanh GELU
// with the same constants, softmax as exp(s − max) / Σ.
#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/vision_ops.h"

namespace tessera::cuda {
namespace {

constexpr int kRowThreads = 256;
constexpr int kElemThreads = 256;

// Sum over the block; `scratch` holds kRowThreads / 32 floats and is reusable after the call returns.
__device__ float block_sum(float v, float* scratch) {
    v = warp_sum(v);
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    float total = 0.f;
    for (int i = 0; i < kRowThreads / 32; ++i) total += scratch[i];
    __syncthreads();
    return total;
}

__device__ float block_max(float v, float* scratch) {
    v = warp_max(v);
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    float m = scratch[0];
    for (int i = 1; i < kRowThreads / 32; ++i) m = fmaxf(m, scratch[i]);
    __syncthreads();
    return m;
}

template <bool kBf16In>
__device__ __forceinline__ float load_in(const void* x, size_t i) {
    if constexpr (kBf16In)
        return bf16_bits_to_f32(static_cast<const uint16_t*>(x)[i]);
    else
        return static_cast<const float*>(x)[i];
}

template <bool kBf16In>
__global__ void __launch_bounds__(kRowThreads)
    layer_norm_kernel(const void* x, const uint16_t* __restrict__ w, const uint16_t* __restrict__ b, int D,
                      float eps, uint16_t* __restrict__ y_bf16, float* __restrict__ y_f32) {
    pdl_trigger();
    pdl_wait();
    __shared__ float scratch[kRowThreads / 32];
    const size_t row = size_t(blockIdx.x) * size_t(D);
    float s = 0.f;
    for (int i = threadIdx.x; i < D; i += kRowThreads) s += load_in<kBf16In>(x, row + i);
    const float mean = block_sum(s, scratch) / float(D);
    float sq = 0.f;
    for (int i = threadIdx.x; i < D; i += kRowThreads) {
        const float d = load_in<kBf16In>(x, row + i) - mean;
        sq = fmaf(d, d, sq);
    }
    const float rstd = rsqrtf(block_sum(sq, scratch) / float(D) + eps);
    for (int i = threadIdx.x; i < D; i += kRowThreads) {
        const float v =
            (load_in<kBf16In>(x, row + i) - mean) * rstd * bf16_bits_to_f32(w[i]) + bf16_bits_to_f32(b[i]);
        if (y_bf16) y_bf16[row + i] = f32_to_bf16_bits(v);
        if (y_f32) y_f32[row + i] = v;
    }
}

__device__ __forceinline__ float apply_act(float v, int act) {
    if (act == int(VisionAct::GeluErf)) return 0.5f * v * (1.f + erff(v * 0.70710678118654752440f));
    if (act == int(VisionAct::GeluTanh)) {
        constexpr float kAlpha = 0.79788456080286535588f;  // √(2/π)
        return 0.5f * v * (1.f + tanhf(kAlpha * (v + 0.044715f * v * v * v)));
    }
    return v;
}

__global__ void __launch_bounds__(kElemThreads)
    bias_act_kernel(const float* acc, const uint16_t* __restrict__ bias, int64_t total, int N, int act,
                    uint16_t* __restrict__ out_bf16, float* __restrict__ out_f32) {
    pdl_trigger();
    pdl_wait();
    for (int64_t i = int64_t(blockIdx.x) * kElemThreads + threadIdx.x; i < total;
         i += int64_t(gridDim.x) * kElemThreads) {
        float v = acc[i];
        if (bias) v += bf16_bits_to_f32(bias[i % N]);
        v = apply_act(v, act);
        if (out_bf16)
            out_bf16[i] = f32_to_bf16_bits(v);
        else
            out_f32[i] = v;
    }
}

__global__ void __launch_bounds__(kElemThreads)
    bias_residual_kernel(const float* acc, const uint16_t* __restrict__ bias, int64_t total, int N,
                         float* __restrict__ x) {
    pdl_trigger();
    pdl_wait();
    for (int64_t i = int64_t(blockIdx.x) * kElemThreads + threadIdx.x; i < total;
         i += int64_t(gridDim.x) * kElemThreads) {
        // (acc + bias) first, as the CPU's matmul-with-bias then add_inplace.
        const float v = bias ? acc[i] + bf16_bits_to_f32(bias[i % N]) : acc[i];
        x[i] += v;
    }
}

__global__ void __launch_bounds__(kElemThreads)
    patch_im2col_kernel(const float* __restrict__ pixels, int S, int P, int G, int64_t total,
                        uint16_t* __restrict__ patches) {
    pdl_trigger();
    pdl_wait();
    const int K = 3 * P * P;
    for (int64_t i = int64_t(blockIdx.x) * kElemThreads + threadIdx.x; i < total;
         i += int64_t(gridDim.x) * kElemThreads) {
        const int t = int(i / K), k = int(i % K);
        const int gy = t / G, gx = t % G;
        const int c = k / (P * P), py = (k / P) % P, px = k % P;
        patches[i] =
            f32_to_bf16_bits(pixels[(size_t(c) * S + size_t(gy) * P + py) * S + size_t(gx) * P + px]);
    }
}

__global__ void __launch_bounds__(kRowThreads)
    softmax_kernel(const float* S, int n, float scale, uint16_t* __restrict__ P) {
    pdl_trigger();
    pdl_wait();
    __shared__ float scratch[kRowThreads / 32];
    const float* s = S + size_t(blockIdx.x) * n;
    uint16_t* p = P + size_t(blockIdx.x) * n;
    float m = -INFINITY;
    for (int i = threadIdx.x; i < n; i += kRowThreads) m = fmaxf(m, s[i] * scale);
    m = block_max(m, scratch);
    float sum = 0.f;
    for (int i = threadIdx.x; i < n; i += kRowThreads) sum += expf(s[i] * scale - m);
    const float inv = 1.f / block_sum(sum, scratch);
    for (int i = threadIdx.x; i < n; i += kRowThreads) p[i] = f32_to_bf16_bits(expf(s[i] * scale - m) * inv);
}

// Enough blocks to fill the GPU with a grid-stride loop, never more than the work.
unsigned elem_blocks(int64_t total) {
    const int64_t want = (total + kElemThreads - 1) / kElemThreads;
    return unsigned(want < 65536 ? want : 65536);
}

}  // namespace

Status vision_layer_norm(const float* x_f32, const bf16_t* x_bf16, const bf16_t* w, const bf16_t* b, int rows,
                         int D, float eps, bf16_t* y_bf16, float* y_f32, cudaStream_t stream) {
    if (rows < 1 || D < 1) return make_error(ErrorCode::InvalidArgument, "vision_layer_norm: empty input");
    if ((x_f32 == nullptr) == (x_bf16 == nullptr))
        return make_error(ErrorCode::InvalidArgument, "vision_layer_norm: give exactly one input");
    if (!y_bf16 && !y_f32) return make_error(ErrorCode::InvalidArgument, "vision_layer_norm: no output");
    if (!w || !b) return make_error(ErrorCode::InvalidArgument, "vision_layer_norm: missing weight or bias");
    if (x_bf16)
        launch_kernel(layer_norm_kernel<true>, dim3(unsigned(rows)), dim3(kRowThreads), 0, stream,
                      static_cast<const void*>(x_bf16), w, b, D, eps, y_bf16, y_f32);
    else
        launch_kernel(layer_norm_kernel<false>, dim3(unsigned(rows)), dim3(kRowThreads), 0, stream,
                      static_cast<const void*>(x_f32), w, b, D, eps, y_bf16, y_f32);
    return TESSERA_LAUNCH_CHECK("vision_layer_norm");
}

Status vision_bias_act(const float* acc, const bf16_t* bias, int rows, int N, VisionAct act, bf16_t* out_bf16,
                       float* out_f32, cudaStream_t stream) {
    if (rows < 1 || N < 1) return make_error(ErrorCode::InvalidArgument, "vision_bias_act: empty input");
    if ((out_bf16 == nullptr) == (out_f32 == nullptr))
        return make_error(ErrorCode::InvalidArgument, "vision_bias_act: give exactly one output");
    const int64_t total = int64_t(rows) * N;
    launch_kernel(bias_act_kernel, dim3(elem_blocks(total)), dim3(kElemThreads), 0, stream, acc, bias, total,
                  N, int(act), out_bf16, out_f32);
    return TESSERA_LAUNCH_CHECK("vision_bias_act");
}

Status vision_bias_residual(const float* acc, const bf16_t* bias, int rows, int N, float* x,
                            cudaStream_t stream) {
    if (rows < 1 || N < 1) return make_error(ErrorCode::InvalidArgument, "vision_bias_residual: empty input");
    if (!acc || !x) return make_error(ErrorCode::InvalidArgument, "vision_bias_residual: null buffer");
    const int64_t total = int64_t(rows) * N;
    launch_kernel(bias_residual_kernel, dim3(elem_blocks(total)), dim3(kElemThreads), 0, stream, acc, bias,
                  total, N, x);
    return TESSERA_LAUNCH_CHECK("vision_bias_residual");
}

Status vision_patch_im2col(const float* pixels, int S, int P, bf16_t* patches, cudaStream_t stream) {
    if (P < 1 || S < P) return make_error(ErrorCode::InvalidArgument, "vision_patch_im2col: no whole patch");
    const int G = S / P;
    const int64_t total = int64_t(G) * G * 3 * P * P;
    launch_kernel(patch_im2col_kernel, dim3(elem_blocks(total)), dim3(kElemThreads), 0, stream, pixels, S, P,
                  G, total, patches);
    return TESSERA_LAUNCH_CHECK("vision_patch_im2col");
}

Status vision_softmax(const float* S, int64_t rows, int n, float scale, bf16_t* P, cudaStream_t stream) {
    if (rows < 1 || n < 1) return make_error(ErrorCode::InvalidArgument, "vision_softmax: empty input");
    if (rows > int64_t(0x7fffffff))
        return make_error(ErrorCode::InvalidArgument, "vision_softmax: too many rows");
    launch_kernel(softmax_kernel, dim3(unsigned(rows)), dim3(kRowThreads), 0, stream, S, n, scale, P);
    return TESSERA_LAUNCH_CHECK("vision_softmax");
}

Status vision_attention(CudaContext& ctx, const bf16_t* qkv, int T, int heads, int hd, float scale, float* S,
                        bf16_t* P, bf16_t* out) {
    if (T < 1 || heads < 1 || hd < 1)
        return make_error(ErrorCode::InvalidArgument, "vision_attention: empty shape");
    const int W = heads * hd, ld = 3 * W;
    const int64_t TT = int64_t(T) * T;
    const float one = 1.f, zero = 0.f;
    // Row-major S_h[T, T] = Q_h·K_hᵀ is column-major S_hᵀ = K_h·Q_hᵀ: with K_h and Q_h seen column-major as
    // [hd, T] (leading dimension 3W), A = K_h transposed and B = Q_h, heads hd columns apart.
    TESSERA_TRY(check_cublas(
        cublasGemmStridedBatchedEx(ctx.cublas(), CUBLAS_OP_T, CUBLAS_OP_N, T, T, hd, &scale, qkv + W,
                                   CUDA_R_16BF, ld, hd, qkv, CUDA_R_16BF, ld, hd, &zero, S, CUDA_R_32F, T, TT,
                                   heads, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
        "vision attention scores"));
    TESSERA_TRY(vision_softmax(S, int64_t(heads) * T, T, 1.f, P, ctx.stream()));
    // Row-major O_h[T, hd] = P_h·V_h is column-major O_hᵀ = V_hᵀ·P_hᵀ: A = V_h ([hd, T], ld 3W), B = P_h
    // ([T, T] column-major is P_hᵀ), C = out's head columns (ld W).
    return check_cublas(
        cublasGemmStridedBatchedEx(ctx.cublas(), CUBLAS_OP_N, CUBLAS_OP_N, hd, T, T, &one, qkv + 2 * W,
                                   CUDA_R_16BF, ld, hd, P, CUDA_R_16BF, T, TT, &zero, out, CUDA_R_16BF, W, hd,
                                   heads, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
        "vision attention values");
}

}  // namespace tessera::cuda
