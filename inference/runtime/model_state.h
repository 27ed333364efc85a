// What a loaded Model holds (shared by Model and its Sessions): config, checkpoint (the mapped weights),
// tokenizer, the model implementation and the thread pool it runs on.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "io/checkpoint.h"
#include "models/causal_lm.h"
#include "models/registry.h"
#include "tessera/engine.h"
#include "tokenizer/tokenizer.h"

namespace tessera {

constexpr int kDefaultContext = 4096;  // session KV cache when the caller does not choose
constexpr int kPrefillChunk = 64;      // tokens per prefill forward (bounds the activation scratch)

struct ModelState {
    ModelInfo info;
    ResolvedModel resolved;
    std::shared_ptr<const Checkpoint> checkpoint;
    std::unique_ptr<Tokenizer> tokenizer;
    std::unique_ptr<CausalLm> lm;
    std::unique_ptr<ThreadPool> own_pool;  // when LoadOptions::threads asks for a specific size
    ThreadPool* pool = nullptr;
    std::vector<int32_t> eos_ids;  // generation stops on any of these
    std::string bos_text, eos_text;  // for rendering chat prompts
    Device device = Device::Cpu;     // where the model runs
    std::string device_name;         // "CPU" or "NVIDIA H200 · 139 GiB"

    // The conversation rendered in the model's chat format (generation prompt included) and tokenized.
    // The rendered text already holds BOS (models.md §2.4, §11.22), so the tokenizer adds none.
    std::vector<int32_t> chat_prompt(const std::vector<Message>& messages) const;

    bool is_eos(int32_t id) const {
        for (int32_t e : eos_ids)
            if (e == id) return true;
        return false;
    }
};

}  // namespace tessera
