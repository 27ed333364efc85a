// Janus-Pro end to end on the CPU against the tiny official-code fixture of tests/fixtures/janus/tiny/
// (tools/fixtures/make_janus_fixtures.py): processor pixels, aligner output, the understanding prompt ids,
// embeddings, hidden states and logits, the greedy understanding continuation, the generation prompt and CFG
// ids, gen_head logits after prefill and CFG-combined logits for a fixed fed-back sequence, the greedy image
// tokens and their decoded images; seeded sampling (same seed, same images), cancellation, and the errors for
// bad config fields and missing tensors.
#include <QtTest/QtTest>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>

#include <nlohmann/json.hpp>

#include "core/dtype.h"
#include "io/checkpoint.h"
#include "models/janus.h"
#include "runtime/image_preprocess.h"
#include "runtime/model_state.h"
#include "support/test_support.h"
#include "tessera/engine.h"
#include "tessera/image.h"
#include "tokenizer/chat_format.h"
#include "tokenizer/tokenizer.h"

using namespace tessera;
using namespace tessera::test;

namespace {

std::filesystem::path tiny() { return fixture("janus/tiny"); }

// reference.safetensors read as f32 (F32, BF16) or raw bytes (U8), with shapes.
struct RefTensor {
    std::vector<int64_t> shape;
    std::vector<float> f;
    std::vector<uint8_t> u8;
};

std::map<std::string, RefTensor> read_reference() {
    const std::string bytes = read_file(tiny() / "reference.safetensors");
    uint64_t n = 0;
    std::memcpy(&n, bytes.data(), 8);
    const nlohmann::json header = nlohmann::json::parse(bytes.substr(8, n));
    const char* data = bytes.data() + 8 + n;
    std::map<std::string, RefTensor> out;
    for (const auto& [name, e] : header.items()) {
        if (name == "__metadata__") continue;
        RefTensor t;
        t.shape = e["shape"].get<std::vector<int64_t>>();
        const uint64_t b = e["data_offsets"][0], end = e["data_offsets"][1];
        const std::string dtype = e["dtype"];
        if (dtype == "F32") {
            t.f.resize((end - b) / 4);
            std::memcpy(t.f.data(), data + b, end - b);
        } else if (dtype == "BF16") {
            t.f.resize((end - b) / 2);
            for (size_t i = 0; i < t.f.size(); ++i) {
                uint16_t h;
                std::memcpy(&h, data + b + 2 * i, 2);
                t.f[i] = bf16_to_f32(h);
            }
        } else if (dtype == "U8") {
            t.u8.assign(reinterpret_cast<const uint8_t*>(data + b), reinterpret_cast<const uint8_t*>(data + end));
        } else {
            qFatal("reference tensor %s has dtype %s", name.c_str(), dtype.c_str());
        }
        out[name] = std::move(t);
    }
    return out;
}

nlohmann::json reference_json() { return nlohmann::json::parse(read_file(tiny() / "reference.json")); }

std::vector<float> slice(const std::vector<float>& v, size_t begin, size_t count) {
    return {v.begin() + std::ptrdiff_t(begin), v.begin() + std::ptrdiff_t(begin + count)};
}

Image ref_image(const RefTensor& t) {
    Image img;
    img.height = int(t.shape[0]);
    img.width = int(t.shape[1]);
    img.rgb = t.u8;
    return img;
}

#define REQUIRE_OK(r) QVERIFY2((r).ok(), (r).ok() ? "" : (r).error().to_string().c_str())

bool contains(const std::string& haystack, const std::string& needle) { return haystack.find(needle) != std::string::npos; }

// The model parts loaded directly (for the intermediate references the public API does not expose).
struct Parts {
    JanusConfig config;
    std::shared_ptr<const Checkpoint> checkpoint;
    std::unique_ptr<CausalLm> lm;
    std::unique_ptr<JanusModel> janus;
    std::unique_ptr<Tokenizer> tokenizer;
};

std::unique_ptr<Parts> load_parts() {
    auto p = std::make_unique<Parts>();
    auto cfg = load_janus_config(tiny());
    if (!cfg.ok()) qFatal("%s", cfg.error().to_string().c_str());
    p->config = *cfg;
    auto ck = Checkpoint::open(tiny());
    if (!ck.ok()) qFatal("%s", ck.error().to_string().c_str());
    p->checkpoint = std::move(*ck);
    auto m = JanusModel::load(p->config, p->checkpoint, p->lm);
    if (!m.ok()) qFatal("%s", m.error().to_string().c_str());
    p->janus = std::move(*m);
    auto tok = Tokenizer::load(tiny());
    if (!tok.ok()) qFatal("%s", tok.error().to_string().c_str());
    p->tokenizer = std::move(*tok);
    return p;
}

// A copy of the fixture folder whose config.json is edited by `edit` (weights linked, not copied).
void copy_fixture(const std::filesystem::path& to, const std::function<void(nlohmann::json&)>& edit) {
    std::filesystem::create_directories(to);
    for (const auto& e : std::filesystem::directory_iterator(tiny())) {
        const auto name = e.path().filename();
        if (name == "config.json") continue;
        std::filesystem::create_symlink(e.path(), to / name);
    }
    nlohmann::json cfg = nlohmann::json::parse(read_file(tiny() / "config.json"));
    edit(cfg);
    write_file(to / "config.json", cfg.dump(2));
}

}  // namespace

