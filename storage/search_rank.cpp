// tessera_rank: BM25 scoring with sampled document frequencies (see search_rank.h).
#include "storage/search_rank.h"

#include <sqlite3.h>

#include <cmath>
#include <new>
#include <vector>

#include "storage/search_tokenizer.h"
#include "storage/statement.h"

namespace tessera::storage {

namespace {

constexpr double k_k1 = 1.2;  // term-frequency saturation, as in FTS5's bm25()
constexpr double k_b = 0.75;  // document-length normalisation

// Per-query constants, computed on the first row and kept with the query (xSetAuxdata).
struct QueryWeights {
    std::vector<double> idf;  // per phrase
    double average_length = 1;
};

struct PhraseCount {
    const Fts5ExtensionApi* api = nullptr;
    long long hits = 0;
    sqlite3_int64 last_rowid = 0;
};

int count_hit(const Fts5ExtensionApi* api, Fts5Context* fts, void* user) {
    auto* count = static_cast<PhraseCount*>(user);
    count->last_rowid = api->xRowid(fts);
    return ++count->hits >= k_rank_idf_sample ? SQLITE_DONE : SQLITE_OK;
}

int compute_weights(const Fts5ExtensionApi* api, Fts5Context* fts, QueryWeights& w) {
    sqlite3_int64 rows = 0, tokens = 0;
    if (int rc = api->xRowCount(fts, &rows); rc != SQLITE_OK) return rc;
    if (int rc = api->xColumnTotalSize(fts, -1, &tokens); rc != SQLITE_OK) return rc;
    w.average_length = rows > 0 ? double(tokens) / double(rows) : 1.0;
    const int phrases = api->xPhraseCount(fts);
    w.idf.assign(std::size_t(phrases > 0 ? phrases : 0), 0.0);
    for (int p = 0; p < phrases; ++p) {
        PhraseCount count{api};
        const int rc = api->xQueryPhrase(fts, p, &count, count_hit);
        if (rc != SQLITE_OK && rc != SQLITE_DONE) return rc;
        double n = double(count.hits);
        // The sample ended early: matches so far over the share of rowids walked (ascending) estimates
        // the total, rowids being roughly dense and in time order.
        if (count.hits >= k_rank_idf_sample && count.last_rowid > 0 && rows > 0)
            n = std::min(double(rows), n * double(rows) / double(count.last_rowid));
        double idf = std::log((double(rows) - n + 0.5) / (n + 0.5));
        if (idf <= 0) idf = 1e-6;  // phrases in more than half the rows still count, a little
        w.idf[std::size_t(p)] = idf;
    }
    return SQLITE_OK;
}

void rank(const Fts5ExtensionApi* api, Fts5Context* fts, sqlite3_context* ctx, int nargs, sqlite3_value** args) {
    auto* w = static_cast<QueryWeights*>(api->xGetAuxdata(fts, 0));
    if (!w) {
        w = new (std::nothrow) QueryWeights();
        if (!w) {
            sqlite3_result_error_nomem(ctx);
            return;
        }
        int rc = compute_weights(api, fts, *w);
        if (rc != SQLITE_OK) {
            delete w;
            sqlite3_result_error_code(ctx, rc);
            return;
        }
        rc = api->xSetAuxdata(fts, w, [](void* p) { delete static_cast<QueryWeights*>(p); });
        if (rc != SQLITE_OK) {  // xSetAuxdata has already deleted w
            sqlite3_result_error_code(ctx, rc);
            return;
        }
    }
    // Weighted frequency of each phrase in this row.
    thread_local std::vector<double> freq;
    freq.assign(w->idf.size(), 0.0);
    int instances = 0;
    if (int rc = api->xInstCount(fts, &instances); rc != SQLITE_OK) {
        sqlite3_result_error_code(ctx, rc);
        return;
    }
    for (int i = 0; i < instances; ++i) {
        int phrase = 0, column = 0, offset = 0;
        if (int rc = api->xInst(fts, i, &phrase, &column, &offset); rc != SQLITE_OK) {
            sqlite3_result_error_code(ctx, rc);
            return;
        }
        const double weight = column < nargs ? sqlite3_value_double(args[column]) : 1.0;
        if (phrase >= 0 && std::size_t(phrase) < freq.size()) freq[std::size_t(phrase)] += weight;
    }
    int length = 0;
    if (int rc = api->xColumnSize(fts, -1, &length); rc != SQLITE_OK) {
        sqlite3_result_error_code(ctx, rc);
        return;
    }
    const double norm = k_k1 * (1 - k_b + k_b * double(length) / w->average_length);
    double score = 0;
    for (std::size_t p = 0; p < freq.size(); ++p)
        score += w->idf[p] * freq[p] * (k_k1 + 1) / (freq[p] + norm);
    sqlite3_result_double(ctx, -score);
}

}  // namespace

Status register_search_rank(sqlite3* db) {
    fts5_api* api = fts5_api_of(db);
    if (!api || api->iVersion < 2)
        return make_error(ErrorCode::Unsupported, "this SQLite library was built without FTS5 full-text search");
    int rc = api->xCreateFunction(api, "tessera_rank", nullptr, rank, nullptr);
    if (rc != SQLITE_OK) return sqlite_error(db, rc, "register the full-text ranking function");
    return {};
}

}  // namespace tessera::storage
