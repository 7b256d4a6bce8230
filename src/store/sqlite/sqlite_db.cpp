#include "store/sqlite/sqlite_db.h"

namespace bouncer::store::sqlite {

Db Db::open(const std::string& path, int flags) {
  sqlite3* handle = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &handle, flags, nullptr);
  Db db(handle);  // closes the handle, which SQLite allocates even on failure
  if (rc != SQLITE_OK) {
    throw Error(rc, handle != nullptr ? sqlite3_errmsg(handle) : sqlite3_errstr(rc));
  }
  sqlite3_extended_result_codes(handle, 1);
  return db;
}

Db& Db::operator=(Db&& other) noexcept {
  if (this != &other) {
    sqlite3_close_v2(db_);
    db_ = std::exchange(other.db_, nullptr);
  }
  return *this;
}

Db::~Db() {
  // close_v2: if a statement were still alive, the connection would close with it.
  sqlite3_close_v2(db_);
}

void Db::exec(const char* sql) {
  const int rc = try_exec(sql);
  if (rc != SQLITE_OK) raise(rc);
}

int Db::try_exec(const char* sql) noexcept { return sqlite3_exec(db_, sql, nullptr, nullptr, nullptr); }

Stmt Db::prepare(std::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  const int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                                    SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
  if (rc != SQLITE_OK) raise(rc);
  return Stmt(stmt, db_);
}

void Db::raise(int rc) const {
  // The connection's message describes the latest failure; when it does not match (e.g. a
  // code from a bind), fall back to the generic text for the code.
  const int last = sqlite3_extended_errcode(db_);
  throw Error(rc, last == rc ? sqlite3_errmsg(db_) : sqlite3_errstr(rc));
}

Stmt& Stmt::operator=(Stmt&& other) noexcept {
  if (this != &other) {
    sqlite3_finalize(stmt_);
    stmt_ = std::exchange(other.stmt_, nullptr);
    db_ = std::exchange(other.db_, nullptr);
  }
  return *this;
}

void Stmt::check_bind(int rc) {
  if (rc != SQLITE_OK) {
    throw Error(rc, std::string("cannot bind a statement parameter: ") + sqlite3_errstr(rc));
  }
}

void Stmt::bind_int(int index, std::int64_t value) {
  check_bind(sqlite3_bind_int64(stmt_, index, value));
}

void Stmt::bind_text(int index, std::string_view value) {
  check_bind(sqlite3_bind_text64(stmt_, index, value.data(), value.size(), SQLITE_TRANSIENT,
                                 SQLITE_UTF8));
}

void Stmt::bind_blob(int index, std::span<const std::uint8_t> value) {
  check_bind(sqlite3_bind_blob64(stmt_, index, value.data(), value.size(), SQLITE_TRANSIENT));
}

void Stmt::bind_optional(int index, const std::optional<std::int64_t>& value) {
  check_bind(value ? sqlite3_bind_int64(stmt_, index, *value) : sqlite3_bind_null(stmt_, index));
}

bool Stmt::step() {
  const int rc = try_step();
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  throw Error(rc, sqlite3_errmsg(db_));
}

int Stmt::try_step() noexcept { return sqlite3_step(stmt_); }

void Stmt::reset() noexcept {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

std::optional<std::int64_t> Stmt::column_optional(int index) const noexcept {
  if (sqlite3_column_type(stmt_, index) == SQLITE_NULL) return std::nullopt;
  return sqlite3_column_int64(stmt_, index);
}

std::string Stmt::column_text(int index) const {
  const auto* text = sqlite3_column_text(stmt_, index);
  const int size = sqlite3_column_bytes(stmt_, index);
  if (text == nullptr) return {};
  return std::string(reinterpret_cast<const char*>(text), static_cast<std::size_t>(size));
}

Transaction::Transaction(Db& db, const char* begin) : db_(db) { db_.exec(begin); }

Transaction::~Transaction() {
  // After some errors SQLite has already rolled back; only roll back what is still open.
  if (open_ && db_.in_transaction()) db_.try_exec("ROLLBACK");
}

void Transaction::commit() {
  db_.exec("COMMIT");
  open_ = false;
}

}  // namespace bouncer::store::sqlite
