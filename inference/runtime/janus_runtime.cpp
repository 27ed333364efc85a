// Janus-Pro in the runtime: assembling the model at load, the understanding prompt with its image tokens
// expanded (models.md §7.4 steps 1-3) and the prompt's input embeddings with the images' aligned features in
// the placeholder rows (step 5). Text-to-image generation is in image_generation.cpp.
#include <cstdio>
#include <string>

#include "runtime/image_preprocess.h"
#include "runtime/model_state.h"
#include "tokenizer/chat_format.h"

namespace tessera {

namespace {

Result<int32_t> special_id(const Tokenizer& tok, const std::string& text, int vocab) {
    const auto id = tok.token_to_id(text);
    if (!id) return make_error(ErrorCode::Tokenizer, "tokenizer.json: the Janus token " + text + " is missing");
    if (*id < 0 || *id >= vocab)
        return make_error(ErrorCode::Config, "tokenizer.json: " + text + " has id " + std::to_string(*id) +
                                                 ", outside the model's " + std::to_string(vocab) + " embedding rows");
    return *id;
}

}  // namespace

Status load_janus(const std::filesystem::path& dir, ModelState& st) {
    if (!st.resolved.janus) return make_error(ErrorCode::Internal, dir.string() + ": not resolved as Janus");
    const JanusConfig& cfg = *st.resolved.janus;
    TESSERA_ASSIGN(st.janus, JanusModel::load(cfg, st.checkpoint, st.lm));
    st.device = Device::Cpu;
    st.device_name = "CPU";
    const Tokenizer& tok = *st.tokenizer;
    const int V = cfg.llm.vocab_size;
    TESSERA_ASSIGN(st.janus_tokens.image, special_id(tok, cfg.processor.image_tag, V));
    TESSERA_ASSIGN(st.janus_tokens.begin_image, special_id(tok, cfg.processor.image_start_tag, V));
    TESSERA_ASSIGN(st.janus_tokens.end_image, special_id(tok, cfg.processor.image_end_tag, V));
    TESSERA_ASSIGN(st.janus_tokens.pad, special_id(tok, cfg.processor.pad_tag, V));
    return {};
}

void janus_take_chat_lm(ModelState& st, Result<std::unique_ptr<CausalLm>> chat) {
    if (chat.ok()) {
        st.lm = std::move(*chat);  // the CPU model is not needed: generation has the GPU too
        st.janus_cpu_chat_reason.clear();
        return;
    }
    st.janus_cpu_chat_reason = chat.error().to_string();
    st.device_name += " (image understanding on the CPU)";
    std::fprintf(stderr, "tessera: Janus-Pro image understanding runs on the CPU: %s\n",
                 st.janus_cpu_chat_reason.c_str());
}

bool janus_load_gpu_vision(ModelState& st, int device) {
    auto vision = janus_vision_gpu_load(*st.janus, device);
    if (vision.ok()) {
        st.janus_vision_gpu = std::move(*vision);
        return true;
    }
    std::fprintf(stderr, "tessera: the Janus-Pro image encoder runs on the CPU: %s\n",
                 vision.error().to_string().c_str());
    return false;
}

std::vector<int32_t> ModelState::janus_chat_prompt(const std::vector<Message>& messages) const {
    const JanusProcessorConfig& proc = janus->config().processor;
    std::vector<ChatMessage> chat;
    chat.reserve(messages.size());
    for (const Message& m : messages) {
        std::string content = m.content;
        if (!m.images.empty() && content.find(proc.image_tag) == std::string::npos) {
            std::string tags;
            for (size_t i = 0; i < m.images.size(); ++i) tags += proc.image_tag + "\n";
            content = tags + content;
        }
        chat.push_back(ChatMessage{m.role, std::move(content)});
    }
    const std::string text = render_chat(janus_chat_format(janus->config()), chat, bos_text, eos_text);
    const std::vector<int32_t> ids = tokenizer->encode(text, /*add_special=*/false);
    // Each placeholder becomes <begin_of_image>, num_image_tokens placeholders, <end_of_image>.
    std::vector<int32_t> out;
    out.reserve(ids.size());
    for (int32_t id : ids) {
        if (id != janus_tokens.image) {
            out.push_back(id);
            continue;
        }
        out.push_back(janus_tokens.begin_image);
        out.insert(out.end(), size_t(proc.num_image_tokens), janus_tokens.image);
        out.push_back(janus_tokens.end_image);
    }
    return out;
}

Result<std::vector<float>> janus_prompt_embeddings(const ModelState& m, const std::vector<int32_t>& ids,
                                                   const std::vector<const Image*>& images) {
    const JanusModel& janus = *m.janus;
    const int H = janus.hidden();
    const int n_img = janus.config().processor.num_image_tokens;
    const int S = janus.config().processor.image_size;
    std::vector<float> embeds(ids.size() * size_t(H));
    TESSERA_TRY(m.lm->embed(ids.data(), int(ids.size()), embeds.data()));

    // Runs of placeholders, one per image, in order.
    std::vector<size_t> starts;
    for (size_t i = 0; i < ids.size();) {
        if (ids[i] != m.janus_tokens.image) {
            ++i;
            continue;
        }
        size_t j = i;
        while (j < ids.size() && ids[j] == m.janus_tokens.image) ++j;
        if (j - i != size_t(n_img))
            return make_error(ErrorCode::InvalidArgument, "the prompt holds a run of " + std::to_string(j - i) +
                                                              " image placeholders; each image takes " +
                                                              std::to_string(n_img));
        starts.push_back(i);
        i = j;
    }
    if (starts.size() != images.size())
        return make_error(ErrorCode::InvalidArgument, "the prompt has " + std::to_string(starts.size()) +
                                                          " image placeholders for " + std::to_string(images.size()) +
                                                          " images");
    std::vector<float> pixels(size_t(3) * S * S);
    std::vector<float> scratch;  // the CPU encoder's
    for (size_t k = 0; k < images.size(); ++k) {
        const Image& img = *images[k];
        if (img.width <= 0 || img.height <= 0 || img.rgb.size() != size_t(img.width) * size_t(img.height) * 3)
            return make_error(ErrorCode::InvalidArgument, "image " + std::to_string(k + 1) + " is empty or malformed");
        janus_preprocess(img, S, pixels.data(), janus.config().processor.pixels);
        float* out = embeds.data() + starts[k] * size_t(H);
        if (m.janus_vision_gpu) {
            std::lock_guard<std::mutex> lock(m.janus_vision_mutex);
            TESSERA_TRY(janus_vision_gpu_embeddings(*m.janus_vision_gpu, pixels.data(), out));
            continue;
        }
        scratch.resize(size_t(janus.vision().tokens()) * size_t(janus.vision().width() + H));
        TESSERA_TRY(janus.image_embeddings(pixels.data(), out, scratch.data(), *m.pool));
    }
    return embeds;
}

}  // namespace tessera
