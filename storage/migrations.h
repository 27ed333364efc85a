// Schema migrations: storage/migrations/NNN_*.sql, embedded at build time, applied in order. The
// database's PRAGMA user_version is the number of the last one applied; each runs in its own transaction
// together with the version bump, so a crash mid-migration leaves the previous version intact.
#pragma once

#include <string_view>

#include "tessera/error.h"

struct sqlite3;

namespace tessera::storage {

namespace detail {
struct EmbeddedMigration {
    int version;
    const char* name;
    const char* sql;
};
extern const EmbeddedMigration k_embedded_migrations[];
extern const int k_embedded_migration_count;
}  // namespace detail

// The newest schema version this build knows.
int latest_schema_version();

// Brings the database from its current user_version up to `target` (latest when <= 0). Fails without
// touching the file when the database is newer than this build.
Status migrate(sqlite3* db, int target = 0);

// The schema version stored in the file.
Result<int> read_schema_version(sqlite3* db);

}  // namespace tessera::storage
