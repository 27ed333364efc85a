// tessera-cli on GGUF paths ($TESSERA_BIN_DIR/inference/tessera-cli): info (text, --json, --chat-template)
// with the GGUF header's details, tokenize equal to the same model's tokenizer.json, logits and a greedy chat
// equal to the transformers references of the safetensors fixture the GGUF was made from, and a truncated
// file reported (header shown, clear error, exit 1), never a crash. The real R1 distill, when present, shows
// its real configuration.
#include <QtTest/QtTest>

#include <QProcess>

#include <cstdlib>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "support/cli_runner.h"
#include "support/test_support.h"

using namespace tessera::test;

namespace {

using Run = CliRun;
Run run(const QStringList& args, const QByteArray& input = {}) { return runCli(args, input); }

QString q(const std::filesystem::path& p) { return QString::fromStdString(p.string()); }
QString gguf(const char* name) { return q(fixture(std::string("gguf/") + name)); }
bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

nlohmann::json reference(const std::string& name) {
    return nlohmann::json::parse(read_file(fixture("llm/" + name + "/reference.json")));
}

}  // namespace

class TestGgufCli : public QObject {
    Q_OBJECT

private slots:
    void initTestCase() {
        QVERIFY2(std::getenv("TESSERA_BIN_DIR"), "TESSERA_BIN_DIR is not set");
        QVERIFY2(QFileInfo(cliPath()).isExecutable(), qPrintable(cliPath() + " is not built"));
    }

    void infoShowsGgufDetails() {
        Run r = run({"info", gguf("quant_q4_k.gguf")});
        QCOMPARE(r.code, 0);
        for (const char* part : {"kind:            qwen2", "dtype:           q4_k (gguf", "gguf:            version 3",
                                 "tensor types:    F32 x", "Q4_K x", "pre-tokenizer qwen2", "chat format:     r1-distill"})
            QVERIFY2(contains(r.out, part), (std::string(part) + " not in:\n" + r.out).c_str());
        r = run({"info", gguf("quant_llama_q4_k.gguf"), "--json"});
        QCOMPARE(r.code, 0);
        const auto j = nlohmann::json::parse(r.out);
        QCOMPARE(j["weight_format"].get<std::string>(), std::string("gguf"));
        QCOMPARE(j["kind"].get<std::string>(), std::string("llama"));
        QCOMPARE(j["chat_format"].get<std::string>(), std::string("deepseek-llm"));
        QCOMPARE(j["gguf"]["tensor_types"]["Q4_K"]["tensors"].get<int>(), 9);  // embed, 7 projections, output
        QCOMPARE(j["gguf"]["chat_format_reason"].get<std::string>(), std::string("tokenizer.ggml.pre is deepseek-llm"));
    }

    void infoPrintsTheChatTemplate() {
        Run r = run({"info", gguf("qwen2_f32.gguf"), "--chat-template"});
        QCOMPARE(r.code, 0);
        QVERIFY2(contains(r.out, "<｜Assistant｜><think>"), r.out.c_str());
        r = run({"info", gguf("qwen2_f32.gguf")});
        QVERIFY2(contains(r.out, "chat format:     r1-distill (tokenizer.chat_template has the R1 markers"), r.out.c_str());
        r = run({"info", q(fixture("llm/qwen2_st_single")), "--chat-template"});
        QCOMPARE(r.code, 2);
    }

    void tokenizeEqualsTheFolder() {
        const auto ref = reference("qwen2_st_single");
        int checked = 0;
        for (const auto& c : ref["tokenize"]) {
            const QByteArray text = QByteArray::fromStdString(c["text"].get<std::string>());
            Run a = run({"tokenize", gguf("qwen2_f32.gguf")}, text);
            Run b = run({"tokenize", q(fixture("llm/qwen2_st_single"))}, text);
            QCOMPARE(a.code, 0);
            QCOMPARE(a.out, b.out);
            ++checked;
        }
        QVERIFY(checked >= 3);
    }