class TestJanus : public QObject {
    Q_OBJECT

private slots:
    void initTestCase() {
        m_ref = read_reference();
        m_json = reference_json();
        m_parts = load_parts();
    }

    void configParsed() {
        const JanusConfig& c = m_parts->config;
        QCOMPARE(c.llm.hidden_size, 16);
        QCOMPARE(c.llm.num_hidden_layers, 2);
        QCOMPARE(c.llm.vocab_size, 102400);
        QCOMPARE(c.llm.max_position_embeddings, 16384);
        QCOMPARE(c.vision.width, 64);
        QCOMPARE(c.vision.layers, 2);
        QCOMPARE(c.image_vocab, 512);
        QCOMPARE(c.code_dim, 8);
        QCOMPARE(c.processor.num_image_tokens, 576);
        QCOMPARE(m_parts->janus->vq().upsample_factor(), 16);
    }

    // The reference ran with inv_freq rounded to bf16 (.to(torch.bfloat16), §1.11): the fixture records them.
    void referenceUsedBf16Rope() {
        const auto inv = m_json["rope_inv_freq"].get<std::vector<double>>();
        QCOMPARE(inv.size(), size_t(4));  // head_dim 8
        for (size_t i = 0; i < inv.size(); ++i) {
            const float exact = float(1.0 / std::pow(10000.0, double(2 * i) / 8.0));
            QCOMPARE(float(inv[i]), round_bf16(exact));
        }
    }

    void processorPixels() {
        const RefTensor& px = m_ref.at("pixels");
        const size_t per = size_t(3) * 384 * 384;
        std::vector<float> out(per);
        for (int i = 0; i < 2; ++i) {
            janus_preprocess(ref_image(m_ref.at("image" + std::to_string(i) + "_rgb")), 384, out.data());
            QCOMPARE(max_rel_error(out, slice(px.f, size_t(i) * per, per)), 0.0);
        }
    }

