// Statement: an RAII owner of one prepared sqlite3 statement. All SQL in storage/ is a compile-time
// constant; user text only ever reaches SQLite through the bind_* calls below, never through the SQL.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/error.h"

struct sqlite3;
struct sqlite3_stmt;

namespace tessera::storage {

// Turns a failed sqlite3 result code into an Error that names the database file, the operation and
// SQLite's own explanation. Disk full / read-only / I/O map to Io, corruption to Format.
Error sqlite_error(sqlite3* db, int rc, std::string_view what);

// A blob argument for bind (kept distinct from text so bytes are stored as BLOB).
struct BlobView {
    const void* data = nullptr;
    std::size_t size = 0;
};

class Statement {
public:
    Statement() = default;
    ~Statement();
    Statement(Statement&& other) noexcept;
    Statement& operator=(Statement&& other) noexcept;
    Statement(const Statement&) = delete;
    Statement& operator=(const Statement&) = delete;

    // persistent: a hint that the statement is cached and reused many times.
    static Result<Statement> prepare(sqlite3* db, std::string_view sql, bool persistent = false);

    bool valid() const { return m_stmt != nullptr; }
    sqlite3_stmt* handle() const { return m_stmt; }

    // Parameters are 1-based as in SQLite. Each bind returns an error only for a programming mistake
    // (index out of range) or out of memory.
    Status bind(int index, std::int64_t value);
    Status bind(int index, int value) { return bind(index, static_cast<std::int64_t>(value)); }
    Status bind(int index, bool value) { return bind(index, static_cast<std::int64_t>(value ? 1 : 0)); }
    Status bind(int index, double value);
    Status bind(int index, std::string_view text);
    Status bind(int index, const std::string& text) { return bind(index, std::string_view(text)); }
    Status bind(int index, const char* text) { return bind(index, std::string_view(text)); }
    Status bind(int index, BlobView blob);
    Status bind(int index, std::nullptr_t);
    template <class T>
    Status bind(int index, const std::optional<T>& value) {
        if (!value) return bind(index, nullptr);
        return bind(index, *value);
    }

    // bind_all(a, b, c) binds parameters 1, 2, 3 in order.
    template <class... Args>
    Status bind_all(const Args&... args) {
        int index = 0;
        Status status;
        ((status.ok() ? (void)(status = bind(++index, args)) : (void)0), ...);
        return status;
    }

    // Advances one row: true when a row is available, false when done.
    Result<bool> step();
    // Runs a statement that returns no rows (or ignores them) to completion.
    Status run();
    // Resets for re-execution and clears the bindings.
    void reset();

    int column_count() const;
    bool is_null(int col) const;
    std::int64_t column_int(int col) const;
    double column_double(int col) const;
    std::string column_text(int col) const;
    std::vector<std::uint8_t> column_blob(int col) const;
    std::optional<std::int64_t> column_opt_int(int col) const;
    std::optional<double> column_opt_double(int col) const;
    std::optional<std::string> column_opt_text(int col) const;

private:
    explicit Statement(sqlite3* db, sqlite3_stmt* stmt) : m_db(db), m_stmt(stmt) {}
    Status check_bind(int rc, int index);

    sqlite3* m_db = nullptr;
    sqlite3_stmt* m_stmt = nullptr;
};

// A borrowed cached statement (see Database::cached): reset and unbound again when it goes out of scope,
// so a statement never keeps a read transaction open by accident.
class StatementLease {
public:
    explicit StatementLease(Statement* stmt) : m_stmt(stmt) {}
    ~StatementLease() {
        if (m_stmt) m_stmt->reset();
    }
    StatementLease(StatementLease&& other) noexcept : m_stmt(other.m_stmt) { other.m_stmt = nullptr; }
    StatementLease& operator=(StatementLease&&) = delete;
    StatementLease(const StatementLease&) = delete;
    StatementLease& operator=(const StatementLease&) = delete;

    Statement& operator*() const { return *m_stmt; }
    Statement* operator->() const { return m_stmt; }

private:
    Statement* m_stmt;
};

}  // namespace tessera::storage
