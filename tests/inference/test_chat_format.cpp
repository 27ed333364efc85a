// Chat format tests: the DeepSeek LLM and R1-distill prompts exactly as models.md §2.4, §3.4 and §9 give
// them, their tokenization (one BOS, role tokens as single ids), and the streaming thinking/answer split.
#include <QtTest>

#include <algorithm>

#include <nlohmann/json.hpp>

#include "support/test_support.h"
#include "tokenizer/chat_format.h"
#include "tokenizer/tokenizer.h"

using namespace tessera;

namespace {

const std::string kBos = "<｜begin▁of▁sentence｜>";
const std::string kEos = "<｜end▁of▁sentence｜>";

QByteArray show(const std::string& s) { return QByteArray::fromStdString(nlohmann::json(s).dump()); }

std::unique_ptr<Tokenizer> load_fixture(const std::string& name) {
    // The DeepSeek LLM tokenizer is kept once, with the LLM fixtures.
    auto r = Tokenizer::load(test::fixture(name == "deepseek-llm" ? std::string("llm/deepseek-llm-tokenizer") : "tokenizer/" + name));
    if (!r.ok()) qFatal("%s", r.error().to_string().c_str());
    return std::move(r).value();
}

// Feeds text to a splitter in chunks of n bytes and returns everything it produced.
ThinkSplitter::Delta split_in_chunks(const std::string& text, size_t n, bool starts_in_thinking) {
    ThinkSplitter s(starts_in_thinking);
    ThinkSplitter::Delta all;
    for (size_t i = 0; i < text.size(); i += n) {
        const auto d = s.push(text.substr(i, n));
        all.thinking += d.thinking;
        all.answer += d.answer;
    }
    const auto d = s.flush();
    all.thinking += d.thinking;
    all.answer += d.answer;
    return all;
}

}  // namespace

class TestChatFormat : public QObject {
    Q_OBJECT

private slots:
    void deepseekLlmSingleTurn() {
        const auto text = render_chat(ChatFormat::DeepSeekLlm, {{"user", "Who are you?"}}, kBos, kEos);
        QCOMPARE(show(text), show(kBos + "User: Who are you?\n\nAssistant:"));
    }

    void deepseekLlmHistoryAndSystem() {
        const std::vector<ChatMessage> messages{{"system", "Be brief."},
                                                {"user", "Hi"},
                                                {"assistant", "Hello! How can I help?"},
                                                {"user", " spaced  "}};
        const auto text = render_chat(ChatFormat::DeepSeekLlm, messages, kBos, kEos);
        // Content is not stripped; the system text is followed by a blank line; each answer ends in EOS.
        QCOMPARE(show(text), show(kBos + "Be brief.\n\nUser: Hi\n\nAssistant: Hello! How can I help?" + kEos +
                                  "User:  spaced  \n\nAssistant:"));
    }

    void deepseekLlmPromptHasExactlyOneBos() {
        const auto tok = load_fixture("deepseek-llm");
        const auto text = render_chat(ChatFormat::DeepSeekLlm, {{"user", "Hi"}, {"assistant", "Yo"}, {"user", "2+2?"}},
                                      kBos, kEos);
        const auto ids = tok->encode(text, /*add_special=*/false);
        QCOMPARE(ids.front(), 100000);
        QCOMPARE(int(std::count(ids.begin(), ids.end(), 100000)), 1);
        QCOMPARE(int(std::count(ids.begin(), ids.end(), 100001)), 1);  // the EOS string is one token, not text
        QCOMPARE(show(tok->decode(ids)), show(text));
        // The prompt ends with "Assistant:" and no space: the model's first token carries it.
        QCOMPARE(show(tok->token_bytes(ids.back())), show(":"));
    }

    void r1SingleTurn() {
        const auto text = render_chat(ChatFormat::R1Distill, {{"user", "What is 2+2?"}}, kBos, kEos);
        QCOMPARE(show(text), show(kBos + "<｜User｜>What is 2+2?<｜Assistant｜><think>\n"));
    }

    void r1HistoryKeepsOnlyTheAnswer() {
        const std::vector<ChatMessage> messages{
            {"user", "Q1"},
            {"assistant", "<think>\nfirst idea</think>maybe</think>\n\nA1"},  // text after the LAST </think>
            {"user", "Q2"},
            {"assistant", "A2 without reasoning"},
            {"user", "Q3"}};
        const auto text = render_chat(ChatFormat::R1Distill, messages, kBos, kEos);
        QCOMPARE(show(text), show(kBos + "<｜User｜>Q1<｜Assistant｜>\n\nA1" + kEos + "<｜User｜>Q2<｜Assistant｜>A2 without reasoning" +
                                  kEos + "<｜User｜>Q3<｜Assistant｜><think>\n"));
    }

