// The two places a model reads a weight matrix, dispatched on its storage (layers/weights.h Weight): the
// projection y = x·Wᵀ (+ bias) and the embedding lookup. Float weights go to the CPU backend's matmul and
// embedding exactly as before; GGUF block types to quant_matmul and dequantize_row, working on the blocks.
#pragma once

#include <cstdint>

#include "core/tensor.h"
#include "core/thread_pool.h"
#include "layers/weights.h"

namespace tessera {

// y[M, N] = x[M, K] · W[N, K]ᵀ (+ bias[N]); bias f32/bf16/f16 or empty. W was validated at load
// (WeightLoader::get_weight), so this cannot fail.
void linear(const float* x, int64_t M, int64_t K, const Weight& W, const Tensor& bias, float* y, ThreadPool& pool);

// out[t, :] = table[ids[t], :] as f32; ids must be in range.
void embedding_lookup(const Weight& table, const int32_t* ids, int64_t T, float* out);

}  // namespace tessera
