// Small RAII wrappers over the sqlite3 C API, for the SQLite store engine only: a connection
// (Db), a prepared statement (Stmt), a reset-on-scope-exit guard for reused statements (Use)
// and a transaction that rolls back unless committed (Transaction).
//
// None of these are thread-safe: a connection and its statements are used by one thread at a
// time (sqlite_store.cpp says which). Failures throw sqlite::Error, which carries SQLite's
// extended result code and message; the store turns it into a std::runtime_error that names
// the operation and the database path.
#pragma once

#include <sqlite3.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

namespace bouncer::store::sqlite {

class Error : public std::runtime_error {
 public:
  Error(int code, const std::string& message) : std::runtime_error(message), code_(code) {}
  int code() const noexcept { return code_; }  // extended result code
  int primary() const noexcept { return code_ & 0xff; }

 private:
  int code_;
};

class Stmt;

class Db {
 public:
  Db() = default;
  // Opens an existing file (flags: SQLITE_OPEN_*); throws Error with SQLite's message.
  static Db open(const std::string& path, int flags);

  Db(Db&& other) noexcept : db_(std::exchange(other.db_, nullptr)) {}
  Db& operator=(Db&& other) noexcept;
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;
  ~Db();

  sqlite3* get() const noexcept { return db_; }

  void exec(const char* sql);                 // throws Error
  int try_exec(const char* sql) noexcept;     // returns the extended result code
  Stmt prepare(std::string_view sql);         // a persistent statement, for reuse
  std::int64_t changes() const noexcept { return sqlite3_changes64(db_); }
  bool in_transaction() const noexcept { return sqlite3_get_autocommit(db_) == 0; }
  std::string message() const { return sqlite3_errmsg(db_); }
  // Throws Error for result code `rc` with the connection's current message.
  [[noreturn]] void raise(int rc) const;

 private:
  explicit Db(sqlite3* db) noexcept : db_(db) {}
  sqlite3* db_ = nullptr;
};

class Stmt {
 public:
  Stmt() = default;
  Stmt(sqlite3_stmt* stmt, sqlite3* db) noexcept : stmt_(stmt), db_(db) {}
  Stmt(Stmt&& other) noexcept
      : stmt_(std::exchange(other.stmt_, nullptr)), db_(std::exchange(other.db_, nullptr)) {}
  Stmt& operator=(Stmt&& other) noexcept;
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  ~Stmt() { sqlite3_finalize(stmt_); }

  // Parameters are 1-based, as in SQLite. Values are copied (SQLITE_TRANSIENT).
  void bind_int(int index, std::int64_t value);
  void bind_text(int index, std::string_view value);
  void bind_blob(int index, std::span<const std::uint8_t> value);
  void bind_optional(int index, const std::optional<std::int64_t>& value);

  // Steps once: true when a row is ready, false when the statement is done; throws otherwise.
  bool step();
  // Steps once and returns the extended result code, for callers that handle errors per row.
  int try_step() noexcept;
  // Makes the statement ready for reuse (ends its read, drops bound values).
  void reset() noexcept;

  // Columns are 0-based.
  std::int64_t column_int(int index) const noexcept { return sqlite3_column_int64(stmt_, index); }
  std::optional<std::int64_t> column_optional(int index) const noexcept;
  std::string column_text(int index) const;
  template <std::size_t N>
  std::array<std::uint8_t, N> column_array(int index) const {
    std::array<std::uint8_t, N> out{};
    const void* data = sqlite3_column_blob(stmt_, index);
    if (static_cast<std::size_t>(sqlite3_column_bytes(stmt_, index)) != N || data == nullptr) {
      throw Error(SQLITE_CORRUPT, std::string("column ") + sqlite3_column_name(stmt_, index) +
                                      " holds " + std::to_string(sqlite3_column_bytes(stmt_, index)) +
                                      " bytes, expected " + std::to_string(N));
    }
    std::memcpy(out.data(), data, N);
    return out;
  }

 private:
  void check_bind(int rc);
  sqlite3_stmt* stmt_ = nullptr;
  sqlite3* db_ = nullptr;
};

// Resets a reused statement when the scope ends, whatever happens, so that no statement
// keeps a read transaction (and its WAL snapshot) open between uses.
class Use {
 public:
  explicit Use(Stmt& stmt) noexcept : stmt_(stmt) {}
  Use(const Use&) = delete;
  Use& operator=(const Use&) = delete;
  ~Use() { stmt_.reset(); }
  Stmt* operator->() const noexcept { return &stmt_; }
  Stmt& operator*() const noexcept { return stmt_; }

 private:
  Stmt& stmt_;
};

// BEGIN (IMMEDIATE by default: takes the write lock up front, so the busy timeout applies and
// a read never has to be upgraded) … commit(); rolls back if the scope ends first.
class Transaction {
 public:
  explicit Transaction(Db& db, const char* begin = "BEGIN IMMEDIATE");
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  ~Transaction();
  void commit();

 private:
  Db& db_;
  bool open_ = true;
};

}  // namespace bouncer::store::sqlite
