// Tokenizer tests: parity with the reference `tokenizers` library on the DeepSeek LLM tokenizer and on a
// Qwen2-style tokenizer (NFC + the Qwen2 regex), decoding, streaming, added-token options, the pieces
// (split behaviours, Oniguruma-compatible regexes, NFC), and errors for broken files.
#include <QtTest>

#include <algorithm>
#include <atomic>
#include <thread>

#include <nlohmann/json.hpp>

#include "support/test_support.h"
#include "tokenizer/normalizer.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/regex.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

using namespace tessera;
using json = nlohmann::json;

namespace {

struct Case {
    std::string text;
    std::vector<int32_t> ids, ids_bos;
    std::string decoded, decoded_skip;
    bool roundtrip = false;
};

std::vector<Case> load_cases(const std::string& rel) {
    const json doc = json::parse(test::read_file(test::fixture(rel)));
    std::vector<Case> out;
    for (const json& c : doc.at("cases"))
        out.push_back({c.at("text"), c.at("ids"), c.at("ids_bos"), c.at("decoded"), c.at("decoded_skip"),
                       c.at("roundtrip")});
    return out;
}

std::unique_ptr<Tokenizer> load_fixture(const std::string& name) {
    // The DeepSeek LLM tokenizer is kept once, with the LLM fixtures.
    auto r = Tokenizer::load(test::fixture(name == "deepseek-llm" ? std::string("llm/deepseek-llm-tokenizer") : "tokenizer/" + name));
    if (!r.ok()) qFatal("%s", r.error().to_string().c_str());
    return std::move(r).value();
}

using Ids = std::vector<int32_t>;
using Spans = std::vector<std::pair<size_t, size_t>>;

QByteArray show(const std::vector<int32_t>& ids) { return QByteArray::fromStdString(json(ids).dump()); }
QByteArray show(const std::string& s) { return QByteArray::fromStdString(json(s).dump()); }
QByteArray show(const Spans& spans) { return QByteArray::fromStdString(json(spans).dump()); }

// A small byte-level tokenizer.json to edit for the error and option tests.
json tiny_tokenizer() {
    return json::parse(R"({
      "version": "1.0",
      "added_tokens": [{"id": 6, "content": "<s>", "special": true, "lstrip": false, "rstrip": false,
                        "single_word": false, "normalized": false}],
      "normalizer": null,
      "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": "\\s+"}, "behavior": "Isolated", "invert": false},
        {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false}]},
      "post_processor": {"type": "TemplateProcessing",
        "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}]},
      "decoder": {"type": "ByteLevel"},
      "model": {"type": "BPE", "dropout": null, "unk_token": null, "vocab": {"a": 0, "b": 1, "c": 2, "ab": 3,
                "bc": 4, "Ġ": 5}, "merges": ["a b", "b c"]}
    })");
}

void write_json(const std::filesystem::path& path, const json& j) { test::write_file(path, j.dump()); }

// Parity of one case set: ids without and with BOS, and the decode rules.
void check_parity(const Tokenizer& tok, const std::vector<Case>& cases) {
    int bad = 0;
    for (const Case& c : cases) {
        const auto ids = tok.encode(c.text, false);
        const auto ids_bos = tok.encode(c.text, true);
        if (ids != c.ids || ids_bos != c.ids_bos) {
            if (++bad <= 3)
                qWarning("text %s\n  expected %s\n  got      %s", show(c.text).constData(), show(c.ids).constData(),
                         show(ids).constData());
        }
        QCOMPARE(show(tok.decode(c.ids_bos, false)), show(c.decoded));
        QCOMPARE(show(tok.decode(c.ids_bos, true)), show(c.decoded_skip));
    }
    QCOMPARE(bad, 0);
}

}  // namespace

class TestTokenizer : public QObject {
    Q_OBJECT

private slots:
    void initTestCase() {
        m_deepseek = load_fixture("deepseek-llm");
        m_qwen = load_fixture("qwen2-tiny");
    }

