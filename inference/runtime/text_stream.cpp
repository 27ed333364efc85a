// Streaming text for generation (see text_stream.h).
#include "runtime/text_stream.h"

#include <algorithm>
#include <utility>

namespace tessera {

std::string StopMatcher::push(const std::string& text, bool& stopped) {
    stopped = false;
    m_hold += text;
    if (m_stops.empty()) return std::exchange(m_hold, std::string());
    size_t first = std::string::npos;
    for (const std::string& s : m_stops)
        if (!s.empty()) first = std::min(first, m_hold.find(s));
    if (first != std::string::npos) {
        stopped = true;
        std::string out = m_hold.substr(0, first);
        m_hold.clear();
        return out;
    }
    // Keep the longest tail that a stop string starts with; everything before it is final.
    size_t keep = 0;
    for (const std::string& s : m_stops)
        for (size_t len = std::min(s.size() - (s.empty() ? 0 : 1), m_hold.size()); len > keep; --len)
            if (m_hold.compare(m_hold.size() - len, len, s, 0, len) == 0) {
                keep = len;
                break;
            }
    std::string out = m_hold.substr(0, m_hold.size() - keep);
    m_hold.erase(0, m_hold.size() - keep);
    return out;
}

std::string StopMatcher::flush() { return std::exchange(m_hold, std::string()); }

TextStream::TextStream(const Tokenizer& tokenizer, const GenerateOptions& options)
    : m_tokenizer(tokenizer), m_decoder(tokenizer, /*skip_special=*/true), m_stops(options.stop_strings) {
    if (!options.split_thinking) return;
    m_think.emplace(options.starts_in_thinking);
    auto special_id = [&](const char* text) {
        const auto id = tokenizer.token_to_id(text);
        return id && tokenizer.is_special(*id) ? *id : -1;
    };
    m_think_open = special_id("<think>");
    m_think_close = special_id("</think>");
}

TextEvent TextStream::split(int32_t token, const std::string& text) {
    TextEvent e;
    e.token = token;
    if (m_think) {
        ThinkSplitter::Delta d = m_think->push(text);
        e.answer = std::move(d.answer);
        e.thinking = std::move(d.thinking);
    } else {
        e.answer = text;
    }
    return e;
}

TextEvent TextStream::push(int32_t token, bool& stopped) {
    stopped = false;
    if (m_stopped) return TextEvent{token, {}, {}};
    std::string piece = m_decoder.push(token);
    if (token == m_think_open || token == m_think_close) piece += m_tokenizer.token_bytes(token);
    std::string text = m_stops.push(piece, stopped);
    m_stopped = stopped;
    return split(token, text);
}

TextEvent TextStream::flush() {
    std::string text;
    if (!m_stopped) {
        bool stopped = false;
        text = m_stops.push(m_decoder.flush(), stopped);
        if (!stopped) text += m_stops.flush();
    }
    TextEvent e = split(-1, text);
    if (m_think) {
        ThinkSplitter::Delta d = m_think->flush();
        e.answer += d.answer;
        e.thinking += d.thinking;
    }
    return e;
}

}  // namespace tessera
