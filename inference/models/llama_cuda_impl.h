// Internal to the GPU Llama model: CudaLlm's device-side state (weights, KV cache, scratch, captured graphs),
// shared by llama_cuda.cpp (bf16 weights, prefill, decode) and llama_quant_cuda.cpp (GGUF block-quantized
// layers). Not part of the engine's interface.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "backend/cuda/cuda_ops.h"
#include "backend/cuda/decode_persistent.h"
#include "backend/cuda/device.h"
#include "backend/cuda/gemv_quant.h"
#include "io/checkpoint.h"
#include "models/llama_cuda.h"

namespace tessera {

using cuda::bf16_t;
using cuda::check;
using cuda::DeviceBuffer;

namespace llama_gpu {

struct LayerWeights {
    bf16_t* qkv = nullptr;       // [(nh + 2·nkv)·hd, H]  q_proj; k_proj; v_proj
    bf16_t* qkv_bias = nullptr;  // [(nh + 2·nkv)·hd]     Qwen2 only
    bf16_t* o = nullptr;         // [H, nh·hd]            o_proj
    bf16_t* gate_up = nullptr;   // [2·I, H]              gate_proj and up_proj rows interleaved
    bf16_t* down = nullptr;      // [H, I]                down_proj
    bf16_t* ln1 = nullptr;       // [H]                   input_layernorm
    bf16_t* ln2 = nullptr;       // [H]                   post_attention_layernorm
};

// A layer matrix of a block-quantized GGUF kept on the device as the file stores it: row n at
// blocks + n·row_bytes (see gemv_quant.h).
struct QuantMatrix {
    uint8_t* blocks = nullptr;
    QuantType type = QuantType::F32;
    size_t row_bytes = 0;
    int rows = 0, cols = 0;
    size_t bytes() const { return size_t(rows) * row_bytes; }
};

// The layer matrices of a block-quantized GGUF (instead of LayerWeights' bf16 qkv/o/gate_up/down): q, k and
// v stay three matrices, since files give them different types (Q4_K_M keeps some layers' v in Q6_K); gate
// and up rows are interleaved into one matrix, as in gate_up, so one product feeds silu_mul.
struct QuantLayer {
    QuantMatrix q, k, v, o, gate_up, down;
};

inline size_t align_up(size_t v, size_t a) {
    return (v + a - 1) / a * a;
}

// The checkpoint names of layer l's matrices, in QuantLayer order (gate and up both feed gate_up).
std::vector<std::string> layer_matrix_names(const std::string& prefix, int l);
// Whether the layers are GGUF blocks; errors for what the GPU cannot run (see llama_quant_cuda.cpp).
Result<bool> quantized_layers(const LlmConfig& c, const std::string& prefix, const Checkpoint& ck);
// Embedding / lm_head entries that are blocks (dequantized to bf16 on the device at load); null otherwise.
Result<const TensorEntry*> quantized_entry(const Checkpoint& ck, const std::string& name);
// Elements of the largest layer matrix (the dequantization scratch).
size_t largest_layer_matrix(const LlmConfig& c);
// Whether prefill attention takes the fused flash kernel for this head dim (then no score scratch is
// allocated); TESSERA_NO_FLASH_PREFILL=1 keeps the cuBLAS path. Read once per process.
bool flash_prefill(int hd);

}  // namespace llama_gpu

using llama_gpu::LayerWeights;
using llama_gpu::QuantLayer;
using llama_gpu::QuantMatrix;

struct CudaLlm::Impl {
    LlmConfig cfg;
    CudaLlmOptions opt;
    std::unique_ptr<cuda::CudaContext> ctx;
    cuda::DeviceInfo info;
    int H = 0, I = 0, L = 0, nh = 0, nkv = 0, hd = 0, V = 0, QKV = 0;

    // Every weight, one allocation; shared by the models share_weights() made over it, freed with the last.
    std::shared_ptr<DeviceBuffer> weights;
    bf16_t* embed = nullptr;    // [V, H] model.embed_tokens.weight
    bf16_t* norm = nullptr;     // [H]    model.norm.weight
    bf16_t* lm_head = nullptr;  // [V, H] lm_head.weight (or embed when tied)
    QuantMatrix lm_head_q;      // GGUF blocks of an untied lm_head, kept for the decode product (B ≤ 8)
    std::vector<LayerWeights> layers;
    bool quant = false;  // the layer matrices are GGUF blocks (qlayers; layers keep norms, biases)
    std::vector<QuantLayer> qlayers;
    bf16_t* deq = nullptr;  // [largest layer matrix] bf16: a quantized matrix for cuBLAS (prefill, B > 8)

