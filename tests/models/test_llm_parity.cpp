// Parity of the Llama and Qwen2 CPU models with transformers (float32) on every fixture format: safetensors
// single and sharded, PyTorch .bin single and sharded, transformers 4.x and 5 config spellings, bf16/f16/f32
// weights, tied and untied embeddings. Logits of every position within 1e-4 relative error, 32-token greedy
// continuations identical, chat prompts tokenized identically and chat replies identical, probe numbers
// equal to the checkpoint's.
#include <QtTest/QtTest>

#include <algorithm>
#include <cmath>

#include "models/llm_reference.h"
#include "tessera/engine.h"

using namespace tessera;
using namespace tessera::test;

namespace {

const char* kFixtures[] = {"llama_st_single",  "llama_st_sharded", "llama_bin_single",
                           "llama_bin_sharded", "qwen2_st_single",  "qwen2_bin_sharded"};

void addFixtureRows() {
    QTest::addColumn<QString>("name");
    for (const char* f : kFixtures) QTest::newRow(f) << QString(f);
}

std::shared_ptr<Model> loadOrFail(const std::filesystem::path& dir) {
    auto model = Model::load(dir);
    if (!model.ok()) qWarning("%s", model.error().to_string().c_str());
    return model.ok() ? *model : nullptr;
}

int64_t argmaxRow(const float* row, int64_t n) { return std::max_element(row, row + n) - row; }

}  // namespace

class TestLlmParity : public QObject {
    Q_OBJECT

private slots:
    void logitsMatchReference_data() { addFixtureRows(); }
    void logitsMatchReference() {
        QFETCH(QString, name);
        const LlmReference ref = load_llm_reference(name.toStdString());
        auto model = loadOrFail(ref.dir);
        QVERIFY(model);
        QCOMPARE(int64_t(model->info().vocab_size), ref.vocab);
        auto session = model->open_session();
        QVERIFY(session.ok());
        auto logits = (*session)->logits(ref.ids);
        QVERIFY2(logits.ok(), logits.ok() ? "" : logits.error().to_string().c_str());
        QCOMPARE(logits->size(), ref.logits.size());
        const double err = max_rel_error(*logits, ref.logits);
        qInfo("%s: max relative error %.3g over %zu x %lld logits", qPrintable(name), err, ref.ids.size(),
              static_cast<long long>(ref.vocab));
        QVERIFY2(err <= 1e-4, qPrintable(QString("max relative error %1").arg(err)));
        // The reference is not flat: the check above is not passed by a model that outputs zeros.
        const float spread = *std::max_element(ref.logits.begin(), ref.logits.end()) -
                             *std::min_element(ref.logits.begin(), ref.logits.end());
        QVERIFY(spread > 1.0f);
    }

    void greedyContinuationMatches_data() { addFixtureRows(); }
    void greedyContinuationMatches() {
        QFETCH(QString, name);
        const LlmReference ref = load_llm_reference(name.toStdString());
        auto model = loadOrFail(ref.dir);
        QVERIFY(model);
        auto session = model->open_session();
        QVERIFY(session.ok());
        GenerateOptions opt;
        opt.sampling.greedy = true;
        opt.max_tokens = int(ref.greedy_continuation.size());
        opt.stop_at_eos = false;  // the reference ran exactly 32 argmax steps
        auto stats = (*session)->generate(ref.greedy_prompt, opt);
        QVERIFY2(stats.ok(), stats.ok() ? "" : stats.error().to_string().c_str());
        QCOMPARE(stats->tokens, ref.greedy_continuation);
        QCOMPARE(stats->generated_tokens, 32);
        QCOMPARE(stats->prompt_tokens, int(ref.greedy_prompt.size()));
        QCOMPARE(stats->stop_reason, StopReason::MaxTokens);
    }

    void chatMatchesReference_data() { addFixtureRows(); }
    void chatMatchesReference() {
        QFETCH(QString, name);
        const LlmReference ref = load_llm_reference(name.toStdString());
        auto model = loadOrFail(ref.dir);
        QVERIFY(model);
        // DeepSeek LLM "User: ...\n\nAssistant:" / R1 "<｜User｜>...<｜Assistant｜><think>\n", one BOS.
        QCOMPARE(model->chat_prompt(ref.chat_messages), ref.chat_prompt);

        auto session = model->open_session();
        QVERIFY(session.ok());
        GenerateOptions opt;
        opt.sampling.greedy = true;
        opt.max_tokens = int(ref.chat_continuation.size());
        opt.stop_at_eos = false;
        std::string answer, thinking;
        int events = 0;
        auto stats = (*session)->chat(ref.chat_messages, opt, [&](const TextEvent& e) {
            answer += e.answer;
            thinking += e.thinking;
            if (e.token >= 0) ++events;
            return Flow::Continue;
        });
        QVERIFY2(stats.ok(), stats.ok() ? "" : stats.error().to_string().c_str());
        QCOMPARE(stats->tokens, ref.chat_continuation);
        QCOMPARE(events, 32);  // one callback per token
        const bool r1 = model->info().chat_format == "r1-distill";
        const bool closesThinking = ref.chat_text.find("</think>") != std::string::npos;
        if (r1 && !closesThinking) QVERIFY(answer.empty());  // the R1 prompt opened <think>; never closed
        if (!r1) QVERIFY(thinking.empty());
        // The streamed text is what transformers decoded (bytes of split UTF-8 sequences that never complete
        // become U+FFFD in both), wherever no special token (dropped from the stream) was generated.
        const bool noSpecial = std::all_of(ref.chat_continuation.begin(), ref.chat_continuation.end(),
                                           [&](int32_t id) { return id < 1000; });
        if (noSpecial) QCOMPARE(thinking + answer, ref.chat_text);
    }

