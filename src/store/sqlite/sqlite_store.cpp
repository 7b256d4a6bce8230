// The SQLite engine of the Store (docs/ARCHITECTURE.md): one file, WAL mode, synchronous=FULL, so that
// everything a call reports as done survives kill -9 and power loss.
//
// Thread model
// ------------
// The Store is shared by several threads (server I/O threads call record_token; the sync
// thread polls state_version, takes snapshots and calls touch_keys; admin calls come from
// anywhere), and other processes (the `bouncer keys …` CLI) may use the same file at once.
// It holds two connections to the file:
//
//  * the main connection, behind `mu_`: every call except record_token takes the mutex for
//    the length of its statement or transaction. Writes run in BEGIN IMMEDIATE transactions
//    (the busy timeout then covers waiting for another writer); reads are plain WAL reads and
//    never wait for a writer.
//  * the writer connection, used only by the writer thread (after the constructor prepared
//    it). record_token only appends to `queue_` (under `queue_mu_`) and returns. The writer
//    thread takes everything pending (up to max_batch), inserts it in one BEGIN IMMEDIATE …
//    COMMIT transaction, and only after COMMIT returned calls each record's `done` — on the
//    writer thread, holding no lock, so `done` may call back into the Store. While one batch
//    is being committed (fsync), new records queue up and go together in the next: that is
//    the group commit.
//
// SQLite itself runs in multi-thread mode (SQLITE_OPEN_NOMUTEX): each connection is used by
// one thread at a time, guaranteed by the above. Counters are atomics; `last_error_` has its
// own mutex. The destructor stops taking records (record_token then fails at once with
// SqliteErrc::shutting_down), lets the writer drain the queue — answering every record — and
// joins it.
#include "store/sqlite/sqlite_store.h"

#include "store/sqlite/resume_book.h"

#include "metrics/catalog.h"
#include "store/sqlite/schema.h"
#include "store/sqlite/sqlite_db.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <utility>

namespace bouncer::store {
namespace {

using sqlite::Db;
using sqlite::Stmt;
using sqlite::Transaction;
using sqlite::ResumeBook;
using sqlite::Use;

class SqliteCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "bouncer.sqlite"; }

  std::string message(int code) const override {
    switch (static_cast<SqliteErrc>(code)) {
      case SqliteErrc::duplicate_jti: return "a token record with this jti already exists";
      case SqliteErrc::unknown_key: return "the token record names no known key";
      case SqliteErrc::invalid_record: return "the token record cannot be stored";
      case SqliteErrc::busy: return "the database stayed locked by another writer";
      case SqliteErrc::write_failed: return "the database write failed";
      case SqliteErrc::shutting_down: return "the store is shutting down";
      case SqliteErrc::used_up: return "every use of the token is taken";
    }
    return "unknown bouncer.sqlite error " + std::to_string(code);
  }

  std::error_condition default_error_condition(int code) const noexcept override {
    switch (static_cast<SqliteErrc>(code)) {
      case SqliteErrc::duplicate_jti: return std::errc::file_exists;
      case SqliteErrc::unknown_key:
      case SqliteErrc::invalid_record: return std::errc::invalid_argument;
      case SqliteErrc::busy: return std::errc::device_or_resource_busy;
      case SqliteErrc::write_failed: return std::errc::io_error;
      case SqliteErrc::shutting_down: return std::errc::operation_canceled;
      case SqliteErrc::used_up: return std::errc::resource_unavailable_try_again;
    }
    return {code, *this};
  }
};

constexpr const char* kStateVersionName = "state_version";
constexpr std::int64_t kPurgeChunk = 5000;  // rows per purge transaction: short write locks

// Creates the database file with mode 0600 when it does not exist yet, so that SQLite (which
// would create it 0644 minus umask) opens ours; its -wal and -shm files take the same mode.
// Returns true when this call created it.
bool create_private_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    if (errno == EEXIST) {
      struct stat st {};
      if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
        throw std::runtime_error("cannot open database " + path + ": it is a directory");
      }
      return false;
    }
    throw std::runtime_error("cannot open database " + path + ": " + std::strerror(errno));
  }
  const int chmod_rc = ::fchmod(fd, 0600);  // whatever the umask left
  const int saved = errno;
  ::close(fd);
  if (chmod_rc != 0) {
    ::unlink(path.c_str());
    throw std::runtime_error("cannot set mode 0600 on database " + path + ": " +
                             std::strerror(saved));
  }
  return true;
}

