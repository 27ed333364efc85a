// Janus-Pro text-to-image generation on the CPU (models.md §7.5): the generation prompt, a classifier-free
// guidance batch of 2·P sequences (even rows conditional, odd rows the prompt with its text replaced by the
// pad token; no attention mask), gen_head on the last normed hidden state, the CFG mix, temperature softmax
// and a multinomial draw, the same image token fed back to both rows of a pair through gen_aligner(gen_embed),
// then the VQ-16 decoder. Each row has its own ForwardState (KV cache); rows run one after another, each
// forward using the whole thread pool.
//
// Numerics: everything is f32. The reference does the CFG mix, the division by the temperature and the
// softmax in bf16 (§11.41), so sampled sequences of the real model can differ from a PyTorch run even with
// the same random numbers; greedy sequences (temperature 0) match the f32 reference exactly.
//
// Random numbers: one std::mt19937_64 seeded with options.seed (its output sequence is fixed by the C++
// standard, so the same seed gives the same images on every platform and build). Per step the pairs draw in
// order, one number each: u = (next() >> 11) · 2⁻⁵³ in [0, 1); the token is the first id whose running sum
// of unnormalised probabilities exp((ℓ - max ℓ) / T) (summed in double) exceeds u · total.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <random>
#include <string>

#include "runtime/model_state.h"
#include "tokenizer/chat_format.h"

namespace tessera {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

constexpr int kMaxImages = 16;

int32_t argmax(const float* x, int n) {
    int32_t best = 0;
    for (int i = 1; i < n; ++i)
        if (x[i] > x[best]) best = i;
    return best;
}

int32_t draw(const float* logits, int n, float temperature, std::mt19937_64& rng, std::vector<double>& weights) {
    const float top = logits[argmax(logits, n)];
    double total = 0;
    for (int i = 0; i < n; ++i) {
        weights[size_t(i)] = std::exp(double((logits[i] - top) / temperature));
        total += weights[size_t(i)];
    }
    const double u = double(rng() >> 11) * 0x1.0p-53;
    const double target = u * total;
    double run = 0;
    int32_t last_nonzero = 0;
    for (int i = 0; i < n; ++i) {
        if (weights[size_t(i)] <= 0) continue;
        run += weights[size_t(i)];
        last_nonzero = i;
        if (run > target) return i;
    }
    return last_nonzero;  // rounding left target at the very end
}

Error cancelled_error() { return make_error(ErrorCode::Cancelled, "image generation cancelled"); }

}  // namespace

std::vector<int32_t> janus_generation_ids(const Tokenizer& tokenizer, ChatFormat format,
                                          const std::string& bos_text, const std::string& eos_text,
                                          const std::string& image_start_tag, std::string_view prompt) {
    // Empty system prompt, one user turn, the generation prompt, then the image start tag.
    const std::vector<ChatMessage> chat{{"system", ""}, {"user", std::string(prompt)}};
    const std::string text = render_chat(format, chat, bos_text, eos_text) + image_start_tag;
    return tokenizer.encode(text, /*add_special=*/false);
}

std::vector<int32_t> janus_uncond_ids(std::vector<int32_t> ids, int32_t pad) {
    // BOS and <begin_of_image> kept, the rest padded; no attention mask (§11.25).
    if (ids.size() > 2) std::fill(ids.begin() + 1, ids.end() - 1, pad);
    return ids;
}

