// The FTS5 tokenizer 'tessera': unicode61 (case folding, diacritics removed) for scripts that separate
// words with spaces, and one token per character for Chinese and Japanese, which do not. A query for a
// two-character word such as 中国 becomes the phrase 中 国 and matches exactly that adjacent pair, with
// bm25 ranking and correct byte offsets for highlighted snippets (the trigram tokenizer cannot match
// fewer than three characters).
#pragma once

#include <cstdint>

#include "tessera/error.h"

struct sqlite3;
struct fts5_api;

namespace tessera::storage {

// The connection's FTS5 extension API (null when SQLite lacks FTS5).
::fts5_api* fts5_api_of(sqlite3* db);

// Registers the tokenizer on one connection; must precede any use of the full-text tables.
Status register_search_tokenizer(sqlite3* db);

// True for code points that are tokenized one character at a time (Han, kana, bopomofo).
bool is_cjk_codepoint(std::uint32_t cp);

}  // namespace tessera::storage
