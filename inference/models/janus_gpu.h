// Janus-Pro image generation on the GPU behind a header with no CUDA types, so the runtime can hold and call
// it in every build: the image-token loop (CudaJanusGen) and the VQ-16 decoder (CudaVqDecoder) together.
// Without the CUDA backend (TESSERA_HAVE_CUDA unset) loading reports that no GPU can be used.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "io/checkpoint.h"
#include "models/causal_lm_gpu.h"
#include "models/janus.h"
#include "tessera/error.h"

namespace tessera {

struct JanusGpu;  // opaque: CudaJanusGen + CudaVqDecoder

// The most images one batch can hold on `device` with its free memory less `reserve` bytes (kept for the
// understanding model, janus_gpu_chat_lm) (0: none, or no GPU), at most 16.
int janus_gpu_max_images(const JanusConfig& config, const VqDecoder& vq, int device, uint64_t reserve = 0);
// Loads the language model and generation weights and the VQ decoder onto the GPU for batches of up to
// max_images images and prompts of up to max_prompt tokens.
Result<std::shared_ptr<JanusGpu>> janus_gpu_load(const JanusConfig& config, const Checkpoint& checkpoint,
                                                 const VqDecoder& vq, int device, int max_images, int max_prompt);
int janus_gpu_capacity(const JanusGpu& gpu);  // max_images it was loaded for
// Understanding (chat about images) on the GPU: a language model over the generation model's device weights
// (no second copy) with KV cache for options.sessions sessions of options.max_seq positions. The weights stay
// alive while either lives. OutOfMemory when that cache does not fit in free memory.
Result<std::unique_ptr<CausalLm>> janus_gpu_chat_lm(JanusGpu& gpu, const CudaLmOptions& options);

// One batch of image generation: the conditional prompt and its unconditional twin (same length), the
// image count and tokens per image, guidance, temperature and seed.
struct JanusGenRequest {
    std::vector<int32_t> cond;    // BOS … <begin_of_image>
    std::vector<int32_t> uncond;  // the same with the text replaced by the pad id (same length)
    int count = 1;
    int image_tokens = 576;
    float cfg_weight = 5.f;
    float temperature = 1.f;  // <= 0: greedy
    uint64_t seed = 0;
};
// Tokens ([count][image_tokens]) then pixels (count images, f32 [3, side, side] each, side = grid times the
// decoder's upsampling factor).
// progress(phase 0 = tokens / 1 = pixels, done, total) returning false cancels (ErrorCode::Cancelled).
Status janus_gpu_generate(JanusGpu& gpu, const JanusGenRequest& run, std::vector<std::vector<int32_t>>& codes,
                          std::vector<std::vector<float>>& pixels, double& token_seconds, double& pixel_seconds,
                          const std::function<bool(int, int, int)>& progress);

}  // namespace tessera
