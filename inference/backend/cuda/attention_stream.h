// Streamed decode attention (attention_stream.cu): the kernel attention_decode takes for one split per (row,
// head) at head dim 128 with one query head per block. Internal to the CUDA backend; plain C++ may include
// it.
#pragma once

#include <cuda_runtime_api.h>

#include "backend/cuda/cuda_ops.h"

namespace tessera::cuda {

constexpr int kStreamHeadDim = 128;

// The q/k/v of each row in f32 as a product left them (cuBLAS), for blocks that rotate q and k and write the
// cache rows themselves; qkv null: q and the cache are already written. Only valid when every query head
// has its own KV head, so that a block is the only reader of the rows it writes.
struct StreamRope {
    const float* qkv = nullptr;       // [B, 3·nh·hd]
    const bf16_t* bias = nullptr;     // [3·nh·hd] or null
    const float* inv_freq = nullptr;  // [hd / 2]
};

// False when TESSERA_ATTN_STREAM=0 (the long-split kernel takes the case; checks, measurements).
bool stream_enabled();

// out[b, h] = softmax(q[b, h]·K[0 : pos[b] + 1]ᵀ · scale)·V over cache slot slot[b], KV head h / (nh / nkv),
// head dim kStreamHeadDim; grid nh × B. With rope.qkv set, q is written from it first (and the cache rows at
// pos[b]). TESSERA_ATTN_STREAM_U=2|4|8 sets the keys in flight per stream (default 4).
Status decode_stream(const bf16_t* q, const bf16_t* k_cache, const bf16_t* v_cache, const int32_t* pos,
                     const int32_t* slot, int B, int nh, int nkv, int max_seq, float scale,
                     const StreamRope& rope, bf16_t* out, cudaStream_t stream);

}  // namespace tessera::cuda
