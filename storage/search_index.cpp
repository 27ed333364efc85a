// SearchIndex: FTS5 queries over the title and message indexes (see search_index.h).
#include "storage/search_index.h"

#include <algorithm>
#include <cstdint>

#include "storage/search_tokenizer.h"

namespace tessera::storage {

namespace {

bool is_space(std::string_view s, std::size_t i, std::size_t& len) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    len = 1;
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') return true;
    // U+3000 IDEOGRAPHIC SPACE, what a Chinese/Japanese input method types for a space.
    if (c == 0xE3 && i + 2 < s.size() && static_cast<unsigned char>(s[i + 1]) == 0x80 &&
        static_cast<unsigned char>(s[i + 2]) == 0x80) {
        len = 3;
        return true;
    }
    return false;
}

// Pieces made only of ASCII punctuation would be empty phrases; leave them out.
bool searchable(std::string_view piece) {
    for (char ch : piece) {
        const unsigned char c = static_cast<unsigned char>(ch);
        if (c >= 0x80 || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
    }
    return false;
}

// The lowest rowid among the newest `window` matches, or 1 (everything) when there are no more matches
// than that. Walking matches in rowid order computes no scores, so this costs little even for common
// words; it lets the ranked query below skip older rows with a rowid range FTS5 answers from its index.
Result<std::int64_t> window_floor(Database& db, const char* sql, const std::string& match, int window) {
    if (window <= 0) return std::int64_t(1);
    TESSERA_ASSIGN(auto stmt, db.cached(sql));
    TESSERA_TRY(stmt->bind_all(match, window - 1));
    TESSERA_ASSIGN(bool row, stmt->step());
    return row ? stmt->column_int(0) : std::int64_t(1);
}

int window_for(const SearchOptions& o) {
    return o.rank_window <= 0 ? 0 : std::max(o.rank_window, o.offset + o.limit);
}

std::vector<std::string_view> split_pieces(std::string_view text) {
    std::vector<std::string_view> pieces;
    std::size_t i = 0, start = 0;
    while (i < text.size()) {
        std::size_t len = 1;
        if (is_space(text, i, len)) {
            if (i > start) pieces.push_back(text.substr(start, i - start));
            start = i + len;
        }
        i += len;
    }
    if (start < text.size()) pieces.push_back(text.substr(start));
    return pieces;
}

// Code points in the last piece when it may be matched as a prefix, else 0. One letter would expand to
// a large part of the vocabulary (seconds on a big history), and a Chinese or Japanese character is a
// whole token already, so neither is a prefix.
std::size_t prefix_length(std::string_view text) {
    auto pieces = split_pieces(text);
    if (pieces.empty()) return 0;
    std::string_view last = pieces.back();
    std::size_t count = 0;
    std::uint32_t last_cp = 0;
    for (std::size_t i = 0; i < last.size();) {
        const unsigned char c = static_cast<unsigned char>(last[i]);
        std::size_t len = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
        len = std::min(len, last.size() - i);
        std::uint32_t cp = c < 0x80 ? c : (c & (0x7Fu >> len));
        for (std::size_t k = 1; k < len; ++k) cp = (cp << 6) | (static_cast<unsigned char>(last[i + k]) & 0x3Fu);
        last_cp = cp;
        ++count;
        i += len;
    }
    const bool alnum = last_cp >= 0x80 || (last_cp >= '0' && last_cp <= '9') || (last_cp >= 'a' && last_cp <= 'z') ||
                       (last_cp >= 'A' && last_cp <= 'Z');
    if (count < 2 || !alnum || is_cjk_codepoint(last_cp)) return 0;
    return count;
}

// The FTS tables keep prefix indexes for 2, 3 and 4 characters (004_search.sql); longer prefixes are
// answered by merging every matching word's list, which is slow for a common word.
constexpr std::size_t k_longest_indexed_prefix = 4;

}  // namespace

std::string SearchIndex::to_match_query(std::string_view text, bool prefix_last) {
    const auto pieces = split_pieces(text);
    const bool prefix = prefix_last && prefix_length(text) > 0;
    std::string query;
    for (std::size_t p = 0; p < pieces.size(); ++p) {
        if (!searchable(pieces[p])) continue;
        if (!query.empty()) query += ' ';
        query += '"';
        for (char c : pieces[p]) {
            if (c == '"') query += '"';  // a quote inside an FTS5 string is written twice
            query += c;
        }
        query += '"';
        if (prefix && p + 1 == pieces.size()) query += '*';
    }
    return query;
}

Result<std::vector<SearchHit>> SearchIndex::search_titles(std::string_view text, const SearchOptions& o) {
    const std::string match = to_match_query(text, o.prefix_last);
    std::vector<SearchHit> out;
    if (match.empty()) return out;
    TESSERA_ASSIGN(std::int64_t floor,
                   window_floor(m_db, "SELECT rowid FROM conversations_fts WHERE conversations_fts MATCH ?1 "
                                      "ORDER BY rowid DESC LIMIT 1 OFFSET ?2", match, window_for(o)));
    TESSERA_ASSIGN(auto stmt, m_db.cached(
                                  "SELECT f.rowid, f.hl, f.rank, c.title, c.archived FROM "
                                  "(SELECT rowid, highlight(conversations_fts, 0, ?2, ?3) AS hl, rank FROM conversations_fts "
                                  " WHERE conversations_fts MATCH ?1 AND rowid >= ?6 AND rank MATCH 'tessera_rank()' "
                                  " ORDER BY rank LIMIT ?4 OFFSET ?5) AS f "
                                  "CROSS JOIN conversations c ON c.id = f.rowid ORDER BY f.rank"));
    TESSERA_TRY(stmt->bind_all(match, o.highlight_open, o.highlight_close, o.limit, o.offset, floor));
    while (true) {
        TESSERA_ASSIGN(bool row, stmt->step());
        if (!row) break;
        SearchHit h;
        h.conversation_id = stmt->column_int(0);
        h.snippet = stmt->column_text(1);
        h.score = stmt->column_double(2);
        h.conversation_title = stmt->column_text(3);
        h.archived = stmt->column_int(4) != 0;
        out.push_back(std::move(h));
    }
    return out;
}

namespace {

Result<std::vector<SearchHit>> run_message_query(Database& db, const std::string& match, const SearchOptions& o) {
    std::vector<SearchHit> out;
    if (match.empty()) return out;
    // The inner query is answered by FTS5 alone, which orders by rank itself and computes snippets only
    // for the rows it returns; the joins then run for one page of hits.
    TESSERA_ASSIGN(std::int64_t floor,
                   window_floor(db, "SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?1 "
                                      "ORDER BY rowid DESC LIMIT 1 OFFSET ?2", match, window_for(o)));
    // CROSS JOIN keeps the page of hits as the outer loop: primary-key lookups, never a scan (or a Bloom
    // filter built over) the messages table.
    TESSERA_ASSIGN(auto stmt, db.cached(
                                  "SELECT f.rowid, f.snip, f.rank, m.conversation_id, m.role, c.title, c.archived FROM "
                                  "(SELECT rowid, snippet(messages_fts, -1, ?2, ?3, '…', ?4) AS snip, rank "
                                  " FROM messages_fts WHERE messages_fts MATCH ?1 AND rowid >= ?7 "
                                  " AND rank MATCH 'tessera_rank(1.0, 0.4)' ORDER BY rank "
                                  " LIMIT ?5 OFFSET ?6) AS f "
                                  "CROSS JOIN messages m ON m.id = f.rowid CROSS JOIN conversations c "
                                  "ON c.id = m.conversation_id ORDER BY f.rank"));
    TESSERA_TRY(stmt->bind_all(match, o.highlight_open, o.highlight_close, o.snippet_tokens, o.limit, o.offset,
                               floor));
    while (true) {
        TESSERA_ASSIGN(bool row, stmt->step());
        if (!row) break;
        SearchHit h;
        h.message_id = stmt->column_int(0);
        h.snippet = stmt->column_text(1);
        h.score = stmt->column_double(2);
        h.conversation_id = stmt->column_int(3);
        h.role = role_from_name(stmt->column_text(4)).value_or(Role::User);
        h.conversation_title = stmt->column_text(5);
        h.archived = stmt->column_int(6) != 0;
        out.push_back(std::move(h));
    }
    return out;
}

}  // namespace

Result<std::vector<SearchHit>> SearchIndex::search_messages(std::string_view text, const SearchOptions& o) {
    // A long last word beyond the prefix indexes: when the word itself already fills the page, it was
    // typed in full, and expanding it (e.g. to every word starting with "model") would only cost time.
    if (o.prefix_last && prefix_length(text) > k_longest_indexed_prefix) {
        TESSERA_ASSIGN(auto exact, run_message_query(m_db, to_match_query(text, false), o));
        if (static_cast<int>(exact.size()) >= o.limit) return exact;
    }
    return run_message_query(m_db, to_match_query(text, o.prefix_last), o);
}

Result<SearchResults> SearchIndex::search(std::string_view text, const SearchOptions& options) {
    SearchResults results;
    TESSERA_ASSIGN(results.titles, search_titles(text, options));
    TESSERA_ASSIGN(results.messages, search_messages(text, options));
    return results;
}

Status SearchIndex::rebuild() {
    TESSERA_ASSIGN(Transaction tx, Transaction::begin(m_db));
    TESSERA_TRY(m_db.exec("INSERT INTO messages_fts(messages_fts) VALUES ('rebuild')"));
    TESSERA_TRY(m_db.exec("INSERT INTO conversations_fts(conversations_fts) VALUES ('rebuild')"));
    return tx.commit();
}

}  // namespace tessera::storage