    void smokeHelloDeepSeek() {
        QCOMPARE(show(m_deepseek->encode("Hello, how are you?")), show(Ids{100000, 17464, 11, 946, 418, 340, 30}));
        QCOMPARE(show(m_deepseek->encode("Hello, how are you?", false)), show(Ids{17464, 11, 946, 418, 340, 30}));
        QCOMPARE(m_deepseek->decode({100000, 17464, 11, 946, 418, 340, 30}, true), std::string("Hello, how are you?"));
    }

    void deepseekVocabulary() {
        const Tokenizer& t = *m_deepseek;
        QCOMPARE(t.vocab_size(), 100015);
        QCOMPARE(t.bos_id().value_or(-1), 100000);
        QCOMPARE(t.eos_id().value_or(-1), 100001);
        QVERIFY(t.adds_bos());
        QVERIFY(t.is_special(100000) && t.is_special(100001));
        QVERIFY(!t.is_special(100002) && !t.is_special(946) && !t.is_special(-1) && !t.is_special(200000));
        QCOMPARE(t.token_to_id("<｜end▁of▁sentence｜>").value_or(-1), 100001);
        QCOMPARE(t.token_to_id("Ġhow").value_or(-1), 946);
        QVERIFY(!t.token_to_id("no such token").has_value());
        QCOMPARE(t.id_to_token(946).value_or(""), std::string("Ġhow"));
        QCOMPARE(t.token_bytes(946), std::string(" how"));
        QCOMPARE(t.token_bytes(100000), std::string("<｜begin▁of▁sentence｜>"));
        QCOMPARE(t.token_bytes(100002), std::string("ø"));  // added tokens decode as their content
        QVERIFY(t.token_bytes(-5).empty() && t.token_bytes(100015).empty() && !t.id_to_token(100015));
    }

    void deepseekParity() {
        const auto cases = load_cases("tokenizer/deepseek-llm-cases.json");
        QVERIFY2(cases.size() >= 300, "the DeepSeek parity set must have at least 300 strings");
        check_parity(*m_deepseek, cases);
    }

    void deepseekRoundTrip() {
        int checked = 0;
        for (const Case& c : load_cases("tokenizer/deepseek-llm-cases.json")) {
            QVERIFY2(c.roundtrip, show(c.text).constData());  // nothing is stripped or normalized here
            QCOMPARE(show(m_deepseek->decode(m_deepseek->encode(c.text, false))), show(c.text));
            ++checked;
        }
        QVERIFY(checked >= 300);
    }

    void qwen2TinyParity() {
        const auto cases = load_cases("tokenizer/qwen2-tiny-cases.json");
        QVERIFY2(cases.size() >= 100, "the Qwen2 parity set must have at least 100 strings");
        check_parity(*m_qwen, cases);
        int roundtrips = 0;
        for (const Case& c : cases) {
            if (!c.roundtrip) continue;  // lstrip / rstrip tokens absorb whitespace by design
            QCOMPARE(show(m_qwen->decode(c.ids)), show(normalize(NormalForm::NFC, c.text)));
            ++roundtrips;
        }
        QVERIFY(roundtrips >= 100);
    }

    void qwen2TinyNfcAndAddedTokenOptions() {
        const Tokenizer& t = *m_qwen;
        QCOMPARE(show(t.encode("e\u0301", false)), show(t.encode("é", false)));
        QCOMPARE(show(t.encode("\u1100\u1161\u11a8", false)), show(t.encode("각", false)));
        const int32_t mask = t.token_to_id("<mask>").value(), rs = t.token_to_id("<rs>").value(),
                      sw = t.token_to_id("<sw>").value(), cafe = t.token_to_id("café").value();
        // "café" is a normalized added token: found after NFC, also when the input is decomposed.
        QCOMPARE(show(t.encode("cafe\u0301", false)), show(Ids{cafe}));
        // lstrip: the spaces before <mask> belong to it, so "a" is followed directly by <mask>.
        QCOMPARE(show(t.encode("a   <mask>", false)), show(std::vector<int32_t>{t.encode("a", false)[0], mask}));
        // rstrip: the spaces after <rs> belong to it.
        auto ids = t.encode("<rs>   b", false);
        QCOMPARE(show(ids), show(std::vector<int32_t>{rs, t.encode("b", false)[0]}));
        // single_word: only where no word character touches it.
        ids = t.encode("a <sw> b", false);
        QVERIFY(std::count(ids.begin(), ids.end(), sw) == 1);
        ids = t.encode("word<sw>", false);
        QVERIFY(std::count(ids.begin(), ids.end(), sw) == 0);
        // <think> is an added token but not special: skip_special keeps it (the app splits on it).
        const int32_t think = t.token_to_id("<think>").value();
        QVERIFY(!t.is_special(think) && t.is_special(t.token_to_id("<｜User｜>").value()));
        QCOMPARE(t.decode({think, t.token_to_id("<｜User｜>").value()}, true), std::string("<think>"));
    }

