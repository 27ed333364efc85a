// Session: a KV cache, the position in it, a sampler, and the generation loop (tessera/engine.h).
// Everything sized per call (sampler buffers, reserved token vectors) is allocated before the first token;
// the per-token model step and the sampler then run without allocating. Only the streamed text (short
// strings for the callback) is built per token.
#include <algorithm>
#include <chrono>
#include <new>

#include "runtime/model_state.h"
#include "runtime/sampler.h"
#include "runtime/text_stream.h"
#include "tessera/engine.h"

namespace tessera {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

Error from_exception(const std::exception& e) {
    if (dynamic_cast<const std::bad_alloc*>(&e)) return make_error(ErrorCode::OutOfMemory, "out of host memory");
    return make_error(ErrorCode::Internal, std::string("unexpected exception: ") + e.what());
}

}  // namespace

struct Session::Impl {
    std::shared_ptr<const ModelState> model;
    std::unique_ptr<ForwardState> state;
    int context_length = 0;
    std::vector<int32_t> history;  // context + generated tokens of the last call
    int cached = 0;                // leading tokens of history whose keys/values are in the cache
    std::vector<float> logits;     // [V] of the last position run
    std::vector<uint8_t> seen;     // [V] ids already in history (repetition penalty)
    std::vector<int32_t> seen_ids; // the same ids as a list
    Sampler sampler;

    int vocab() const { return model->resolved.config.vocab_size; }
    ThreadPool& pool() const { return *model->pool; }

    Status check_ids(const std::vector<int32_t>& ids, const char* what) const {
        if (ids.empty()) return make_error(ErrorCode::InvalidArgument, std::string(what) + " is empty");
        if (int64_t(ids.size()) > context_length)
            return make_error(ErrorCode::InvalidArgument,
                              std::string(what) + " of " + std::to_string(ids.size()) +
                                  " tokens does not fit the session context of " + std::to_string(context_length));
        for (size_t i = 0; i < ids.size(); ++i)
            if (ids[i] < 0 || ids[i] >= vocab())
                return make_error(ErrorCode::InvalidArgument,
                                  std::string(what) + ": token id " + std::to_string(ids[i]) + " at index " +
                                      std::to_string(i) + " is outside the vocabulary [0, " +
                                      std::to_string(vocab()) + ")");
        return {};
    }

    void mark_seen(int32_t id) {
        if (!seen[size_t(id)]) {
            seen[size_t(id)] = 1;
            seen_ids.push_back(id);  // capacity V reserved: never reallocates
        }
    }

    // Runs history[cached, end) through the model in chunks, leaving the last position's logits.
    // Returns false when cancelled between chunks.
    // embeds: when given, the input embeddings [end, H] of the whole history (Janus images) instead of ids.
    Result<bool> prefill(size_t end, const std::atomic<bool>* cancel, const std::vector<float>* embeds = nullptr) {
        const CausalLm& lm = *model->lm;
        const size_t H = size_t(model->resolved.config.hidden_size);
        while (size_t(cached) < end) {
            if (cancel && cancel->load(std::memory_order_relaxed)) return false;
            const int T = int(std::min<size_t>(end - size_t(cached), size_t(state->max_batch)));
            if (embeds) {
                TESSERA_TRY(lm.forward_embeddings(*state, embeds->data() + size_t(cached) * H, T, cached, logits.data(),
                                                  false, false, pool()));
            } else {
                TESSERA_TRY(lm.forward(*state, history.data() + cached, T, cached, logits.data(), false, pool()));
            }
            cached += T;
        }
        return true;
    }

    Result<GenerationStats> generate(const std::vector<int32_t>& context, const GenerateOptions& options,
                                     const TextCallback& on_text, const std::vector<float>* embeds = nullptr);
};

