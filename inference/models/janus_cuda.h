// Janus-Pro text-to-image token generation on the GPU (models.md §7.5): the Llama language model on the CUDA
// backend decoding the 2·P classifier-free-guidance rows as one batch, with the generation input
// (gen_embed → gen_aligner), the generation head (gen_head) and the guidance sampler all on the device and
// captured with the layers in one CUDA graph per step. The host only uploads positions and synchronises once
// per step (progress and cancellation).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "io/checkpoint.h"
#include "io/model_config.h"
#include "models/janus_gpu.h"  // JanusGenRequest
#include "models/llama_cuda.h"
#include "tessera/error.h"

namespace tessera {

struct JanusGenShapes {
    int image_vocab = 16384;  // gen_head.vision_head rows = gen_embed rows (the VQ codebook size)
    int code_dim = 8;         // gen_embed columns
};

struct CudaJanusOptions {
    int device = 0;
    int max_images = 16;  // P: the batch holds 2·P rows
    int max_seq = 1024;   // prompt + image tokens per row
    bool use_graphs = true;
};


struct JanusGenTiming {
    double prompt_seconds = 0;
    double token_seconds = 0;
};

class CudaJanusGen {
public:
    static CudaMemoryEstimate estimate(const LlmConfig& llm, const JanusGenShapes& shapes, const CudaJanusOptions& options);
    // The language model under "language_model." and the gen_* weights of a Janus checkpoint.
    static Result<std::unique_ptr<CudaJanusGen>> load(const LlmConfig& llm, const JanusGenShapes& shapes,
                                                      const Checkpoint& checkpoint, const CudaJanusOptions& options);
    // Random bf16 weights made on the device (benchmarks at the real shapes).
    static Result<std::unique_ptr<CudaJanusGen>> create_random(const LlmConfig& llm, const JanusGenShapes& shapes,
                                                               const CudaJanusOptions& options, uint64_t seed);
    ~CudaJanusGen();

    // codes: [count, image_tokens] in raster order. progress(tokens done) returning false stops the loop
    // (ErrorCode::Cancelled).
    Status generate(const JanusGenRequest& request, std::vector<int32_t>& codes,
                    const std::function<bool(int)>& progress = {});
    // For checks: the CFG-combined logits are not kept, but the generation head's f32 logits [2·count, V] of
    // the prompt's last position are (computed by generate's first step).
    Status head_logits_after_prompt(const JanusGenRequest& request, std::vector<float>& logits);

    const JanusGenTiming& last_timing() const;
    std::string device_name() const;
    CudaLlm& llm();

    struct Impl;

private:
    explicit CudaJanusGen(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> m_impl;
};

}  // namespace tessera
