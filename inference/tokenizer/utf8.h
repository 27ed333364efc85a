// UTF-8 helpers shared by the tokenizer pieces: decoding one code point, encoding, validation with
// U+FFFD substitution, and the length of a trailing incomplete sequence (for streaming).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace tessera::utf8 {

inline constexpr char32_t kReplacement = 0xFFFD;

// Length of the well-formed sequence starting at s[i] (1..4), or 0 when the bytes there are not
// well-formed UTF-8 (stray continuation, overlong form, surrogate, > U+10FFFF, truncated).
inline size_t valid_length(std::string_view s, size_t i) {
    const auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
    const unsigned char c = b(i);
    if (c < 0x80) return 1;
    size_t n = 0;
    unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte (Unicode Table 3-7)
    if (c >= 0xC2 && c <= 0xDF) n = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else {
        return 0;
    }
    if (i + n > s.size()) return 0;
    if (b(i + 1) < lo || b(i + 1) > hi) return 0;
    for (size_t k = 2; k < n; ++k)
        if ((b(i + k) & 0xC0) != 0x80) return 0;
    return n;
}

// Decodes the well-formed sequence of length n (from valid_length) at s[i].
inline char32_t decode_at(std::string_view s, size_t i, size_t n) {
    const auto b = [&](size_t k) { return char32_t(static_cast<unsigned char>(s[i + k])); };
    switch (n) {
        case 1: return b(0);
        case 2: return ((b(0) & 0x1F) << 6) | (b(1) & 0x3F);
        case 3: return ((b(0) & 0x0F) << 12) | ((b(1) & 0x3F) << 6) | (b(2) & 0x3F);
        default: return ((b(0) & 0x07) << 18) | ((b(1) & 0x3F) << 12) | ((b(2) & 0x3F) << 6) | (b(3) & 0x3F);
    }
}

inline void append(std::string& out, char32_t cp) {
    if (cp < 0x80) {
        out += char(cp);
    } else if (cp < 0x800) {
        out += char(0xC0 | (cp >> 6));
        out += char(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += char(0xE0 | (cp >> 12));
        out += char(0x80 | ((cp >> 6) & 0x3F));
        out += char(0x80 | (cp & 0x3F));
    } else {
        out += char(0xF0 | (cp >> 18));
        out += char(0x80 | ((cp >> 12) & 0x3F));
        out += char(0x80 | ((cp >> 6) & 0x3F));
        out += char(0x80 | (cp & 0x3F));
    }
}

// Length of the maximal prefix of an ill-formed sequence at s[i] that could still start a valid one
// (the "maximal subpart" of Unicode §3.9): one U+FFFD replaces exactly that many bytes, as Python's
// errors="replace" and Rust's from_utf8_lossy do.
inline size_t maximal_subpart(std::string_view s, size_t i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    size_t n = 0;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) n = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else {
        return 1;
    }
    size_t k = 1;
    for (; k < n && i + k < s.size(); ++k) {
        const unsigned char d = static_cast<unsigned char>(s[i + k]);
        const unsigned char l = k == 1 ? lo : 0x80, h = k == 1 ? hi : 0xBF;
        if (d < l || d > h) break;
    }
    return k;
}

// s with every ill-formed subsequence replaced by U+FFFD (one per maximal subpart).
inline std::string sanitize(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size();) {
        const size_t n = valid_length(s, i);
        if (n) {
            out.append(s.data() + i, n);
            i += n;
        } else {
            append(out, kReplacement);
            i += maximal_subpart(s, i);
        }
    }
    return out;
}

inline bool is_valid(std::string_view s) {
    for (size_t i = 0; i < s.size();) {
        const size_t n = valid_length(s, i);
        if (!n) return false;
        i += n;
    }
    return true;
}

// Number of bytes at the end of s that form an incomplete but still completable sequence (0..3):
// a streaming decoder holds these back until the next token arrives.
inline size_t incomplete_tail(std::string_view s) {
    const size_t max_back = s.size() < 3 ? s.size() : 3;
    for (size_t back = 1; back <= max_back; ++back) {
        const size_t i = s.size() - back;
        const unsigned char c = static_cast<unsigned char>(s[i]);
        if ((c & 0xC0) == 0x80) continue;  // continuation byte: look further back for the lead
        // A lead byte: the tail is incomplete when the bytes so far are a proper prefix of a valid form.
        return maximal_subpart(s, i) == back && back < (c >= 0xF0 ? 4u : c >= 0xE0 ? 3u : 2u) && c >= 0xC2 &&
                       c <= 0xF4
                   ? back
                   : 0;
    }
    return 0;
}

// Code-point iteration over valid UTF-8 (callers sanitize first).
inline char32_t next(std::string_view s, size_t& i) {
    const size_t n = valid_length(s, i);
    if (n == 0) {
        ++i;
        return kReplacement;
    }
    const char32_t cp = decode_at(s, i, n);
    i += n;
    return cp;
}

}  // namespace tessera::utf8
