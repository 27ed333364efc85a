// The 'tessera' FTS5 tokenizer (see search_tokenizer.h): splits text into runs, hands alphabetic runs to
// the built-in unicode61 tokenizer with their offsets shifted, and emits each CJK character itself.
#include "storage/search_tokenizer.h"

#include <sqlite3.h>

#include <new>
#include <string>

#include "storage/statement.h"

namespace tessera::storage {

bool is_cjk_codepoint(std::uint32_t cp) {
    return (cp >= 0x3040 && cp <= 0x30FF)       // hiragana, katakana
           || (cp >= 0x3100 && cp <= 0x312F)    // bopomofo
           || (cp >= 0x31A0 && cp <= 0x31FF)    // bopomofo extended, katakana phonetic extensions
           || (cp >= 0x3400 && cp <= 0x4DBF)    // CJK extension A
           || (cp >= 0x4E00 && cp <= 0x9FFF)    // CJK unified ideographs
           || (cp >= 0xF900 && cp <= 0xFAFF)    // compatibility ideographs
           || (cp >= 0xFF66 && cp <= 0xFF9D)    // half-width katakana
           || (cp >= 0x20000 && cp <= 0x3134F);  // extensions B..G
}

namespace {

struct Tokenizer {
    fts5_tokenizer inner{};
    Fts5Tokenizer* inner_instance = nullptr;
};

// Decodes one UTF-8 sequence at text[i]; malformed bytes count as a one-byte non-CJK character, so
// arbitrary input never stalls or misaligns the offsets.
std::uint32_t decode(const unsigned char* s, int n, int i, int& len) {
    const unsigned char c = s[i];
    auto cont = [&](int k) { return i + k < n && (s[i + k] & 0xC0) == 0x80; };
    if (c < 0x80) { len = 1; return c; }
    if ((c & 0xE0) == 0xC0 && cont(1)) { len = 2; return ((c & 0x1Fu) << 6) | (s[i + 1] & 0x3Fu); }
    if ((c & 0xF0) == 0xE0 && cont(1) && cont(2)) {
        len = 3;
        return ((c & 0x0Fu) << 12) | ((s[i + 1] & 0x3Fu) << 6) | (s[i + 2] & 0x3Fu);
    }
    if ((c & 0xF8) == 0xF0 && cont(1) && cont(2) && cont(3)) {
        len = 4;
        return ((c & 0x07u) << 18) | ((s[i + 1] & 0x3Fu) << 12) | ((s[i + 2] & 0x3Fu) << 6) | (s[i + 3] & 0x3Fu);
    }
    len = 1;
    return 0xFFFD;
}

using TokenCallback = int (*)(void*, int, const char*, int, int, int);

struct Shifted {
    void* ctx;
    TokenCallback callback;
    int offset;
};

int forward_shifted(void* p, int tflags, const char* token, int n, int start, int end) {
    auto* s = static_cast<Shifted*>(p);
    return s->callback(s->ctx, tflags, token, n, start + s->offset, end + s->offset);
}

int tokenizer_create(void* context, const char** args, int nargs, Fts5Tokenizer** out) {
    auto* api = static_cast<fts5_api*>(context);
    auto* tok = new (std::nothrow) Tokenizer();
    if (!tok) return SQLITE_NOMEM;
    void* inner_context = nullptr;
    int rc = api->xFindTokenizer(api, "unicode61", &inner_context, &tok->inner);
    if (rc == SQLITE_OK) {
        static const char* defaults[] = {"remove_diacritics", "2"};
        if (nargs == 0) {
            args = defaults;
            nargs = 2;
        }
        rc = tok->inner.xCreate(inner_context, args, nargs, &tok->inner_instance);
    }
    if (rc != SQLITE_OK) {
        delete tok;
        return rc;
    }
    *out = reinterpret_cast<Fts5Tokenizer*>(tok);
    return SQLITE_OK;
}

void tokenizer_delete(Fts5Tokenizer* p) {
    auto* tok = reinterpret_cast<Tokenizer*>(p);
    if (tok->inner_instance) tok->inner.xDelete(tok->inner_instance);
    delete tok;
}

int tokenizer_tokenize(Fts5Tokenizer* p, void* ctx, int flags, const char* text, int n, TokenCallback callback) {
    auto* tok = reinterpret_cast<Tokenizer*>(p);
    const auto* s = reinterpret_cast<const unsigned char*>(text);
    int run_start = 0;
    auto flush = [&](int end) -> int {
        if (end <= run_start) return SQLITE_OK;
        Shifted shifted{ctx, callback, run_start};
        return tok->inner.xTokenize(tok->inner_instance, &shifted, flags, text + run_start, end - run_start,
                                    forward_shifted);
    };
    int i = 0;
    while (i < n) {
        int len = 1;
        const std::uint32_t cp = decode(s, n, i, len);
        if (is_cjk_codepoint(cp)) {
            if (int rc = flush(i); rc != SQLITE_OK) return rc;
            if (int rc = callback(ctx, 0, text + i, len, i, i + len); rc != SQLITE_OK) return rc;
            run_start = i + len;
        }
        i += len;
    }
    return flush(n);
}

}  // namespace

fts5_api* fts5_api_of(sqlite3* db) {
    fts5_api* api = nullptr;
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db, "SELECT fts5(?1)", -1, &stmt, nullptr) == SQLITE_OK) {
        sqlite3_bind_pointer(stmt, 1, static_cast<void*>(&api), "fts5_api_ptr", nullptr);
        sqlite3_step(stmt);
    }
    sqlite3_finalize(stmt);
    return api;
}

Status register_search_tokenizer(sqlite3* db) {
    fts5_api* api = fts5_api_of(db);
    if (!api || api->iVersion < 2)
        return make_error(ErrorCode::Unsupported, "this SQLite library was built without FTS5 full-text search");
    fts5_tokenizer tokenizer{tokenizer_create, tokenizer_delete, tokenizer_tokenize};
    int rc = api->xCreateTokenizer(api, "tessera", api, &tokenizer, nullptr);
    if (rc != SQLITE_OK) return sqlite_error(db, rc, "register the full-text tokenizer");
    return {};
}

}  // namespace tessera::storage