Result<GenerationStats> Session::Impl::generate(const std::vector<int32_t>& context, const GenerateOptions& opt,
                                                const TextCallback& on_text, const std::vector<float>* embeds) {
    TESSERA_TRY(check_ids(context, "prompt"));
    if (opt.max_tokens < 0) return make_error(ErrorCode::InvalidArgument, "max_tokens must be >= 0");
    TESSERA_TRY(sampler.configure(opt.sampling, vocab()));

    GenerationStats stats;
    stats.prompt_tokens = int(context.size());
    stats.tokens.reserve(size_t(opt.max_tokens));

    // Reuse the cached prefix shared with the previous call; at least the last context token is run
    // again, since its logits are needed.
    size_t reuse = 0;
    const size_t limit = std::min(size_t(cached), context.size() - 1);
    while (reuse < limit && history[reuse] == context[reuse]) ++reuse;
    cached = int(reuse);
    stats.cached_tokens = int(reuse);
    history.assign(context.begin(), context.end());  // capacity context_length reserved at open

    // Repetition penalty covers every distinct id of the context (HF with input_ids, models.md §1.10).
    for (int32_t id : seen_ids) seen[size_t(id)] = 0;
    seen_ids.clear();
    for (int32_t id : context) mark_seen(id);

    const auto t_prefill = Clock::now();
    TESSERA_ASSIGN(const bool prefilled, prefill(context.size(), opt.cancel, embeds));
    // Image rows are not their placeholder ids: a later prompt may reuse the cache only up to the first image
    // (the prefix check stops at these -1 entries); the embeddings cover the whole context, so the prefill
    // starts wherever the reuse ended.
    if (embeds)
        for (int32_t& id : history)
            if (id == model->janus_tokens.image) id = -1;
    stats.prefill_seconds = seconds_since(t_prefill);
    const int computed = int(context.size() - reuse);
    if (stats.prefill_seconds > 0 && prefilled) stats.prefill_tokens_per_second = computed / stats.prefill_seconds;
    if (!prefilled) {
        stats.stop_reason = StopReason::Cancelled;
        return stats;
    }

    TextStream text(*model->tokenizer, opt);
    auto emit = [&](const TextEvent& e) { return on_text ? on_text(e) : Flow::Continue; };
    const auto t_decode = Clock::now();
    int steps = 0;
    stats.stop_reason = StopReason::MaxTokens;
    // A GPU model draws the tokens after the first on the device (no logits to the host per token).
    const bool device_sampling = model->lm->samples_on_device(opt.sampling);
    int32_t drawn = -1;
    while (stats.generated_tokens < opt.max_tokens) {
        if (opt.cancel && opt.cancel->load(std::memory_order_relaxed)) {
            stats.stop_reason = StopReason::Cancelled;
            break;
        }
        const int32_t token = drawn >= 0 ? drawn : sampler.sample(logits.data(), seen_ids.data(), seen_ids.size());
        history.push_back(token);
        stats.tokens.push_back(token);
        ++stats.generated_tokens;
        mark_seen(token);
        if (opt.stop_at_eos && model->is_eos(token)) {
            stats.stop_reason = StopReason::Eos;  // counted, not shown (models.md §1.10 step 3)
            break;
        }
        bool stopped = false;
        const TextEvent event = text.push(token, stopped);
        if (stopped) {
            emit(event);
            stats.stop_reason = StopReason::StopString;
            break;
        }
        if (emit(event) == Flow::Stop) {
            stats.stop_reason = StopReason::Callback;
            break;
        }
        if (stats.generated_tokens >= opt.max_tokens) break;
        if (cached >= context_length) {
            stats.stop_reason = StopReason::ContextFull;
            break;
        }
        // One decode step: the new token at position `cached` (§1.9).
        if (device_sampling)
            TESSERA_TRY(model->lm->forward_sample(*state, history[size_t(cached)], cached, opt.sampling,
                                                  stats.generated_tokens, &drawn));
        else
            TESSERA_TRY(model->lm->forward(*state, &history[size_t(cached)], 1, cached, logits.data(), false, pool()));
        ++cached;
        ++steps;
    }
    const TextEvent tail = text.flush();
    if (!tail.answer.empty() || !tail.thinking.empty()) emit(tail);
    stats.decode_seconds = seconds_since(t_decode);
    if (steps > 0 && stats.decode_seconds > 0) stats.decode_tokens_per_second = steps / stats.decode_seconds;
    return stats;
}

Session::Session(std::unique_ptr<Impl> impl) : m_impl(std::move(impl)) {}
Session::~Session() = default;

