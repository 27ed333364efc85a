// Chat prompt rendering for DeepSeek LLM (models.md §2.4, §9), the R1 distills (§3.4, §9) and Janus (§7.4),
// and the streaming split of R1 output into thinking and answer.
#include "tokenizer/chat_format.h"

#include <algorithm>
#include <array>
#include <string_view>

namespace tessera {

const char* const kJanusSystemPrompt =
    "You are a helpful language and vision assistant. You are able to understand the visual content that the "
    "user provides, and assist the user with a variety of tasks using natural language.";

namespace {

constexpr std::string_view kThinkOpen = "<think>";
constexpr std::string_view kThinkClose = "</think>";

// DeepSeek LLM / V2 template: system "sys\n\n", user "User: u\n\n", assistant "Assistant: a<eos>",
// generation prompt "Assistant:" (no trailing space: the model's first token carries it).
std::string render_deepseek_llm(const std::vector<ChatMessage>& messages, const std::string& bos,
                                const std::string& eos) {
    std::string out = bos;
    for (const ChatMessage& m : messages) {
        if (m.role == "user") out += "User: " + m.content + "\n\n";
        else if (m.role == "assistant") out += "Assistant: " + m.content + eos;
        else if (m.role == "system") out += m.content + "\n\n";
    }
    out += "Assistant:";
    return out;
}

// R1-distill template: the last system message right after BOS without separator, then
// "<｜User｜>u" and "<｜Assistant｜>a<eos>" where a keeps only the text after its last </think> (the
// reasoning of earlier turns is not part of the context), then "<｜Assistant｜><think>\n".
std::string render_r1_distill(const std::vector<ChatMessage>& messages, const std::string& bos, const std::string& eos) {
    std::string system;
    for (const ChatMessage& m : messages)
        if (m.role == "system") system = m.content;
    std::string out = bos + system;
    for (const ChatMessage& m : messages) {
        if (m.role == "user") {
            out += "<｜User｜>" + m.content;
        } else if (m.role == "assistant") {
            std::string_view answer = m.content;
            if (const size_t pos = answer.rfind(kThinkClose); pos != std::string_view::npos)
                answer.remove_prefix(pos + kThinkClose.size());
            out += "<｜Assistant｜>";
            out += answer;
            out += eos;
        }
    }
    out += "<｜Assistant｜><think>\n";
    return out;
}

std::string_view strip(std::string_view s) {
    const auto space = [](char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '\f' || c == '\v'; };
    while (!s.empty() && space(s.front())) s.remove_prefix(1);
    while (!s.empty() && space(s.back())) s.remove_suffix(1);
    return s;
}

// Janus "deepseek" conversation template (janus/utils/conversation.py, SeparatorStyle.DeepSeek): system + "\n\n",
// then each message i as "role: text" + ("\n\n" for even i, EOS text for odd i), an empty message as
// "role:"; every message stripped, the whole prompt stripped, then BOS (the tokenizer's, added here). The
// role names come from the caller in the official code: <|User|>/<|Assistant|> for Janus-Pro, plain
// User/Assistant for Janus-1.3B.
std::string render_janus(const std::vector<ChatMessage>& messages, const std::string& bos,
                         const std::string& eos, const char* user_role, const char* assistant_role) {
    std::string system = kJanusSystemPrompt;
    for (const ChatMessage& m : messages)
        if (m.role == "system") system = m.content;
    std::string out = system.empty() ? std::string() : system + "\n\n";
    size_t i = 0;
    auto add = [&](const char* role, std::string_view text) {
        out += role;
        if (text.empty()) {
            out += ":";
        } else {
            out += ": ";
            out += text;
            out += i % 2 == 0 ? std::string("\n\n") : eos;
        }
        ++i;
    };
    for (const ChatMessage& m : messages) {
        if (m.role == "user") add(user_role, strip(m.content));
        else if (m.role == "assistant") add(assistant_role, strip(m.content));
    }
    add(assistant_role, {});
    return bos + std::string(strip(out));
}

// Length of the longest suffix of s that is a proper prefix of a tag (it may complete later).
size_t partial_tag_suffix(std::string_view s) {
    size_t best = 0;
    for (const std::string_view tag : std::array{kThinkOpen, kThinkClose}) {
        for (size_t n = std::min(s.size(), tag.size() - 1); n > best; --n) {
            if (s.substr(s.size() - n) == tag.substr(0, n)) {
                best = n;
                break;
            }
        }
    }
    return best;
}

}  // namespace

std::string render_chat(ChatFormat format, const std::vector<ChatMessage>& messages, const std::string& bos,
                        const std::string& eos) {
    switch (format) {
        case ChatFormat::DeepSeekLlm: return render_deepseek_llm(messages, bos, eos);
        case ChatFormat::R1Distill: return render_r1_distill(messages, bos, eos);
        case ChatFormat::Janus: return render_janus(messages, bos, eos, "<|User|>", "<|Assistant|>");
        case ChatFormat::JanusPlain: return render_janus(messages, bos, eos, "User", "Assistant");
    }
    return {};
}

ThinkSplitter::Delta ThinkSplitter::push(const std::string& text) {
    Delta d;
    std::string buf = std::move(m_hold);
    m_hold.clear();
    buf += text;
    std::string_view rest = buf;
    while (!rest.empty()) {
        // Either tag switches the mode, so a repeated <think> inside thinking is simply dropped and a
        // <think> after an answer starts thinking again.
        const size_t open = rest.find(kThinkOpen), close = rest.find(kThinkClose);
        const size_t at = std::min(open, close);
        if (at == std::string_view::npos) break;
        (m_in_think ? d.thinking : d.answer) += rest.substr(0, at);
        m_in_think = at == open;
        rest.remove_prefix(at + (at == open ? kThinkOpen.size() : kThinkClose.size()));
    }
    const size_t hold = partial_tag_suffix(rest);
    (m_in_think ? d.thinking : d.answer) += rest.substr(0, rest.size() - hold);
    m_hold.assign(rest.substr(rest.size() - hold));
    return d;
}

ThinkSplitter::Delta ThinkSplitter::flush() {
    Delta d;
    (m_in_think ? d.thinking : d.answer) += m_hold;
    m_hold.clear();
    return d;
}

}  // namespace tessera
