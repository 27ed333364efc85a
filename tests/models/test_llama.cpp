// The Llama model's load-time checks and wiring, on small crafted checkpoints: tied embeddings (lm_head is
// embed_tokens, a stored lm_head is ignored), missing / misshapen / unexpected tensors named with their file,
// attention_bias, vocabulary checks, out-of-range ids, EOS handling, and a refused CUDA device.
#include <QtTest/QtTest>

#include "models/llm_reference.h"
#include "models/causal_lm_gpu.h"
#include "tessera/engine.h"

using namespace tessera;
using namespace tessera::test;

namespace {

Result<std::shared_ptr<Model>> loadTiny(const TempDir& tmp, const TinyLlama& c, const std::vector<RawTensor>& ts,
                                        const std::string& sub = "model") {
    write_tiny_llama(tmp / sub, c, ts);
    return Model::load(tmp / sub);
}

std::vector<float> allLogits(Model& model, const std::vector<int32_t>& ids) {
    auto session = model.open_session();
    if (!session.ok()) return {};
    auto logits = (*session)->logits(ids);
    return logits.ok() ? *logits : std::vector<float>{};
}

bool contains(const std::string& haystack, const std::string& needle) { return haystack.find(needle) != std::string::npos; }

const std::vector<int32_t> kIds = {1000, 5, 17, 300, 999, 42, 7};

}  // namespace

class TestLlama : public QObject {
    Q_OBJECT

private slots:
    void tiedEmbeddingsReuseEmbedTokens() {
        TempDir tmp;
        TinyLlama untied;
        std::vector<RawTensor> ts = tiny_llama_tensors(untied, 1);
        // Untied model whose lm_head is a copy of embed_tokens ...
        tensor(ts, "lm_head.weight").values = tensor(ts, "model.embed_tokens.weight").values;
        auto reference = loadTiny(tmp, untied, ts, "untied");
        QVERIFY2(reference.ok(), reference.ok() ? "" : reference.error().to_string().c_str());
        const std::vector<float> expected = allLogits(**reference, kIds);
        QVERIFY(!expected.empty());

        // ... equals the tied model that stores no lm_head at all,
        TinyLlama tied = untied;
        tied.tie = true;
        std::vector<RawTensor> without = ts;
        without.pop_back();
        QCOMPARE(without.back().name, std::string("model.norm.weight"));
        auto a = loadTiny(tmp, tied, without, "tied");
        QVERIFY2(a.ok(), a.ok() ? "" : a.error().to_string().c_str());
        QCOMPARE(allLogits(**a, kIds), expected);
        QVERIFY((*a)->info().tie_word_embeddings);
        QCOMPARE((*a)->info().parameters, (*reference)->info().parameters - 1024 * 8);

        // ... and the tied model that stores a different lm_head, which must be ignored.
        std::vector<RawTensor> stale = ts;
        for (float& v : tensor(stale, "lm_head.weight").values) v = -v;
        auto b = loadTiny(tmp, tied, stale, "tied_stale");
        QVERIFY2(b.ok(), b.ok() ? "" : b.error().to_string().c_str());
        QCOMPARE(allLogits(**b, kIds), expected);
    }

    void untiedModelNeedsLmHead() {
        TempDir tmp;
        TinyLlama c;
        std::vector<RawTensor> ts = tiny_llama_tensors(c, 2);
        ts.pop_back();  // lm_head.weight
        auto model = loadTiny(tmp, c, ts);
        QVERIFY(!model.ok());
        QVERIFY2(contains(model.error().message, "lm_head.weight"), model.error().message.c_str());
    }

    void missingTensorIsNamed() {
        TempDir tmp;
        TinyLlama c;
        std::vector<RawTensor> ts = tiny_llama_tensors(c, 3);
        std::erase_if(ts, [](const RawTensor& t) { return t.name == "model.layers.1.mlp.up_proj.weight"; });
        auto model = loadTiny(tmp, c, ts);
        QVERIFY(!model.ok());
        QVERIFY2(contains(model.error().message, "model.layers.1.mlp.up_proj.weight"), model.error().message.c_str());
    }

    void wrongShapeIsNamedWithFile() {
        TempDir tmp;
        TinyLlama c;
        std::vector<RawTensor> ts = tiny_llama_tensors(c, 4);
        RawTensor& q = tensor(ts, "model.layers.1.self_attn.q_proj.weight");
        q.shape = {8, 9};
        q.values.resize(72);
        auto model = loadTiny(tmp, c, ts);
        QVERIFY(!model.ok());
        const std::string& msg = model.error().message;
        QVERIFY2(contains(msg, "model.layers.1.self_attn.q_proj.weight"), msg.c_str());
        QVERIFY2(contains(msg, "[8, 8]") && contains(msg, "[8, 9]"), msg.c_str());
        QVERIFY2(contains(msg, "model.safetensors"), msg.c_str());
        QCOMPARE(model.error().code, ErrorCode::Shape);
        // probe reads the headers only, so it still describes the folder; loading is what validates.
        QVERIFY(probe_model(tmp / "model").ok());
    }

