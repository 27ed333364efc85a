// The Llama-family decoder (DeepSeek LLM 7B, models.md §2; the Janus language model later) and, with q/k/v
// biases, Qwen2 (R1 distills, §3): a config, a weights struct whose fields carry the checkpoint names and
// shapes, and a forward pass. Pre-norm blocks: h = x + Attn(RMSNorm₁(x)), out = h + MLP(RMSNorm₂(h)) (§1.8).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "io/checkpoint.h"
#include "layers/attention.h"
#include "layers/mlp.h"
#include "layers/weights.h"
#include "models/causal_lm.h"

namespace tessera {

// Names relative to "model.layers.N.".
struct DecoderLayerWeights {
    Tensor input_layernorm;           // [H]
    AttentionWeights self_attn;       // self_attn.*
    Tensor post_attention_layernorm;  // [H]
    MlpWeights mlp;                   // mlp.*
};

struct LlamaWeights {
    Weight embed_tokens;                      // [V, H]  model.embed_tokens.weight
    std::vector<DecoderLayerWeights> layers;  // L      model.layers.{0..L-1}
    Tensor norm;                              // [H]     model.norm.weight
    Weight lm_head;                           // [V, H]  lm_head.weight, or embed_tokens when tied
};

// What differs between the architectures sharing this decoder.
struct DecoderVariant {
    AttentionBiases biases;
    // Round the RoPE inv_freq to bf16, as a reference loaded in fp32 and cast with .to(torch.bfloat16)
    // has them (models.md §1.11; Janus).
    bool bf16_rope_frequencies = false;
};

class LlamaModel final : public CausalLm {
public:
    static Result<std::unique_ptr<CausalLm>> load(const LlmConfig& config,
                                                  std::shared_ptr<const Checkpoint> checkpoint,
                                                  DecoderVariant variant);

    // The decoder inside a larger checkpoint (Janus: name_prefix "language_model."), taking its tensors
    // from the caller's loader, which then checks that everything was used.
    static Result<std::unique_ptr<LlamaModel>> load_from(const LlmConfig& config, WeightLoader& loader,
                                                         const std::string& name_prefix,
                                                         std::shared_ptr<const Checkpoint> checkpoint,
                                                         DecoderVariant variant);

    const LlmConfig& config() const override { return m_config; }
    uint64_t state_bytes(int max_seq, int max_batch, int threads) const override;
    Result<std::unique_ptr<ForwardState>> new_state(int max_seq, int max_batch, int threads) const override;
    Status forward(ForwardState& state, const int32_t* ids, int T, int pos, float* logits, bool all_positions,
                 ThreadPool& pool) const override;
    Status forward_embeddings(ForwardState& state, const float* x, int T, int pos, float* out, bool all_positions,
                              bool hidden_only, ThreadPool& pool) const override;
    Status embed(const int32_t* ids, int T, float* out) const override;

private:
    LlamaModel() = default;
    // The layers, final norm and head over the state's residual stream x, filled with T input rows.
    void run_layers(ForwardState& state, int T, int pos, float* out, bool all_positions, bool hidden_only,
                    ThreadPool& pool) const;
    LlmConfig m_config;
    AttentionDims m_dims;
    std::vector<float> m_inv_freq;  // [hd/2] RoPE frequencies (§1.6)
    LlamaWeights m_weights;
    std::shared_ptr<const Checkpoint> m_checkpoint;  // owns the mapped memory the weights point into
};

// Entry points used by the registry: Llama with the config's attention_bias; Qwen2 with q/k/v biases.
Result<std::unique_ptr<CausalLm>> load_llama(const LlmConfig& config, std::shared_ptr<const Checkpoint> checkpoint);
Result<std::unique_ptr<CausalLm>> load_qwen2(const LlmConfig& config, std::shared_ptr<const Checkpoint> checkpoint);

// Host bytes of LlamaModel::new_state() for a config, without loading anything.
uint64_t llama_state_bytes(const LlmConfig& config, int max_seq, int max_batch, int threads);

// Config sanity shared by both (positive sizes, heads divisible by kv heads, even head_dim).
Status validate_decoder_config(const LlmConfig& config);

}  // namespace tessera
