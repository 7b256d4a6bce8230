// The SQLite store's schema and its migrations (one step per version, kept in PRAGMA
// user_version), so that later releases can add tables and columns to existing files.
#pragma once

#include "store/sqlite/sqlite_db.h"

namespace bouncer::store::sqlite {

// The schema version this build writes and understands.
int latest_schema_version() noexcept;

// Brings the database to the latest version, in one write transaction (safe when several
// processes open the same new file at once). Throws Error when the file is not Bouncer's or
// was written by a newer Bouncer.
void migrate(Db& db);

}  // namespace bouncer::store::sqlite
