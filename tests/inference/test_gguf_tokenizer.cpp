// The tokenizer of a GGUF file (tokenizer/gguf_tokenizer.h) against the tokenizer.json tokenizer of the
// same model: qwen2_f32.gguf carries tests/fixtures/llm/qwen2_st_single's tokenizer as tokenizer.ggml.*
// metadata (pre "deepseek-r1-qwen"), llama_f32.gguf llama_st_single's (pre "deepseek-llm"); both must give
// identical ids on varied text. Broken metadata gives errors naming the file and the key.
#include <QtTest/QtTest>

#include "io/gguf.h"
#include "support/test_support.h"
#include "tokenizer/gguf_tokenizer.h"
#include "tokenizer/tokenizer.h"

using namespace tessera;
using namespace tessera::test;

namespace {

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

const std::vector<std::string>& samples() {
    static const std::vector<std::string> s = {
        "Hello, how are you?", "The quick brown fox jumps over 13 lazy dogs.\n\nDone.", "I'm fine; you'll see, we've won.",
        "   leading and trailing   ", "tabs\tand\nnewlines\r\n", "\n\n\n", " ", "", "a", "ALL CAPS, MixedCase",
        "你好，世界！今天天气怎么样？", "数学：3 + 4 = 7。", "日本語とEnglishの混在", "한국어 문장",
        "def f(x):\n    return x ** 2  # square\n", "for (int i = 0; i < n; ++i) { s += a[i]; }",
        "{\"key\": [1, 2, 3]}", "https://example.com/path?q=1&r=2", "emoji 🙂😀👍🏽 and 👨‍👩‍👧 family",
        "🚀🚀🚀", "Café naïve résumé", "Cafe\xcc\x81 (decomposed e + acute)", "Ω ≠ Ω, Å vs Å", "ﬁ ligature",
        "1234567890 3.14159 -42 1e-9", "<｜User｜>Hi<｜Assistant｜><think>\nhmm</think>ok<｜end▁of▁sentence｜>",
        "<｜begin▁of▁sentence｜>text", "text<think>inside", "\xff\xfe invalid bytes", "Ünïcödé Ελληνικά Русский",
        "x\u00a0y\u2003z", "    indented code", "ab" "ab" "ab" "ab" "ab" "ab", "$$\\frac{a}{b}$$ \\boxed{1}",
    };
    return s;
}

std::unique_ptr<Tokenizer> fromGguf(const std::string& name, std::string& error) {
    auto t = load_model_tokenizer(fixture("gguf/" + name));
    if (!t.ok()) {
        error = t.error().to_string();
        return nullptr;
    }
    return std::move(t).value();
}

}  // namespace

class TestGgufTokenizer : public QObject {
    Q_OBJECT

private slots:
    void sameIdsAsTokenizerJson_data() {
        QTest::addColumn<QString>("gguf");
        QTest::addColumn<QString>("folder");
        QTest::newRow("qwen2 / deepseek-r1-qwen") << "qwen2_f32.gguf" << "llm/qwen2_st_single";
        QTest::newRow("llama / deepseek-llm") << "llama_f32.gguf" << "llm/llama_st_single";
    }
    void sameIdsAsTokenizerJson() {
        QFETCH(QString, gguf);
        QFETCH(QString, folder);
        std::string error;
        auto g = fromGguf(gguf.toStdString(), error);
        QVERIFY2(g, error.c_str());
        auto j = Tokenizer::load(fixture(folder.toStdString()));
        QVERIFY2(j.ok(), j.ok() ? "" : j.error().to_string().c_str());
        const Tokenizer& ref = **j;
        QCOMPARE(g->bos_id(), ref.bos_id());
        QCOMPARE(g->eos_id(), ref.eos_id());
        QCOMPARE(g->adds_bos(), ref.adds_bos());
        int nonTrivial = 0;
        for (const std::string& text : samples()) {
            for (bool special : {true, false}) {
                const std::vector<int32_t> a = g->encode(text, special), b = ref.encode(text, special);
                if (a != b) {
                    QString ga, rb;
                    for (int32_t id : a) ga += QString::number(id) + " ";
                    for (int32_t id : b) rb += QString::number(id) + " ";
                    QFAIL(qPrintable(QString("'%1' (special %2): gguf [%3] vs tokenizer.json [%4]")
                                         .arg(QString::fromStdString(text)).arg(special).arg(ga, rb)));
                }
                nonTrivial += a.size() > 3 ? 1 : 0;
            }
            QCOMPARE(g->decode(g->encode(text, false)), ref.decode(ref.encode(text, false)));
        }
        QVERIFY(nonTrivial > 20);
        // Every id maps to the same string (added tokens included).
        for (int32_t id = 0; id < ref.vocab_size(); ++id) QCOMPARE(g->id_to_token(id), ref.id_to_token(id));
    }

