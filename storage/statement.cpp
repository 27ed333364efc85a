// Statement: prepared-statement wrapper and the mapping of SQLite result codes onto tessera errors.
#include "storage/statement.h"

#include <sqlite3.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace tessera::storage {

namespace {

ErrorCode code_for(int rc) {
    switch (rc & 0xff) {
        case SQLITE_FULL:
        case SQLITE_IOERR:
        case SQLITE_READONLY:
        case SQLITE_CANTOPEN:
        case SQLITE_BUSY:
        case SQLITE_LOCKED:
        case SQLITE_PERM:
        case SQLITE_AUTH:
            return ErrorCode::Io;
        case SQLITE_CORRUPT:
        case SQLITE_NOTADB:
        case SQLITE_FORMAT:
            return ErrorCode::Format;
        case SQLITE_CONSTRAINT:
        case SQLITE_MISMATCH:
        case SQLITE_RANGE:
        case SQLITE_TOOBIG:
            return ErrorCode::InvalidArgument;
        case SQLITE_NOMEM:
            return ErrorCode::OutOfMemory;
        case SQLITE_INTERRUPT:
            return ErrorCode::Cancelled;
        default:
            return ErrorCode::Internal;
    }
}

// A plain-language hint for the failures a person can act on.
const char* hint_for(int rc) {
    switch (rc & 0xff) {
        case SQLITE_FULL: return " (the disk is full)";
        case SQLITE_READONLY: return " (the database is read-only)";
        case SQLITE_BUSY:
        case SQLITE_LOCKED: return " (another Tessera instance is using the database)";
        case SQLITE_CORRUPT:
        case SQLITE_NOTADB: return " (the database file is damaged)";
        default: return "";
    }
}

}  // namespace

Error sqlite_error(sqlite3* db, int rc, std::string_view what) {
    std::string message;
    const char* file = db ? sqlite3_db_filename(db, "main") : nullptr;
    message += (file && *file) ? file : "database";
    message += ": ";
    message += what;
    message += ": ";
    // sqlite3_errmsg describes the most recent failure on the connection, which may be more precise
    // than the generic text of the code; fall back to the code's text when there is no connection.
    const char* detail = (db && sqlite3_errcode(db) == rc) ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    message += detail ? detail : "unknown error";
    // For I/O failures the OS error says what really happened (a file-size limit or a full disk surface
    // as a plain write error).
    const int os_error = (db && (rc & 0xff) == SQLITE_IOERR) ? sqlite3_system_errno(db) : 0;
    if (os_error != 0) {
        message += " (";
        message += std::strerror(os_error);
        message += ")";
    }
    if (os_error == ENOSPC || os_error == EFBIG || os_error == EDQUOT)
        message += " (the disk is full)";
    else if (os_error == EROFS || os_error == EACCES || os_error == EPERM)
        message += " (the database is read-only)";
    else if (rc == SQLITE_IOERR_WRITE || rc == SQLITE_IOERR_FSYNC || rc == SQLITE_IOERR_TRUNCATE)
        message += " (the disk may be full or failing)";  // errno is not always kept by then
    else
        message += hint_for(rc);
    return make_error(code_for(rc), std::move(message));
}

Statement::~Statement() {
    if (m_stmt) sqlite3_finalize(m_stmt);
}

Statement::Statement(Statement&& other) noexcept
    : m_db(std::exchange(other.m_db, nullptr)), m_stmt(std::exchange(other.m_stmt, nullptr)) {}

Statement& Statement::operator=(Statement&& other) noexcept {
    if (this != &other) {
        if (m_stmt) sqlite3_finalize(m_stmt);
        m_db = std::exchange(other.m_db, nullptr);
        m_stmt = std::exchange(other.m_stmt, nullptr);
    }
    return *this;
}

Result<Statement> Statement::prepare(sqlite3* db, std::string_view sql, bool persistent) {
    sqlite3_stmt* stmt = nullptr;
    const unsigned flags = persistent ? SQLITE_PREPARE_PERSISTENT : 0;
    int rc = sqlite3_prepare_v3(db, sql.data(), static_cast<int>(sql.size()), flags, &stmt, nullptr);
    if (rc != SQLITE_OK) {
        if (stmt) sqlite3_finalize(stmt);
        std::string what = "prepare '";
        what += sql.substr(0, 60);
        what += "'";
        return sqlite_error(db, rc, what);
    }
    return Statement(db, stmt);
}

Status Statement::check_bind(int rc, int index) {
    if (rc == SQLITE_OK) return {};
    return sqlite_error(m_db, rc, "bind parameter " + std::to_string(index));
}

Status Statement::bind(int index, std::int64_t value) {
    return check_bind(sqlite3_bind_int64(m_stmt, index, value), index);
}

Status Statement::bind(int index, double value) {
    return check_bind(sqlite3_bind_double(m_stmt, index, value), index);
}

Status Statement::bind(int index, std::string_view text) {
    // SQLITE_TRANSIENT: SQLite copies the text, so the caller's buffer may go away before step().
    return check_bind(sqlite3_bind_text64(m_stmt, index, text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8),
                      index);
}

Status Statement::bind(int index, BlobView blob) {
    return check_bind(sqlite3_bind_blob64(m_stmt, index, blob.data ? blob.data : "", blob.size, SQLITE_TRANSIENT),
                      index);
}

Status Statement::bind(int index, std::nullptr_t) { return check_bind(sqlite3_bind_null(m_stmt, index), index); }

Result<bool> Statement::step() {
    int rc = sqlite3_step(m_stmt);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    std::string what = "execute '";
    const char* sql = sqlite3_sql(m_stmt);
    what += std::string_view(sql ? sql : "").substr(0, 60);
    what += "'";
    Error error = sqlite_error(m_db, rc, what);
    // A failed statement must be reset before reuse; doing it here keeps the cached copy usable.
    sqlite3_reset(m_stmt);
    return error;
}

Status Statement::run() {
    while (true) {
        auto row = step();
        if (!row.ok()) return row.take_error();
        if (!row.value()) return {};
    }
}

void Statement::reset() {
    if (!m_stmt) return;
    sqlite3_reset(m_stmt);
    sqlite3_clear_bindings(m_stmt);
}

int Statement::column_count() const { return sqlite3_column_count(m_stmt); }

bool Statement::is_null(int col) const { return sqlite3_column_type(m_stmt, col) == SQLITE_NULL; }

std::int64_t Statement::column_int(int col) const { return sqlite3_column_int64(m_stmt, col); }

double Statement::column_double(int col) const { return sqlite3_column_double(m_stmt, col); }

std::string Statement::column_text(int col) const {
    const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(m_stmt, col));
    int size = sqlite3_column_bytes(m_stmt, col);
    return text ? std::string(text, static_cast<std::size_t>(size)) : std::string();
}

std::vector<std::uint8_t> Statement::column_blob(int col) const {
    const auto* data = static_cast<const std::uint8_t*>(sqlite3_column_blob(m_stmt, col));
    int size = sqlite3_column_bytes(m_stmt, col);
    if (!data || size <= 0) return {};
    return std::vector<std::uint8_t>(data, data + size);
}

std::optional<std::int64_t> Statement::column_opt_int(int col) const {
    if (is_null(col)) return std::nullopt;
    return column_int(col);
}

std::optional<double> Statement::column_opt_double(int col) const {
    if (is_null(col)) return std::nullopt;
    return column_double(col);
}

std::optional<std::string> Statement::column_opt_text(int col) const {
    if (is_null(col)) return std::nullopt;
    return column_text(col);
}

}  // namespace tessera::storage
