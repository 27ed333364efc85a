// The BPE model of tokenizer.json (models.md §8 step 4): vocabulary, rank-ordered merges (given as
// "a b" strings or ["a", "b"] pairs), applied lowest rank first (leftmost on ties) within each
// piece, with a per-piece cache.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "tessera/error.h"

namespace tessera {

// Ids at or above this are rejected: far beyond any real vocabulary, and it bounds the per-id tables a
// hostile file could make the loader allocate.
inline constexpr int64_t kMaxTokenId = int64_t(1) << 21;

// Hashing for string keys that lets lookups take a string_view without building a std::string.
struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using TokenMap = std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>>;

class BpeModel {
public:
    // j is tokenizer.json's "model"; file names the file for error messages.
    static Result<std::unique_ptr<BpeModel>> from_json(const nlohmann::json& j, const std::string& file);

    // Appends the ids of one pre-tokenized piece.
    void tokenize(std::string_view piece, std::vector<int32_t>& out) const;

    std::optional<int32_t> token_to_id(std::string_view token) const;
    const TokenMap& vocab() const { return m_vocab; }
    int32_t max_id() const { return m_max_id; }
    size_t merge_count() const { return m_merges.size(); }

private:
    struct Merge {
        int32_t rank;
        int32_t new_id;
    };
    static uint64_t pair_key(int32_t a, int32_t b) { return (uint64_t(uint32_t(a)) << 32) | uint32_t(b); }
    void merge_word(std::string_view piece, std::vector<int32_t>& ids) const;

    TokenMap m_vocab;
    std::unordered_map<uint64_t, Merge> m_merges;  // (left id, right id) -> rank and merged id
    int32_t m_max_id = -1;
    std::optional<int32_t> m_unk;
    bool m_fuse_unk = false;
    bool m_byte_fallback = false;
    bool m_ignore_merges = false;

    // Pieces repeat a lot in real text (" the", ","), so their ids are cached; the cache is cleared
    // when it grows past its capacity rather than tracking recency.
    mutable std::mutex m_cache_mutex;
    mutable std::unordered_map<std::string, std::vector<int32_t>, StringHash, std::equal_to<>> m_cache;
};

}  // namespace tessera