Result<std::unique_ptr<Session>> Model::open_session(const SessionOptions& options) const {
    try {
        auto impl = std::make_unique<Session::Impl>();
        impl->model = m_state;
        const int ctx = options.context_length > 0 ? options.context_length : m_state->info.context_length;
        if (options.context_length < 0)
            return make_error(ErrorCode::InvalidArgument, "context_length must be >= 0");
        impl->context_length = ctx;
        TESSERA_ASSIGN(impl->state, m_state->lm->new_state(ctx, std::min(kPrefillChunk, ctx), m_state->pool->size()));
        const size_t V = size_t(m_state->resolved.config.vocab_size);
        impl->history.reserve(size_t(ctx) + 1);
        impl->logits.assign(V, 0.0f);
        impl->seen.assign(V, 0);
        impl->seen_ids.reserve(V);
        return std::unique_ptr<Session>(new Session(std::move(impl)));
    } catch (const std::exception& e) {
        return from_exception(e);
    }
}

Result<GenerationStats> Session::generate(const std::vector<int32_t>& context, const GenerateOptions& options,
                                          const TextCallback& on_text) {
    try {
        return m_impl->generate(context, options, on_text);
    } catch (const std::exception& e) {
        m_impl->cached = 0;  // the cache may be half-written: start over next time
        return from_exception(e);
    }
}

Result<GenerationStats> Session::chat(const std::vector<Message>& messages, const GenerateOptions& options,
                                      const TextCallback& on_text) {
    try {
        const ModelState& m = *m_impl->model;
        GenerateOptions opt = options;
        if (m.resolved.spec.chat_format == ChatFormat::R1Distill) {
            // The R1 generation prompt ends in "<think>\n" (models.md §3.4): the reply starts in thinking.
            opt.split_thinking = true;
            opt.starts_in_thinking = true;
        }
        if (m.janus) {
            // Janus understanding (§7.4): the images' aligned features replace their placeholder rows.
            std::vector<const Image*> images;
            for (const Message& msg : messages)
                for (const Image& img : msg.images) images.push_back(&img);
            const std::vector<int32_t> ids = m.janus_chat_prompt(messages);
            if (!images.empty()) {
                TESSERA_TRY(m_impl->check_ids(ids, "prompt"));
                TESSERA_ASSIGN(std::vector<float> embeds, janus_prompt_embeddings(m, ids, images));
                return m_impl->generate(ids, opt, on_text, &embeds);
            }
            return m_impl->generate(ids, opt, on_text);
        }
        if (std::any_of(messages.begin(), messages.end(), [](const Message& msg) { return !msg.images.empty(); }))
            return make_error(ErrorCode::Unsupported, m.info.dir.string() + ": this model does not take images");
        return m_impl->generate(m.chat_prompt(messages), opt, on_text);
    } catch (const std::exception& e) {
        m_impl->cached = 0;
        return from_exception(e);
    }
}

Result<std::vector<float>> Session::logits(const std::vector<int32_t>& ids) {
    try {
        Impl& s = *m_impl;
        TESSERA_TRY(s.check_ids(ids, "ids"));
        const size_t V = size_t(s.vocab());
        std::vector<float> out(ids.size() * V);
        s.history.assign(ids.begin(), ids.end());
        s.cached = 0;
        while (size_t(s.cached) < ids.size()) {
            const int T = int(std::min(ids.size() - size_t(s.cached), size_t(s.state->max_batch)));
            TESSERA_TRY(s.model->lm->forward(*s.state, s.history.data() + s.cached, T, s.cached,
                                             out.data() + size_t(s.cached) * V, true, s.pool()));
            s.cached += T;
        }
        std::copy(out.end() - std::ptrdiff_t(V), out.end(), s.logits.begin());
        return out;
    } catch (const std::exception& e) {
        m_impl->cached = 0;
        return from_exception(e);
    }
}

const ModelState& session_model(const Session::Impl& impl) { return *impl.model; }

void Session::reset() {
    m_impl->history.clear();
    m_impl->cached = 0;
}

const std::vector<int32_t>& Session::history() const { return m_impl->history; }
int Session::context_length() const { return m_impl->context_length; }

}  // namespace tessera