std::int64_t query_int(Db& db, const char* sql) {
  Stmt stmt = db.prepare(sql);
  if (!stmt.step()) throw sqlite::Error(SQLITE_ERROR, std::string("no result from ") + sql);
  return stmt.column_int(0);
}

// Settings every connection needs (they are per connection, not stored in the file).
void configure(Db& db, const SqliteOptions& options) {
  const int rc = sqlite3_busy_timeout(db.get(), std::max(0, options.busy_timeout_ms));
  if (rc != SQLITE_OK) db.raise(rc);
  db.exec("PRAGMA foreign_keys = ON");
  db.exec("PRAGMA synchronous = FULL");
  if (query_int(db, "PRAGMA foreign_keys") != 1) {
    throw sqlite::Error(SQLITE_ERROR, "this SQLite cannot enforce foreign keys");
  }
}

constexpr const char* kKeyColumns =
    "id, name, prefix, secret_hash, created_at, last_used_at, revoked_at, end_sessions";

KeyRecord read_key(const Stmt& s) {
  KeyRecord k;
  k.id = s.column_text(0);
  k.name = s.column_text(1);
  k.prefix = s.column_text(2);
  k.secret_hash = s.column_array<crypto::Digest{}.size()>(3);
  k.created_at = s.column_int(4);
  k.last_used_at = s.column_optional(5);
  k.revoked_at = s.column_optional(6);
  k.end_sessions = s.column_int(7) != 0;
  return k;
}

constexpr const char* kSigningColumns =
    "kid, public_key, created_at, retired_at, publish_until, public_url, alive_until";

SigningKeyRecord read_signing_key(const Stmt& s) {
  SigningKeyRecord k;
  k.kid = s.column_text(0);
  k.public_key = s.column_array<crypto::kPublicKeyBytes>(1);
  k.created_at = s.column_int(2);
  k.retired_at = s.column_optional(3);
  k.publish_until = s.column_optional(4);
  k.public_url = s.column_text(5);
  k.alive_until = s.column_optional(6);
  return k;
}

std::string sql(std::initializer_list<std::string_view> parts) {
  std::string out;
  for (auto p : parts) out += p;
  return out;
}

class SqliteStore final : public Store {
 public:
  SqliteStore(std::string path, const SqliteOptions& options);
  ~SqliteStore() override;
  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

  void create_key(const KeyRecord& key) override;
  std::vector<KeyRecord> list_keys() override;
  std::optional<KeyRecord> find_key(std::string_view id) override;
  bool revoke_key(std::string_view id, std::int64_t at, bool end_sessions) override;
  void touch_keys(const std::vector<std::pair<std::string, std::int64_t>>& last_used) override;

  void record_token(TokenRecord record, Done done) override;
  std::optional<TokenRecord> find_token(std::string_view jti) override;
  void use_token(const TokenUse& use, Used done) override;
  void end_use(const TokenUse& use, UseOutcome outcome, bool give_back) override;
  std::size_t purge_tokens(std::int64_t before) override;

  void add_signing_key(const SigningKeyRecord& key) override;
  bool retire_signing_key(std::string_view kid, std::int64_t at, std::int64_t publish_until) override;
  bool announce_signing_key(std::string_view kid, std::string_view public_url,
                            std::optional<std::int64_t> alive_until) override;

  std::uint64_t state_version() override;
  Snapshot snapshot() override;

  SqliteStats stats() const;

 private:
  // What the writer thread does with one queued item, in the batch's transaction.
  enum class Op {
    record,     // insert `record`
    take_use,   // take one of the uses of record.jti, unless max_uses are taken (SqliteErrc::used_up)
    give_back,  // return one use of record.jti
  };
  struct Pending {
    TokenRecord record;
    Done done;
    Op op = Op::record;
    std::int64_t max_uses = 0;
  };

