// What Qwen2 (the R1 distills) adds to the shared decoder: q/k/v biases (required and used; an o_proj bias
// is refused), the R1 chat format (thinking dropped from history, the prompt opening <think>), the
// thinking/answer split of streamed replies, and the sampling defaults from generation_config.json.
#include <QtTest/QtTest>

#include "models/llm_reference.h"
#include "runtime/text_stream.h"
#include "tessera/engine.h"
#include "tokenizer/tokenizer.h"

using namespace tessera;
using namespace tessera::test;

namespace {

bool contains(const std::string& haystack, const std::string& needle) { return haystack.find(needle) != std::string::npos; }

// The tiny Llama of llm_reference.h relabelled as Qwen2 (same tensor names; Qwen2 adds the biases).
void writeTinyQwen2(const std::filesystem::path& dir, const std::vector<RawTensor>& ts) {
    TinyLlama c;
    write_tiny_llama(dir, c, ts);
    auto cfg = nlohmann::json::parse(read_file(dir / "config.json"));
    cfg["architectures"] = {"Qwen2ForCausalLM"};
    cfg["model_type"] = "qwen2";
    cfg["use_sliding_window"] = false;
    write_file(dir / "config.json", cfg.dump());
}

void addBiases(std::vector<RawTensor>& ts, float value) {
    for (int l = 0; l < 2; ++l) {
        const std::string p = "model.layers." + std::to_string(l) + ".self_attn.";
        ts.push_back(RawTensor{p + "q_proj.bias", {8}, std::vector<float>(8, value)});
        ts.push_back(RawTensor{p + "k_proj.bias", {4}, std::vector<float>(4, -value)});
        ts.push_back(RawTensor{p + "v_proj.bias", {4}, std::vector<float>(4, value)});
    }
}

std::vector<float> allLogits(const std::filesystem::path& dir, const std::vector<int32_t>& ids) {
    auto model = Model::load(dir);
    if (!model.ok()) return {};
    auto session = (*model)->open_session();
    auto logits = (*session)->logits(ids);
    return logits.ok() ? *logits : std::vector<float>{};
}

}  // namespace

class TestQwen2 : public QObject {
    Q_OBJECT

private slots:
    void qkvBiasesAreRequiredAndUsed() {
        TempDir tmp;
        std::vector<RawTensor> ts = tiny_llama_tensors(TinyLlama{}, 11);
        writeTinyQwen2(tmp / "nobias", ts);
        auto missing = Model::load(tmp / "nobias");
        QVERIFY(!missing.ok());
        QVERIFY2(contains(missing.error().message, "model.layers.0.self_attn.q_proj.bias"),
                 missing.error().message.c_str());

        const std::vector<int32_t> ids = {1000, 3, 99, 512};
        std::vector<RawTensor> zero = ts, nonzero = ts;
        addBiases(zero, 0.0f);
        addBiases(nonzero, 0.4f);
        writeTinyQwen2(tmp / "zero", zero);
        writeTinyQwen2(tmp / "nonzero", nonzero);
        auto info = probe_model(tmp / "zero");
        QVERIFY(info.ok());
        QCOMPARE(info->kind, ModelKind::Qwen2);
        const std::vector<float> a = allLogits(tmp / "zero", ids), b = allLogits(tmp / "nonzero", ids);
        QVERIFY(!a.empty() && !b.empty());
        QVERIFY(max_rel_error(b, a) > 1e-3);  // the biases take part

        // Qwen2's o_proj has no bias (models.md §11.34): one in the file is not silently dropped.
        std::vector<RawTensor> with_o = zero;
        with_o.push_back(RawTensor{"model.layers.0.self_attn.o_proj.bias", {8}, std::vector<float>(8, 1.0f)});
        writeTinyQwen2(tmp / "obias", with_o);
        auto refused = Model::load(tmp / "obias");
        QVERIFY(!refused.ok());
        QVERIFY2(contains(refused.error().message, "o_proj.bias"), refused.error().message.c_str());
    }

    void chatPromptFollowsR1Template() {
        auto model = Model::load(fixture("llm/qwen2_st_single"));
        QVERIFY(model.ok());
        QCOMPARE((*model)->info().chat_format, std::string("r1-distill"));
        const std::vector<Message> messages = {{"user", "Hi"},
                                               {"assistant", "<think>\nprivate musing\n</think>\n\nHello!"},
                                               {"user", "Again"}};
        const std::vector<int32_t> ids = (*model)->chat_prompt(messages);
        QVERIFY(!ids.empty());
        QCOMPARE(ids.front(), 1003);  // BOS, once
        QCOMPARE(std::count(ids.begin(), ids.end(), 1003), 1);
        const std::string text = (*model)->detokenize(ids);
        QVERIFY2(text.starts_with("<｜begin▁of▁sentence｜><｜User｜>Hi<｜Assistant｜>"), text.c_str());
        QVERIFY2(contains(text, "Hello!<｜end▁of▁sentence｜><｜User｜>Again<｜Assistant｜><think>\n"), text.c_str());
        QVERIFY2(text.ends_with("<think>\n"), text.c_str());
        QVERIFY2(!contains(text, "private musing"), text.c_str());  // history keeps only the answer (§3.4)
    }