    void r1SystemGoesAfterBosWithoutSeparator() {
        const std::vector<ChatMessage> messages{{"system", "old"}, {"user", "Hi"}, {"system", "Use English."}};
        const auto text = render_chat(ChatFormat::R1Distill, messages, kBos, kEos);
        // The template keeps the last system message and puts it right after BOS.
        QCOMPARE(show(text), show(kBos + "Use English.<｜User｜>Hi<｜Assistant｜><think>\n"));
    }

    void r1PromptTokenizesRoleTokens() {
        const auto tok = load_fixture("qwen2-tiny");
        const auto text = render_chat(ChatFormat::R1Distill, {{"user", "Hi"}}, kBos, kEos);
        const auto ids = tok->encode(text, false);
        const int32_t bos = tok->bos_id().value(), user = tok->token_to_id("<｜User｜>").value(),
                      assistant = tok->token_to_id("<｜Assistant｜>").value(), think = tok->token_to_id("<think>").value();
        QVERIFY(ids.size() >= 6);
        QCOMPARE(ids[0], bos);
        QCOMPARE(ids[1], user);
        QCOMPARE(int(std::count(ids.begin(), ids.end(), bos)), 1);
        QCOMPARE(ids[ids.size() - 3], assistant);
        QCOMPARE(ids[ids.size() - 2], think);
        QCOMPARE(show(tok->token_bytes(ids.back())), show("\n"));
    }

    void thinkSplitterWholeReply() {
        ThinkSplitter s(true);
        const auto d = s.push("Let me add.\n2+2=4</think>\n\nThe answer is 4.");
        QCOMPARE(show(d.thinking), show("Let me add.\n2+2=4"));
        QCOMPARE(show(d.answer), show("\n\nThe answer is 4."));
        const auto f = s.flush();
        QVERIFY(f.thinking.empty() && f.answer.empty());
    }

    void thinkSplitterAnyChunkingGivesTheSameSplit() {
        const std::string reply = "<think>\nhmm <b>bold</b> a<thin b</th c</think>\n\nanswer <with> </thinking tags";
        const auto whole = split_in_chunks(reply, reply.size(), true);
        QCOMPARE(show(whole.thinking), show("\nhmm <b>bold</b> a<thin b</th c"));
        QCOMPARE(show(whole.answer), show("\n\nanswer <with> </thinking tags"));
        for (const size_t n : {1, 2, 3, 5, 7, 8, 13}) {
            const auto d = split_in_chunks(reply, n, true);
            QCOMPARE(show(d.thinking), show(whole.thinking));
            QCOMPARE(show(d.answer), show(whole.answer));
        }
    }

    void thinkSplitterHoldsBackPartialTags() {
        ThinkSplitter s(true);
        auto d = s.push("abc</thi");
        QCOMPARE(show(d.thinking), show("abc"));  // "</thi" may be the start of </think>
        QVERIFY(d.answer.empty());
        d = s.push("nk>x");
        QVERIFY(d.thinking.empty());
        QCOMPARE(show(d.answer), show("x"));
        d = s.push("y <");
        QCOMPARE(show(d.answer), show("y "));
        d = s.flush();  // the stream ended: a held "<" is plain text
        QCOMPARE(show(d.answer), show("<"));
    }

    void thinkSplitterNeverClosed() {
        const auto d = split_in_chunks("I keep thinking and never stop </thi", 4, true);
        QCOMPARE(show(d.thinking), show("I keep thinking and never stop </thi"));
        QVERIFY(d.answer.empty());
    }

    void thinkSplitterStartingOutsideThinking() {
        // Older templates end the prompt at <｜Assistant｜>, so the model opens <think> itself.
        const auto d = split_in_chunks("<think>\nreason</think>answer", 3, false);
        QCOMPARE(show(d.thinking), show("\nreason"));
        QCOMPARE(show(d.answer), show("answer"));
        const auto plain = split_in_chunks("just an answer", 4, false);
        QVERIFY(plain.thinking.empty());
        QCOMPARE(show(plain.answer), show("just an answer"));
    }

    void streamedTokensThroughDecoderAndSplitter() {
        const auto tok = load_fixture("qwen2-tiny");
        const std::string reply = "<think>\n思考 café 🙂</think>\n\n答案 42";
        const auto ids = tok->encode(reply, false);
        StreamDecoder dec(*tok, /*skip_special=*/true);
        ThinkSplitter split(true);
        std::string thinking, answer;
        for (const int32_t id : ids) {
            const auto d = split.push(dec.push(id));
            thinking += d.thinking;
            answer += d.answer;
        }
        const auto d = split.push(dec.flush());
        const auto f = split.flush();
        thinking += d.thinking + f.thinking;
        answer += d.answer + f.answer;
        QCOMPARE(show(thinking), show("\n思考 café 🙂"));
        QCOMPARE(show(answer), show("\n\n答案 42"));
    }
};

QTEST_APPLESS_MAIN(TestChatFormat)
#include "test_chat_format.moc"
