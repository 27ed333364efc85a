// Pre-tokenizer steps read from tokenizer.json and run over the pieces of a text (models.md §8).
#include "tokenizer/pretokenizer.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "tokenizer/byte_level.h"

namespace tessera {

using json = nlohmann::json;

namespace {

// The GPT-2 pattern ByteLevel uses when use_regex is true (it is fixed, not read from the file).
constexpr const char* kGpt2Pattern = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

}  // namespace

struct PreTokenizer::Step {
    enum class Kind { Split, ByteLevel } kind = Kind::Split;
    std::unique_ptr<Regex> regex;  // Split: its pattern; ByteLevel: the GPT-2 pattern or null
    SplitBehavior behavior = SplitBehavior::Isolated;
    bool invert = false;
    bool add_prefix_space = false;
};

PreTokenizer::PreTokenizer() = default;
PreTokenizer::~PreTokenizer() = default;
PreTokenizer::PreTokenizer(PreTokenizer&&) noexcept = default;
PreTokenizer& PreTokenizer::operator=(PreTokenizer&&) noexcept = default;

Result<PreTokenizer> PreTokenizer::from_json(const json& j, const std::string& where) {
    PreTokenizer p;
    if (!j.is_null()) TESSERA_TRY(p.add(j, where));
    return p;
}

Status PreTokenizer::add(const json& j, const std::string& where) {
    if (!j.is_object() || !j.contains("type") || !j["type"].is_string())
        return make_error(ErrorCode::Tokenizer, where + ": expected an object with a \"type\"");
    const std::string type = j["type"].get<std::string>();
    if (type == "Sequence") {
        const auto it = j.find("pretokenizers");
        if (it == j.end() || !it->is_array())
            return make_error(ErrorCode::Tokenizer, where + ".pretokenizers: missing or not an array");
        for (size_t i = 0; i < it->size(); ++i)
            TESSERA_TRY(add((*it)[i], where + ".pretokenizers[" + std::to_string(i) + "]"));
        return {};
    }
    if (type == "Split") {
        Step s;
        const auto pat = j.find("pattern");
        if (pat == j.end() || !pat->is_object())
            return make_error(ErrorCode::Tokenizer, where + ".pattern: missing or not an object");
        bool literal = false;
        std::string source, field;
        if (pat->contains("Regex") && (*pat)["Regex"].is_string()) {
            source = (*pat)["Regex"].get<std::string>();
            field = where + ".pattern.Regex";
        } else if (pat->contains("String") && (*pat)["String"].is_string()) {
            source = (*pat)["String"].get<std::string>();
            field = where + ".pattern.String";
            literal = true;
        } else {
            return make_error(ErrorCode::Tokenizer, where + ".pattern: expected {\"Regex\": ...} or {\"String\": ...}");
        }
        TESSERA_ASSIGN(s.regex, Regex::compile(source, literal, field));
        const std::string behavior = j.value("behavior", std::string("Isolated"));
        if (behavior == "Removed") s.behavior = SplitBehavior::Removed;
        else if (behavior == "Isolated") s.behavior = SplitBehavior::Isolated;
        else if (behavior == "MergedWithPrevious") s.behavior = SplitBehavior::MergedWithPrevious;
        else if (behavior == "MergedWithNext") s.behavior = SplitBehavior::MergedWithNext;
        else if (behavior == "Contiguous") s.behavior = SplitBehavior::Contiguous;
        else return make_error(ErrorCode::Tokenizer, where + ".behavior: unknown value \"" + behavior + "\"");
        const auto inv = j.find("invert");
        if (inv != j.end() && !inv->is_null()) {
            if (!inv->is_boolean()) return make_error(ErrorCode::Tokenizer, where + ".invert: not a boolean");
            s.invert = inv->get<bool>();
        }
        m_steps.push_back(std::move(s));
        return {};
    }
    if (type == "ByteLevel") {
        Step s;
        s.kind = Step::Kind::ByteLevel;
        for (const char* key : {"add_prefix_space", "use_regex"}) {
            const auto it = j.find(key);
            if (it != j.end() && !it->is_boolean())
                return make_error(ErrorCode::Tokenizer, where + "." + key + ": not a boolean");
        }
        s.add_prefix_space = j.value("add_prefix_space", true);
        if (j.value("use_regex", true)) {
            TESSERA_ASSIGN(s.regex, Regex::compile(kGpt2Pattern, false, where + " (GPT-2 regex)"));
        }
        m_steps.push_back(std::move(s));
        m_byte_level = true;
        return {};
    }
    return make_error(ErrorCode::Unsupported, where + ".type: pre-tokenizer \"" + type + "\" is not supported");
}

std::vector<std::pair<size_t, size_t>> split_by_matches(size_t text_size,
                                                        const std::vector<std::pair<size_t, size_t>>& matches,
                                                        SplitBehavior behavior, bool invert) {
    // Segments covering the text, each flagged as a match or not (tokenizers' Pattern::find_matches).
    struct Seg {
        size_t b, e;
        bool is_match;
    };
    std::vector<Seg> segs;
    segs.reserve(matches.size() * 2 + 1);
    size_t prev = 0;
    for (const auto& [b, e] : matches) {
        if (prev != b) segs.push_back({prev, b, invert});
        segs.push_back({b, e, !invert});
        prev = e;
    }
    if (prev != text_size) segs.push_back({prev, text_size, invert});

    std::vector<std::pair<size_t, size_t>> out;
    out.reserve(segs.size());
    bool previous_match = false;
    switch (behavior) {
        case SplitBehavior::Isolated:
            for (const Seg& s : segs) out.emplace_back(s.b, s.e);
            break;
        case SplitBehavior::Removed:
            for (const Seg& s : segs)
                if (!s.is_match) out.emplace_back(s.b, s.e);
            break;
        case SplitBehavior::MergedWithPrevious:
            for (const Seg& s : segs) {
                if (s.is_match && !previous_match && !out.empty()) out.back().second = s.e;
                else out.emplace_back(s.b, s.e);
                previous_match = s.is_match;
            }
            break;
        case SplitBehavior::MergedWithNext:
            for (size_t k = segs.size(); k-- > 0;) {
                const Seg& s = segs[k];
                if (s.is_match && !previous_match && !out.empty()) out.back().first = s.b;
                else out.emplace_back(s.b, s.e);
                previous_match = s.is_match;
            }
            std::reverse(out.begin(), out.end());
            break;
        case SplitBehavior::Contiguous:
            for (const Seg& s : segs) {
                if (s.is_match == previous_match && !out.empty()) out.back().second = s.e;
                else out.emplace_back(s.b, s.e);
                previous_match = s.is_match;
            }
            break;
    }
    std::erase_if(out, [](const auto& span) { return span.first == span.second; });
    return out;
}

Pieces PreTokenizer::run(std::string_view text) const {
    Pieces p;
    p.base.assign(text);
    if (!text.empty()) p.spans.emplace_back(0, text.size());
    for (const Step& step : m_steps) {
        if (step.kind == Step::Kind::Split) {
            std::vector<std::pair<size_t, size_t>> next;
            next.reserve(p.spans.size() * 2);
            for (size_t i = 0; i < p.spans.size(); ++i) {
                const std::string_view piece = p[i];
                const size_t offset = p.spans[i].first;
                for (const auto& [b, e] : split_by_matches(piece.size(), step.regex->find_all(piece), step.behavior,
                                                           step.invert))
                    next.emplace_back(offset + b, offset + e);
            }
            p.spans = std::move(next);
            continue;
        }
        // ByteLevel: per piece, optional prefix space and GPT-2 split, then the byte mapping.
        Pieces mapped;
        mapped.base.reserve(p.base.size() * 2);
        std::string prefixed;
        for (size_t i = 0; i < p.spans.size(); ++i) {
            std::string_view piece = p[i];
            if (step.add_prefix_space && piece.front() != ' ') {
                prefixed.assign(1, ' ');
                prefixed.append(piece);
                piece = prefixed;
            }
            const auto emit = [&](std::string_view sub) {
                const size_t b = mapped.base.size();
                byte_level::encode(sub, mapped.base);
                mapped.spans.emplace_back(b, mapped.base.size());
            };
            if (step.regex) {
                for (const auto& [b, e] : split_by_matches(piece.size(), step.regex->find_all(piece),
                                                           SplitBehavior::Isolated, false))
                    emit(piece.substr(b, e - b));
            } else {
                emit(piece);
            }
        }
        p = std::move(mapped);
    }
    return p;
}

}  // namespace tessera