    void nfcAgainstKnownForms() {
        const auto nfc = [](const char* s) { return normalize(NormalForm::NFC, s); };
        QCOMPARE(show(nfc("e\u0301")), show(std::string("é")));
        QCOMPARE(show(nfc("a\u0302\u0323")), show(std::string("\u1ead")));   // reordered below-then-above, composed
        QCOMPARE(show(nfc("a\u0323\u0302")), show(std::string("\u1ead")));
        QCOMPARE(show(nfc("\u212b")), show(std::string("\u00c5")));           // singleton: ANGSTROM SIGN -> Å
        QCOMPARE(show(nfc("\u2126")), show(std::string("\u03a9")));           // OHM SIGN -> Ω
        QCOMPARE(show(nfc("\u0958")), show(std::string("\u0915\u093c")));     // composition exclusion stays apart
        QCOMPARE(show(nfc("\u1100\u1161\u11a8")), show(std::string("각")));   // Hangul LVT composed arithmetically
        QCOMPARE(show(nfc("\ufb01")), show(std::string("\ufb01")));           // compatibility forms are not touched
        QCOMPARE(show(nfc("\u0301a")), show(std::string("\u0301a")));         // a leading mark composes with nothing
        QCOMPARE(normalize(NormalForm::NFD, "각é"), std::string("\u1100\u1161\u11a8e\u0301"));
        QVERIFY(nfc_quick_check("plain ascii and 中文 and é"));
        QVERIFY(!nfc_quick_check("e\u0301"));
        QVERIFY(!nfc_quick_check("\u212b"));
    }

    void splitBehaviours() {
        // "a-b--c" split on "-" (reference outputs of tokenizers' Split with each behaviour).
        const std::string text = "a-b--c";
        const std::vector<std::pair<size_t, size_t>> dashes{{1, 2}, {3, 4}, {4, 5}};
        const auto pieces = [&](SplitBehavior b, bool invert) {
            std::vector<std::string> out;
            for (const auto& [s, e] : split_by_matches(text.size(), dashes, b, invert)) out.push_back(text.substr(s, e - s));
            return QByteArray::fromStdString(json(out).dump());
        };
        QCOMPARE(pieces(SplitBehavior::Isolated, false), QByteArray(R"(["a","-","b","-","-","c"])"));
        QCOMPARE(pieces(SplitBehavior::Removed, false), QByteArray(R"(["a","b","c"])"));
        QCOMPARE(pieces(SplitBehavior::MergedWithPrevious, false), QByteArray(R"(["a-","b-","-","c"])"));
        QCOMPARE(pieces(SplitBehavior::MergedWithNext, false), QByteArray(R"(["a","-b","-","-c"])"));
        QCOMPARE(pieces(SplitBehavior::Contiguous, false), QByteArray(R"(["a","-","b","--","c"])"));
        QCOMPARE(pieces(SplitBehavior::Removed, true), QByteArray(R"(["-","-","-"])"));
        QCOMPARE(pieces(SplitBehavior::Isolated, true), pieces(SplitBehavior::Isolated, false));
    }

