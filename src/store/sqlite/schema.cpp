#include "store/sqlite/schema.h"

#include <cstdint>
#include <iterator>
#include <string>

namespace bouncer::store::sqlite {
namespace {

// "Boun": marks the file as Bouncer's (PRAGMA application_id, in the file header).
constexpr std::int64_t kApplicationId = 0x426f756e;

struct Migration {
  int version;      // the version the database has after this step
  const char* sql;  // run inside the migration transaction
};

// Append only: never edit a released step, add the next one (e.g. ALTER TABLE … ADD COLUMN).
constexpr Migration kMigrations[] = {
    {1, R"sql(
CREATE TABLE api_keys (
  id           TEXT    NOT NULL PRIMARY KEY,
  name         TEXT    NOT NULL,
  prefix       TEXT    NOT NULL,
  secret_hash  BLOB    NOT NULL UNIQUE CHECK (length(secret_hash) = 32),
  created_at   INTEGER NOT NULL,
  last_used_at INTEGER,
  revoked_at   INTEGER,
  end_sessions INTEGER NOT NULL DEFAULT 0 CHECK (end_sessions IN (0, 1))
) STRICT;

CREATE TABLE signing_keys (
  kid           TEXT    NOT NULL PRIMARY KEY,
  public_key    BLOB    NOT NULL CHECK (length(public_key) = 32),
  created_at    INTEGER NOT NULL,
  retired_at    INTEGER,
  publish_until INTEGER
) STRICT;

CREATE TABLE tokens (
  jti           TEXT    NOT NULL PRIMARY KEY,
  key_id        TEXT    NOT NULL REFERENCES api_keys (id),
  kid           TEXT    NOT NULL,
  issued_at     INTEGER NOT NULL,
  expires_at    INTEGER NOT NULL,
  scopes_json   TEXT    NOT NULL,
  metadata_json TEXT    NOT NULL
) STRICT, WITHOUT ROWID;

CREATE INDEX tokens_by_expiry ON tokens (expires_at);

CREATE TABLE meta (
  name  TEXT    NOT NULL PRIMARY KEY,
  value INTEGER NOT NULL
) STRICT;

-- Changes (in the same transaction) with every change to api_keys or signing_keys.
-- Starts at 1 so that 0 can mean "never read".
INSERT INTO meta (name, value) VALUES ('state_version', 1);
)sql"},
    // Each node announces its public URL, and that it runs, on its signing key.
    {2, R"sql(
ALTER TABLE signing_keys ADD COLUMN public_url TEXT NOT NULL DEFAULT '';
ALTER TABLE signing_keys ADD COLUMN alive_until INTEGER;
)sql"},
    // How many admissions each client token has had, for tokens minted with maxUses.
    {3, R"sql(
ALTER TABLE tokens ADD COLUMN uses INTEGER NOT NULL DEFAULT 0;
)sql"},
};

std::int64_t pragma_int(Db& db, const char* sql) {
  Stmt stmt = db.prepare(sql);
  if (!stmt.step()) throw Error(SQLITE_ERROR, std::string("no result from ") + sql);
  return stmt.column_int(0);
}

void check_version(std::int64_t version) {
  if (version > latest_schema_version()) {
    throw Error(SQLITE_ERROR, "schema version " + std::to_string(version) +
                                  " is newer than this bouncer supports (" +
                                  std::to_string(latest_schema_version()) + "); upgrade bouncer");
  }
}

}  // namespace

int latest_schema_version() noexcept { return std::end(kMigrations)[-1].version; }

void migrate(Db& db) {
  // Fast path: most opens find the file current and need no write lock.
  std::int64_t version = pragma_int(db, "PRAGMA user_version");
  check_version(version);
  if (version == latest_schema_version()) return;

  Transaction tx(db);
  version = pragma_int(db, "PRAGMA user_version");  // another process may have migrated it
  check_version(version);
  const std::int64_t app_id = pragma_int(db, "PRAGMA application_id");
  if (app_id != 0 && app_id != kApplicationId) {
    throw Error(SQLITE_ERROR, "not a bouncer database (application_id " +
                                  std::to_string(app_id) + ")");
  }
  if (version == 0 && pragma_int(db, "SELECT count(*) FROM sqlite_schema") != 0) {
    throw Error(SQLITE_ERROR, "not a bouncer database (it has tables but no schema version)");
  }
  for (const Migration& m : kMigrations) {
    if (m.version <= version) continue;
    db.exec(m.sql);
  }
  db.exec(("PRAGMA application_id = " + std::to_string(kApplicationId)).c_str());
  db.exec(("PRAGMA user_version = " + std::to_string(latest_schema_version())).c_str());
  tx.commit();
}

}  // namespace bouncer::store::sqlite
