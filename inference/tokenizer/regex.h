// A compiled pre-tokenizer pattern. tokenizer.json patterns are written for Oniguruma (what the
// reference `tokenizers` library uses); they run here on PCRE2 in UTF + UCP mode after a small
// translation of the constructs whose meaning differs between the two (see regex.cpp).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tessera/error.h"

namespace tessera {

class Regex {
public:
    // pattern is Oniguruma syntax; literal = true matches the string itself (the `String` form).
    // what names the field for error messages ("tokenizer.json: pre_tokenizer...Regex").
    static Result<std::unique_ptr<Regex>> compile(std::string_view pattern, bool literal, const std::string& what);
    ~Regex();
    Regex(const Regex&) = delete;
    Regex& operator=(const Regex&) = delete;

    // Non-overlapping matches in text (valid UTF-8) as [begin, end) byte offsets, leftmost first,
    // stepping over empty matches the way Oniguruma's iterator does. Thread-safe.
    std::vector<std::pair<size_t, size_t>> find_all(std::string_view text) const;

    // Oniguruma pattern -> PCRE2 pattern (exposed for tests).
    static std::string translate(std::string_view pattern);

    struct Compiled;

private:
    explicit Regex(std::unique_ptr<Compiled> c);
    std::unique_ptr<Compiled> m_c;
};

}  // namespace tessera