    // Other preprocessor_config.json files, through load_janus_config and janus_preprocess, against the
    // official VLMImageProcessor built from the same file (make_siglip_fixtures.py "processor_variants"):
    // Janus-1.3B's do_normalize false, and a file that leaves the class defaults (CLIP mean/std, padding
    // int(mean·255)).
    void preprocessorConfigVariants() {
        const std::filesystem::path sig = fixture("janus/siglip");
        const auto cases = nlohmann::json::parse(read_file(sig / "cases.json"));
        QVERIFY(cases.contains("processor_variants"));
        std::vector<float> out(size_t(3) * 384 * 384);
        for (const auto& [vname, v] : cases["processor_variants"].items()) {
            TempDir tmp;
            write_file(tmp / "config.json", read_file(tiny() / "config.json"));
            write_file(tmp / "preprocessor_config.json", v["preprocessor_config"].dump());
            auto cfg = load_janus_config(tmp.path());
            QVERIFY2(cfg.ok(), cfg.ok() ? "" : cfg.error().to_string().c_str());
            const JanusPixelConfig& px = cfg->processor.pixels;
            QCOMPARE(px.do_normalize, v["preprocessor_config"].value("do_normalize", true));
            for (const auto& [cname, hash] : v["pixel_values_bf16_fnv1a64"].items()) {
                std::string file;
                for (const auto& c : cases["cases"])
                    if (c["name"] == cname) file = c["file"];
                auto img = read_image(sig / file);
                QVERIFY(img.ok());
                janus_preprocess(*img, 384, out.data(), px);
                std::vector<uint8_t> bytes(out.size() * 2);
                for (size_t i = 0; i < out.size(); ++i) {
                    const uint16_t b = f32_to_bf16(out[i]);
                    bytes[2 * i] = uint8_t(b & 0xFF);
                    bytes[2 * i + 1] = uint8_t(b >> 8);
                }
                uint64_t h = 0xCBF29CE484222325ull;
                for (uint8_t b : bytes) h = (h ^ b) * 0x100000001B3ull;
                char buf[17];
                std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
                QVERIFY2(hash.get<std::string>() == buf, (vname + " / " + cname + ": pixel_values differ from the processor's").c_str());
            }
        }
        // Bad values are named errors.
        for (const char* bad : {R"({"image_std": [0.5, 0, 0.5]})", R"({"image_mean": [0.5, 0.5]})",
                                R"({"do_normalize": "no"})", R"({"rescale_factor": -1})", R"({"min_size": 1000})"}) {
            TempDir tmp;
            write_file(tmp / "config.json", read_file(tiny() / "config.json"));
            write_file(tmp / "preprocessor_config.json", bad);
            auto cfg = load_janus_config(tmp.path());
            QVERIFY2(!cfg.ok() && cfg.error().message.find("preprocessor_config.json") != std::string::npos, bad);
        }
    }

    void alignerOutput() {
        const RefTensor& px = m_ref.at("pixels");
        const int n = m_parts->janus->vision().tokens(), H = 16;
        std::vector<float> out(size_t(n) * H);
        std::vector<float> scratch(size_t(n) * size_t(64 + H));
        REQUIRE_OK(m_parts->janus->image_embeddings(px.f.data(), out.data(), scratch.data(), ThreadPool::global()));
        const double err = max_rel_error(out, m_ref.at("aligner0").f);
        QVERIFY2(err < 1e-4, qPrintable(QString("aligner max relative error %1").arg(err)));
    }

    // Prompt ids through the public API, then embeddings, final hidden states and logits on them.
    void understanding() {
        auto model = Model::load(tiny(), LoadOptions{Device::Cpu, 0});
        REQUIRE_OK(model);
        const ModelInfo& info = (*model)->info();
        QCOMPARE(info.kind, ModelKind::Janus);
        QCOMPARE(info.chat_format, std::string("janus"));
        QVERIFY(info.vision_input);
        QVERIFY(info.image_generation);
        QCOMPARE(info.image_tokens, 576);

        const Image img = ref_image(m_ref.at("image0_rgb"));
        const std::vector<Message> chat{Message("user", "<image_placeholder>\nDescribe this image.", {img})};
        const std::vector<int32_t> ids = (*model)->chat_prompt(chat);
        QCOMPARE(ids, m_json["understand_ids"].get<std::vector<int32_t>>());
        // Without a placeholder in the text the image goes first, one per line: the same prompt.
        QCOMPARE((*model)->chat_prompt({Message("user", "Describe this image.", {img})}), ids);

        // Embeddings, through the runtime's own function on a ModelState-free path: text rows + aligned rows.
        const int H = 16;
        const size_t T = ids.size();
        std::vector<float> embeds(T * H);
        REQUIRE_OK(m_parts->lm->embed(ids.data(), int(T), embeds.data()));
        const int32_t placeholder = *m_parts->tokenizer->token_to_id("<image_placeholder>");
        size_t first = 0;
        while (ids[first] != placeholder) ++first;
        std::vector<float> scratch(size_t(576) * size_t(64 + H));
        std::vector<float> pixels(size_t(3) * 384 * 384);
        janus_preprocess(img, 384, pixels.data());
        REQUIRE_OK(m_parts->janus->image_embeddings(pixels.data(), embeds.data() + first * H, scratch.data(),
                                                    ThreadPool::global()));
        double err = max_rel_error(embeds, m_ref.at("understand_embeds").f);
        QVERIFY2(err < 1e-4, qPrintable(QString("embeddings max relative error %1").arg(err)));

        auto state = m_parts->lm->new_state(int(T), 64, ThreadPool::global().size());
        REQUIRE_OK(state);
        std::vector<float> hidden(T * H);
        for (size_t pos = 0; pos < T; pos += 64) {
            const int n = int(std::min<size_t>(64, T - pos));
            REQUIRE_OK(m_parts->lm->forward_embeddings(**state, embeds.data() + pos * H, n, int(pos),
                                                       hidden.data() + pos * H, true, true, ThreadPool::global()));
        }
        err = max_rel_error(hidden, m_ref.at("understand_hidden").f);
        QVERIFY2(err < 1e-4, qPrintable(QString("hidden max relative error %1").arg(err)));

        auto state2 = m_parts->lm->new_state(int(T), 64, ThreadPool::global().size());
        REQUIRE_OK(state2);
        const size_t V = 102400;
        std::vector<float> logits(64 * V);
        std::vector<float> last2;
        for (size_t pos = 0; pos < T; pos += 64) {
            const int n = int(std::min<size_t>(64, T - pos));
            REQUIRE_OK(m_parts->lm->forward_embeddings(**state2, embeds.data() + pos * H, n, int(pos), logits.data(),
                                                       true, false, ThreadPool::global()));
            if (pos + size_t(n) == T) last2.assign(logits.begin() + std::ptrdiff_t((n - 2) * V), logits.begin() + std::ptrdiff_t(n * V));
        }
        err = max_rel_error(last2, m_ref.at("understand_logits_last2").f);
        QVERIFY2(err < 1e-4, qPrintable(QString("logits max relative error %1").arg(err)));
    }

