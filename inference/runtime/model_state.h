// What a loaded Model holds (shared by Model and its Sessions): config, checkpoint (the mapped weights),
// tokenizer, the model implementation and the thread pool it runs on.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "io/checkpoint.h"
#include "models/causal_lm.h"
#include "models/janus.h"
#include "models/janus_gpu.h"
#include "models/registry.h"
#include "models/siglip_gpu.h"
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

    // Janus-Pro (ModelKind::Janus): the vision/generation parts around `lm`, and its special tokens
    // resolved by string through the tokenizer (models.md §9).
    std::unique_ptr<JanusModel> janus;
    // Its image generation on the GPU when one is present (models/janus_gpu.h); `lm` is then the GPU model
    // over the same weights (janus_gpu_chat_lm) unless its KV cache did not fit, said by
    // janus_cpu_chat_reason.
    std::shared_ptr<JanusGpu> janus_gpu;
    std::string janus_cpu_chat_reason;
    // With understanding on the GPU, the image encoder (SigLIP + aligner) there too when it fits
    // (janus_load_gpu_vision); it takes one image at a time, hence the lock.
    std::shared_ptr<JanusVisionGpu> janus_vision_gpu;
    mutable std::mutex janus_vision_mutex;
    struct JanusTokens {
        int32_t image = -1, begin_image = -1, end_image = -1, pad = -1;
    } janus_tokens;

    // The conversation rendered in the model's chat format (generation prompt included) and tokenized.
    // The rendered text already holds BOS (models.md §2.4, §11.22), so the tokenizer adds none.
    std::vector<int32_t> chat_prompt(const std::vector<Message>& messages) const;
    // The same for Janus with images: every image placeholder expanded to <begin_of_image>, num_image_tokens
    // placeholders, <end_of_image> (§7.4 step 3). A user message with images but without placeholders gets
    // one per image before its text, one per line.
    std::vector<int32_t> janus_chat_prompt(const std::vector<Message>& messages) const;

    bool is_eos(int32_t id) const {
        for (int32_t e : eos_ids)
            if (e == id) return true;
        return false;
    }
};

// The model a session runs (session.cpp owns Session::Impl).
const ModelState& session_model(const Session::Impl& impl);

// Janus (runtime/janus_runtime.cpp, runtime/image_generation.cpp).
Status load_janus(const std::filesystem::path& dir, ModelState& st);
// Understanding on `chat`, the GPU model over the generation weights (janus_gpu_chat_lm), when it loaded:
// st.lm (the CPU model) is replaced. Otherwise st.lm stays and the reason goes to st.janus_cpu_chat_reason,
// to stderr and, briefly, into st.device_name.
void janus_take_chat_lm(ModelState& st, Result<std::unique_ptr<CausalLm>> chat);
// The image encoder on `device` for janus_prompt_embeddings; false (with the reason on stderr) when it cannot
// be loaded there, and the CPU encoder stays in use.
bool janus_load_gpu_vision(ModelState& st, int device);
Result<ImageGenerationResult> generate_janus_images(const ModelState& model, std::string_view prompt,
                                                    const ImageGenerationOptions& options,
                                                    const ImageProgressCallback& progress);
// Input embeddings [ids.size(), hidden] of a Janus understanding prompt: text embeddings with the
// placeholder rows of each image (in order) overwritten by its aligned features (§7.4 step 5).
// The text-to-image prompt ids (§7.5 step 1): BOS "<|User|>: p\n\n<|Assistant|>:<begin_of_image>" (plain
// "User"/"Assistant" in the JanusPlain format), and the unconditional row of the CFG pair (step 2): the same
// with everything between BOS and the last token padded.
std::vector<int32_t> janus_generation_ids(const Tokenizer& tokenizer, ChatFormat format,
                                          const std::string& bos_text, const std::string& eos_text,
                                          const std::string& image_start_tag, std::string_view prompt);
std::vector<int32_t> janus_uncond_ids(std::vector<int32_t> cond, int32_t pad);
Result<std::vector<float>> janus_prompt_embeddings(const ModelState& model, const std::vector<int32_t>& ids,
                                                   const std::vector<const Image*>& images);

}  // namespace tessera