    void unexpectedTensorIsRefused() {
        // A bias the config does not announce would otherwise be silently dropped.
        TempDir tmp;
        TinyLlama c;
        std::vector<RawTensor> ts = tiny_llama_tensors(c, 5);
        ts.push_back(RawTensor{"model.layers.0.mlp.gate_proj.bias", {16}, std::vector<float>(16, 0.5f)});
        auto model = loadTiny(tmp, c, ts);
        QVERIFY(!model.ok());
        QCOMPARE(model.error().code, ErrorCode::Unsupported);
        QVERIFY2(contains(model.error().message, "model.layers.0.mlp.gate_proj.bias"), model.error().message.c_str());
        // A stale rotary buffer is the one extra the loader accepts (models.md §2.2).
        std::vector<RawTensor> rotary = tiny_llama_tensors(c, 5);
        rotary.push_back(RawTensor{"model.layers.0.self_attn.rotary_emb.inv_freq", {2}, {1.0f, 0.01f}});
        auto ok = loadTiny(tmp, c, rotary, "rotary");
        QVERIFY2(ok.ok(), ok.ok() ? "" : ok.error().to_string().c_str());
    }

    void attentionBiasIsWired() {
        TempDir tmp;
        TinyLlama c;
        std::vector<RawTensor> ts = tiny_llama_tensors(c, 6);
        auto plain = loadTiny(tmp, c, ts, "plain");
        QVERIFY(plain.ok());
        const std::vector<float> before = allLogits(**plain, kIds);
        QVERIFY(!before.empty());

        write_tiny_llama(tmp / "bias", c, ts);
        auto cfg = nlohmann::json::parse(read_file(tmp / "bias" / "config.json"));
        cfg["attention_bias"] = true;
        write_file(tmp / "bias" / "config.json", cfg.dump());
        auto missing = Model::load(tmp / "bias");
        QVERIFY(!missing.ok());
        QVERIFY2(contains(missing.error().message, "model.layers.0.self_attn.q_proj.bias"),
                 missing.error().message.c_str());

        // Llama's attention_bias covers all four projections; zero biases change nothing, a non-zero o bias does.
        for (int l = 0; l < c.layers; ++l) {
            const std::string p = "model.layers." + std::to_string(l) + ".self_attn.";
            ts.push_back(RawTensor{p + "q_proj.bias", {8}, std::vector<float>(8, 0.0f)});
            ts.push_back(RawTensor{p + "k_proj.bias", {4}, std::vector<float>(4, 0.0f)});
            ts.push_back(RawTensor{p + "v_proj.bias", {4}, std::vector<float>(4, 0.0f)});
            ts.push_back(RawTensor{p + "o_proj.bias", {8}, std::vector<float>(8, 0.0f)});
        }
        write_safetensors(tmp / "bias" / "model.safetensors", ts);
        auto zero = Model::load(tmp / "bias");
        QVERIFY2(zero.ok(), zero.ok() ? "" : zero.error().to_string().c_str());
        QVERIFY(max_rel_error(allLogits(**zero, kIds), before) < 1e-6);
        tensor(ts, "model.layers.1.self_attn.o_proj.bias").values.assign(8, 0.7f);
        write_safetensors(tmp / "bias" / "model.safetensors", ts);
        auto shifted = Model::load(tmp / "bias");
        QVERIFY(shifted.ok());
        QVERIFY(max_rel_error(allLogits(**shifted, kIds), before) > 1e-3);
    }

    void tokenizerSpecialsMustFitTheVocabulary() {
        TempDir tmp;
        TinyLlama c;
        c.vocab = 512;  // the tokenizer's BOS is id 1000
        auto model = loadTiny(tmp, c, tiny_llama_tensors(c, 7));
        QVERIFY(!model.ok());
        QCOMPARE(model.error().code, ErrorCode::Config);
        QVERIFY2(contains(model.error().message, "vocab_size"), model.error().message.c_str());
    }