Result<ImageGenerationResult> generate_janus_images(const ModelState& m, std::string_view prompt,
                                                    const ImageGenerationOptions& opt,
                                                    const ImageProgressCallback& progress) {
    if (!m.janus) return make_error(ErrorCode::Unsupported, m.info.dir.string() + ": this model does not generate images");
    const JanusModel& janus = *m.janus;
    if (opt.count < 1 || opt.count > kMaxImages)
        return make_error(ErrorCode::InvalidArgument, "count must be in 1.." + std::to_string(kMaxImages));
    if (!std::isfinite(opt.cfg_weight)) return make_error(ErrorCode::InvalidArgument, "cfg_weight must be finite");
    if (!(opt.temperature >= 0) || !std::isfinite(opt.temperature))
        return make_error(ErrorCode::InvalidArgument, "temperature must be >= 0 (0: greedy)");
    const int N = opt.image_tokens > 0 ? opt.image_tokens : janus.config().gen_image_tokens;
    const int grid = int(std::lround(std::sqrt(double(N))));
    if (opt.image_tokens < 0 || grid * grid != N)
        return make_error(ErrorCode::InvalidArgument, "image_tokens " + std::to_string(N) + " is not a square grid");

    const auto t0 = Clock::now();
    auto report = [&](ImageGenerationProgress::Phase phase, int step, int total) {
        if (opt.cancel && opt.cancel->load(std::memory_order_relaxed)) return false;
        if (!progress) return true;
        ImageGenerationProgress p;
        p.phase = phase;
        p.step = step;
        p.total_steps = total;
        p.elapsed_seconds = seconds_since(t0);
        return progress(p) == Flow::Continue;
    };
    if (!report(ImageGenerationProgress::Phase::Prompt, 0, 1)) return cancelled_error();

    const std::vector<int32_t> cond =
        janus_generation_ids(*m.tokenizer, janus_chat_format(janus.config()), m.bos_text, m.eos_text,
                             janus.config().processor.image_start_tag, prompt);
    const int T = int(cond.size());
    if (T < 2) return make_error(ErrorCode::Internal, "generation prompt too short");
    if (T + N > m.resolved.config.max_position_embeddings)
        return make_error(ErrorCode::InvalidArgument, "prompt (" + std::to_string(T) + " tokens) and " +
                                                          std::to_string(N) + " image tokens exceed the model's " +
                                                          std::to_string(m.resolved.config.max_position_embeddings) +
                                                          " positions");
    const std::vector<int32_t> uncond = janus_uncond_ids(cond, m.janus_tokens.pad);

    if (m.janus_gpu) {
        // The same loop on the GPU (models/janus_cuda.cpp): the 2·P rows decode as one batch in a CUDA graph and
        // the draws come from the device's counter-based generator, so images differ from the CPU path's
        // for the same seed (each path is reproducible on its own).
        JanusGenRequest run;
        run.cond = cond;
        run.uncond = uncond;
        run.count = opt.count;
        run.image_tokens = N;
        run.cfg_weight = opt.cfg_weight;
        run.temperature = opt.temperature;
        run.seed = opt.seed;
        ImageGenerationResult result;
        std::vector<std::vector<float>> pixels;
        TESSERA_TRY(janus_gpu_generate(*m.janus_gpu, run, result.codes, pixels, result.token_seconds, result.pixel_seconds,
                                       [&](int phase, int done, int total) {
                                           return report(phase == 0 ? ImageGenerationProgress::Phase::Tokens
                                                                    : ImageGenerationProgress::Phase::Pixels,
                                                         done, total);
                                       }));
        const int side = grid * janus.vq().upsample_factor();
        for (const auto& chw : pixels) result.images.push_back(vq_to_image(chw.data(), side, side));
        return result;
    }

    const CausalLm& lm = *m.lm;
    ThreadPool& pool = *m.pool;
    const int P = opt.count, R = 2 * P, H = janus.hidden(), K = janus.image_vocab();
    const int chunk = std::min(T, kPrefillChunk);
    std::vector<std::unique_ptr<ForwardState>> states(static_cast<size_t>(R));
    for (auto& s : states) {
        TESSERA_ASSIGN(s, lm.new_state(T + N, chunk, pool.size()));
    }
    std::vector<float> embeds(size_t(chunk) * size_t(H));
    std::vector<float> hidden(size_t(R) * size_t(H));
    std::vector<float> logits(size_t(R) * size_t(K));
    std::vector<float> head_scratch(size_t(R) * size_t(janus.config().gen_head_embed));
    std::vector<float> mixed(static_cast<size_t>(K));
    std::vector<double> weights(static_cast<size_t>(K));
    std::vector<int32_t> step_codes(static_cast<size_t>(P));
    std::vector<float> feed(size_t(P) * size_t(H));
    std::vector<float> feed_scratch(size_t(P) * size_t(janus.config().code_dim + H));

    // Prefill every row (§7.5 step 3), keeping the last position's normed hidden state.
    ImageGenerationResult result;
    for (int r = 0; r < R; ++r) {
        const std::vector<int32_t>& ids = r % 2 == 0 ? cond : uncond;
        for (int pos = 0; pos < T; pos += chunk) {
            if (opt.cancel && opt.cancel->load(std::memory_order_relaxed)) return cancelled_error();
            const int n = std::min(chunk, T - pos);
            TESSERA_TRY(lm.embed(ids.data() + pos, n, embeds.data()));
            TESSERA_TRY(lm.forward_embeddings(*states[size_t(r)], embeds.data(), n, pos, hidden.data() + size_t(r) * H,
                                              /*all_positions=*/false, /*hidden_only=*/true, pool));
        }
    }
    result.prompt_seconds = seconds_since(t0);

    const auto t_tokens = Clock::now();
    std::mt19937_64 rng(opt.seed);
    result.codes.assign(size_t(P), std::vector<int32_t>(size_t(N)));
    for (int i = 0; i < N; ++i) {
        if (opt.cancel && opt.cancel->load(std::memory_order_relaxed)) return cancelled_error();
        if (i > 0) {
            // Feed the previous step's tokens to both rows of each pair at position T + i - 1 (§7.5 e, f).
            TESSERA_TRY(janus.gen_input(step_codes.data(), P, feed.data(), feed_scratch.data(), pool));
            for (int r = 0; r < R; ++r)
                TESSERA_TRY(lm.forward_embeddings(*states[size_t(r)], feed.data() + size_t(r / 2) * H, 1, T + i - 1,
                                                  hidden.data() + size_t(r) * H, false, true, pool));
        }
        janus.gen_logits(hidden.data(), R, logits.data(), head_scratch.data(), pool);
        for (int p = 0; p < P; ++p) {
            const float* c = logits.data() + size_t(2 * p) * K;
            const float* u = c + K;
            for (int k = 0; k < K; ++k) mixed[size_t(k)] = u[k] + opt.cfg_weight * (c[k] - u[k]);
            const int32_t token = opt.temperature == 0.0f ? argmax(mixed.data(), K)
                                                          : draw(mixed.data(), K, opt.temperature, rng, weights);
            step_codes[size_t(p)] = token;
            result.codes[size_t(p)][size_t(i)] = token;
        }
        if (!report(ImageGenerationProgress::Phase::Tokens, i + 1, N)) return cancelled_error();
    }
    result.token_seconds = seconds_since(t_tokens);

    // VQ decode (§7.5 steps 5-6): raster-ordered grid -> [3, g·f, g·f] -> 8-bit RGB.
    const auto t_pixels = Clock::now();
    const int side = grid * janus.vq().upsample_factor();
    std::vector<float> chw(size_t(3) * size_t(side) * size_t(side));
    for (int p = 0; p < P; ++p) {
        TESSERA_TRY(janus.vq().decode(result.codes[size_t(p)].data(), 1, grid, grid, chw.data(), pool));
        result.images.push_back(vq_to_image(chw.data(), side, side));
        if (!report(ImageGenerationProgress::Phase::Pixels, p + 1, P)) return cancelled_error();
    }
    result.pixel_seconds = seconds_since(t_pixels);
    return result;
}

Result<ImageGenerationResult> Session::generate_images(std::string_view prompt, const ImageGenerationOptions& options,
                                                       const ImageProgressCallback& progress) {
    try {
        return generate_janus_images(session_model(*m_impl), prompt, options, progress);
    } catch (const std::bad_alloc&) {
        return make_error(ErrorCode::OutOfMemory, "out of host memory");
    } catch (const std::exception& e) {
        return make_error(ErrorCode::Internal, std::string("unexpected exception: ") + e.what());
    }
}

}  // namespace tessera
