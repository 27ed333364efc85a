// StreamDecoder: token bytes are buffered until they end on a character boundary, so a character
// split across byte tokens (common for CJK and emoji) is emitted whole.
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace tessera {

std::string StreamDecoder::push(int32_t id) {
    if (m_skip_special && m_tokenizer.is_special(id)) return {};
    m_pending += m_tokenizer.token_bytes(id);
    // Hold back only a tail that may still become a character; anything that can no longer become
    // valid is emitted now as U+FFFD so the caller never receives ill-formed UTF-8.
    const size_t hold = utf8::incomplete_tail(m_pending);
    std::string out = utf8::sanitize(std::string_view(m_pending).substr(0, m_pending.size() - hold));
    m_pending.erase(0, m_pending.size() - hold);
    return out;
}

std::string StreamDecoder::flush() {
    std::string out = utf8::sanitize(m_pending);
    m_pending.clear();
    return out;
}

}  // namespace tessera
