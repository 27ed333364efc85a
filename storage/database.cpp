// Database: opening (damage detection, pragmas, migrations, crash repair) and transactions.
#include "storage/database.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstring>
#include <ctime>
#include <fstream>
#include <thread>

#include "storage/migrations.h"
#include "storage/search_rank.h"
#include "storage/search_tokenizer.h"

namespace tessera::storage {

namespace fs = std::filesystem;

std::int64_t now_ms() {
    using namespace std::chrono;
    return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

namespace {

// What a look at the raw file says before SQLite is involved.
enum class FileState { Missing, Plausible, NotSqlite, Truncated };

std::uint32_t be32(const unsigned char* p) {
    return (std::uint32_t(p[0]) << 24) | (std::uint32_t(p[1]) << 16) | (std::uint32_t(p[2]) << 8) | p[3];
}

bool nonempty_file(const fs::path& p) {
    std::error_code ec;
    return fs::exists(p, ec) && fs::file_size(p, ec) > 0 && !ec;
}

// SQLite opens almost anything lazily and reports damage only when a bad page is read, so the header is
// checked here: the magic string, a sane page size, and a file at least as long as the header says.
// The length check is skipped while a WAL or journal holds data, because a checkpoint interrupted by a
// crash can leave page 1 updated before the file has grown; SQLite finishes that on recovery.
FileState inspect_file(const fs::path& path, std::string& why) {
    std::error_code ec;
    if (!fs::exists(path, ec)) return FileState::Missing;
    const auto size = fs::file_size(path, ec);
    if (ec) return FileState::Plausible;  // let sqlite3_open report the real problem
    if (size == 0) return FileState::Missing;
    std::array<unsigned char, 100> header{};
    std::ifstream in(path, std::ios::binary);
    if (!in) return FileState::Plausible;
    in.read(reinterpret_cast<char*>(header.data()), header.size());
    if (in.gcount() < static_cast<std::streamsize>(header.size())) {
        why = "the file is only " + std::to_string(size) + " bytes, shorter than an SQLite header";
        return FileState::NotSqlite;
    }
    if (std::memcmp(header.data(), "SQLite format 3", 16) != 0) {
        why = "the file is not an SQLite database";
        return FileState::NotSqlite;
    }
    std::uint32_t page_size = (std::uint32_t(header[16]) << 8) | header[17];
    if (page_size == 1) page_size = 65536;
    if (page_size < 512 || page_size > 65536 || (page_size & (page_size - 1)) != 0) {
        why = "the header names an impossible page size " + std::to_string(page_size);
        return FileState::NotSqlite;
    }
    const std::uint32_t change_counter = be32(&header[24]);
    const std::uint32_t page_count = be32(&header[28]);
    const std::uint32_t valid_for = be32(&header[92]);
    fs::path wal = path, journal = path;
    wal += "-wal";
    journal += "-journal";
    if (page_count > 0 && valid_for == change_counter && !nonempty_file(wal) && !nonempty_file(journal)) {
        const std::uint64_t expected = std::uint64_t(page_count) * page_size;
        if (size < expected) {
            why = "the file is truncated (" + std::to_string(size) + " of " + std::to_string(expected) + " bytes)";
            return FileState::Truncated;
        }
    }
    return FileState::Plausible;
}

std::string timestamp_suffix() {
    std::time_t t = std::time(nullptr);
    std::tm tm{};
    localtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y%m%d-%H%M%S", &tm);
    return buf;
}

// Renames the database and its WAL/shared-memory companions to "<name>.corrupt-<time>[-n]". Nothing is
// deleted: the user (or a recovery tool) may still get data out of it.
Result<fs::path> move_aside(const fs::path& path) {
    const std::string stamp = timestamp_suffix();
    fs::path target;
    std::error_code ec;
    for (int n = 0; n < 1000; ++n) {
        target = path;
        target += ".corrupt-" + stamp + (n ? "-" + std::to_string(n) : "");
        if (!fs::exists(target, ec)) break;
    }
    fs::rename(path, target, ec);
    if (ec)
        return make_error(ErrorCode::Io, path.string() + ": the database is damaged and could not be moved aside: " +
                                             ec.message());
    for (const char* companion : {"-wal", "-shm", "-journal"}) {
        fs::path from = path, to = target;
        from += companion;
        to += companion;
        if (fs::exists(from, ec)) fs::rename(from, to, ec);
    }
    return target;
}

bool is_damage(const Error& e) { return e.code == ErrorCode::Format; }

// Above this size the quick_check at open would cost more than the start-up budget.
constexpr std::uintmax_t k_quick_check_limit = 16u << 20;

}  // namespace

Database::~Database() {
    m_cache.clear();  // statements must be finalized before the connection closes
    if (m_db) sqlite3_close_v2(m_db);
    if (m_lock_fd >= 0) ::close(m_lock_fd);
}

Status Database::acquire_instance_lock() {
    // A separate lock file (not the database file, whose POSIX locks belong to SQLite). flock locks die
    // with the process, so a crashed instance never leaves a stale lock behind.
    fs::path lock_path = m_path;
    lock_path += "-lock";
    m_lock_fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (m_lock_fd < 0) {
        m_sole_instance = false;  // cannot tell: act as if others were there (no repairs)
        return {};
    }
    if (::flock(m_lock_fd, LOCK_EX | LOCK_NB) == 0) {
        m_sole_instance = true;
        return {};
    }
    m_sole_instance = false;
    // Another instance holds its shared lock (or is momentarily exclusive while it opens): join it.
    for (int attempt = 0; attempt < 200; ++attempt) {
        if (::flock(m_lock_fd, LOCK_SH | LOCK_NB) == 0) return {};
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return make_error(ErrorCode::Io, m_path.string() + ": another Tessera instance keeps the database locked");
}

Result<std::unique_ptr<Database>> Database::open(const fs::path& path, const OpenOptions& options) {
    std::unique_ptr<Database> db(new Database());
    db->m_path = path;
    // The data folder may not exist yet on a first start; a failure here is reported by the open below.
    if (!options.read_only && path.has_parent_path()) {
        std::error_code ec;
        fs::create_directories(path.parent_path(), ec);
    }
    TESSERA_TRY(db->acquire_instance_lock());

    // Each pass either opens a usable database or moves a damaged file aside and tries once more.
    for (int pass = 0; pass < 2; ++pass) {
        std::string why;
        FileState state = inspect_file(path, why);
        std::optional<Error> damage;
        if (state == FileState::NotSqlite || state == FileState::Truncated) {
            damage = make_error(ErrorCode::Format, path.string() + ": " + why);
        } else {
            // No SQLITE_OPEN_URI: a plain path is never to be read as a URI.
            int flags = SQLITE_OPEN_NOMUTEX;
            flags |= options.read_only ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
            int rc = sqlite3_open_v2(path.c_str(), &db->m_db, flags, nullptr);
            if (rc != SQLITE_OK) {
                std::string detail = db->m_db ? sqlite3_errmsg(db->m_db) : sqlite3_errstr(rc);
                const int os_error = db->m_db ? sqlite3_system_errno(db->m_db) : 0;
                if (os_error != 0) detail += std::string(" (") + std::strerror(os_error) + ")";
                sqlite3_close_v2(db->m_db);
                db->m_db = nullptr;
                return make_error(ErrorCode::Io, path.string() + ": cannot open the database: " + detail);
            }
            sqlite3_extended_result_codes(db->m_db, 1);
            auto configured = db->configure(options);
            if (configured.ok()) {
                if (auto migrated = migrate(db->m_db, options.schema_version); !migrated.ok()) {
                    if (!is_damage(migrated.error())) return migrated.take_error();
                    configured = migrated.take_error();
                }
            }
            if (configured.ok()) {
                // Not fatal: on a full disk the history must still open; the repair is retried next time.
                if (db->m_sole_instance && !db->m_read_only) (void)db->repair_interrupted_replies();
                if (db->m_sole_instance && db->m_lock_fd >= 0) ::flock(db->m_lock_fd, LOCK_SH);
                return db;
            }
            if (!is_damage(configured.error())) return configured.take_error();
            damage = configured.take_error();
            db->m_cache.clear();
            sqlite3_close_v2(db->m_db);
            db->m_db = nullptr;
        }
        // Damaged: move it aside (only when nobody else has it open) and start afresh.
        if (!options.move_aside_corrupt || options.read_only || pass > 0) return *damage;
        if (!db->m_sole_instance)
            return make_error(ErrorCode::Format, damage->message + "; it is in use by another Tessera instance, "
                                                                   "close that one first");
        TESSERA_ASSIGN(fs::path moved, move_aside(path));
        db->m_notice = "The database " + path.filename().string() + " was damaged (" + damage->message +
                       "). It was moved to " + moved.filename().string() + " and a new, empty database was started.";
    }
    return make_error(ErrorCode::Internal, path.string() + ": could not open the database");
}

Status Database::configure(const OpenOptions& options) {
    TESSERA_TRY(register_search_tokenizer(m_db));
    TESSERA_TRY(register_search_rank(m_db));
    sqlite3_busy_timeout(m_db, options.busy_timeout_ms);
    // SQLite quietly opens read-only when the OS refuses write access; make that visible.
    m_read_only = options.read_only || sqlite3_db_readonly(m_db, "main") == 1;
    if (m_read_only && !options.read_only)
        m_notice = "The database " + m_path.filename().string() +
                   " cannot be written (read-only file or disk); changes will not be saved.";
    // Everything that judges the file comes before anything that writes to it, so a damaged or foreign
    // file is moved aside exactly as it was found. Reading the schema is the first real access: a damaged
    // file fails here with SQLITE_NOTADB/CORRUPT.
    TESSERA_TRY(exec("SELECT count(*) FROM sqlite_master"));
    // A file that is SQLite but not ours (tables, yet no schema version) is treated like a damaged one.
    TESSERA_ASSIGN(int version, read_schema_version(m_db));
    if (version == 0) {
        TESSERA_ASSIGN(auto tables, cached("SELECT count(*) FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"));
        TESSERA_ASSIGN(bool row, tables->step());
        if (row && tables->column_int(0) > 0)
            return make_error(ErrorCode::Format, m_path.string() + ": the file is an SQLite database of another program");
    }
    // Small databases get a full quick_check (a few ms); big ones would blow the start-up budget, so for
    // them damage shows up as a Format error from the operation that meets it.
    std::error_code ec;
    const auto size = std::filesystem::file_size(m_path, ec);
    if (!ec && size <= k_quick_check_limit) {
        TESSERA_ASSIGN(auto check, cached("PRAGMA quick_check(1)"));
        TESSERA_ASSIGN(bool row, check->step());
        if (row && check->column_text(0) != "ok")
            return make_error(ErrorCode::Format, m_path.string() + ": integrity check failed: " + check->column_text(0));
    }
    if (m_read_only && version < latest_schema_version())
        return make_error(ErrorCode::Io, m_path.string() + ": the database needs a schema upgrade (v" +
                                             std::to_string(version) + ") but cannot be written");
    if (!m_read_only) {
        TESSERA_ASSIGN(auto mode, cached("PRAGMA journal_mode = WAL"));
        TESSERA_ASSIGN(bool row, mode->step());
        if (!row || mode->column_text(0) != "wal")
            return make_error(ErrorCode::Io, m_path.string() + ": cannot switch the database to WAL mode");
        TESSERA_TRY(exec(options.synchronous_full ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL"));
        // Keep the WAL from staying huge after a big import.
        TESSERA_TRY(exec("PRAGMA journal_size_limit = 67108864"));
    }
    TESSERA_TRY(exec("PRAGMA foreign_keys = ON"));
    TESSERA_TRY(exec("PRAGMA temp_store = MEMORY"));
    TESSERA_TRY(exec("PRAGMA cache_size = -16384"));  // 16 MiB: the listing and search pages stay hot
    if (options.max_page_count > 0) {
        std::string cap = "PRAGMA max_page_count = " + std::to_string(options.max_page_count);
        TESSERA_TRY(exec(cap.c_str()));
    }
    return {};
}

Status Database::repair_interrupted_replies() {
    TESSERA_ASSIGN(auto stmt, cached("UPDATE messages SET status = 'interrupted', updated_at = ?1 "
                                     "WHERE status = 'streaming'"));
    TESSERA_TRY(stmt->bind(1, now_ms()));
    TESSERA_TRY(stmt->run());
    m_recovered_replies = changes();
    return {};
}

Result<StatementLease> Database::cached(std::string_view sql) {
    std::string key(sql);
    auto it = m_cache.find(key);
    if (it == m_cache.end()) {
        TESSERA_ASSIGN(Statement stmt, Statement::prepare(m_db, sql, true));
        it = m_cache.emplace(std::move(key), std::make_unique<Statement>(std::move(stmt))).first;
    }
    return StatementLease(it->second.get());
}

Status Database::exec(const char* sql) {
    int rc = sqlite3_exec(m_db, sql, nullptr, nullptr, nullptr);
    if (rc != SQLITE_OK) return sqlite_error(m_db, rc, std::string("'") + std::string(sql).substr(0, 60) + "'");
    return {};
}

std::int64_t Database::last_insert_id() const { return sqlite3_last_insert_rowid(m_db); }

int Database::changes() const { return sqlite3_changes(m_db); }

Result<int> Database::schema_version() { return read_schema_version(m_db); }

Result<std::string> Database::integrity_check() {
    std::string report;
    {
        TESSERA_ASSIGN(Statement stmt, Statement::prepare(m_db, "PRAGMA integrity_check"));
        while (true) {
            TESSERA_ASSIGN(bool row, stmt.step());
            if (!row) break;
            if (!report.empty()) report += '\n';
            report += stmt.column_text(0);
        }
    }
    TESSERA_ASSIGN(int version, schema_version());
    if (version >= 4 && !m_read_only) {
        // FTS5 compares its index with the content tables; a mismatch fails with SQLITE_CORRUPT_VTAB.
        for (const char* check : {"INSERT INTO messages_fts(messages_fts) VALUES ('integrity-check')",
                                  "INSERT INTO conversations_fts(conversations_fts) VALUES ('integrity-check')"}) {
            int rc = sqlite3_exec(m_db, check, nullptr, nullptr, nullptr);
            if (rc != SQLITE_OK) {
                if (report == "ok") report.clear();
                if (!report.empty()) report += '\n';
                report += std::string("full-text index: ") + sqlite3_errmsg(m_db);
            }
        }
    }
    return report;
}

Status Database::checkpoint_wal() {
    int rc = sqlite3_wal_checkpoint_v2(m_db, nullptr, SQLITE_CHECKPOINT_TRUNCATE, nullptr, nullptr);
    if (rc != SQLITE_OK) return sqlite_error(m_db, rc, "WAL checkpoint");
    return {};
}

Result<Transaction> Transaction::begin(Database& db, Kind kind) {
    if (!sqlite3_get_autocommit(db.handle())) {
        // Nested: a savepoint, so an inner failure can be undone without losing the outer work.
        static thread_local std::uint64_t counter = 0;
        std::string name = "tessera_sp_" + std::to_string(++counter);
        std::string sql = "SAVEPOINT " + name;
        TESSERA_TRY(db.exec(sql.c_str()));
        return Transaction(&db, std::move(name));
    }
    TESSERA_TRY(db.exec(kind == Kind::Write ? "BEGIN IMMEDIATE" : "BEGIN DEFERRED"));
    return Transaction(&db, std::string());
}

Transaction::Transaction(Transaction&& other) noexcept
    : m_db(std::exchange(other.m_db, nullptr)), m_savepoint(std::move(other.m_savepoint)) {}

Transaction::~Transaction() { rollback(); }

Status Transaction::commit() {
    if (!m_db) return make_error(ErrorCode::Internal, "commit of a finished transaction");
    Database* db = std::exchange(m_db, nullptr);
    if (m_savepoint.empty()) {
        Status st = db->exec("COMMIT");
        // A failed COMMIT (disk full, I/O error) may leave the transaction open; end it so the
        // connection stays usable. What was committed before stays committed.
        if (!st.ok() && !sqlite3_get_autocommit(db->handle())) (void)db->exec("ROLLBACK");
        return st;
    }
    std::string sql = "RELEASE " + m_savepoint;
    return db->exec(sql.c_str());
}

void Transaction::rollback() {
    if (!m_db) return;
    Database* db = std::exchange(m_db, nullptr);
    // SQLite may already have rolled back by itself (e.g. after SQLITE_FULL): then there is nothing to end.
    if (sqlite3_get_autocommit(db->handle())) return;
    if (m_savepoint.empty()) {
        (void)db->exec("ROLLBACK");
    } else {
        std::string sql = "ROLLBACK TO " + m_savepoint + "; RELEASE " + m_savepoint;
        (void)db->exec(sql.c_str());
    }
}

}  // namespace tessera::storage