    void understandingGreedyContinuation() {
        auto model = Model::load(tiny(), LoadOptions{Device::Cpu, 0});
        REQUIRE_OK(model);
        auto session = (*model)->open_session();
        REQUIRE_OK(session);
        GenerateOptions opt;
        opt.sampling.greedy = true;
        opt.max_tokens = 16;
        const Image img = ref_image(m_ref.at("image0_rgb"));
        auto stats = (*session)->chat({Message("user", "<image_placeholder>\nDescribe this image.", {img})}, opt);
        REQUIRE_OK(stats);
        QCOMPARE(stats->tokens, m_json["understand_greedy"].get<std::vector<int32_t>>());
        QCOMPARE(stats->prompt_tokens, int(m_json["understand_ids"].size()));
        // A text-only follow-up must not reuse the cache across the image rows.
        auto again = (*session)->chat({Message("user", "<image_placeholder>\nDescribe this image.", {img})}, opt);
        REQUIRE_OK(again);
        QCOMPARE(again->tokens, stats->tokens);
        // Reused: the text before the image only (up to and including <begin_of_image>).
        const auto ids = m_json["understand_ids"].get<std::vector<int32_t>>();
        const int32_t placeholder = *m_parts->tokenizer->token_to_id("<image_placeholder>");
        const int first_image = int(std::find(ids.begin(), ids.end(), placeholder) - ids.begin());
        QCOMPARE(again->cached_tokens, first_image);
    }

