// The text side of generation: token ids -> whole UTF-8 text (StreamDecoder) -> stop strings cut off (the
// text that could still become a stop string is held back) -> R1 thinking/answer split (ThinkSplitter).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "tessera/engine.h"
#include "tokenizer/chat_format.h"
#include "tokenizer/tokenizer.h"

namespace tessera {

// Holds back any tail of the text that is a prefix of a stop string; reports the first full match.
class StopMatcher {
public:
    explicit StopMatcher(const std::vector<std::string>& stops) : m_stops(stops) {}
    // Returns the text that is safe to emit; sets `stopped` when a stop string completed (the text before
    // it is returned, the stop string and anything after it are dropped).
    std::string push(const std::string& text, bool& stopped);
    std::string flush();

private:
    const std::vector<std::string>& m_stops;
    std::string m_hold;
};

class TextStream {
public:
    TextStream(const Tokenizer& tokenizer, const GenerateOptions& options);
    // The event for one sampled token; `stopped` is set when a stop string completed.
    TextEvent push(int32_t token, bool& stopped);
    // Whatever is still held back, as a final event (token -1).
    TextEvent flush();

private:
    TextEvent split(int32_t token, const std::string& text);

    const Tokenizer& m_tokenizer;
    StreamDecoder m_decoder;
    StopMatcher m_stops;
    // <think> / </think> when the tokenizer flags them special (the decoder would drop them, and with them
    // the split); -1 when absent or not special.
    int32_t m_think_open = -1;
    int32_t m_think_close = -1;
    std::optional<ThinkSplitter> m_think;
    bool m_stopped = false;
};

}  // namespace tessera
