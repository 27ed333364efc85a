// Database: one SQLite connection to Tessera's database file, opened with the pragmas the rest of
// storage/ relies on (WAL, foreign keys, busy timeout), migrated to the current schema, and guarded
// against damaged files (moved aside, fresh database started).
//
// Threads: a Database and every repository built on it belong to one thread at a time (the app's storage
// worker). The connection is opened without SQLite's own mutex, so never share one between threads
// concurrently; open a second Database on another thread instead (WAL lets readers run beside a writer).
//
// Several processes: any number may open the same file. SQLite serialises writers (one at a time, the
// others wait up to busy_timeout_ms); write transactions start IMMEDIATE so they never deadlock on a
// lock upgrade. Only a process that finds itself alone at open repairs replies a crash left 'streaming'
// (see sole_instance_at_open).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "storage/statement.h"
#include "tessera/error.h"

struct sqlite3;

namespace tessera::storage {

using Id = std::int64_t;

// Milliseconds since the Unix epoch, the unit of every timestamp column.
std::int64_t now_ms();

struct OpenOptions {
    // Open without write access. Also chosen automatically when the file or its folder cannot be written
    // (see Database::read_only()).
    bool read_only = false;
    // Wait this long for another writer before failing with "busy".
    int busy_timeout_ms = 5000;
    // synchronous=FULL survives power loss of the last commit too; NORMAL (default) survives any crash of
    // the process, which is the failure that matters for a desktop app, at a fraction of the fsyncs.
    bool synchronous_full = false;
    // A damaged or non-SQLite file is renamed to "<name>.corrupt-<time>" and a fresh database started.
    // When false, open fails instead.
    bool move_aside_corrupt = true;
    // Cap the file at this many pages (tests use it to simulate a full disk). 0: no cap.
    std::int64_t max_page_count = 0;
    // Stop migrating at this schema version (tests of older schemas). 0: the latest.
    int schema_version = 0;
};

class Database {
public:
    ~Database();
    Database(const Database&) = delete;
    Database& operator=(const Database&) = delete;

    static Result<std::unique_ptr<Database>> open(const std::filesystem::path& path, const OpenOptions& options = {});

    sqlite3* handle() const { return m_db; }
    const std::filesystem::path& path() const { return m_path; }
    bool read_only() const { return m_read_only; }
    // True when no other process had the database open when this one opened it; only then are
    // interrupted replies repaired and may orphaned attachment files be collected.
    bool sole_instance_at_open() const { return m_sole_instance; }
    // Set when open had to do something the user should be told about: a damaged file moved aside, a
    // fallback to read-only. Empty otherwise.
    const std::string& notice() const { return m_notice; }
    // Replies found 'streaming' at open (a previous run crashed mid-reply) and marked 'interrupted'.
    std::int64_t recovered_replies() const { return m_recovered_replies; }

    // A cached prepared statement for constant SQL. The lease resets it when dropped.
    Result<StatementLease> cached(std::string_view sql);
    // Runs constant SQL (no parameters) such as pragmas.
    Status exec(const char* sql);

    std::int64_t last_insert_id() const;
    int changes() const;
    Result<int> schema_version();

    // PRAGMA integrity_check plus the full-text indexes' own consistency check. "ok" when healthy,
    // otherwise the problems found, one per line.
    Result<std::string> integrity_check();

    // Moves what the WAL holds into the main file (e.g. before a backup or export of the raw file).
    Status checkpoint_wal();

private:
    Database() = default;
    Status configure(const OpenOptions& options);
    Status acquire_instance_lock();
    Status repair_interrupted_replies();

    sqlite3* m_db = nullptr;
    std::filesystem::path m_path;
    bool m_read_only = false;
    bool m_sole_instance = false;
    std::string m_notice;
    std::int64_t m_recovered_replies = 0;
    int m_lock_fd = -1;
    std::unordered_map<std::string, std::unique_ptr<Statement>> m_cache;
};

// A transaction (or, when one is already open on the connection, a savepoint inside it), rolled back on
// destruction unless committed. Write transactions start IMMEDIATE: the write lock is taken up front,
// so a second instance waits (busy timeout) instead of failing halfway through.
class Transaction {
public:
    enum class Kind { Write, Read };

    static Result<Transaction> begin(Database& db, Kind kind = Kind::Write);
    ~Transaction();
    Transaction(Transaction&& other) noexcept;
    Transaction& operator=(Transaction&&) = delete;
    Transaction(const Transaction&) = delete;
    Transaction& operator=(const Transaction&) = delete;

    Status commit();
    void rollback();

private:
    Transaction(Database* db, std::string savepoint) : m_db(db), m_savepoint(std::move(savepoint)) {}

    Database* m_db = nullptr;
    std::string m_savepoint;  // empty: a top-level transaction
};

}  // namespace tessera::storage
