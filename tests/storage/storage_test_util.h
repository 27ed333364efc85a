// Helpers shared by the storage tests: assertions that print the library's error message, and a
// database in a fresh temporary folder.
#pragma once

#include <QtTest/QtTest>

#include <memory>
#include <string>

#include "storage/database.h"
#include "support/test_support.h"

// QVERIFY for a Status/Result, showing the error text on failure.
#define STORAGE_OK(expr)                                                                   \
    do {                                                                                   \
        const auto& storage_ok_result_ = (expr);                                           \
        QVERIFY2(storage_ok_result_.ok(),                                                  \
                 storage_ok_result_.ok() ? "" : storage_ok_result_.error().message.c_str()); \
    } while (0)

// Declares `decl` from a Result, failing the test (with the error text) when it holds an error.
#define STORAGE_ASSIGN_IMPL(tmp, decl, expr)                                    \
    auto tmp = (expr);                                                          \
    QVERIFY2(tmp.ok(), tmp.ok() ? "" : tmp.error().message.c_str());            \
    decl = std::move(tmp).value()
#define STORAGE_ASSIGN(decl, expr) STORAGE_ASSIGN_IMPL(TESSERA_CONCAT(storage_assign_, __LINE__), decl, expr)

// Readable failure messages for std::string comparisons.
template <>
inline char* QTest::toString(const std::string& s) {
    return qstrdup(s.c_str());
}

namespace tessera::storage::test {

// Opens (creating) tessera.db in `dir`; returns null and records a failure message on error.
inline std::unique_ptr<Database> open_db(const std::filesystem::path& path, const OpenOptions& options = {},
                                         std::string* error = nullptr) {
    auto db = Database::open(path, options);
    if (!db.ok()) {
        if (error) *error = db.error().message;
        return nullptr;
    }
    return std::move(db).value();
}

// One integer from a constant query (for checks of pragmas and counts).
inline std::int64_t query_int(Database& db, const char* sql) {
    auto stmt = db.cached(sql);
    if (!stmt.ok()) return -1;
    auto row = (*stmt)->step();
    if (!row.ok() || !row.value()) return -1;
    return (*stmt)->column_int(0);
}

inline std::string query_text(Database& db, const char* sql) {
    auto stmt = db.cached(sql);
    if (!stmt.ok()) return "error: " + stmt.error().message;
    auto row = (*stmt)->step();
    if (!row.ok()) return "error: " + row.error().message;
    if (!row.value()) return "";
    return (*stmt)->column_text(0);
}

}  // namespace tessera::storage::test
