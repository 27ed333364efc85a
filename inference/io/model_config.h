// The model configuration the engine needs, parsed from a checkpoint folder's config.json
// (+ generation_config.json). Accepts both the transformers 4.x spelling (rope_theta, rope_scaling,
// torch_dtype at top level) and the transformers 5 spelling (rope_parameters, dtype).
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "tessera/error.h"

namespace tessera {

enum class ModelFamily { Llama, Qwen2 };

struct LlmConfig {
    ModelFamily family = ModelFamily::Llama;
    std::string architecture;  // "LlamaForCausalLM", "Qwen2ForCausalLM"
    int hidden_size = 0;           // H
    int intermediate_size = 0;     // I
    int num_hidden_layers = 0;     // L
    int num_attention_heads = 0;   // nh
    int num_key_value_heads = 0;   // n_kv
    int head_dim = 0;              // hd (defaults to H / nh)
    int vocab_size = 0;            // V (embedding rows)
    int max_position_embeddings = 0;
    float rms_norm_eps = 1e-6f;
    float rope_theta = 10000.f;
    bool attention_bias = false;   // q/k/v bias (Qwen2 always true)
    bool tie_word_embeddings = false;
    DType dtype = DType::BF16;     // torch_dtype / dtype
    std::optional<int> bos_token_id;  // from config.json: informational only (models.md §9)
    std::vector<int> eos_token_ids;   // from generation_config.json if present, else config.json
};

Result<LlmConfig> load_llm_config(const std::filesystem::path& dir);

}  // namespace tessera