    // The CFG batch ids, gen_head after prefill and CFG-combined logits for FIXED_FEED, step by step.
    void generationLogits() {
        const Parts& p = *m_parts;
        const std::string bos = p.tokenizer->token_bytes(*p.tokenizer->bos_id());
        const std::string eos = p.tokenizer->token_bytes(*p.tokenizer->eos_id());
        const std::vector<int32_t> cond =
            janus_generation_ids(*p.tokenizer, ChatFormat::Janus, bos, eos, "<begin_of_image>",
                                 "A red fox sitting in the snow.");
        QCOMPARE(cond, m_json["gen_ids"].get<std::vector<int32_t>>());
        const int32_t pad = m_json["pad_id"];
        QCOMPARE(*p.tokenizer->token_to_id("<｜▁pad▁｜>"), pad);
        const std::vector<int32_t> uncond = janus_uncond_ids(cond, pad);
        const auto cfg_ids = m_json["gen_cfg_ids"].get<std::vector<std::vector<int32_t>>>();
        QCOMPARE(cfg_ids.size(), size_t(4));
        QCOMPARE(cfg_ids[0], cond);
        QCOMPARE(cfg_ids[1], uncond);

        const int H = 16, K = 512, T = int(cond.size());
        const float cfg = m_json["gen_cfg"];
        const auto feed = m_json["gen_fixed_feed"].get<std::vector<int32_t>>();
        ThreadPool& pool = ThreadPool::global();
        std::vector<std::unique_ptr<ForwardState>> states;
        std::vector<float> hidden(2 * H), emb(size_t(T) * H), logits(2 * K), scratch(2 * K + 64);
        for (int r = 0; r < 2; ++r) {
            auto s = p.lm->new_state(T + 8, T, pool.size());
            REQUIRE_OK(s);
            states.push_back(std::move(*s));
            const std::vector<int32_t>& ids = r == 0 ? cond : uncond;
            REQUIRE_OK(p.lm->embed(ids.data(), T, emb.data()));
            REQUIRE_OK(p.lm->forward_embeddings(*states[size_t(r)], emb.data(), T, 0, hidden.data() + r * H, false,
                                                true, pool));
        }
        const RefTensor& prefill = m_ref.at("gen_head_prefill");  // [2P, K]
        const RefTensor& mixed_ref = m_ref.at("gen_cfg_logits_fixed");  // [4, P, K]
        for (size_t i = 0; i < feed.size(); ++i) {
            p.janus->gen_logits(hidden.data(), 2, logits.data(), scratch.data(), pool);
            if (i == 0) {
                const double err = max_rel_error(logits, slice(prefill.f, 0, 2 * K));
                QVERIFY2(err < 1e-4, qPrintable(QString("gen_head prefill max relative error %1").arg(err)));
            }
            std::vector<float> mixed(K);
            for (int k = 0; k < K; ++k) mixed[size_t(k)] = logits[size_t(K + k)] + cfg * (logits[size_t(k)] - logits[size_t(K + k)]);
            const double err = max_rel_error(mixed, slice(mixed_ref.f, i * 2 * K, K));
            QVERIFY2(err < 1e-4, qPrintable(QString("CFG logits step %1 max relative error %2").arg(i).arg(err)));
            std::vector<float> in(H), gscratch(8 + H);
            REQUIRE_OK(p.janus->gen_input(&feed[i], 1, in.data(), gscratch.data(), pool));
            for (int r = 0; r < 2; ++r)
                REQUIRE_OK(p.lm->forward_embeddings(*states[size_t(r)], in.data(), 1, T + int(i), hidden.data() + r * H,
                                                    false, true, pool));
        }
    }

    void greedyImageTokensAndPixels() {
        auto model = Model::load(tiny(), LoadOptions{Device::Cpu, 0});
        REQUIRE_OK(model);
        auto session = (*model)->open_session();
        REQUIRE_OK(session);
        ImageGenerationOptions opt;
        opt.count = 2;
        opt.cfg_weight = 5;
        opt.temperature = 0;  // greedy
        opt.image_tokens = 16;
        int token_steps = 0, pixel_steps = 0;
        auto result = (*session)->generate_images("A red fox sitting in the snow.", opt,
                                                  [&](const ImageGenerationProgress& pr) {
                                                      if (pr.phase == ImageGenerationProgress::Phase::Tokens) {
                                                          ++token_steps;
                                                          if (pr.total_steps != 16) return Flow::Stop;
                                                      }
                                                      if (pr.phase == ImageGenerationProgress::Phase::Pixels) ++pixel_steps;
                                                      return Flow::Continue;
                                                  });
        REQUIRE_OK(result);
        QCOMPARE(token_steps, 16);
        QCOMPARE(pixel_steps, 2);
        QCOMPARE(result->codes, m_json["gen_greedy_tokens"].get<std::vector<std::vector<int32_t>>>());
        QCOMPARE(result->images.size(), size_t(2));
        const RefTensor& u8 = m_ref.at("gen_images_u8");  // [P, 64, 64, 3]
        const size_t per = size_t(64) * 64 * 3;
        int off_by_one = 0;
        for (size_t i = 0; i < 2; ++i) {
            const Image& img = result->images[i];
            QCOMPARE(img.width, 64);
            QCOMPARE(img.height, 64);
            for (size_t k = 0; k < per; ++k) {
                const int d = std::abs(int(img.rgb[k]) - int(u8.u8[i * per + k]));
                QVERIFY2(d <= 1, qPrintable(QString("pixel %1 of image %2 differs by %3").arg(k).arg(i).arg(d)));
                off_by_one += d;
            }
        }
        QVERIFY2(off_by_one < int(per / 100), qPrintable(QString("%1 channel values off by one").arg(off_by_one)));

        // The float decode of the same codes.
        std::vector<float> chw(size_t(3) * 64 * 64);
        const RefTensor& dec = m_ref.at("gen_decoded");
        for (size_t i = 0; i < 2; ++i) {
            REQUIRE_OK(m_parts->janus->vq().decode(result->codes[i].data(), 1, 4, 4, chw.data(), ThreadPool::global()));
            const double err = max_rel_error(chw, slice(dec.f, i * chw.size(), chw.size()));
            QVERIFY2(err < 1e-4, qPrintable(QString("decoded image max relative error %1").arg(err)));
        }
    }

