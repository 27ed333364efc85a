// CUDA launchers of the vision-tower operations (the SigLIP ViT of Janus-Pro and DeepSeek-VL2, models.md
// §5): LayerNorm, bias + GELU, bias + residual, the patch unfold and unmasked multi-head attention. The
// residual stream stays f32 and matrix-product inputs are bf16, as in the Llama path; every launcher
// checks its arguments and returns Status. Pointers are device pointers.
#pragma once

#include <cstdint>

#include "backend/cuda/cuda_ops.h"
#include "backend/cuda/device.h"
#include "tessera/error.h"

namespace tessera::cuda {

enum class VisionAct : int { None = 0, GeluErf = 1, GeluTanh = 2 };

// LayerNorm over rows of D: y = (x − mean) / sqrt(var + eps) · w + b, mean and variance in two passes (the
// CPU tower's order). Input: exactly one of x_f32 / x_bf16 [rows, D]; output: y_bf16 and/or y_f32.
Status vision_layer_norm(const float* x_f32, const bf16_t* x_bf16, const bf16_t* w, const bf16_t* b, int rows,
                         int D, float eps, bf16_t* y_bf16, float* y_f32, cudaStream_t stream);

// out[r, n] = act(acc[r, n] + bias[n]) (bias may be null); exactly one of out_bf16 / out_f32.
Status vision_bias_act(const float* acc, const bf16_t* bias, int rows, int N, VisionAct act, bf16_t* out_bf16,
                       float* out_f32, cudaStream_t stream);

// x[r, n] += acc[r, n] + bias[n] (bias may be null): the residual add after a projection.
Status vision_bias_residual(const float* acc, const bf16_t* bias, int rows, int N, float* x,
                            cudaStream_t stream);

// Unfolds pixels f32 [3, S, S] into patches bf16 [G², 3·P·P], G = S / P: row gy·G + gx holds the patch's
// [channel][row][column], matching a [W, 3, P, P] convolution weight used as [W, 3·P·P].
Status vision_patch_im2col(const float* pixels, int S, int P, bf16_t* patches, cudaStream_t stream);

// P[r, :] = bf16(softmax(scale · S[r, :])) with S f32 [rows, n].
Status vision_softmax(const float* S, int64_t rows, int n, float scale, bf16_t* P, cudaStream_t stream);

// Bidirectional attention of T tokens over `heads` heads of hd: qkv bf16 [T, 3·heads·hd] (q | k | v,
// head-major within each), out bf16 [T, heads·hd]. S f32 and P bf16 are scratch of heads·T·T elements each.
// Scores and the weighted sum are cuBLAS strided-batched GEMMs (f32 accumulation) on ctx's stream.
Status vision_attention(CudaContext& ctx, const bf16_t* qkv, int T, int heads, int hd, float scale, float* S,
                        bf16_t* P, bf16_t* out);

}  // namespace tessera::cuda
