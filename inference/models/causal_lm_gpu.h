// The GPU form of the Llama/Qwen2 decoder behind the runtime's CausalLm interface, so Session and the
// generation loop run unchanged on either backend. Without the CUDA backend (TESSERA_HAVE_CUDA unset)
// the functions exist and report that no GPU can be used.
#pragma once

#include <memory>
#include <string>

#include "io/checkpoint.h"
#include "io/model_config.h"
#include "models/causal_lm.h"
#include "tessera/error.h"

namespace tessera {

struct CudaLmOptions {
    int device = 0;
    int max_seq = 4096;      // positions per session
    int sessions = 2;        // KV cache slots: sessions that can be open at once
    int prefill_chunk = 512; // tokens per prefill pass
};

// Number of CUDA devices usable by this build (0 without the CUDA backend or without a GPU).
int cuda_device_count();
// "NVIDIA H200 · 139 GiB" or an empty string.
std::string cuda_device_description(int device);
// GPU memory the model would take (weights, KV cache for every slot, activations).
uint64_t cuda_memory_estimate(const LlmConfig& config, const CudaLmOptions& options);
// Free memory on the device, 0 when it cannot be read.
uint64_t cuda_free_memory(int device);

Result<std::unique_ptr<CausalLm>> load_cuda_lm(const LlmConfig& config, const Checkpoint& checkpoint,
                                               const CudaLmOptions& options);

class CudaLlm;  // models/llama_cuda.h

// GPU memory a model over another's weights (cuda_lm_sharing) would add: KV cache and activations only.
uint64_t cuda_shared_memory_estimate(const LlmConfig& config, const CudaLmOptions& options);
// A CausalLm over the device weights of `base` (CudaLlm::share_weights) with its own sessions' KV cache:
// Janus understanding over the weights its GPU generation loaded. Errors (OutOfMemory among them) leave
// `base` untouched.
Result<std::unique_ptr<CausalLm>> cuda_lm_sharing(const CudaLlm& base, const CudaLmOptions& options);

}  // namespace tessera
