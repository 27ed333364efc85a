// Loading the BPE vocabulary and merges, and the merge loop itself: the same order of merges as the
// reference (a heap of candidate pairs keyed by rank, then position), so ties resolve identically.
#include "tokenizer/bpe.h"

#include <cstdio>
#include <queue>

#include <nlohmann/json.hpp>

#include "tokenizer/utf8.h"

namespace tessera {

using json = nlohmann::json;

namespace {

constexpr size_t kCacheCapacity = 10000;
constexpr size_t kCacheMaxPieceBytes = 256;

std::string in_quotes(std::string_view s) { return "\"" + std::string(s) + "\""; }

}  // namespace

Result<std::unique_ptr<BpeModel>> BpeModel::from_json(const json& j, const std::string& file) {
    if (!j.is_object()) return make_error(ErrorCode::Tokenizer, file + ": model: missing or not an object");
    if (const auto t = j.find("type"); t != j.end() && !(t->is_string() && t->get<std::string>() == "BPE"))
        return make_error(ErrorCode::Unsupported,
                          file + ": model.type: " + (t->is_string() ? in_quotes(t->get<std::string>()) : t->dump()) +
                              " is not supported (only BPE)");
    for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"})
        if (const auto it = j.find(key); it != j.end() && !it->is_null() && !(it->is_string() && it->get<std::string>().empty()))
            return make_error(ErrorCode::Unsupported, file + ": model." + key + " is not supported");

    auto m = std::make_unique<BpeModel>();
    const auto vocab = j.find("vocab");
    if (vocab == j.end() || !vocab->is_object())
        return make_error(ErrorCode::Tokenizer, file + ": model.vocab: missing or not an object");
    m->m_vocab.reserve(vocab->size());
    for (const auto& [token, id] : vocab->items()) {
        if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() >= kMaxTokenId)
            return make_error(ErrorCode::Tokenizer,
                              file + ": model.vocab[" + in_quotes(token) + "]: id " + id.dump() + " is not a valid token id");
        const auto v = static_cast<int32_t>(id.get<int64_t>());
        m->m_vocab[token] = v;
        m->m_max_id = std::max(m->m_max_id, v);
    }

    const auto merges = j.find("merges");
    if (merges != j.end() && !merges->is_null()) {
        if (!merges->is_array()) return make_error(ErrorCode::Tokenizer, file + ": model.merges: not an array");
        m->m_merges.reserve(merges->size());
        std::string merged;
        for (size_t i = 0; i < merges->size(); ++i) {
            const json& e = (*merges)[i];
            const std::string field = file + ": model.merges[" + std::to_string(i) + "]";
            std::string_view a, b;
            std::string pair_text;
            if (e.is_string()) {
                pair_text = e.get<std::string>();
                const size_t sp = pair_text.find(' ');
                if (sp == std::string::npos)
                    return make_error(ErrorCode::Tokenizer, field + ": " + in_quotes(pair_text) + " is not \"a b\"");
                a = std::string_view(pair_text).substr(0, sp);
                b = std::string_view(pair_text).substr(sp + 1);
            } else if (e.is_array() && e.size() == 2 && e[0].is_string() && e[1].is_string()) {
                a = e[0].get_ref<const std::string&>();
                b = e[1].get_ref<const std::string&>();
            } else {
                return make_error(ErrorCode::Tokenizer, field + ": expected \"a b\" or [\"a\", \"b\"]");
            }
            const auto ia = m->m_vocab.find(a), ib = m->m_vocab.find(b);
            if (ia == m->m_vocab.end())
                return make_error(ErrorCode::Tokenizer, field + ": token " + in_quotes(a) + " is not in model.vocab");
            if (ib == m->m_vocab.end())
                return make_error(ErrorCode::Tokenizer, field + ": token " + in_quotes(b) + " is not in model.vocab");
            merged.assign(a);
            merged.append(b);
            const auto im = m->m_vocab.find(merged);
            if (im == m->m_vocab.end())
                return make_error(ErrorCode::Tokenizer,
                                  field + ": merged token " + in_quotes(merged) + " is not in model.vocab");
            // A pair listed twice keeps its later rank, as the reference's map does.
            m->m_merges[pair_key(ia->second, ib->second)] = Merge{int32_t(i), im->second};
        }
    }

    if (const auto unk = j.find("unk_token"); unk != j.end() && !unk->is_null()) {
        if (!unk->is_string()) return make_error(ErrorCode::Tokenizer, file + ": model.unk_token: not a string");
        const auto it = m->m_vocab.find(unk->get<std::string>());
        if (it == m->m_vocab.end())
            return make_error(ErrorCode::Tokenizer,
                              file + ": model.unk_token " + in_quotes(unk->get<std::string>()) + " is not in model.vocab");
        m->m_unk = it->second;
    }
    for (auto [key, flag] : {std::pair{"fuse_unk", &m->m_fuse_unk}, std::pair{"byte_fallback", &m->m_byte_fallback},
                             std::pair{"ignore_merges", &m->m_ignore_merges}}) {
        const auto it = j.find(key);
        if (it == j.end() || it->is_null()) continue;
        if (!it->is_boolean()) return make_error(ErrorCode::Tokenizer, file + ": model." + key + ": not a boolean");
        *flag = it->get<bool>();
    }
    return m;
}