    void logitsMatchTheReference() {
        const auto ref = reference("llama_st_single");
        std::string ids;
        for (const auto& id : ref["ids"]) ids += (ids.empty() ? "" : ",") + std::to_string(id.get<int>());
        TempDir tmp;
        const auto out = tmp / "logits.f32";
        Run r = run({"logits", gguf("llama_f32.gguf"), "--ids", QString::fromStdString(ids), "--out", q(out)});
        QCOMPARE(r.code, 0);
        const std::vector<float> got = read_f32_file(out);
        const std::vector<float> want = read_f32_file(fixture("llm/llama_st_single/logits.f32"));
        QCOMPARE(got.size(), want.size());
        QVERIFY(max_rel_error(got, want) <= 1e-4);
    }

    void chatOneShotEqualsTheGreedyReference() {
        const auto ref = reference("llama_st_single");
        const std::string prompt = ref["chat"]["messages"][0]["content"];
        Run r = run({"chat", gguf("llama_f32.gguf"), "--greedy", "-p", QString::fromStdString(prompt), "--max-tokens",
                     "32", "--no-stats"});
        QCOMPARE(r.code, 0);
        QCOMPARE(r.out, ref["chat"]["continuation_text"].get<std::string>() + "\n");
        // A quantized file chats too.
        r = run({"chat", gguf("quant_q8_0.gguf"), "--greedy", "-p", "hi", "--max-tokens", "4"});
        QCOMPARE(r.code, 0);
        QVERIFY2(contains(r.err, "tok/s"), r.err.c_str());
    }

    void truncatedFileIsReportedNotCrashed() {
        Run r = run({"info", gguf("qwen2_truncated.gguf")});
        QCOMPARE(r.code, 1);
        QVERIFY2(contains(r.out, "shape:           3 layers, hidden 72") && contains(r.out, "TRUNCATED"), r.out.c_str());
        QVERIFY2(contains(r.err, "qwen2_truncated.gguf: tensor '") && contains(r.err, "truncated?"), r.err.c_str());
        r = run({"chat", gguf("qwen2_truncated.gguf"), "-p", "hi"});
        QCOMPARE(r.code, 1);
        QVERIFY2(contains(r.err, "runs past the end of the data section"), r.err.c_str());
        // The tokenizer lives in the header: tokenize still works.
        r = run({"tokenize", gguf("qwen2_truncated.gguf")}, "Hello");
        QCOMPARE(r.code, 0);
    }

    void realModelInfo() {
        const char* env = std::getenv("TESSERA_REAL_GGUF");
        const auto path = env && *env ? std::filesystem::path(env)
                                      : fixture("../../models-cache/gguf/DeepSeek-R1-Distill-Qwen-7B.gguf");
        if (!std::filesystem::exists(path)) QSKIP("real GGUF not present (tools/get-real-models.sh)");
        Run r = run({"info", q(path)});
        QVERIFY2(r.code == 0 || r.code == 1, r.err.c_str());
        for (const char* part : {"Qwen2ForCausalLM", "28 layers, hidden 3584, heads 28 / kv 4 x 128, intermediate 18944",
                                 "vocab 152064", "pre-tokenizer deepseek-r1-qwen", "chat format:     r1-distill", "Q4_K x"})
            QVERIFY2(contains(r.out, part), (std::string(part) + " not in:\n" + r.out).c_str());
        qInfo("%s", r.out.c_str());
        if (r.code == 1) {
            QVERIFY2(contains(r.err, "truncated?"), r.err.c_str());
            r = run({"chat", q(path), "-p", "What is 2+2?"});
            QCOMPARE(r.code, 1);
            QVERIFY2(contains(r.err, "runs past the end of the data section"), r.err.c_str());
        }
    }
};

QTEST_GUILESS_MAIN(TestGgufCli)
#include "test_gguf_cli.moc"