    void outOfRangeIdsAreRejected() {
        TempDir tmp;
        TinyLlama c;
        auto model = loadTiny(tmp, c, tiny_llama_tensors(c, 8));
        QVERIFY(model.ok());
        auto session = (*model)->open_session();
        QVERIFY(session.ok());
        auto logits = (*session)->logits({1, 2, 5000});
        QVERIFY(!logits.ok());
        QCOMPARE(logits.error().code, ErrorCode::InvalidArgument);
        QVERIFY2(contains(logits.error().message, "5000"), logits.error().message.c_str());
        auto negative = (*session)->generate({-1}, GenerateOptions{});
        QVERIFY(!negative.ok());
        auto empty = (*session)->generate({}, GenerateOptions{});
        QVERIFY(!empty.ok());
        // The session still works after refusing bad input.
        QVERIFY((*session)->logits({1, 2, 3}).ok());
    }

    void eosEndsTheReply() {
        // Attention and MLP outputs zero, so the last hidden state is the embedding; its dim 0 is 1 for every
        // token and the final norm keeps only dim 0, which only EOS's lm_head row reads: EOS always wins.
        TempDir tmp;
        TinyLlama c;
        std::vector<RawTensor> ts = tiny_llama_tensors(c, 9);
        for (RawTensor& t : ts)
            if (t.name.ends_with("o_proj.weight") || t.name.ends_with("down_proj.weight"))
                std::fill(t.values.begin(), t.values.end(), 0.0f);
        RawTensor& embed = tensor(ts, "model.embed_tokens.weight");
        for (int v = 0; v < c.vocab; ++v) embed.values[size_t(v * c.hidden)] = 1.0f;
        tensor(ts, "model.norm.weight").values.assign(8, 0.0f);
        tensor(ts, "model.norm.weight").values[0] = 1.0f;
        RawTensor& head = tensor(ts, "lm_head.weight");
        std::fill(head.values.begin(), head.values.end(), 0.0f);
        head.values[size_t(1001 * c.hidden)] = 5.0f;
        auto model = loadTiny(tmp, c, ts);
        QVERIFY2(model.ok(), model.ok() ? "" : model.error().to_string().c_str());
        QCOMPARE((*model)->eos_ids(), std::vector<int32_t>{1001});
        auto session = (*model)->open_session();
        QVERIFY(session.ok());

        GenerateOptions opt;
        opt.sampling.greedy = true;
        opt.max_tokens = 10;
        std::string text;
        auto stats = (*session)->generate({1000, 5, 6}, opt, [&](const TextEvent& e) {
            text += e.answer;
            return Flow::Continue;
        });
        QVERIFY(stats.ok());
        QCOMPARE(stats->stop_reason, StopReason::Eos);
        QCOMPARE(stats->tokens, std::vector<int32_t>{1001});  // EOS counted, as HF does
        QCOMPARE(stats->generated_tokens, 1);
        QVERIFY(text.empty());  // but never shown

        opt.stop_at_eos = false;
        opt.max_tokens = 4;
        stats = (*session)->generate({1000, 5, 6}, opt);
        QVERIFY(stats.ok());
        QCOMPARE(stats->stop_reason, StopReason::MaxTokens);
        QCOMPARE(stats->tokens, std::vector<int32_t>(4, 1001));
    }

    void cudaWithoutGpuIsRefusedCleanly() {
        if (cuda_device_count() > 0) QSKIP("a GPU is present: the GPU path is checked by tests/gpu");
        LoadOptions options;
        options.device = Device::Cuda;
        auto model = Model::load(fixture("llm/llama_st_single"), options);
        QVERIFY(!model.ok());
        // Built without CUDA: Unsupported; built with it on a machine without a GPU: Device.
        QVERIFY2(model.error().code == ErrorCode::Unsupported || model.error().code == ErrorCode::Device,
                 model.error().to_string().c_str());
        QVERIFY2(contains(model.error().message, "CUDA"), model.error().message.c_str());
        // Auto falls back to the CPU.
        options.device = Device::Auto;
        auto cpu = Model::load(fixture("llm/llama_st_single"), options);
        QVERIFY2(cpu.ok(), cpu.ok() ? "" : cpu.error().to_string().c_str());
        QCOMPARE((*cpu)->device(), Device::Cpu);
        QCOMPARE((*cpu)->device_name(), std::string("CPU"));
    }

    void missingFolderIsNamed() {
        TempDir tmp;
        const auto dir = tmp / "no-such-model";
        auto model = Model::load(dir);
        QVERIFY(!model.ok());
        QVERIFY2(contains(model.error().message, dir.string()), model.error().message.c_str());
        auto info = probe_model(dir);
        QVERIFY(!info.ok());
        QCOMPARE(info.error().code, ErrorCode::Io);
    }
};

QTEST_GUILESS_MAIN(TestLlama)
#include "test_llama.moc"