    void specialFlagsFromTokenTypes() {
        std::string error;
        auto g = fromGguf("qwen2_f32.gguf", error);
        QVERIFY2(g, error.c_str());
        // Control tokens are special (skipped by decode(skip_special)); user-defined <think> is not.
        const auto eos = g->token_to_id("<｜end▁of▁sentence｜>");
        const auto think = g->token_to_id("<think>");
        QVERIFY(eos && think);
        QVERIFY(g->is_special(*eos));
        QVERIFY(!g->is_special(*think));
        QCOMPARE(g->decode({*think, *eos}, /*skip_special=*/true), std::string("<think>"));
    }

    void chatFormatFromMetadata() {
        auto q = GgufFile::open(fixture("gguf/qwen2_f32.gguf"));
        QVERIFY(q.ok());
        const GgufChatChoice r1 = gguf_chat_format(**q);
        QCOMPARE(r1.format, ChatFormat::R1Distill);
        QVERIFY2(contains(r1.reason, "chat_template"), r1.reason.c_str());
        auto l = GgufFile::open(fixture("gguf/llama_f32.gguf"));
        QVERIFY(l.ok());
        const GgufChatChoice llm = gguf_chat_format(**l);
        QCOMPARE(llm.format, ChatFormat::DeepSeekLlm);
        QCOMPARE(std::string(llm.name), std::string("deepseek-llm"));
        // No template: by architecture (tiny_qwen2.gguf has none).
        auto t = GgufFile::open(fixture("gguf/tiny_qwen2.gguf"));
        QVERIFY(t.ok());
        QCOMPARE(gguf_chat_format(**t).format, ChatFormat::R1Distill);
    }

    void badMetadataGivesClearErrors_data() {
        QTest::addColumn<QString>("file");
        QTest::addColumn<QString>("expected");
        QTest::newRow("missing tokens") << "tok_missing_tokens.gguf" << "tok_missing_tokens.gguf: tokenizer.ggml.tokens: missing";
        QTest::newRow("merge with unknown symbol")
            << "tok_bad_merge.gguf" << "tok_bad_merge.gguf: tokenizer.ggml.merges[1] 'a z': symbol 'z' is not in tokenizer.ggml.tokens";
        QTest::newRow("unknown pre") << "tok_unknown_pre.gguf"
                                     << "tok_unknown_pre.gguf: tokenizer.ggml.pre 'tekken-9000' is not supported";
        QTest::newRow("not gpt2 (tiny fixture has no merges)") << "tiny_qwen2.gguf" << "tiny_qwen2.gguf: tokenizer.ggml.merges";
    }
    void badMetadataGivesClearErrors() {
        QFETCH(QString, file);
        QFETCH(QString, expected);
        auto t = load_model_tokenizer(fixture("gguf/" + file.toStdString()));
        QVERIFY(!t.ok());
        QVERIFY2(contains(t.error().message, expected.toStdString()), t.error().message.c_str());
    }
};

QTEST_GUILESS_MAIN(TestGgufTokenizer)
#include "test_gguf_tokenizer.moc"
