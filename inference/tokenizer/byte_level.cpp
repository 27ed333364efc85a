// The GPT-2 byte-to-unicode table: printable Latin-1 bytes stand for themselves, the other 68 bytes
// take U+0100 onwards in byte order.
#include "tokenizer/byte_level.h"

#include <array>

#include "tokenizer/utf8.h"

namespace tessera::byte_level {
namespace {

struct Tables {
    std::array<std::string, 256> chars;  // byte -> UTF-8 of its stand-in
    std::array<int, 0x200> bytes;        // code point (< 0x200) -> byte, -1 if none

    Tables() {
        bytes.fill(-1);
        const auto printable = [](int b) { return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE); };
        int extra = 0;
        for (int b = 0; b < 256; ++b) {
            const char32_t cp = printable(b) ? char32_t(b) : char32_t(0x100 + extra++);
            utf8::append(chars[size_t(b)], cp);
            bytes[cp] = b;
        }
    }
};

const Tables& tables() {
    static const Tables t;
    return t;
}

}  // namespace

const std::string& char_of(unsigned char b) { return tables().chars[b]; }

void encode(std::string_view raw, std::string& out) {
    const Tables& t = tables();
    for (const char c : raw) out += t.chars[static_cast<unsigned char>(c)];
}

std::optional<std::string> decode(std::string_view token) {
    const Tables& t = tables();
    std::string out;
    out.reserve(token.size());
    for (size_t i = 0; i < token.size();) {
        const size_t n = utf8::valid_length(token, i);
        if (n == 0) return std::nullopt;
        const char32_t cp = utf8::decode_at(token, i, n);
        if (cp >= t.bytes.size() || t.bytes[cp] < 0) return std::nullopt;
        out += char(t.bytes[cp]);
        i += n;
    }
    return out;
}

}  // namespace tessera::byte_level
