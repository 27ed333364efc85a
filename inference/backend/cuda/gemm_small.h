// Tensor-core products for decode batches of 9–64 rows (batched text decode, Janus CFG image decode): too
// many rows for gemv_bf16, too few for cuBLAS to reach the memory floor. Every weight byte is read once from
// DRAM and the epilogue (bias, residual, bf16 rounding, SwiGLU) is fused, so there is no split-K or silu_mul
// kernel after the product. Same conventions as cuda_ops.h: device pointers, bf16 as uint16_t, Status.
#pragma once

#include "backend/cuda/cuda_ops.h"

namespace tessera::cuda {

constexpr int kGemmSmallMaxRows = 64;

// True when gemm_small_bf16 / gemm_small_swiglu_bf16 handle the shape: 1 ≤ M ≤ kGemmSmallMaxRows, N ≥ 1
// and K a positive multiple of 8 (16-byte weight rows). Otherwise the caller uses cuBLAS. W and x must also
// be 16-byte aligned (the launchers check).
bool gemm_small_supported(int M, int N, int K);

// y[m, n] = Σ_k x[m, k]·W[n, k] (+ bias[n]) (+ residual[m, n]) with f32 accumulation; the bias and residual
// are added in f32, a bf16 output is rounded once.
//   W bf16 [N, K] row-major (nn.Linear layout); x bf16 [M, K]; bias bf16 [N] or null; residual f32 [M, N] or
//   null, may alias y_f32 (in-place residual add); exactly one of y_f32 / y_bf16 [M, N].
Status gemm_small_bf16(const bf16_t* W, const bf16_t* x, const bf16_t* bias, const float* residual,
                       float* y_f32, bf16_t* y_bf16, int M, int N, int K, cudaStream_t stream);

// SwiGLU fused into the gate/up product: W_gu bf16 [2I, K] holds gate_proj row i at row 2i and up_proj row i
// at row 2i + 1 (the layout gemv_swiglu_bf16 uses); act[m, i] = bf16(silu(g)·u) with g, u the f32 sums.
Status gemm_small_swiglu_bf16(const bf16_t* W_gu, const bf16_t* x, bf16_t* act, int M, int I, int K,
                              cudaStream_t stream);

// Raises the kernels' shared-memory limits on the current device ahead of use (otherwise the first call of
// each kernel does it); call before capturing graphs.
Status gemm_small_prepare();

// The launch shape picked for M rows and an N×K weight on the current device: weight rows per block and the
// number of blocks (a Hopper thread-block cluster) that split K between them. For benchmarks and logs.
void gemm_small_launch_shape(int M, int N, int K, int* rows_per_block, int* k_splits);

// Tuning hook: which kernel every later call uses. 1: weights streamed into registers (variant A, the
// default); 2: weights staged through shared memory with cp.async, whole 128-byte lines per load, 128 rows
// per block (variant B; needs about 100–160 KiB of shared memory per block, so Hopper / A100 only, else A);
// 0: the default, or B when the environment has TESSERA_GEMM_SMALL_SMEM_W=1.
void gemm_small_force_variant(int variant);

// Tuning hook for the benchmark and the check: every later call in the process uses blocks of rows_per_block
// weight rows (16, 32, 64 or 128; variant B always uses 128) and clusters of k_splits blocks (1 to 8; capped
// by the number of 256-wide K slices, and 1 without cluster support); rows_per_block 0 restores the automatic
// choice. Not for use in the engine.
void gemm_small_force_shape(int rows_per_block, int k_splits);

}  // namespace tessera::cuda