    DeviceBuffer kv;  // per layer: K [slots, max_seq, nkv, hd] then V
    DeviceBuffer inv_freq;
    DeviceBuffer scratch;
    float* h = nullptr;        // [Tm, H] residual stream
    bf16_t* xn = nullptr;      // [Tm, H]
    float* qkv = nullptr;      // [Tm, QKV]
    bf16_t* q = nullptr;       // [Tm, nh·hd]
    bf16_t* attn = nullptr;    // [Tm, nh·hd]
    float* gu = nullptr;       // [Tm, 2I]
    bf16_t* act = nullptr;     // [Tm, I]
    float* S = nullptr;        // [nh, chunk, max_seq]
    bf16_t* P = nullptr;       // [nh, chunk, max_seq]
    float* logits = nullptr;   // [max(max_batch, 1), V]
    int32_t* d_ids = nullptr;  // [Tm] inputs, then positions, then slots
    int32_t* d_pos = nullptr;
    int32_t* d_slot = nullptr;
    int32_t* d_next = nullptr;                     // [max_batch]
    cuda::TextSampleParams* d_sampling = nullptr;  // [max_batch] for sampled decode steps
    bf16_t* hidden_out = nullptr;  // [max_batch, H] final-normed hidden state (hooked decode, prefill_hidden)
    void* attn_ws = nullptr;
    void* persist_ws = nullptr;                       // persistent_decode_workspace() bytes
    cuda::PersistentLayer* persist_layers = nullptr;  // [L] device pointers of every layer, for that kernel
    bool persist = false;                             // batch-1 decode steps take the persistent kernel
    cuda::PersistentDecode persist_args;              // its arguments and plan, made by allocate_runtime
    float* sq_partials =
        nullptr;  // [max_batch(≤8), H] the residual GEMVs' Σy² per block, for the fused norms
    cuda::PinnedBuffer host_io;        // ids/pos/slot staging and next ids coming back
    cuda::PinnedBuffer host_sampling;  // [max_batch] TextSampleParams staging

    DeviceBuffer all_logits;  // [chunk, V], allocated on first all-positions prefill
    std::unordered_map<int, cudaGraphExec_t> graphs;
    std::unordered_map<int, cudaGraphExec_t> hooked_graphs;
    std::unordered_map<int, cudaGraphExec_t> sampled_graphs;  // decode steps ending in sample_text
    cudaEvent_t ev_start = nullptr, ev_stop = nullptr;
    float last_ms = 0.f;

    ~Impl() {
        for (auto& [b, g] : graphs) cudaGraphExecDestroy(g);
        for (auto& [b, g] : hooked_graphs) cudaGraphExecDestroy(g);
        for (auto& [b, g] : sampled_graphs) cudaGraphExecDestroy(g);
        if (ev_start) cudaEventDestroy(ev_start);
        if (ev_stop) cudaEventDestroy(ev_stop);
    }

    bf16_t* k_cache(int layer) const { return kv.as<bf16_t>() + size_t(layer) * 2 * kv_elems_per_layer(); }
    bf16_t* v_cache(int layer) const { return k_cache(layer) + kv_elems_per_layer(); }
    size_t kv_elems_per_layer() const { return size_t(opt.max_batch) * opt.max_seq * nkv * hd; }
    int tmax() const { return std::max(opt.prefill_chunk, opt.max_batch); }

    // shared: the weights come from another model (share_weights), so the memory check leaves them out.
    Status init_shapes(const LlmConfig& c, const CudaLlmOptions& o, const Checkpoint* ck,
                       bool shared = false);
    Status upload_quant(const Checkpoint& ck);
    Status quant_product(const QuantMatrix& m, const bf16_t* x, float* y, bool accumulate, int T, bool gemv);
    Status quant_layer(int l, int T, bool decode, int slot, int pos0);
    Status allocate_weights(const Checkpoint* ck);
    Status allocate_runtime();
    Status upload(const Checkpoint& ck);
    Status randomize(uint64_t seed);
    Status attention_prefill(int layer, int slot, int T, int pos0);
    Status layer_forward_prefill(int layer, int slot, int T, int pos0);
    Status check_rows(int B, const int32_t* pos, const int32_t* slot) const;
    Status decode_layers(int B);
    Status decode_body(int B, bool sampled);
    Status run_decode(int B, bool sampled);
    Status decode_step(int B, const int32_t* ids, const int32_t* pos, const int32_t* slot,
                       const CudaSampling* sampling, int32_t* next, float* logits_out);
    Status capture(const std::function<Status()>& body, cudaGraphExec_t* exec);
    Status capture_once(const std::function<Status()>& body, cudaGraphExec_t* exec);
    // The input is token ids (looked up in the embedding table on the device) or, when ids is null, host f32
    // embeddings x [n, H] copied into the residual stream. out: logits, or with hidden_only the final-normed
    // hidden states as f32; hidden_row ≥ 0 also leaves the last position's in final_hidden() row hidden_row.
    Status prefill_impl(int slot, const int32_t* ids, const float* x, int n, int pos0, float* out,
                        bool all_positions, bool hidden_only, int hidden_row);
};

}  // namespace tessera
