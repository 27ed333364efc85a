// Leftmost-longest matching of added tokens through a byte trie, then the reference's rules for
// single_word, lstrip and rstrip (tokenizers' AddedVocabulary::find_matches).
#include "tokenizer/added_tokens.h"

#include <algorithm>
#include <memory>

#include "tokenizer/regex.h"
#include "tokenizer/utf8.h"

namespace tessera {

bool is_white_space(char32_t cp) {
    return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
           (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F ||
           cp == 0x3000;
}

bool is_word_char(char32_t cp) {
    if (cp < 0x80) return (cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || cp == '_';
    static const auto re = Regex::compile(R"([\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\x{200C}\x{200D}])", false, "word class");
    if (!re.ok()) return false;
    std::string s;
    utf8::append(s, cp);
    return !re.value()->find_all(s).empty();
}

namespace {

char32_t last_char(std::string_view s) {
    size_t i = s.size();
    while (i > 0 && (static_cast<unsigned char>(s[i - 1]) & 0xC0) == 0x80) --i;
    if (i > 0) --i;
    size_t k = i;
    return utf8::next(s, k);
}

// Start of the whitespace run that ends s.
size_t trailing_space_start(std::string_view s) {
    size_t i = s.size();
    while (i > 0) {
        size_t b = i - 1;
        while (b > 0 && (static_cast<unsigned char>(s[b]) & 0xC0) == 0x80) --b;
        size_t k = b;
        if (!is_white_space(utf8::next(s, k))) break;
        i = b;
    }
    return i;
}

// Length of the whitespace run that starts s.
size_t leading_space_length(std::string_view s) {
    size_t i = 0;
    while (i < s.size()) {
        size_t k = i;
        if (!is_white_space(utf8::next(s, k))) break;
        i = k;
    }
    return i;
}

}  // namespace

void AddedTokenMatcher::build(std::vector<AddedToken> tokens, std::vector<std::string> patterns) {
    m_tokens = std::move(tokens);
    m_trie.assign(1, Node{});
    std::fill(std::begin(m_first_byte), std::end(m_first_byte), false);
    for (size_t t = 0; t < m_tokens.size(); ++t) {
        const std::string& pat = patterns[t];
        if (pat.empty()) continue;  // an empty token can never be found
        m_first_byte[static_cast<unsigned char>(pat[0])] = true;
        int32_t node = 0;
        for (const char c : pat) {
            const auto b = static_cast<unsigned char>(c);
            int32_t next = child(node, b);
            if (next < 0) {
                next = int32_t(m_trie.size());
                m_trie.push_back(Node{});
                auto& ch = m_trie[size_t(node)].children;
                ch.insert(std::lower_bound(ch.begin(), ch.end(), std::pair{b, int32_t(0)},
                                           [](const auto& x, const auto& y) { return x.first < y.first; }),
                          {b, next});
            }
            node = next;
        }
        // Two tokens with the same text: the first one listed wins, as in the reference's trie.
        if (m_trie[size_t(node)].token < 0) m_trie[size_t(node)].token = int32_t(t);
    }
}

int32_t AddedTokenMatcher::child(int32_t node, unsigned char b) const {
    const auto& ch = m_trie[size_t(node)].children;
    const auto it = std::lower_bound(ch.begin(), ch.end(), std::pair{b, int32_t(0)},
                                     [](const auto& x, const auto& y) { return x.first < y.first; });
    return it != ch.end() && it->first == b ? it->second : -1;
}

std::pair<int32_t, size_t> AddedTokenMatcher::longest_at(std::string_view text, size_t pos) const {
    int32_t node = 0, best = -1;
    size_t best_len = 0;
    for (size_t i = pos; i < text.size(); ++i) {
        node = child(node, static_cast<unsigned char>(text[i]));
        if (node < 0) break;
        if (m_trie[size_t(node)].token >= 0) {
            best = m_trie[size_t(node)].token;
            best_len = i + 1 - pos;
        }
    }
    return {best, best_len};
}

std::vector<Segment> AddedTokenMatcher::split(std::string_view text) const {
    std::vector<Segment> out;
    size_t start_offset = 0;  // end of the last token taken
    size_t pos = 0;           // where the search for the next match resumes
    if (!empty()) {
        while (pos < text.size()) {
            if (!m_first_byte[static_cast<unsigned char>(text[pos])]) {
                ++pos;
                continue;
            }
            const auto [t, len] = longest_at(text, pos);
            if (t < 0) {
                ++pos;
                continue;
            }
            const AddedToken& tok = m_tokens[size_t(t)];
            size_t start = pos, stop = pos + len;
            pos = stop;  // matches do not overlap, even when this one is rejected below
            if (tok.single_word) {
                const bool space_before = start == 0 || !is_word_char(last_char(text.substr(0, start)));
                size_t k = stop;
                const bool space_after = stop == text.size() || !is_word_char(utf8::next(text, k));
                if (!space_before || !space_after) continue;
            }
            if (tok.lstrip) start = std::max(trailing_space_start(text.substr(0, start)), start_offset);
            if (tok.rstrip) stop += leading_space_length(text.substr(stop));
            if (start_offset < start) out.push_back({start_offset, start, -1});
            out.push_back({start, stop, tok.id});
            start_offset = stop;
            pos = stop;
        }
    }
    if (start_offset < text.size()) out.push_back({start_offset, text.size(), -1});
    return out;
}

}  // namespace tessera
