// The layer stack of a batch-1 bf16 decode step as one persistent kernel (decode_persistent.cu): every
// block stays resident for all layers and the phases of a layer (norm + q/k/v + RoPE, attention, o_proj,
// norm + gate/up, down_proj) meet at grid-wide barriers instead of kernel boundaries. A small model's
// step is mostly boundaries — ramp-up and tail of ~200 short kernels — so this is where its time goes.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "backend/cuda/cuda_ops.h"

namespace tessera::cuda {

// One layer's device pointers (the packed layouts of CudaLlm: [q;k;v] rows, gate/up rows interleaved).
struct PersistentLayer {
    const bf16_t* ln1 = nullptr;       // [H]                    input_layernorm
    const bf16_t* qkv = nullptr;       // [(nh + 2·nkv)·hd, H]
    const bf16_t* qkv_bias = nullptr;  // [(nh + 2·nkv)·hd] or null
    const bf16_t* o = nullptr;         // [H, nh·hd]
    const bf16_t* ln2 = nullptr;       // [H]                    post_attention_layernorm
    const bf16_t* gate_up = nullptr;   // [2·I, H]               gate row i at 2i, up row i at 2i + 1
    const bf16_t* down = nullptr;      // [H, I]
    bf16_t* k_cache = nullptr;         // [slots, nkv, max_seq, hd]
    bf16_t* v_cache = nullptr;
};

// The launch shape, set by persistent_decode_prepare.
struct PersistentPlan {
    int blocks = 0;     // one per multiprocessor
    int splits = 0;     // attention splits per head
    int chunk_cap = 0;  // score slots (the longest split)
    int xs_elems = 0;   // bf16 elements of the staged vector (multiple of 8)
    size_t smem = 0;    // dynamic shared memory per block
};

struct PersistentDecode {
    const PersistentLayer* layers = nullptr;  // device array [L]
    int L = 0, H = 0, I = 0, nh = 0, nkv = 0, hd = 0, max_seq = 0;
    float eps = 0.f, scale = 0.f;
    float* h = nullptr;      // [H] f32 residual stream: the input embedding in, the last layer's output out
    bf16_t* q = nullptr;     // [nh·hd] scratch
    bf16_t* attn = nullptr;  // [nh·hd] scratch
    bf16_t* act = nullptr;   // [I] scratch
    void* workspace = nullptr;        // persistent_decode_workspace() bytes
    const int32_t* pos = nullptr;     // device [1]
    const int32_t* slot = nullptr;    // device [1]
    const float* inv_freq = nullptr;  // [hd / 2]
    PersistentPlan plan;
};

// Shapes the kernel handles: head_dim 128 (every DeepSeek/Qwen2 model we load), H, nh·hd and I multiples
// of 8.
bool persistent_decode_supported(int H, int I, int nh, int nkv, int hd);
// Bytes of workspace for a device (barrier counters and the attention partials).
size_t persistent_decode_workspace(int device, int nh, int hd);
// Plans the launch for a's shapes and context on the current device (once, outside graph capture: it sets the
// kernel's shared-memory limit) into a.plan; the error says why the device cannot run it (no cooperative
// launch, too little shared memory for a split of max_seq positions).
Status persistent_decode_prepare(PersistentDecode& a);
// One decode step's layers for the single sequence at pos[0] in slot[0] (args prepared). The kernel is
// launched cooperatively (all blocks resident, required by its barriers) after a memset of its counters, both
// capturable in a graph.
Status persistent_decode(const PersistentDecode& args, cudaStream_t stream);

// Measurement: after persistent_decode_trace_begin(L) (outside graph capture), launches record when block 0
// leaves each barrier; persistent_decode_trace_read gives the last launch's mean time per phase (A…E, µs,
// barrier included).
Status persistent_decode_trace_begin(int layers);
Status persistent_decode_trace_read(std::vector<double>& phase_us);

}  // namespace tessera::cuda
