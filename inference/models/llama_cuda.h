// The Llama-family decoder (DeepSeek LLM, and Qwen2 for the R1 distills: same block plus q/k/v biases) on
// the CUDA backend. Weights live on the device in bf16, packed per layer ([q;k;v] and [gate;up] stacked so
// one product reads them); the residual stream is f32; the KV cache holds several sequences ("slots") so
// decode can run a batch. Decode steps are captured once per batch size in a CUDA graph and replayed.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "io/checkpoint.h"
#include "io/model_config.h"
#include "tessera/error.h"

namespace tessera {

struct CudaLlmOptions {
    int device = 0;
    int max_batch = 1;        // sequences decoded together (KV slots)
    int max_seq = 4096;       // positions per slot
    int prefill_chunk = 2048; // tokens per prefill pass
    bool use_graphs = true;
};

struct CudaMemoryEstimate {
    uint64_t weights = 0, kv_cache = 0, scratch = 0;
    uint64_t total() const { return weights + kv_cache + scratch; }
};

class CudaLlm {
public:
    static CudaMemoryEstimate estimate(const LlmConfig& config, const CudaLlmOptions& options);
    // Checks the estimate against free device memory before allocating anything.
    static Result<std::unique_ptr<CudaLlm>> load(const LlmConfig& config, const Checkpoint& checkpoint,
                                                 const CudaLlmOptions& options);
    // Random bf16 weights generated on the device (benchmarks at real shapes).
    static Result<std::unique_ptr<CudaLlm>> create_random(const LlmConfig& config, const CudaLlmOptions& options,
                                                          uint64_t seed);
    ~CudaLlm();

    const LlmConfig& config() const;
    std::string device_name() const;

    // Runs ids[0..n) of slot `slot` at positions [pos0, pos0 + n). When logits is not null it receives the
    // f32 logits of the last position ([V]) or, with all_positions, of every position ([n, V]).
    Status prefill(int slot, const int32_t* ids, int n, int pos0, float* logits, bool all_positions = false);

    // One decode step for B ≤ max_batch sequences: token ids[b] at position pos[b] in slot[b]. next[b]
    // receives the greedy token; logits (optional, [B, V]) the f32 logits. One host synchronisation.
    Status decode(int B, const int32_t* ids, const int32_t* pos, const int32_t* slot, int32_t* next,
                  float* logits = nullptr);

    // Time of the last decode/prefill call measured with CUDA events (ms), for benchmarks.
    float last_gpu_ms() const;

    struct Impl;

private:
    explicit CudaLlm(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> m_impl;
};

}  // namespace tessera