    void probeMatchesCheckpoint_data() { addFixtureRows(); }
    void probeMatchesCheckpoint() {
        QFETCH(QString, name);
        const LlmReference ref = load_llm_reference(name.toStdString());
        auto info = probe_model(ref.dir);
        QVERIFY2(info.ok(), info.ok() ? "" : info.error().to_string().c_str());
        const std::string family = ref.json["family"];
        QCOMPARE(std::string(model_kind_name(info->kind)), family);
        QCOMPARE(info->chat_format, std::string(family == "llama" ? "deepseek-llm" : "r1-distill"));
        QCOMPARE(info->parameters, ref.parameters);
        QCOMPARE(info->dtype, ref.json["storage_dtype"].get<std::string>());
        QCOMPARE(info->weight_format, ref.json["format"].get<std::string>());
        QCOMPARE(info->tie_word_embeddings, ref.json["tie_word_embeddings"].get<bool>());
        const uint64_t elem = info->dtype == "f32" ? 4 : 2;
        QCOMPARE(info->weight_bytes, uint64_t(ref.parameters) * elem);
        // Files hold the weights plus headers/pickles: a little more, never less.
        QVERIFY(info->file_bytes >= info->weight_bytes);
        QVERIFY(info->file_bytes < info->weight_bytes + 64 * 1024);
        QCOMPARE(info->context_length, 4096);
        QCOMPARE(info->kv_bytes_per_token,
                 uint64_t(2 * info->num_layers * info->num_kv_heads * info->head_dim) * sizeof(float));
        QVERIFY(info->memory_estimate >= info->weight_bytes + 4096 * info->kv_bytes_per_token);
    }

    // Prefill runs in chunks of 64 tokens and decode one token at a time; all must agree. The tied
    // fixtures have large top-1 margins, so argmax comparisons are meaningful well beyond 32 tokens.
    void chunkedPrefillAgreesWithDecode_data() {
        QTest::addColumn<QString>("name");
        QTest::newRow("llama_st_sharded") << QString("llama_st_sharded");
        QTest::newRow("qwen2_bin_sharded") << QString("qwen2_bin_sharded");
    }
    void chunkedPrefillAgreesWithDecode() {
        QFETCH(QString, name);
        const LlmReference ref = load_llm_reference(name.toStdString());
        auto model = loadOrFail(ref.dir);
        QVERIFY(model);
        auto session = model->open_session();
        QVERIFY(session.ok());
        GenerateOptions opt;
        opt.sampling.greedy = true;
        opt.max_tokens = 120;
        opt.stop_at_eos = false;
        auto stats = (*session)->generate(ref.ids, opt);
        QVERIFY(stats.ok());
        QCOMPARE(stats->generated_tokens, 120);

        std::vector<int32_t> seq = ref.ids;
        seq.insert(seq.end(), stats->tokens.begin(), stats->tokens.end() - 1);  // 27 + 119 = 146: 3 chunks
        auto all = (*session)->logits(seq);
        QVERIFY(all.ok());
        const int64_t V = ref.vocab;
        for (size_t t = ref.ids.size() - 1; t < seq.size(); ++t) {
            const int32_t next = stats->tokens[t - (ref.ids.size() - 1)];
            QCOMPARE(argmaxRow(all->data() + t * size_t(V), V), int64_t(next));
        }
        // A shorter prefix, chunked differently (64 + 36 vs 64 + 64 + 18), gives the same rows.
        std::vector<int32_t> prefix(seq.begin(), seq.begin() + 100);
        auto part = (*session)->logits(prefix);
        QVERIFY(part.ok());
        std::vector<float> a(all->begin(), all->begin() + std::ptrdiff_t(100 * V));
        QVERIFY(max_rel_error(*part, a) <= 1e-5);
        // And the first rows match the transformers reference: the longer context changed nothing before it.
        std::vector<float> head(all->begin(), all->begin() + std::ptrdiff_t(ref.logits.size()));
        QVERIFY(max_rel_error(head, ref.logits) <= 1e-4);
    }
};

QTEST_GUILESS_MAIN(TestLlmParity)
#include "test_llm_parity.moc"
