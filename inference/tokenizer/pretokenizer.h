// The pre-tokenizer of tokenizer.json (models.md §8 step 3): a Sequence of Split steps (regex or
// literal, with their split behaviour) and ByteLevel (optional GPT-2 regex, optional prefix space,
// then bytes -> printable characters). Each step is applied to every piece the previous steps made.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "tessera/error.h"
#include "tokenizer/regex.h"

namespace tessera {

// Pieces of one text: spans [begin, end) into base.
struct Pieces {
    std::string base;
    std::vector<std::pair<size_t, size_t>> spans;
    std::string_view operator[](size_t i) const {
        return std::string_view(base).substr(spans[i].first, spans[i].second - spans[i].first);
    }
};

enum class SplitBehavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };

class PreTokenizer {
public:
    PreTokenizer();
    ~PreTokenizer();
    PreTokenizer(PreTokenizer&&) noexcept;
    PreTokenizer& operator=(PreTokenizer&&) noexcept;

    // j is the "pre_tokenizer" value (null allowed: the whole text is one piece). where names it in
    // error messages ("tokenizer.json: pre_tokenizer").
    static Result<PreTokenizer> from_json(const nlohmann::json& j, const std::string& where);

    // Splits text (valid UTF-8) into pieces; empty pieces are dropped.
    Pieces run(std::string_view text) const;

    // True when a ByteLevel step maps bytes to characters (the BPE vocabulary is byte-level).
    bool byte_level() const { return m_byte_level; }

    struct Step;

private:
    Status add(const nlohmann::json& j, const std::string& where);
    std::vector<Step> m_steps;
    bool m_byte_level = false;
};

// The splits of `text` given the regex matches, under a behaviour (tokenizers' SplitDelimiterBehavior).
std::vector<std::pair<size_t, size_t>> split_by_matches(size_t text_size,
                                                        const std::vector<std::pair<size_t, size_t>>& matches,
                                                        SplitBehavior behavior, bool invert);

}  // namespace tessera
