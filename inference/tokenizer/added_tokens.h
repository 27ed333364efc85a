// Added and special tokens (models.md §8 step 1): found in the text before pre-tokenization,
// leftmost-longest among all of them, with lstrip / rstrip (absorb neighbouring whitespace) and
// single_word (only where no word character touches the token).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tessera {

struct AddedToken {
    int32_t id = 0;
    std::string content;
    bool special = false;
    bool lstrip = false;
    bool rstrip = false;
    bool single_word = false;
    bool normalized = false;
};

// One stretch of text: either an added token (id >= 0) or plain text still to be tokenized.
struct Segment {
    size_t begin, end;
    int32_t id;  // -1: plain text
};

class AddedTokenMatcher {
public:
    // patterns[i] is what the text must contain for tokens[i] (its content, or for normalized tokens
    // its normalized content).
    void build(std::vector<AddedToken> tokens, std::vector<std::string> patterns);
    bool empty() const { return m_tokens.empty(); }

    // Splits text (valid UTF-8) into segments covering it; plain segments are never empty.
    std::vector<Segment> split(std::string_view text) const;

private:
    struct Node {
        std::vector<std::pair<unsigned char, int32_t>> children;  // sorted by byte
        int32_t token = -1;                                       // index into m_tokens
    };
    int32_t child(int32_t node, unsigned char b) const;
    // Longest pattern starting at pos: its token index and length, or -1.
    std::pair<int32_t, size_t> longest_at(std::string_view text, size_t pos) const;

    std::vector<AddedToken> m_tokens;
    std::vector<Node> m_trie;
    bool m_first_byte[256] = {};
};

// Word characters and whitespace as the reference's single_word / strip rules see them (Rust regex
// \w and \s, i.e. Unicode Alphabetic|Mark|Decimal_Number|Connector_Punctuation|Join_Control and
// White_Space).
bool is_white_space(char32_t cp);
bool is_word_char(char32_t cp);

}  // namespace tessera