std::optional<int32_t> BpeModel::token_to_id(std::string_view token) const {
    const auto it = m_vocab.find(token);
    if (it == m_vocab.end()) return std::nullopt;
    return it->second;
}

void BpeModel::merge_word(std::string_view piece, std::vector<int32_t>& ids) const {
    // Initial symbols: one per character (or its <0xXX> bytes, or unk when the vocabulary lacks it).
    std::vector<int32_t> sym;
    sym.reserve(piece.size());
    std::optional<int32_t> pending_unk;
    for (size_t i = 0; i < piece.size();) {
        size_t n = utf8::valid_length(piece, i);
        if (n == 0) n = 1;
        const std::string_view ch = piece.substr(i, n);
        i += n;
        if (const auto it = m_vocab.find(ch); it != m_vocab.end()) {
            if (pending_unk) sym.push_back(*std::exchange(pending_unk, std::nullopt));
            sym.push_back(it->second);
            continue;
        }
        if (m_byte_fallback) {
            std::vector<int32_t> bytes;
            for (const char c : ch) {
                char name[8];
                std::snprintf(name, sizeof name, "<0x%02X>", unsigned(static_cast<unsigned char>(c)));
                const auto it = m_vocab.find(std::string_view(name));
                if (it == m_vocab.end()) break;
                bytes.push_back(it->second);
            }
            if (bytes.size() == ch.size()) {
                if (pending_unk) sym.push_back(*std::exchange(pending_unk, std::nullopt));
                sym.insert(sym.end(), bytes.begin(), bytes.end());
                continue;
            }
        }
        if (m_unk) {
            // Without fuse_unk every unknown character is its own unk; with it, a run becomes one.
            if (pending_unk && !m_fuse_unk) sym.push_back(*pending_unk);
            pending_unk = *m_unk;
        }
        // No unk token: the reference drops the character.
    }
    if (pending_unk) sym.push_back(*pending_unk);

    // Doubly linked symbols merged through a heap of (rank, position); stale entries are skipped
    // by checking that the pair at that position still merges into the same token.
    struct Entry {
        int32_t rank;
        int32_t pos;
        int32_t new_id;
        bool operator>(const Entry& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
    };
    const auto n = int32_t(sym.size());
    std::vector<int32_t> prev(static_cast<size_t>(n)), next(static_cast<size_t>(n));
    std::vector<bool> alive(static_cast<size_t>(n), true);
    std::priority_queue<Entry, std::vector<Entry>, std::greater<>> heap;
    const auto lookup = [&](int32_t a, int32_t b) -> const Merge* {
        const auto it = m_merges.find(pair_key(a, b));
        return it == m_merges.end() ? nullptr : &it->second;
    };
    for (int32_t i = 0; i < n; ++i) {
        prev[size_t(i)] = i - 1;
        next[size_t(i)] = i + 1 < n ? i + 1 : -1;
        if (i + 1 < n)
            if (const Merge* mg = lookup(sym[size_t(i)], sym[size_t(i) + 1])) heap.push({mg->rank, i, mg->new_id});
    }
    while (!heap.empty()) {
        const Entry top = heap.top();
        heap.pop();
        const auto p = size_t(top.pos);
        if (!alive[p] || next[p] < 0) continue;
        const auto q = size_t(next[p]);
        const Merge* mg = lookup(sym[p], sym[q]);
        if (!mg || mg->new_id != top.new_id) continue;
        sym[p] = top.new_id;
        alive[q] = false;
        next[p] = next[q];
        if (next[q] >= 0) prev[size_t(next[q])] = top.pos;
        if (prev[p] >= 0)
            if (const Merge* l = lookup(sym[size_t(prev[p])], sym[p])) heap.push({l->rank, prev[p], l->new_id});
        if (next[p] >= 0)
            if (const Merge* r = lookup(sym[p], sym[size_t(next[p])])) heap.push({r->rank, top.pos, r->new_id});
    }
    for (int32_t i = 0; i < n; ++i)
        if (alive[size_t(i)]) ids.push_back(sym[size_t(i)]);
}

void BpeModel::tokenize(std::string_view piece, std::vector<int32_t>& out) const {
    if (piece.empty()) return;
    if (m_ignore_merges)
        if (const auto it = m_vocab.find(piece); it != m_vocab.end()) {
            out.push_back(it->second);
            return;
        }
    const bool cacheable = piece.size() < kCacheMaxPieceBytes;
    if (cacheable) {
        std::lock_guard lock(m_cache_mutex);
        if (const auto it = m_cache.find(piece); it != m_cache.end()) {
            out.insert(out.end(), it->second.begin(), it->second.end());
            return;
        }
    }
    const size_t start = out.size();
    merge_word(piece, out);
    if (cacheable) {
        std::lock_guard lock(m_cache_mutex);
        if (m_cache.size() >= kCacheCapacity) m_cache.clear();
        m_cache.emplace(std::string(piece), std::vector<int32_t>(out.begin() + std::ptrdiff_t(start), out.end()));
    }
}

}  // namespace tessera