  void enqueue(Pending pending);
  int write_one(Pending& pending, std::error_code& result);  // SQLITE_OK unless the batch must roll back
  int write_record(const TokenRecord& r, std::error_code& result);

  // Runs `f` holding the main connection; turns SQLite failures into std::runtime_error
  // naming the operation and the file.
  template <class What, class F>
  auto locked(const What& what, F&& f) -> decltype(f());

  void bump_state_version();  // inside a write transaction on the main connection
  std::uint64_t read_state_version();

  void writer_loop();
  void write_batch(std::vector<Pending>& batch) noexcept;
  // One attempt at the batch's transaction: SQLITE_OK after COMMIT (results then hold each
  // record's outcome), else the code that made it roll back (nothing of the batch stored).
  int try_write_batch(std::vector<Pending>& batch, std::vector<std::error_code>& results);
  void set_last_error(const char* message) noexcept;

  const std::string path_;
  const SqliteOptions options_;

  // ---- Main connection and its statements: only with mu_ held. ----
  std::mutex mu_;
  Db db_;
  Stmt insert_key_, select_keys_, select_key_, select_revocation_, update_revocation_, touch_key_;
  Stmt select_token_, purge_tokens_;
  Stmt insert_signing_key_, select_signing_keys_, select_retirement_, update_retirement_;
  Stmt select_public_url_, update_announcement_;
  Stmt select_state_version_, bump_state_version_;

  // ---- Writer connection: only the writer thread, once started. ----
  Db writer_db_;
  Stmt insert_token_, take_use_, give_back_use_;

  ResumeBook resumes_;

  // ---- The group-commit queue. ----
  std::mutex queue_mu_;
  std::condition_variable queue_cv_;
  std::deque<Pending> queue_;
  bool stopping_ = false;

  std::atomic<std::uint64_t> commits_{0}, records_stored_{0}, records_failed_{0};
  std::atomic<std::uint64_t> busy_retries_{0}, largest_batch_{0};
  mutable std::mutex last_error_mu_;
  std::string last_error_;

  std::thread writer_;  // last: starts once everything above exists
};

