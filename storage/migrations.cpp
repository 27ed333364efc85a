// Applies the embedded migrations one transaction each (see migrations.h).
#include "storage/migrations.h"

#include <sqlite3.h>

#include <string>

#include "storage/statement.h"

namespace tessera::storage {

int latest_schema_version() {
    int latest = 0;
    for (int i = 0; i < detail::k_embedded_migration_count; ++i)
        if (detail::k_embedded_migrations[i].version > latest) latest = detail::k_embedded_migrations[i].version;
    return latest;
}

Result<int> read_schema_version(sqlite3* db) {
    TESSERA_ASSIGN(Statement stmt, Statement::prepare(db, "PRAGMA user_version"));
    TESSERA_ASSIGN(bool row, stmt.step());
    if (!row) return make_error(ErrorCode::Internal, "PRAGMA user_version returned no row");
    return static_cast<int>(stmt.column_int(0));
}

namespace {

Status exec(sqlite3* db, const char* sql, std::string_view what) {
    int rc = sqlite3_exec(db, sql, nullptr, nullptr, nullptr);
    if (rc != SQLITE_OK) return sqlite_error(db, rc, what);
    return {};
}

// One migration inside BEGIN IMMEDIATE: the write lock is taken first, then the version is read again,
// so two instances starting together cannot both apply the same step.
Status apply_one(sqlite3* db, const detail::EmbeddedMigration& m) {
    TESSERA_TRY(exec(db, "BEGIN IMMEDIATE", std::string("migration ") + m.name + ": begin"));
    auto fail = [db](Error error) -> Status {
        if (!sqlite3_get_autocommit(db)) sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
        return error;
    };
    auto version = read_schema_version(db);
    if (!version.ok()) return fail(version.take_error());
    if (version.value() >= m.version) return exec(db, "COMMIT", "migration commit");
    if (version.value() != m.version - 1)
        return fail(make_error(ErrorCode::Internal, std::string("migration ") + m.name + ": database is at schema v" +
                                                      std::to_string(version.value()) + ", expected v" +
                                                      std::to_string(m.version - 1)));
    if (auto st = exec(db, m.sql, std::string("migration ") + m.name); !st.ok()) return fail(st.take_error());
    // The version is an integer from our own table, never text from outside.
    std::string bump = "PRAGMA user_version = " + std::to_string(m.version);
    if (auto st = exec(db, bump.c_str(), "set user_version"); !st.ok()) return fail(st.take_error());
    if (auto st = exec(db, "COMMIT", std::string("migration ") + m.name + ": commit"); !st.ok())
        return fail(st.take_error());
    return {};
}

}  // namespace

Status migrate(sqlite3* db, int target) {
    const int latest = latest_schema_version();
    if (target <= 0 || target > latest) target = latest;
    TESSERA_ASSIGN(int current, read_schema_version(db));
    if (current > latest)
        return make_error(ErrorCode::Unsupported,
                          "database schema v" + std::to_string(current) + " was written by a newer Tessera (this build knows v" +
                              std::to_string(latest) + "); it was left untouched");
    for (int i = 0; i < detail::k_embedded_migration_count; ++i) {
        const auto& m = detail::k_embedded_migrations[i];
        if (m.version <= current || m.version > target) continue;
        TESSERA_TRY(apply_one(db, m));
    }
    return {};
}

}  // namespace tessera::storage
