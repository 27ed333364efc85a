// Fused causal prefill attention (FlashAttention-2 style): scores, softmax and the value product in one
// kernel, so the [heads, T, L] score matrix never goes to memory. Plain C++ may include this header.
#pragma once

#include <cuda_runtime_api.h>

#include "backend/cuda/cuda_ops.h"

namespace tessera::cuda {

// True for the head dimensions the fused kernel is built for (64, 128); callers keep the cuBLAS path
// (batched products around causal_softmax) for the others.
bool attention_prefill_supported(int hd);

// Causal attention for T new queries at positions [pos0, pos0+T) of one sequence over keys [0, pos0+T) of
// cache slot `slot` (cache layout [slots, nkv, max_seq, hd] bf16, already holding the new keys and values —
// rope_kv_write ran before). q bf16 [T, nh, hd] (the layout rope_kv_write writes), out bf16 [T, nh, hd].
// GQA: head h reads KV head h / (nh / nkv). Cache positions ≥ pos0+T are never read. Pointers 16-byte
// aligned. Returns Unsupported when !attention_prefill_supported(hd).
Status attention_prefill_flash(const bf16_t* q, const bf16_t* k_cache, const bf16_t* v_cache, int slot, int T,
                               int pos0, int nh, int nkv, int hd, int max_seq, float scale, bf16_t* out,
                               cudaStream_t stream);

}  // namespace tessera::cuda
