// CUDA kernels for GGUF block-quantized weights (Q4_0, Q8_0, Q4_K, Q5_K, Q6_K): a decode matvec that
// dequantizes the blocks in registers as it streams them, and a dequantization to bf16 for the prefill
// path (which then runs the ordinary cuBLAS GEMM). The weights stay on the device exactly as the file
// stores them, so a 4-bit model costs about a quarter of its bf16 form in memory and in decode bandwidth.
#pragma once

#include <cstddef>

#include "backend/cpu/quant.h"
#include "backend/cuda/cuda_ops.h"

namespace tessera::cuda {

// Q4_0, Q8_0, Q4_K, Q5_K, Q6_K. The float types (F32/F16/BF16) are converted to bf16 at load instead.
bool gpu_quant_supported(QuantType type);

// y[b, n] = Σ_k x[b, k]·dequant(W)[n, k] (+ bias[n]) (+ residual[b, n]) for b < B ≤ kGemvMaxBatch.
//   W: N rows of K/block_size GGML blocks each, row n at W + n·row_bytes (row_bytes ≥ the blocks' bytes
//      and even; quant_row_bytes(type, K) for a GGUF tensor). W must be 16-byte aligned; nothing past the
//      last row's blocks is read.
//   x: bf16 [B, K], 16-byte aligned; K a multiple of the block size. bias: bf16 [N] or null.
//   Output: y_f32 [B, N] (may alias residual) or y_bf16 [B, N]; exactly one; residual needs y_f32.
//   ldy: the row stride of y and residual in elements (0: N), so separate q/k/v matrices can write their
//   columns of one [B, q + k + v] buffer.
// The activations are used as they are (bf16 → f32, no int8 rounding as in the CPU kernels) and each weight
// takes the f32 value dequantize_row gives it; accumulation is f32.
Status gemv_quant(QuantType type, const void* W, size_t row_bytes, const bf16_t* x, const bf16_t* bias,
                  const float* residual, float* y_f32, bf16_t* y_bf16, int B, int N, int K,
                  cudaStream_t stream, int ldy = 0);

// out bf16 [N, K] (row-major, 16-byte aligned) = bf16(dequant(W)) for rows [0, N): bit for bit
// f32_to_bf16 of cpu::dequantize_row. Same W layout and requirements as gemv_quant.
Status dequantize_bf16(QuantType type, const void* W, size_t row_bytes, int N, int K, bf16_t* out,
                       cudaStream_t stream);

}  // namespace tessera::cuda
