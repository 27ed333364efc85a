// The Llama-family decoder (DeepSeek LLM, and Qwen2 for the R1 distills: same block plus q/k/v biases) on
// the CUDA backend. Weights live on the device in bf16, packed per layer ([q;k;v] and [gate;up] stacked so
// one product reads them), or, for a GGUF with block-quantized layers, as the file's blocks (decode
// dequantizes them inside the products, prefill into a bf16 scratch for cuBLAS); the residual stream is f32;
// the KV cache holds several sequences ("slots") so decode can run a batch. Decode steps are captured once
// per batch size in a CUDA graph and replayed.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "io/checkpoint.h"
#include "io/model_config.h"
#include "tessera/error.h"

namespace tessera {

struct CudaLlmOptions {
    int device = 0;
    int max_batch = 1;         // sequences decoded together (KV slots)
    int max_seq = 4096;        // positions per slot
    int prefill_chunk = 2048;  // tokens per prefill pass
    bool use_graphs = true;
    // Batch-1 decode steps as one persistent kernel over all layers where the shapes allow it (head dim 128;
    // see backend/cuda/decode_persistent.h). Off by default: on the H200 it measured slower than the separate
    // kernels (bench/results/2026-11-28-h200-night.md); TESSERA_PERSIST=1 turns it on, for measurements.
    bool persistent_decode = false;
    // RoPE inv_freq rounded to bf16, as a reference run after `.to(torch.bfloat16)` has it (models.md §1.11;
    // every official Janus script does this).
    bool bf16_rope_frequencies = false;
    std::string
        name_prefix;  // checkpoint names are name_prefix + "model.layers..." ("language_model." in Janus)
};

// A decode step whose input and output belong to the caller (the Janus image-token loop): `input` writes the
// residual stream rows [0, B) (hidden_input()) from device data, the layers run, the final RMSNorm writes
// final_hidden() rows [0, B), and `output` reads them (its own head and sampler). Both run on `stream` and
// are captured with the layers into one CUDA graph, so they must only enqueue device work.
struct DecodeHooks {
    std::function<Status(cudaStream_t)> input;
    std::function<Status(cudaStream_t)> output;
};

// Sampling of one row on the device (models.md §1.10 without the repetition penalty): temperature ≤ 0 is
// greedy; else temperature → top-k (0: off) → top-p (1: off) → one draw keyed by (seed, step), so a seed
// replays the same tokens on the GPU (the draws differ from the CPU sampler's mt19937_64).
struct CudaSampling {
    float temperature = 0.f;
    int top_k = 0;
    float top_p = 1.f;
    uint64_t seed = 0;
    int32_t step = 0;
};

struct CudaMemoryEstimate {
    uint64_t weights = 0, kv_cache = 0, scratch = 0;
    uint64_t total() const { return weights + kv_cache + scratch; }
};

class CudaLlm {
public:
    static CudaMemoryEstimate estimate(const LlmConfig& config, const CudaLlmOptions& options);
    // The same for a given checkpoint: GGUF block-quantized layers count their block bytes.
    static CudaMemoryEstimate estimate(const LlmConfig& config, const CudaLlmOptions& options,
                                       const Checkpoint& checkpoint);
    // Checks the estimate against free device memory before allocating anything.
    static Result<std::unique_ptr<CudaLlm>> load(const LlmConfig& config, const Checkpoint& checkpoint,
                                                 const CudaLlmOptions& options);
    // Random bf16 weights generated on the device (benchmarks at real shapes).
    static Result<std::unique_ptr<CudaLlm>> create_random(const LlmConfig& config,
                                                          const CudaLlmOptions& options, uint64_t seed);
    // A second model over base's device weights (no copy) with its own KV cache, scratch, stream and graphs,
    // sized by options: e.g. Janus understanding beside the generation loop. The weights stay alive while
    // either model does. options.device must be base's; the weight names and RoPE rounding are base's.
    // Checks the KV cache and scratch against free device memory. GGUF block-quantized models: Unsupported.
    static Result<std::unique_ptr<CudaLlm>> share_weights(const CudaLlm& base, const CudaLlmOptions& options);
    ~CudaLlm();

    const LlmConfig& config() const;
    std::string device_name() const;

    // Runs ids[0..n) of slot `slot` at positions [pos0, pos0 + n). When logits is not null it receives the
    // f32 logits of the last position ([V]) or, with all_positions, of every position ([n, V]).
    Status prefill(int slot, const int32_t* ids, int n, int pos0, float* logits, bool all_positions = false);

    // The same on input embeddings: x host f32 [n, H] instead of ids (Janus image rows). out receives the
    // logits as prefill() writes them or, with hidden_only, the final-normed hidden states (f32, [H] of the
    // last position or [n, H] with all_positions; rounded to bf16 as the lm_head product sees them).
    Status prefill_embeddings(int slot, const float* x, int n, int pos0, float* out,
                              bool all_positions = false, bool hidden_only = false);
    // out [n, H] f32: rows ids[0..n) of the device embedding table (the input embeddings of prefill).
    Status embed_rows(const int32_t* ids, int n, float* out);

    // One decode step for B ≤ max_batch sequences: token ids[b] at position pos[b] in slot[b]. next[b]
    // receives the greedy token; logits (optional, [B, V]) the f32 logits. One host synchronisation.
    Status decode(int B, const int32_t* ids, const int32_t* pos, const int32_t* slot, int32_t* next,
                  float* logits = nullptr);

    // The same step with the token drawn on the device by sampling[b] instead of greedy; no logits leave
    // the device.
    Status decode_sampled(int B, const int32_t* ids, const int32_t* pos, const int32_t* slot,
                          const CudaSampling* sampling, int32_t* next);

    // Prefill that keeps no logits: the final-normed hidden state of the last position goes to
    // final_hidden() row `out_row`.
    Status prefill_hidden(int slot, const int32_t* ids, int n, int pos0, int out_row);
    // The hooked step (see DecodeHooks) for rows b < B at pos[b] in slot[b]; captured in a graph on first
    // use per B (the hooks must stay the same for the life of this model). Not synchronised: the caller
    // synchronises (stream()) when it needs results on the host.
    Status decode_hooked(int B, const int32_t* pos, const int32_t* slot, const DecodeHooks& hooks);
    // Copies positions [0, n) of one slot's KV cache to another (CFG rows sharing a prompt).
    Status copy_kv(int from_slot, int to_slot, int n);
    // Copies final_hidden() row `from` to row `to`.
    Status copy_hidden_row(int from, int to);
    float* hidden_input() const;           // device f32 [max_batch, H]
    const uint16_t* final_hidden() const;  // device bf16 [max_batch, H]
    cudaStream_t stream() const;
    void* context() const;  // the cuda::CudaContext (opaque here to keep this header free of backend types)

    // Time of the last decode/prefill call measured with CUDA events (ms), for benchmarks.
    float last_gpu_ms() const;

    struct Impl;

private:
    explicit CudaLlm(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> m_impl;
};

}  // namespace tessera