    void seedReproducible() {
        auto model = Model::load(tiny(), LoadOptions{Device::Cpu, 0});
        REQUIRE_OK(model);
        auto session = (*model)->open_session();
        REQUIRE_OK(session);
        ImageGenerationOptions opt;
        opt.count = 2;
        opt.image_tokens = 16;
        opt.temperature = 1.0f;
        opt.seed = 42;
        auto a = (*session)->generate_images("a cat", opt);
        auto b = (*session)->generate_images("a cat", opt);
        opt.seed = 43;
        auto c = (*session)->generate_images("a cat", opt);
        REQUIRE_OK(a);
        REQUIRE_OK(b);
        REQUIRE_OK(c);
        QCOMPARE(a->codes, b->codes);
        QCOMPARE(a->images[0].rgb, b->images[0].rgb);
        QCOMPARE(a->images[1].rgb, b->images[1].rgb);
        QVERIFY(a->codes != c->codes);
        QVERIFY(a->images[0].rgb != c->images[0].rgb);
        // Sampling at T = 1 over 512 tokens: the two images of one batch differ too.
        QVERIFY(a->codes[0] != a->codes[1]);
    }

    void cancelMidLoop() {
        auto model = Model::load(tiny(), LoadOptions{Device::Cpu, 0});
        REQUIRE_OK(model);
        auto session = (*model)->open_session();
        REQUIRE_OK(session);
        ImageGenerationOptions opt;
        opt.count = 1;
        opt.image_tokens = 16;
        std::atomic<bool> cancel{false};
        opt.cancel = &cancel;
        int steps = 0;
        auto r = (*session)->generate_images("a cat", opt, [&](const ImageGenerationProgress& pr) {
            if (pr.phase == ImageGenerationProgress::Phase::Tokens && ++steps == 5) cancel = true;
            return Flow::Continue;
        });
        QVERIFY(!r.ok());
        QCOMPARE(r.error().code, ErrorCode::Cancelled);
        QCOMPARE(steps, 5);

        cancel = false;
        steps = 0;
        auto stopped = (*session)->generate_images("a cat", opt, [&](const ImageGenerationProgress& pr) {
            return pr.phase == ImageGenerationProgress::Phase::Tokens && ++steps == 3 ? Flow::Stop : Flow::Continue;
        });
        QVERIFY(!stopped.ok());
        QCOMPARE(stopped.error().code, ErrorCode::Cancelled);
        QCOMPARE(steps, 3);
    }

    void badOptions() {
        auto model = Model::load(tiny(), LoadOptions{Device::Cpu, 0});
        REQUIRE_OK(model);
        auto session = (*model)->open_session();
        REQUIRE_OK(session);
        ImageGenerationOptions opt;
        opt.image_tokens = 15;
        auto r = (*session)->generate_images("x", opt);
        QVERIFY(!r.ok());
        QCOMPARE(r.error().code, ErrorCode::InvalidArgument);
        opt.image_tokens = 16;
        opt.count = 0;
        r = (*session)->generate_images("x", opt);
        QVERIFY(!r.ok());
        QCOMPARE(r.error().code, ErrorCode::InvalidArgument);
    }