    void thinkingAndAnswerAreSplit_data() {
        QTest::addColumn<bool>("thinkIsSpecial");
        QTest::newRow("think tokens plain") << false;
        QTest::newRow("think tokens special") << true;  // dropped by the decoder, still split on
    }
    void thinkingAndAnswerAreSplit() {
        QFETCH(bool, thinkIsSpecial);
        TempDir tmp;
        const auto src = fixture("llm/qwen2_st_single");
        std::filesystem::copy_file(src / "tokenizer_config.json", tmp / "tokenizer_config.json");
        auto tj = nlohmann::json::parse(read_file(src / "tokenizer.json"));
        for (auto& added : tj["added_tokens"])
            if (added["content"] == "<think>" || added["content"] == "</think>") added["special"] = thinkIsSpecial;
        write_file(tmp / "tokenizer.json", tj.dump());
        auto tok = Tokenizer::load(tmp.path());
        QVERIFY(tok.ok());
        QCOMPARE((*tok)->is_special(1006), thinkIsSpecial);
        const std::vector<int32_t> ids = (*tok)->encode("Let me see, 2+2.</think>\n\nThe answer is 4.", false);
        QVERIFY(std::count(ids.begin(), ids.end(), 1006) == 1);  // </think> is one token

        GenerateOptions opt;
        opt.split_thinking = true;
        opt.starts_in_thinking = true;
        TextStream stream(**tok, opt);
        std::string thinking, answer;
        for (int32_t id : ids) {
            bool stopped = false;
            const TextEvent e = stream.push(id, stopped);
            QVERIFY(!stopped);
            QCOMPARE(e.token, id);
            thinking += e.thinking;
            answer += e.answer;
        }
        const TextEvent tail = stream.flush();
        thinking += tail.thinking;
        answer += tail.answer;
        QCOMPARE(thinking, std::string("Let me see, 2+2."));
        QCOMPARE(answer, std::string("\n\nThe answer is 4."));

        // Stop strings cut the raw stream; what precedes the stop string still arrives, split.
        opt.stop_strings = {"answer"};
        TextStream stopping(**tok, opt);
        thinking.clear();
        answer.clear();
        bool stopped = false;
        for (int32_t id : ids) {
            const TextEvent e = stopping.push(id, stopped);
            thinking += e.thinking;
            answer += e.answer;
            if (stopped) break;
        }
        QVERIFY(stopped);
        const TextEvent rest = stopping.flush();
        thinking += rest.thinking;
        answer += rest.answer;
        QCOMPARE(thinking, std::string("Let me see, 2+2."));
        QCOMPARE(answer, std::string("\n\nThe "));

        // Without the split everything is answer text (special tokens dropped).
        GenerateOptions plain;
        TextStream whole(**tok, plain);
        std::string all;
        for (int32_t id : ids) all += whole.push(id, stopped).answer;
        all += whole.flush().answer;
        QCOMPARE(all, thinkIsSpecial ? std::string("Let me see, 2+2.\n\nThe answer is 4.")
                                     : std::string("Let me see, 2+2.</think>\n\nThe answer is 4."));
    }

    void samplingDefaultsComeFromGenerationConfig() {
        auto qwen = probe_model(fixture("llm/qwen2_st_single"));
        QVERIFY(qwen.ok());
        QVERIFY(!qwen->default_sampling.greedy);
        QCOMPARE(qwen->default_sampling.temperature, 0.6f);
        QCOMPARE(qwen->default_sampling.top_p, 0.95f);
        auto llama = probe_model(fixture("llm/llama_st_single"));
        QVERIFY(llama.ok());
        QCOMPARE(llama->default_sampling.temperature, 0.7f);

        // Without generation_config.json: the family defaults of models.md §10.
        TempDir tmp;
        std::vector<RawTensor> ts = tiny_llama_tensors(TinyLlama{}, 12);
        addBiases(ts, 0.0f);
        writeTinyQwen2(tmp / "m", ts);
        auto info = probe_model(tmp / "m");
        QVERIFY(info.ok());
        QCOMPARE(info->default_sampling.temperature, 0.6f);
        QCOMPARE(info->default_sampling.top_p, 0.95f);
        write_file(tmp / "m" / "generation_config.json", R"({"do_sample": false, "temperature": 0.3})");
        info = probe_model(tmp / "m");
        QVERIFY(info.ok());
        QVERIFY(info->default_sampling.greedy);
        QCOMPARE(info->default_sampling.temperature, 0.3f);
    }
};

QTEST_GUILESS_MAIN(TestQwen2)
#include "test_qwen2.moc"