SqliteStore::SqliteStore(std::string path, const SqliteOptions& options)
    : path_(std::move(path)), options_(options) {
  const bool created = create_private_file(path_);
  try {
    // No SQLITE_OPEN_CREATE: the file exists (made above, with our mode).
    constexpr int kFlags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE;
    db_ = Db::open(path_, kFlags);
    // SQLite falls back to read-only when it cannot write the file; the store must write.
    if (sqlite3_db_readonly(db_.get(), "main") == 1) {
      throw sqlite::Error(SQLITE_READONLY, "the file is read-only");
    }
    configure(db_, options_);
    {
      Stmt mode = db_.prepare("PRAGMA journal_mode = WAL");
      if (!mode.step() || mode.column_text(0) != "wal") {
        throw sqlite::Error(SQLITE_ERROR, "cannot switch the journal to WAL mode");
      }
    }
    sqlite::migrate(db_);

    writer_db_ = Db::open(path_, kFlags);
    configure(writer_db_, options_);
  } catch (const sqlite::Error& e) {
    if (created) {
      db_ = Db();
      writer_db_ = Db();
      ::unlink(path_.c_str());
      ::unlink((path_ + "-wal").c_str());
      ::unlink((path_ + "-shm").c_str());
    }
    throw std::runtime_error("cannot open database " + path_ + ": " + e.what());
  }

  try {
    insert_key_ = db_.prepare(sql({"INSERT INTO api_keys (", kKeyColumns,
                                   ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"}));
    select_keys_ = db_.prepare(sql({"SELECT ", kKeyColumns, " FROM api_keys ORDER BY created_at, id"}));
    select_key_ = db_.prepare(sql({"SELECT ", kKeyColumns, " FROM api_keys WHERE id = ?1"}));
    select_revocation_ = db_.prepare("SELECT revoked_at, end_sessions FROM api_keys WHERE id = ?1");
    update_revocation_ =
        db_.prepare("UPDATE api_keys SET revoked_at = ?2, end_sessions = ?3 WHERE id = ?1");
    // Last use only moves forward (several nodes or batches may report out of order).
    touch_key_ = db_.prepare(
        "UPDATE api_keys SET last_used_at = ?2 "
        "WHERE id = ?1 AND (last_used_at IS NULL OR last_used_at < ?2)");
    select_token_ = db_.prepare(
        "SELECT jti, key_id, kid, issued_at, expires_at, scopes_json, metadata_json "
        "FROM tokens WHERE jti = ?1");
    purge_tokens_ = db_.prepare(
        "DELETE FROM tokens WHERE jti IN "
        "(SELECT jti FROM tokens WHERE expires_at < ?1 LIMIT ?2)");
    insert_signing_key_ = db_.prepare(
        sql({"INSERT INTO signing_keys (", kSigningColumns, ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"}));
    select_signing_keys_ = db_.prepare(
        sql({"SELECT ", kSigningColumns, " FROM signing_keys ORDER BY created_at, kid"}));
    select_retirement_ =
        db_.prepare("SELECT retired_at, publish_until FROM signing_keys WHERE kid = ?1");
    update_retirement_ = db_.prepare(
        "UPDATE signing_keys SET retired_at = ?2, publish_until = ?3 WHERE kid = ?1");
    select_public_url_ = db_.prepare("SELECT public_url FROM signing_keys WHERE kid = ?1");
    update_announcement_ =
        db_.prepare("UPDATE signing_keys SET public_url = ?2, alive_until = ?3 WHERE kid = ?1");
    select_state_version_ = db_.prepare("SELECT value FROM meta WHERE name = ?1");
    bump_state_version_ = db_.prepare("UPDATE meta SET value = value + 1 WHERE name = ?1");

    insert_token_ = writer_db_.prepare(
        "INSERT INTO tokens (jti, key_id, kid, issued_at, expires_at, scopes_json, metadata_json) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
    take_use_ = writer_db_.prepare("UPDATE tokens SET uses = uses + 1 WHERE jti = ?1 AND uses < ?2");
    give_back_use_ = writer_db_.prepare("UPDATE tokens SET uses = uses - 1 WHERE jti = ?1 AND uses > 0");
  } catch (const sqlite::Error& e) {
    throw std::runtime_error("cannot prepare statements on database " + path_ + ": " + e.what());
  }

  writer_ = std::thread([this] { writer_loop(); });
}

SqliteStore::~SqliteStore() {
  {
    std::lock_guard lock(queue_mu_);
    stopping_ = true;
  }
  queue_cv_.notify_all();
  if (writer_.joinable()) writer_.join();
}

template <class What, class F>
auto SqliteStore::locked(const What& what, F&& f) -> decltype(f()) {
  std::lock_guard lock(mu_);
  try {
    return f();
  } catch (const sqlite::Error& e) {
    throw std::runtime_error("cannot " + std::string(what) + " (database " + path_ + "): " + e.what());
  }
}

std::uint64_t SqliteStore::read_state_version() {
  Use s(select_state_version_);
  s->bind_text(1, kStateVersionName);
  if (!s->step()) throw sqlite::Error(SQLITE_CORRUPT, "the meta table has no state_version");
  return static_cast<std::uint64_t>(s->column_int(0));
}

void SqliteStore::bump_state_version() {
  Use s(bump_state_version_);
  s->bind_text(1, kStateVersionName);
  s->step();
  if (db_.changes() != 1) throw sqlite::Error(SQLITE_CORRUPT, "the meta table has no state_version");
}

// ---- Permanent keys ----

void SqliteStore::create_key(const KeyRecord& key) {
  locked("create key " + key.id, [&] {
    Transaction tx(db_);
    {
      Use s(insert_key_);
      s->bind_text(1, key.id);
      s->bind_text(2, key.name);
      s->bind_text(3, key.prefix);
      s->bind_blob(4, key.secret_hash);
      s->bind_int(5, key.created_at);
      s->bind_optional(6, key.last_used_at);
      s->bind_optional(7, key.revoked_at);
      s->bind_int(8, key.end_sessions ? 1 : 0);
      s->step();
    }
    bump_state_version();
    tx.commit();
  });
}

std::vector<KeyRecord> SqliteStore::list_keys() {
  return locked("list keys", [&] {
    std::vector<KeyRecord> keys;
    Use s(select_keys_);
    while (s->step()) keys.push_back(read_key(*s));
    return keys;
  });
}

std::optional<KeyRecord> SqliteStore::find_key(std::string_view id) {
  return locked("find key", [&]() -> std::optional<KeyRecord> {
    Use s(select_key_);
    s->bind_text(1, id);
    if (!s->step()) return std::nullopt;
    return read_key(*s);
  });
}

bool SqliteStore::revoke_key(std::string_view id, std::int64_t at, bool end_sessions) {
  return locked("revoke key " + std::string(id), [&] {
    Transaction tx(db_);
    std::optional<std::int64_t> revoked_at;
    bool ends = false;
    {
      Use s(select_revocation_);
      s->bind_text(1, id);
      if (!s->step()) return false;  // the transaction rolls back: nothing was written
      revoked_at = s->column_optional(0);
      ends = s->column_int(1) != 0;
    }
    // The first revocation time stays; end_sessions can be raised, never lowered.
    const std::int64_t new_revoked_at = revoked_at.value_or(at);
    const bool new_ends = ends || end_sessions;
    if (revoked_at != new_revoked_at || ends != new_ends) {
      Use u(update_revocation_);
      u->bind_text(1, id);
      u->bind_int(2, new_revoked_at);
      u->bind_int(3, new_ends ? 1 : 0);
      u->step();
      bump_state_version();
    }
    tx.commit();
    return true;
  });
}

void SqliteStore::touch_keys(const std::vector<std::pair<std::string, std::int64_t>>& last_used) {
  if (last_used.empty()) return;
  locked("record key last-use times", [&] {
    Transaction tx(db_);
    for (const auto& [id, at] : last_used) {
      Use s(touch_key_);
      s->bind_text(1, id);
      s->bind_int(2, at);
      s->step();
    }
    tx.commit();  // advisory: no state_version change
  });
}

// ---- Token records ----

void SqliteStore::record_token(TokenRecord record, Done done) {
  enqueue(Pending{std::move(record), std::move(done)});
}

void SqliteStore::enqueue(Pending pending) {
  {
    std::unique_lock lock(queue_mu_);
    if (!stopping_) {
      queue_.push_back(std::move(pending));
      lock.unlock();
      queue_cv_.notify_one();
      return;
    }
  }
  if (pending.done) pending.done(make_error_code(SqliteErrc::shutting_down));
}

// ---- Uses of client tokens ----

namespace {
std::int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
}  // namespace

// The resume id is settled in memory (this process holds every connection); a use is taken
// in the group-commit transaction, so it is durable before the door admits on it.
void SqliteStore::use_token(const TokenUse& use, Used done) {
  switch (resumes_.claim(use, steady_ms())) {
    case ResumeBook::Claim::in_use: return done({}, UseOutcome::resume_in_use);
    case ResumeBook::Claim::resumed: return done({}, UseOutcome::resumed);
    case ResumeBook::Claim::charge: break;
  }
  if (use.max_uses <= 0) return done({}, UseOutcome::used);
  Pending pending;
  pending.record.jti = use.jti;
  pending.op = Op::take_use;
  pending.max_uses = use.max_uses;
  pending.done = [this, use, done = std::move(done)](std::error_code ec) {
    if (!ec) return done({}, UseOutcome::used);
    resumes_.withdraw(use);
    if (ec == SqliteErrc::used_up) return done({}, UseOutcome::used_up);
    done(ec, UseOutcome::used);
  };
  enqueue(std::move(pending));
}

void SqliteStore::end_use(const TokenUse& use, UseOutcome outcome, bool give_back) {
  if (give_back) {
    resumes_.withdraw(use);
  } else {
    resumes_.ended(use, steady_ms());
  }
  if (!give_back || outcome != UseOutcome::used || use.max_uses <= 0) return;
  Pending pending;
  pending.record.jti = use.jti;
  pending.op = Op::give_back;
  enqueue(std::move(pending));
}

void SqliteStore::writer_loop() {
  const std::size_t max_batch = std::max<std::size_t>(1, options_.max_batch);
  std::vector<Pending> batch;
  for (;;) {
    {
      std::unique_lock lock(queue_mu_);
      queue_cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and everything answered
      const std::size_t n = std::min(queue_.size(), max_batch);
      batch.reserve(n);
      std::move(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(n),
                std::back_inserter(batch));
      queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(n));
    }
    write_batch(batch);
    batch.clear();
  }
}

int SqliteStore::try_write_batch(std::vector<Pending>& batch, std::vector<std::error_code>& results) {
  int rc = writer_db_.try_exec("BEGIN IMMEDIATE");
  if (rc != SQLITE_OK) {
    set_last_error(sqlite3_errmsg(writer_db_.get()));
    return rc;
  }
  auto abandon = [&](int code) {
    if (writer_db_.in_transaction()) writer_db_.try_exec("ROLLBACK");
    return code;
  };

  for (std::size_t i = 0; i < batch.size(); ++i) {
    rc = write_one(batch[i], results[i]);
    if (rc != SQLITE_OK) return abandon(rc);
  }

  rc = writer_db_.try_exec("COMMIT");
  if (rc != SQLITE_OK) {
    set_last_error(sqlite3_errmsg(writer_db_.get()));
    return abandon(rc);
  }
  return SQLITE_OK;
}

int SqliteStore::write_one(Pending& pending, std::error_code& result) {
  if (pending.op == Op::record) return write_record(pending.record, result);
  const bool take = pending.op == Op::take_use;
  Use s(take ? take_use_ : give_back_use_);
  s->bind_text(1, pending.record.jti);
  if (take) s->bind_int(2, pending.max_uses);
  const int rc = s->try_step();
  if (rc != SQLITE_DONE) {
    set_last_error(sqlite3_errmsg(writer_db_.get()));
    return rc;
  }
  // No row changed: the uses are all taken (or the record is gone: nothing to admit on).
  result = take && sqlite3_changes(writer_db_.get()) == 0 ? make_error_code(SqliteErrc::used_up) : std::error_code();
  return SQLITE_OK;
}

int SqliteStore::write_record(const TokenRecord& r, std::error_code& result) {
  Use s(insert_token_);
  try {
    s->bind_text(1, r.jti);
    s->bind_text(2, r.key_id);
    s->bind_text(3, r.kid);
    s->bind_int(4, r.issued_at);
    s->bind_int(5, r.expires_at);
    s->bind_text(6, r.scopes_json);
    s->bind_text(7, r.metadata_json);
  } catch (const sqlite::Error&) {  // e.g. a value too big: this record only
    result = make_error_code(SqliteErrc::invalid_record);
    return SQLITE_OK;
  }
  const int rc = s->try_step();
  if (rc == SQLITE_DONE) {
    result = {};
  } else if ((rc & 0xff) == SQLITE_CONSTRAINT) {
    // A constraint failure undoes only this statement; the transaction goes on. Never an
    // overwrite: the row that holds the jti stays as it was.
    switch (rc) {
      case SQLITE_CONSTRAINT_PRIMARYKEY:
      case SQLITE_CONSTRAINT_UNIQUE: result = make_error_code(SqliteErrc::duplicate_jti); break;
      case SQLITE_CONSTRAINT_FOREIGNKEY: result = make_error_code(SqliteErrc::unknown_key); break;
      default: result = make_error_code(SqliteErrc::invalid_record); break;
    }
  } else {
    set_last_error(sqlite3_errmsg(writer_db_.get()));
    return rc;
  }
  return SQLITE_OK;
}

void SqliteStore::write_batch(std::vector<Pending>& batch) noexcept {
  std::vector<std::error_code> results;
  const auto started = std::chrono::steady_clock::now();
  try {
    results.resize(batch.size());
    using Clock = std::chrono::steady_clock;
    // SQLite's busy handler already waits up to busy_timeout_ms for the lock; this loop also
    // covers the BUSY cases it does not wait for, within the same budget.
    const auto deadline = Clock::now() + std::chrono::milliseconds(options_.busy_timeout_ms);
    auto backoff = std::chrono::milliseconds(1);
    for (;;) {
      const int rc = try_write_batch(batch, results);
      if (rc == SQLITE_OK) {
        commits_.fetch_add(1, std::memory_order_relaxed);
        break;
      }
      const bool busy = (rc & 0xff) == SQLITE_BUSY;
      if (busy && Clock::now() < deadline) {
        busy_retries_.fetch_add(1, std::memory_order_relaxed);
        std::this_thread::sleep_for(std::min<Clock::duration>(backoff, deadline - Clock::now()));
        backoff = std::min(backoff * 2, std::chrono::milliseconds(100));
        continue;
      }
      // Nothing of this batch is stored: every record gets the error.
      std::fill(results.begin(), results.end(),
                make_error_code(busy ? SqliteErrc::busy : SqliteErrc::write_failed));
      break;
    }
  } catch (...) {  // out of memory: still answer everyone, as failed
    results.assign(batch.size(), make_error_code(SqliteErrc::write_failed));
    set_last_error("unexpected exception while writing token records");
  }

  // Every batch, stored or not: a commit that fails slowly (a lock held elsewhere) shows too.
  auto& counted = metrics::catalog();
  counted.store_commit_duration.observe(std::chrono::steady_clock::now() - started);
  counted.store_commit_batch.observe(batch.size());

  // Token records only: a use taken or given back is no record.
  std::uint64_t stored = 0, failed = 0;
  for (std::size_t i = 0; i < batch.size() && i < results.size(); ++i) {
    if (batch[i].op != Op::record) continue;
    ++(results[i] ? failed : stored);
  }
  records_stored_.fetch_add(stored, std::memory_order_relaxed);
  records_failed_.fetch_add(failed, std::memory_order_relaxed);
  std::uint64_t largest = largest_batch_.load(std::memory_order_relaxed);
  while (batch.size() > largest &&
         !largest_batch_.compare_exchange_weak(largest, batch.size(), std::memory_order_relaxed)) {
  }

  for (std::size_t i = 0; i < batch.size(); ++i) {
    if (!batch[i].done) continue;
    try {
      batch[i].done(i < results.size() ? results[i] : make_error_code(SqliteErrc::write_failed));
    } catch (...) {
      // A callback's failure must not stop the writer or keep the others unanswered.
    }
  }
}

void SqliteStore::set_last_error(const char* message) noexcept {
  std::lock_guard lock(last_error_mu_);
  try {
    last_error_ = message;
  } catch (...) {  // out of memory: keep the previous message
  }
}

SqliteStats SqliteStore::stats() const {
  SqliteStats s;
  s.commits = commits_.load(std::memory_order_relaxed);
  s.records_stored = records_stored_.load(std::memory_order_relaxed);
  s.records_failed = records_failed_.load(std::memory_order_relaxed);
  s.busy_retries = busy_retries_.load(std::memory_order_relaxed);
  s.largest_batch = largest_batch_.load(std::memory_order_relaxed);
  std::lock_guard lock(last_error_mu_);
  s.last_error = last_error_;
  return s;
}

std::optional<TokenRecord> SqliteStore::find_token(std::string_view jti) {
  return locked("find token", [&]() -> std::optional<TokenRecord> {
    Use s(select_token_);
    s->bind_text(1, jti);
    if (!s->step()) return std::nullopt;
    TokenRecord t;
    t.jti = s->column_text(0);
    t.key_id = s->column_text(1);
    t.kid = s->column_text(2);
    t.issued_at = s->column_int(3);
    t.expires_at = s->column_int(4);
    t.scopes_json = s->column_text(5);
    t.metadata_json = s->column_text(6);
    return t;
  });
}

std::size_t SqliteStore::purge_tokens(std::int64_t before) {
  // In chunks, each its own transaction, releasing the mutex and the write lock in between:
  // a large purge never stalls the group-commit writer or the state_version poll for long.
  std::size_t total = 0;
  for (;;) {
    const auto n = locked("purge token records", [&] {
      Transaction tx(db_);
      Use s(purge_tokens_);
      s->bind_int(1, before);
      s->bind_int(2, kPurgeChunk);
      s->step();
      const std::int64_t deleted = db_.changes();
      tx.commit();
      return deleted;
    });
    total += static_cast<std::size_t>(n);
    if (n < kPurgeChunk) return total;
  }
}

// ---- Signing keys ----

void SqliteStore::add_signing_key(const SigningKeyRecord& key) {
  locked("add signing key " + key.kid, [&] {
    Transaction tx(db_);
    {
      Use s(insert_signing_key_);
      s->bind_text(1, key.kid);
      s->bind_blob(2, key.public_key);
      s->bind_int(3, key.created_at);
      s->bind_optional(4, key.retired_at);
      s->bind_optional(5, key.publish_until);
      s->bind_text(6, key.public_url);
      s->bind_optional(7, key.alive_until);
      s->step();
    }
    bump_state_version();
    tx.commit();
  });
}

bool SqliteStore::retire_signing_key(std::string_view kid, std::int64_t at, std::int64_t publish_until) {
  return locked("retire signing key " + std::string(kid), [&] {
    Transaction tx(db_);
    std::optional<std::int64_t> retired_at, until;
    {
      Use s(select_retirement_);
      s->bind_text(1, kid);
      if (!s->step()) return false;
      retired_at = s->column_optional(0);
      until = s->column_optional(1);
    }
    // The first retirement time stays; publication may be extended, never shortened (a
    // token it signed must stay verifiable until it expires).
    const std::int64_t new_retired_at = retired_at.value_or(at);
    const std::int64_t new_until = until ? std::max(*until, publish_until) : publish_until;
    if (retired_at != new_retired_at || until != new_until) {
      Use u(update_retirement_);
      u->bind_text(1, kid);
      u->bind_int(2, new_retired_at);
      u->bind_int(3, new_until);
      u->step();
      bump_state_version();
    }
    tx.commit();
    return true;
  });
}

bool SqliteStore::announce_signing_key(std::string_view kid, std::string_view public_url,
                                       std::optional<std::int64_t> alive_until) {
  return locked("announce signing key " + std::string(kid), [&] {
    Transaction tx(db_);
    std::string url_before;
    {
      Use s(select_public_url_);
      s->bind_text(1, kid);
      if (!s->step()) return false;
      url_before = s->column_text(0);
    }
    {
      Use u(update_announcement_);
      u->bind_text(1, kid);
      u->bind_text(2, public_url);
      u->bind_optional(3, alive_until);
      u->step();
    }
    // A heartbeat alone is no state change: every node would reload its state for nothing.
    if (url_before != public_url) bump_state_version();
    tx.commit();
    return true;
  });
}

// ---- Change detection ----

std::uint64_t SqliteStore::state_version() {
  return locked("read the state version", [&] { return read_state_version(); });
}

Snapshot SqliteStore::snapshot() {
  return locked("read a snapshot", [&] {
    Snapshot snap;
    // One read transaction: the three reads see the same committed state (WAL snapshot).
    Transaction tx(db_, "BEGIN DEFERRED");
    snap.version = read_state_version();
    {
      Use s(select_keys_);
      while (s->step()) snap.keys.push_back(read_key(*s));
    }
    {
      Use s(select_signing_keys_);
      while (s->step()) snap.signing_keys.push_back(read_signing_key(*s));
    }
    tx.commit();
    return snap;
  });
}

}  // namespace

const std::error_category& sqlite_category() noexcept {
  static const SqliteCategory category;
  return category;
}

std::error_code make_error_code(SqliteErrc e) noexcept {
  return {static_cast<int>(e), sqlite_category()};
}

SqliteStats sqlite_stats(const Store& store) {
  const auto* sqlite_store = dynamic_cast<const SqliteStore*>(&store);
  if (sqlite_store == nullptr) throw std::invalid_argument("sqlite_stats: not a SQLite store");
  return sqlite_store->stats();
}

std::unique_ptr<Store> open_sqlite(const std::string& path, const SqliteOptions& options) {
  return std::make_unique<SqliteStore>(path, options);
}

}  // namespace bouncer::store
