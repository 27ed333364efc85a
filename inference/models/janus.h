// Janus-Pro (models.md §7): the multi_modality config, and the model around the Llama language model —
// SigLIP tower + MLP aligner for understanding (§7.4), gen_embed → gen_aligner as the image-token input and
// gen_head as the image-token output for generation (§7.5), and the VQ-16 decoder (§7.6). The language model
// itself is a LlamaModel loaded from the same checkpoint under "language_model." and handed to the caller as a
// CausalLm, so the runtime drives it exactly like a text model. Janus-1.3B has the same shape (plain_roles).
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "core/tensor.h"
#include "core/thread_pool.h"
#include "io/checkpoint.h"
#include "io/model_config.h"
#include "models/causal_lm.h"
#include "models/siglip.h"
#include "models/vq_decoder.h"
#include "runtime/image_preprocess.h"
#include "tessera/error.h"
#include "tokenizer/chat_format.h"

namespace tessera {

// Tags and defaults of the Janus processor (processor_config.json, VLChatProcessor; §7.1).
struct JanusProcessorConfig {
    std::string image_tag = "<image_placeholder>";
    std::string image_start_tag = "<begin_of_image>";
    std::string image_end_tag = "<end_of_image>";
    std::string pad_tag = "<｜▁pad▁｜>";
    int num_image_tokens = 576;  // placeholder tokens per understood image
    int image_size = 384;        // preprocessor_config.json image_size
    JanusPixelConfig pixels;     // preprocessor_config.json do_normalize, image_mean/std, rescale_factor, min_size
};

struct JanusConfig {
    LlmConfig llm;                  // language_config with LlamaConfig's defaults for absent fields
    SiglipConfig vision;            // vision_config.params (model_name + overrides)
    int aligner_input = 0;          // aligner_config.params.input_dim (= vision width)
    int image_vocab = 0;            // gen_vision_config.params.image_token_size (= codebook size)
    int code_dim = 0;               // gen_vision_config.params.n_embed
    int gen_head_embed = 0;         // gen_head_config.params.image_token_embed
    int gen_image_tokens = 576;     // default tokens per generated image: (384 / 16)²
    JanusProcessorConfig processor;
    // The first Janus (Janus-1.3B): prompts name the roles "User"/"Assistant" instead of Janus-Pro's
    // <|User|>/<|Assistant|> tokens (models.md §7.5, §11.38). See janus_uses_plain_roles.
    bool plain_roles = false;
};

// True when dir/config.json says model_type "multi_modality" (no other check).
bool is_janus_folder(const std::filesystem::path& dir);
// Whether the folder is the first Janus (Janus-1.3B), whose prompts use plain "User"/"Assistant" roles. Its
// config.json has the same shape as Janus-Pro-1B's, so the other files decide: preprocessor_config.json with
// do_normalize false (Janus-1.3B's, §11.16; Janus-Pro's is true), or a special_tokens_map.json whose
// additional_special_tokens lack <|User|> or <|Assistant|> (Janus-Pro lists both, §9: without them the Pro
// roles would be split into ordinary text pieces). Absent files say nothing, so a folder without either
// keeps the Janus-Pro format.
Result<bool> janus_uses_plain_roles(const std::filesystem::path& dir);
inline ChatFormat janus_chat_format(const JanusConfig& c) {
    return c.plain_roles ? ChatFormat::JanusPlain : ChatFormat::Janus;
}
// config.json (+ processor_config.json, preprocessor_config.json, special_tokens_map.json when present).
// Errors name the file and field.
Result<JanusConfig> load_janus_config(const std::filesystem::path& dir);
Result<JanusConfig> parse_janus_config(const nlohmann::json& config);

// MlpProjector "mlp_gelu" with depth 2: Linear(in → D) → exact GELU → Linear(D → D).
struct MlpProjectorWeights {
    Tensor w0, b0;  // layers.0.{weight [D, in], bias [D]}
    Tensor w2, b2;  // layers.2.{weight [D, D], bias [D]}
    int in = 0, out = 0;
};

class JanusModel {
public:
    // Everything from one WeightLoader over the checkpoint, then check_all_used. The language model goes to
    // lm_out (it keeps the checkpoint alive as the other parts do through this object).
    static Result<std::unique_ptr<JanusModel>> load(const JanusConfig& config,
                                                    std::shared_ptr<const Checkpoint> checkpoint,
                                                    std::unique_ptr<CausalLm>& lm_out);

    const JanusConfig& config() const { return m_config; }
    int hidden() const { return m_config.llm.hidden_size; }
    int image_vocab() const { return m_config.image_vocab; }
    const SiglipTower& vision() const { return *m_vision; }
    const VqDecoder& vq() const { return *m_vq; }
    const MlpProjectorWeights& aligner() const { return m_aligner; }  // understanding aligner (the GPU path)

    // Understanding (§7.4 step 4): pixels [3, S, S] → SigLIP → aligner → out [tokens, hidden].
    // scratch: vision().tokens() · (vision width + hidden) floats.
    Status image_embeddings(const float* pixels, float* out, float* scratch, ThreadPool& pool) const;
    // Generation input (§7.5 e): out[n, hidden] = gen_aligner(gen_embed[codes]). scratch: n · (code_dim + hidden).
    Status gen_input(const int32_t* codes, int n, float* out, float* scratch, ThreadPool& pool) const;
    // Generation head (§7.5 b): out[n, image_vocab] = vision_head(GELU(output_mlp_projector(hidden))).
    // scratch: n · gen_head_embed floats.
    void gen_logits(const float* hidden, int n, float* out, float* scratch, ThreadPool& pool) const;

private:
    JanusModel() = default;
    JanusConfig m_config;
    std::unique_ptr<SiglipTower> m_vision;  // vision_model.vision_tower.*
    MlpProjectorWeights m_aligner;          // aligner.*
    Tensor m_gen_embed;                     // [image_vocab, code_dim]  gen_embed.weight
    MlpProjectorWeights m_gen_aligner;      // gen_aligner.*
    Tensor m_head_proj_w, m_head_proj_b;    // [E, H], [E]  gen_head.output_mlp_projector.*
    Tensor m_head_w, m_head_b;              // [K, E], [K]  gen_head.vision_head.*
    std::unique_ptr<VqDecoder> m_vq;        // gen_vision_model.*
    std::shared_ptr<const Checkpoint> m_checkpoint;
};

}  // namespace tessera
