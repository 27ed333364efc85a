// Qwen2 (DeepSeek-R1-Distill-Qwen, models.md §3): the Llama decoder of llama.cpp with biases on the q, k and
// v projections and none on o_proj (§3.2, §11.34). Everything else — GQA, rotate-half RoPE over the whole
// head dim, SwiGLU, untied or tied lm_head — is shared. Sliding-window attention is off in every R1 distill
// (use_sliding_window false), so full causal attention is exact.
#include "models/llama.h"

namespace tessera {

Result<std::unique_ptr<CausalLm>> load_qwen2(const LlmConfig& config, std::shared_ptr<const Checkpoint> checkpoint) {
    DecoderVariant variant;
    variant.biases.qkv = true;
    variant.biases.o = false;
    return LlamaModel::load(config, std::move(checkpoint), variant);
}

}  // namespace tessera