    void badConfigFields() {
        struct Case {
            std::function<void(nlohmann::json&)> edit;
            std::string needle;
        };
        const std::vector<Case> cases = {
            {[](nlohmann::json& c) { c.erase("gen_head_config"); }, "gen_head_config"},
            {[](nlohmann::json& c) { c["aligner_config"]["params"]["n_embed"] = 17; }, "aligner_config.params.n_embed"},
            {[](nlohmann::json& c) { c["gen_vision_config"]["params"]["n_embed"] = "eight"; }, "n_embed"},
            {[](nlohmann::json& c) { c["gen_vision_config"]["cls"] = "VQ-8"; }, "gen_vision_config.cls"},
            {[](nlohmann::json& c) { c["language_config"]["hidden_size"] = -4; }, "language_config.hidden_size"},
            {[](nlohmann::json& c) { c["gen_head_config"]["params"]["image_token_size"] = 511; },
             "gen_head_config.params.image_token_size"},
        };
        int i = 0;
        for (const Case& c : cases) {
            TempDir dir;
            copy_fixture(dir / "m", c.edit);
            auto info = probe_model(dir / "m");
            QVERIFY2(!info.ok(), qPrintable(QString("case %1 accepted").arg(i)));
            QVERIFY2(contains(info.error().message, "config.json") && contains(info.error().message, c.needle),
                     info.error().message.c_str());
            ++i;
        }
    }

    void missingTensor() {
        // The fixture checkpoint rewritten without one tensor at a time.
        const std::string bytes = read_file(tiny() / "model.safetensors");
        uint64_t n = 0;
        std::memcpy(&n, bytes.data(), 8);
        const nlohmann::json header = nlohmann::json::parse(bytes.substr(8, n));
        for (const std::string drop : {"gen_head.vision_head.bias", "aligner.layers.2.weight", "gen_embed.weight",
                                       "language_model.model.norm.weight"}) {
            nlohmann::json h = nlohmann::json::object();
            std::string data;
            for (const auto& [name, e] : header.items()) {
                if (name == drop || name == "__metadata__") continue;
                const uint64_t b = e["data_offsets"][0], end = e["data_offsets"][1];
                h[name] = {{"dtype", e["dtype"]}, {"shape", e["shape"]}, {"data_offsets", {data.size(), data.size() + (end - b)}}};
                data += bytes.substr(8 + n + b, end - b);
            }
            std::string text = h.dump();
            while (text.size() % 8) text += ' ';
            TempDir dir;
            copy_fixture(dir / "m", [](nlohmann::json&) {});
            std::filesystem::remove(dir / "m" / "model.safetensors");
            const uint64_t len = text.size();
            std::string file(reinterpret_cast<const char*>(&len), 8);
            write_file(dir / "m" / "model.safetensors", file + text + data);
            auto model = Model::load(dir / "m", LoadOptions{Device::Cpu, 0});
            QVERIFY2(!model.ok(), drop.c_str());
            QVERIFY2(contains(model.error().message, drop), model.error().message.c_str());
        }
    }

    // The official "deepseek" conversation template (janus/utils/conversation.py) on a multi-turn chat with a
    // system message, as get_prompt().strip() renders it, plus BOS.
    void chatFormatMultiTurn() {
        const std::vector<ChatMessage> chat{{"system", "Be brief."},
                                            {"user", "  What is this?  "},
                                            {"assistant", " A fox. "},
                                            {"user", "And the colour?"}};
        QCOMPARE(render_chat(ChatFormat::Janus, chat, "<BOS>", "<EOS>"),
                 std::string("<BOS>Be brief.\n\n<|User|>: What is this?\n\n<|Assistant|>: A fox.<EOS>"
                             "<|User|>: And the colour?\n\n<|Assistant|>:"));
        // Without a system message: the processor's default sentence.
        const std::string one = render_chat(ChatFormat::Janus, {{"user", "hi"}}, "", "");
        QCOMPARE(one, std::string(kJanusSystemPrompt) + "\n\n<|User|>: hi\n\n<|Assistant|>:");
    }

