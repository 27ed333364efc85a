// The one place that maps a model folder's config.json to a model implementation, its chat format and its
// sampling defaults.
#pragma once

#include <filesystem>
#include <memory>

#include "io/checkpoint.h"
#include "io/model_config.h"
#include "models/causal_lm.h"
#include "models/janus.h"
#include "tessera/engine.h"
#include "tokenizer/chat_format.h"

namespace tessera {

using ModelLoader = Result<std::unique_ptr<CausalLm>> (*)(const LlmConfig&, std::shared_ptr<const Checkpoint>);

struct ModelSpec {
    ModelKind kind = ModelKind::Llama;
    ChatFormat chat_format = ChatFormat::DeepSeekLlm;
    const char* chat_format_name = "";  // "deepseek-llm" | "r1-distill" | "janus" | "janus-1.3b"
    ModelLoader load = nullptr;
    // Host bytes of a session's state (KV cache + activations), without building the model.
    uint64_t (*state_bytes)(const LlmConfig&, int max_seq, int max_batch, int threads) = nullptr;
};

struct ResolvedModel {
    LlmConfig config;
    ModelSpec spec;
    SamplingParams sampling;  // generation_config.json over the family defaults of models.md §10
    std::shared_ptr<const JanusConfig> janus;  // set for multi_modality folders (Janus-Pro, Janus-1.3B)
};

Result<ResolvedModel> resolve_model(const std::filesystem::path& dir);

}  // namespace tessera
