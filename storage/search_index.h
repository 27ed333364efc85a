// SearchIndex: full-text search over conversation titles and message text (answers and reasoning), ranked
// by bm25, with snippets whose matches are wrapped in caller-chosen markers. The index is maintained by
// triggers (migrations/004_search.sql), so nothing here needs calling when messages change.
//
// The user's text never becomes FTS5 syntax: it is split at white space and each piece is quoted as a
// literal phrase; all pieces must match (AND), the last one also as a prefix (search as you type) when it
// has at least two letters and does not end in a Chinese/Japanese character. A last word longer than the
// prefix indexes (4 characters) is expanded only when the word itself does not fill the page.
// Chinese and Japanese are matched character-phrase-wise (see search_tokenizer.h), so 中国 finds 中国人.
// Thread use: as its Database (one thread at a time).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "storage/database.h"
#include "storage/types.h"

namespace tessera::storage {

struct SearchOptions {
    int limit = 20;
    int offset = 0;
    // STX/ETX by default: they never occur in typed text, so a view can escape the snippet for display
    // and then turn these into its own highlighting.
    std::string highlight_open = "\x02";
    std::string highlight_close = "\x03";
    int snippet_tokens = 16;  // length of a message snippet, in tokens
    bool prefix_last = true;
    // bm25 must score every match, so a word found in hundreds of thousands of messages would take
    // seconds. When a query matches more than this many rows, the best hits are chosen among the newest
    // this-many matches (in a chat history, the recent past). 0 ranks every match.
    int rank_window = 2500;
};

struct SearchHit {
    Id conversation_id = 0;
    std::optional<Id> message_id;  // unset for a title hit
    Role role = Role::User;
    std::string conversation_title;
    bool archived = false;
    std::string snippet;  // a title hit: the whole title, highlighted
    double score = 0;     // bm25: lower is better
};

struct SearchResults {
    std::vector<SearchHit> titles;
    std::vector<SearchHit> messages;
};

class SearchIndex {
public:
    explicit SearchIndex(Database& db) : m_db(db) {}

    // Both kinds; an empty or punctuation-only query gives no hits (not an error).
    Result<SearchResults> search(std::string_view text, const SearchOptions& options = {});
    Result<std::vector<SearchHit>> search_titles(std::string_view text, const SearchOptions& options = {});
    Result<std::vector<SearchHit>> search_messages(std::string_view text, const SearchOptions& options = {});

    // Rebuilds both indexes from the tables (after a repair, or to compact them).
    Status rebuild();

    // The FTS5 query for the user's text: each white-space separated piece a quoted phrase. Empty when
    // there is nothing to search for.
    static std::string to_match_query(std::string_view text, bool prefix_last);

private:
    Database& m_db;
};

}  // namespace tessera::storage
