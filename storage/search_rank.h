// The FTS5 ranking function 'tessera_rank': Okapi BM25 like FTS5's built-in bm25(), but with document
// frequencies estimated from at most a few thousand matches. The built-in function counts every row that
// contains each query phrase before scoring the first hit — for a common word in a million messages that
// alone takes 50–150 ms, however few rows are then ranked. Here the count stops at k_rank_idf_sample
// matches and extrapolates from how far into the (time-ordered) rowids it got; rare phrases, whose
// weights decide the order, are counted exactly.
//
// Use:  ... WHERE t MATCH ?1 AND rank MATCH 'tessera_rank(1.0, 0.4)' ORDER BY rank
// (arguments: one weight per column; lower scores are better, as with bm25()).
#pragma once

#include "tessera/error.h"

struct sqlite3;

namespace tessera::storage {

inline constexpr long long k_rank_idf_sample = 2500;

// Registers tessera_rank on one connection.
Status register_search_rank(sqlite3* db);

}  // namespace tessera::storage