    // Two images in one message: two expanded runs in order, each filled with its own picture's features.
    void twoImages() {
        auto model = Model::load(tiny(), LoadOptions{Device::Cpu, 0});
        REQUIRE_OK(model);
        const Image a = ref_image(m_ref.at("image0_rgb")), b = ref_image(m_ref.at("image1_rgb"));
        const std::vector<Message> two{Message("user", "Compare them.", {a, b})};
        const std::vector<int32_t> ids = (*model)->chat_prompt(two);
        const std::vector<int32_t> one = (*model)->chat_prompt({Message("user", "Compare them.", {a})});
        QCOMPARE(ids.size(), one.size() + 578 + 1);  // boi + 576 + eoi, and one more "\n"
        const int32_t boi = *m_parts->tokenizer->token_to_id("<begin_of_image>");
        QCOMPARE(std::count(ids.begin(), ids.end(), boi), std::ptrdiff_t(2));
        auto session = (*model)->open_session();
        REQUIRE_OK(session);
        GenerateOptions opt;
        opt.sampling.greedy = true;
        opt.max_tokens = 4;
        auto ab = (*session)->chat(two, opt);
        REQUIRE_OK(ab);
        QCOMPARE(ab->prompt_tokens, int(ids.size()));
        // The features follow the images' order: run k holds image k's aligned features.
        ModelState st;
        st.resolved.config = m_parts->config.llm;
        auto m = JanusModel::load(m_parts->config, m_parts->checkpoint, st.lm);
        REQUIRE_OK(m);
        st.janus = std::move(*m);
        st.pool = &ThreadPool::global();
        st.janus_tokens.image = *m_parts->tokenizer->token_to_id("<image_placeholder>");
        auto embeds = janus_prompt_embeddings(st, ids, {&a, &b});
        REQUIRE_OK(embeds);
        const size_t H = 16, first = size_t(std::find(ids.begin(), ids.end(), boi) - ids.begin()) + 1;
        const size_t second = size_t(std::find(ids.begin() + std::ptrdiff_t(first), ids.end(), boi) - ids.begin()) + 1;
        std::vector<float> pixels(size_t(3) * 384 * 384), feats(576 * H), scratch(576 * (64 + H));
        for (const auto& [img, at] : {std::pair{&a, first}, std::pair{&b, second}}) {
            janus_preprocess(*img, 384, pixels.data());
            REQUIRE_OK(st.janus->image_embeddings(pixels.data(), feats.data(), scratch.data(), ThreadPool::global()));
            QCOMPARE(max_rel_error(slice(*embeds, at * H, 576 * H), feats), 0.0);
        }
        // More placeholders than images is an error naming the mismatch.
        auto bad = (*session)->chat({Message("user", "<image_placeholder> and <image_placeholder>", {a})}, opt);
        QVERIFY(!bad.ok());
        QVERIFY2(contains(bad.error().message, "image placeholders"), bad.error().message.c_str());
    }

    void probeEstimatesGenerationMemory() {
        auto info = probe_model(tiny());
        REQUIRE_OK(info);
        QCOMPARE(info->kind, ModelKind::Janus);
        QVERIFY(info->image_generation);
        // Weights plus, for the default 4 images, 8 sequences of at least 576 image tokens each.
        const uint64_t kv8 = 8ull * 576 * info->kv_bytes_per_token;
        QVERIFY(info->memory_estimate > info->weight_bytes + kv8);
    }

    void imagesRefusedByTextModels() {
        auto model = Model::load(fixture("llm/llama_st_single"), LoadOptions{Device::Cpu, 0});
        REQUIRE_OK(model);
        QVERIFY(!(*model)->info().vision_input);
        auto session = (*model)->open_session();
        REQUIRE_OK(session);
        Image img;
        img.width = img.height = 2;
        img.rgb.assign(12, 0);
        auto r = (*session)->chat({Message("user", "hi", {img})}, GenerateOptions{});
        QVERIFY(!r.ok());
        QCOMPARE(r.error().code, ErrorCode::Unsupported);
        auto g = (*session)->generate_images("x", ImageGenerationOptions{});
        QVERIFY(!g.ok());
        QCOMPARE(g.error().code, ErrorCode::Unsupported);
    }

private:
    std::map<std::string, RefTensor> m_ref;
    nlohmann::json m_json;
    std::unique_ptr<Parts> m_parts;
};

QTEST_GUILESS_MAIN(TestJanus)
#include "test_janus.moc"