    void regexFollowsOniguruma() {
        const auto find = [](const char* pattern, std::string_view text, bool literal = false) {
            auto re = Regex::compile(pattern, literal, "test");
            if (!re.ok()) qFatal("%s", re.error().to_string().c_str());
            return re.value()->find_all(text);
        };
        QCOMPARE(show(find("a$", "a\na")), show(Spans{{2, 3}}));          // $ only at the very end
        QCOMPARE(show(find("^b", "a\nb\rb")), show(Spans{{2, 3}}));       // ^ after "\n", not after "\r"
        QCOMPARE(show(find("\\s", "x\u180ey")), show(Spans{}));             // U+180E is not White_Space
        QCOMPARE(show(find("\\s+", "x\u3000\u0085y")), show(Spans{{1, 6}}));
        QCOMPARE(show(find("[^\\s]+", "ab cd")), show(Spans{{0, 2}, {3, 5}}));
        QCOMPARE(show(find("a.b", "a.b axb", true)), show(Spans{{0, 3}}));  // the String form is literal
        QCOMPARE(show(find("x*", "abxxc")), show(Spans{{0, 0}, {1, 1}, {2, 4}, {5, 5}}));  // empty matches step on
        // A letter of Unicode 15 (CJK Extension H) that PCRE2 10.42 does not know is still \p{L}.
        QCOMPARE(show(find("\\p{L}+", "\U00031350")), show(Spans{{0, 4}}));
        QCOMPARE(Regex::translate("[\\s\\p{N}]$"), Regex::translate("[\\s\\p{N}]") + "\\z");
        const auto bad = Regex::compile("(unclosed", false, "tokenizer.json: pre_tokenizer.pattern.Regex");
        QVERIFY(!bad.ok());
        QVERIFY(bad.error().message.find("pre_tokenizer.pattern.Regex") != std::string::npos);
    }

    void mergesAsStringsOrPairsAndRankOrder() {
        test::TempDir dir;
        json j = tiny_tokenizer();
        write_json(dir / "tokenizer.json", j);
        auto strings = Tokenizer::load(dir.path());
        QVERIFY2(strings.ok(), strings.ok() ? "" : strings.error().to_string().c_str());
        QCOMPARE(show((*strings)->encode("abc", false)), show(Ids{3, 2}));  // "a b" has the lower rank

        j["model"]["merges"] = json::parse(R"([["b", "c"], ["a", "b"]])");
        write_json(dir / "tokenizer.json", j);
        auto pairs = Tokenizer::load(dir.path());
        QVERIFY(pairs.ok());
        QCOMPARE(show((*pairs)->encode("abc", false)), show(Ids{0, 4}));  // now "b c" comes first
        // BOS comes from the post-processor when there is no tokenizer_config.json.
        QCOMPARE(show((*pairs)->encode("ab c", true)), show(Ids{6, 3, 5, 2}));
        QCOMPARE((*pairs)->decode({6, 3, 5, 2}, true), std::string("ab c"));
    }

    void bosSettingsFromTokenizerConfig() {
        test::TempDir dir;
        write_json(dir / "tokenizer.json", tiny_tokenizer());
        write_json(dir / "tokenizer_config.json", json::parse(R"({"bos_token": {"content": "<s>"}, "add_bos_token": false})"));
        auto off = Tokenizer::load(dir.path());
        QVERIFY(off.ok());
        QCOMPARE((*off)->bos_id().value_or(-1), 6);
        QVERIFY(!(*off)->adds_bos());
        QCOMPARE(show((*off)->encode("ab", true)), show(Ids{3}));

        write_json(dir / "tokenizer_config.json", json::parse(R"({"bos_token": "<s>", "eos_token": "c", "add_eos_token": true})"));
        auto on = Tokenizer::load(dir.path());
        QVERIFY(on.ok());
        QCOMPARE(show((*on)->encode("ab", true)), show(Ids{6, 3, 2}));  // add_bos_token defaults to true
    }

    void brokenFilesAreErrors_data() {
        QTest::addColumn<QString>("tokenizer");
        QTest::addColumn<QString>("config");
        QTest::addColumn<int>("code");
        QTest::addColumn<QString>("mentions");
        const auto edit = [](auto f) {
            json j = tiny_tokenizer();
            f(j);
            return QString::fromStdString(j.dump());
        };
        const int tok = int(ErrorCode::Tokenizer), unsup = int(ErrorCode::Unsupported);
        QTest::newRow("not json") << "{\"model\": [1, 2" << "" << tok << "tokenizer.json: not valid JSON";
        QTest::newRow("array root") << "[1, 2]" << "" << tok << "tokenizer.json: not a JSON object";
        QTest::newRow("no model") << edit([](json& j) { j.erase("model"); }) << "" << tok << "model: missing";
        QTest::newRow("no vocab") << edit([](json& j) { j["model"].erase("vocab"); }) << "" << tok << "model.vocab";
        QTest::newRow("vocab id") << edit([](json& j) { j["model"]["vocab"]["a"] = -3; }) << "" << tok
                                  << "model.vocab[\"a\"]";
        QTest::newRow("merge unknown") << edit([](json& j) { j["model"]["merges"][1] = "b zz"; }) << "" << tok
                                       << "model.merges[1]: token \"zz\" is not in model.vocab";
        QTest::newRow("merge result") << edit([](json& j) { j["model"]["merges"][0] = "c a"; }) << "" << tok
                                      << "merged token \"ca\"";
        QTest::newRow("merge shape") << edit([](json& j) { j["model"]["merges"][0] = 7; }) << "" << tok
                                     << "model.merges[0]";
        QTest::newRow("merge no space") << edit([](json& j) { j["model"]["merges"][0] = "ab"; }) << "" << tok
                                        << "model.merges[0]";
        QTest::newRow("model type") << edit([](json& j) { j["model"]["type"] = "Unigram"; }) << "" << unsup
                                    << "model.type";
        QTest::newRow("bad regex") << edit([](json& j) {
            j["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = "([a-";
        }) << "" << tok << "pre_tokenizer.pretokenizers[0].pattern.Regex";
        QTest::newRow("pattern form") << edit([](json& j) {
            j["pre_tokenizer"]["pretokenizers"][0]["pattern"] = json::object({{"Glob", "*"}});
        }) << "" << tok << "pre_tokenizer.pretokenizers[0].pattern";
        QTest::newRow("behavior") << edit([](json& j) { j["pre_tokenizer"]["pretokenizers"][0]["behavior"] = "Sideways"; })
                                  << "" << tok << "pretokenizers[0].behavior";
        QTest::newRow("pre type") << edit([](json& j) { j["pre_tokenizer"] = json::object({{"type", "Metaspace"}}); })
                                  << "" << unsup << "pre_tokenizer.type";
        QTest::newRow("normalizer") << edit([](json& j) { j["normalizer"] = json::object({{"type", "NFKC"}}); }) << ""
                                    << unsup << "normalizer.type";
        QTest::newRow("decoder") << edit([](json& j) { j["decoder"] = json::object({{"type", "WordPiece"}}); }) << ""
                                 << unsup << "decoder.type";
        QTest::newRow("added content") << edit([](json& j) { j["added_tokens"][0].erase("content"); }) << "" << tok
                                       << "added_tokens[0].content";
        QTest::newRow("added flag") << edit([](json& j) { j["added_tokens"][0]["lstrip"] = "yes"; }) << "" << tok
                                    << "added_tokens[0].lstrip";
        QTest::newRow("config json") << edit([](json&) {}) << "{oops" << tok << "tokenizer_config.json: not valid JSON";
        QTest::newRow("config bos") << edit([](json&) {}) << R"({"bos_token": "<nope>"})" << tok
                                    << "tokenizer_config.json: bos_token \"<nope>\"";
        QTest::newRow("config flag") << edit([](json&) {}) << R"({"add_bos_token": "true"})" << tok
                                     << "tokenizer_config.json: add_bos_token";
    }

    void brokenFilesAreErrors() {
        QFETCH(QString, tokenizer);
        QFETCH(QString, config);
        QFETCH(int, code);
        QFETCH(QString, mentions);
        test::TempDir dir;
        test::write_file(dir / "tokenizer.json", tokenizer.toStdString());
        if (!config.isEmpty()) test::write_file(dir / "tokenizer_config.json", config.toStdString());
        const auto r = Tokenizer::load(dir.path());
        QVERIFY(!r.ok());
        QCOMPARE(int(r.error().code), code);
        QVERIFY2(r.error().message.find(mentions.toStdString()) != std::string::npos, r.error().message.c_str());
    }

    void missingFolderIsIoError() {
        test::TempDir dir;
        const auto r = Tokenizer::load(dir / "absent");
        QVERIFY(!r.ok());
        QCOMPARE(int(r.error().code), int(ErrorCode::Io));
        QVERIFY(r.error().message.find("tokenizer.json") != std::string::npos);
    }

    void streamDecoderEmitsWholeCharacters() {
        const std::string text = "emoji 👨‍👩‍👧‍👦 and 中文字符, 한국어, Ωμέγα, 🇺🇸 done";
        const auto ids = m_deepseek->encode(text, true);
        StreamDecoder dec(*m_deepseek, /*skip_special=*/true);
        std::string all;
        int held = 0;
        for (const int32_t id : ids) {
            const std::string part = dec.push(id);
            QVERIFY2(utf8::is_valid(part), show(part).constData());
            if (part.empty()) ++held;
            all += part;
        }
        all += dec.flush();
        QCOMPARE(show(all), show(text));
        QVERIFY(held > 0);  // some characters really were split across byte tokens

        // A character cut short at the end of the stream comes out as U+FFFD, never as raw bytes.
        const auto emoji = m_deepseek->encode("😀", false);
        QVERIFY(emoji.size() >= 2);
        StreamDecoder cut(*m_deepseek);
        QCOMPARE(cut.push(emoji[0]), std::string());
        QCOMPARE(cut.flush(), std::string("\uFFFD"));
        // Special tokens are text unless skipped.
        StreamDecoder keep(*m_deepseek);
        QCOMPARE(keep.push(100001), std::string("<｜end▁of▁sentence｜>"));
    }

    void invalidUtf8InputIsReplaced() {
        QCOMPARE(show(m_deepseek->encode("a\xff" "b", false)), show(m_deepseek->encode("a\uFFFDb", false)));
        QCOMPARE(show(m_qwen->encode("\xe4\xb8", false)), show(m_qwen->encode("\uFFFD", false)));
        QCOMPARE(show(m_deepseek->encode("\x80\x80", false)), show(m_deepseek->encode("\uFFFD\uFFFD", false)));
        QVERIFY(m_deepseek->encode("", true) == std::vector<int32_t>{100000});
        QVERIFY(m_deepseek->decode({-1, 5000000}).empty());
    }

    void concurrentEncodesAgree() {
        const auto cases = load_cases("tokenizer/deepseek-llm-cases.json");
        std::atomic<int> bad{0};
        std::vector<std::thread> threads;
        for (int t = 0; t < 4; ++t)
            threads.emplace_back([&, t] {
                for (size_t i = size_t(t); i < cases.size() * 2; i += 3)
                    if (m_deepseek->encode(cases[i % cases.size()].text, false) != cases[i % cases.size()].ids) ++bad;
            });
        for (auto& th : threads) th.join();
        QCOMPARE(bad.load(), 0);
    }

    void largeTextRoundTrips() {
        // About 200 KB of mixed text: every piece goes through the cache, the regexes and the merges.
        std::string big;
        for (const Case& c : load_cases("tokenizer/deepseek-llm-cases.json")) big += c.text + "\n";
        while (big.size() < 200000) big += big;
        const auto ids = m_deepseek->encode(big, false);
        QVERIFY(ids.size() > big.size() / 8);
        QCOMPARE(m_deepseek->decode(ids).size(), big.size());
        QVERIFY(m_deepseek->decode(ids) == big);
    }

private:
    std::unique_ptr<Tokenizer> m_deepseek, m_qwen;
};

QTEST_APPLESS_MAIN(TestTokenizer)
#include "test_tokenizer.moc"
