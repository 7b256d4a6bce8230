// The SQLite engine: the shared Store suite, plus what only SQLite has (file modes, schema,
// open errors, lock contention, the group-commit writer's batching and shutdown).
#include "store/sqlite/sqlite_db.h"
#include "store/sqlite/sqlite_store.h"
#include "store_suite.h"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <iostream>
#include <future>
#include <thread>

namespace bouncer::store::testing {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

std::string db_path(const fs::path& dir) { return (dir / "bouncer.db").string(); }

Engine sqlite_engine() {
  Engine e;
  e.name = "Sqlite";
  e.open = [](const fs::path& dir) { return open_sqlite(db_path(dir)); };
  e.commits = [](Store& store) { return sqlite_stats(store).commits; };
  return e;
}

INSTANTIATE_TEST_SUITE_P(Sqlite, StoreSuite, ::testing::Values(sqlite_engine()), engine_name);

class SqliteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = make_temp_dir("bouncer-sqlite");
    path_ = db_path(dir_);
  }
  void TearDown() override { remove_temp_dir(dir_); }

  std::unique_ptr<Store> open(SqliteOptions options = {}) { return open_sqlite(path_, options); }

  // A raw connection to the same file, standing for another process.
  sqlite::Db raw() {
    auto db = sqlite::Db::open(path_, SQLITE_OPEN_READWRITE);
    sqlite3_busy_timeout(db.get(), 5000);
    return db;
  }

  static std::int64_t query_int(sqlite::Db& db, const char* sql) {
    auto stmt = db.prepare(sql);
    EXPECT_TRUE(stmt.step()) << sql;
    return stmt.column_int(0);
  }

  // The message of the runtime_error that opening `path` throws ("" if none).
  static std::string open_error(const std::string& path) {
    try {
      open_sqlite(path);
    } catch (const std::runtime_error& e) {
      std::cout << "[          ] " << e.what() << "\n";
      return e.what();
    }
    return "";
  }

  // Root ignores file permissions, so under root (as in CI) the refusal is observed from a
  // child process that owns the files and has dropped to the unprivileged uid/gid 65534.
  std::string open_error_unprivileged(const std::string& path) {
    if (::geteuid() != 0) return open_error(path);
    constexpr uid_t kNobody = 65534;
    for (const auto& entry : fs::recursive_directory_iterator(dir_)) {
      EXPECT_EQ(::lchown(entry.path().c_str(), kNobody, kNobody), 0);
    }
    EXPECT_EQ(::chown(dir_.c_str(), kNobody, kNobody), 0);
    int fds[2];
    if (::pipe(fds) != 0) return "pipe failed";
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::close(fds[0]);
      if (::setgid(kNobody) != 0 || ::setuid(kNobody) != 0) ::_exit(3);
      const auto message = open_error(path);
      const auto written = ::write(fds[1], message.data(), message.size());
      ::_exit(written == static_cast<ssize_t>(message.size()) ? 0 : 4);
    }
    ::close(fds[1]);
    std::string message;
    char buf[512];
    for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) message.append(buf, static_cast<std::size_t>(n));
    ::close(fds[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "unprivileged child failed: " << status;
    return message;
  }

  fs::path dir_;
  std::string path_;
};

// Sets the umask for one scope (the tests run on one thread when they do this).
class UmaskGuard {
 public:
  explicit UmaskGuard(mode_t mask) : old_(::umask(mask)) {}
  ~UmaskGuard() { ::umask(old_); }

 private:
  mode_t old_;
};

mode_t mode_of(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return 0;
  return st.st_mode & 07777;
}

// ---- Files, schema, open errors ----

TEST_F(SqliteStoreTest, DatabaseAndWalFilesAreMode0600WhateverTheUmask) {
  UmaskGuard umask_guard(0);  // SQLite alone would then make the file 0644
  auto store = open();
  const KeyRecord k = make_key(1);
  store->create_key(k);
  ASSERT_FALSE(record_and_wait(*store, make_token("jti-1", k.id)));
  for (const std::string suffix : {"", "-wal", "-shm"}) {
    ASSERT_TRUE(fs::exists(path_ + suffix)) << path_ + suffix;
    EXPECT_EQ(mode_of(path_ + suffix), 0600u) << path_ + suffix << " has mode " << std::oct
                                              << mode_of(path_ + suffix);
  }
}

TEST_F(SqliteStoreTest, SchemaIsVersionedInWalMode) {
  open().reset();
  auto db = raw();
  EXPECT_EQ(query_int(db, "PRAGMA user_version"), 3);
  EXPECT_EQ(query_int(db, "PRAGMA application_id"), 0x426f756e);
  auto mode = db.prepare("PRAGMA journal_mode");
  ASSERT_TRUE(mode.step());
  EXPECT_EQ(mode.column_text(0), "wal");
  EXPECT_EQ(query_int(db,
                      "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name IN "
                      "('api_keys', 'tokens', 'signing_keys', 'meta')"),
            4);
  EXPECT_EQ(query_int(db, "SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND "
                          "tbl_name = 'tokens' AND sql LIKE '%expires_at%'"),
            1);
  EXPECT_EQ(query_int(db, "SELECT value FROM meta WHERE name = 'state_version'"), 1);
}

// A database written by the first schema gains the nodes' announcements, its keys intact.
TEST_F(SqliteStoreTest, VersionOneDatabaseIsMigrated) {
  const SigningKeyRecord k = make_signing_key(1);
  open()->add_signing_key(k);
  {
    auto db = raw();
    db.exec("ALTER TABLE signing_keys DROP COLUMN public_url");
    db.exec("ALTER TABLE signing_keys DROP COLUMN alive_until");
    db.exec("ALTER TABLE tokens DROP COLUMN uses");
    db.exec("PRAGMA user_version = 1");
  }
  auto store = open();
  EXPECT_EQ(store->snapshot().signing_keys, std::vector<SigningKeyRecord>{k});
  EXPECT_TRUE(store->announce_signing_key(k.kid, "https://a.example", 100));
  EXPECT_EQ(store->snapshot().signing_keys.at(0).public_url, "https://a.example");
  auto db = raw();
  EXPECT_EQ(query_int(db, "PRAGMA user_version"), 3);
}

TEST_F(SqliteStoreTest, ReopeningKeepsTheStateVersion) {
  std::uint64_t version = 0;
  {
    auto store = open();
    store->create_key(make_key(1));
    version = store->state_version();
  }
  EXPECT_EQ(open()->state_version(), version);
}

TEST_F(SqliteStoreTest, NewerSchemaIsRefused) {
  open().reset();
  {
    auto db = raw();
    db.exec("PRAGMA user_version = 99");
  }
  const std::string message = open_error(path_);
  EXPECT_NE(message.find("cannot open database " + path_), std::string::npos) << message;
  EXPECT_NE(message.find("newer"), std::string::npos) << message;
}

TEST_F(SqliteStoreTest, MissingDirectoryGivesAClearError) {
  const std::string path = (dir_ / "missing" / "bouncer.db").string();
  const std::string message = open_error(path);
  EXPECT_NE(message.find("cannot open database " + path + ": "), std::string::npos) << message;
  EXPECT_NE(message.find("No such file or directory"), std::string::npos) << message;
}

TEST_F(SqliteStoreTest, ParentThatIsAFileGivesAClearError) {
  std::ofstream(dir_ / "file") << "x";
  const std::string path = (dir_ / "file" / "bouncer.db").string();
  const std::string message = open_error(path);
  EXPECT_NE(message.find("cannot open database " + path + ": "), std::string::npos) << message;
}

TEST_F(SqliteStoreTest, PathThatIsADirectoryGivesAClearError) {
  fs::create_directory(dir_ / "bouncer.db");
  const std::string message = open_error(path_);
  EXPECT_NE(message.find("cannot open database " + path_ + ": "), std::string::npos) << message;
  EXPECT_NE(message.find("directory"), std::string::npos) << message;
}

TEST_F(SqliteStoreTest, FileThatIsNotADatabaseIsRefusedAndKept) {
  {
    std::ofstream out(path_, std::ios::binary);
    for (int i = 0; i < 4096; ++i) out << static_cast<char>('a' + i % 26);
  }
  const std::string message = open_error(path_);
  EXPECT_NE(message.find("cannot open database " + path_ + ": "), std::string::npos) << message;
  EXPECT_NE(message.find("not a database"), std::string::npos) << message;
  EXPECT_EQ(fs::file_size(path_), 4096u) << "someone else's file must be left alone";
}

TEST_F(SqliteStoreTest, OtherApplicationsDatabaseIsRefused) {
  {
    std::ofstream(path_).flush();  // an empty file: a valid, empty database
    auto db = raw();
    db.exec("CREATE TABLE notes (body TEXT)");
  }
  const std::string message = open_error(path_);
  EXPECT_NE(message.find("not a bouncer database"), std::string::npos) << message;
}

TEST_F(SqliteStoreTest, UnwritableDirectoryGivesAClearError) {
  fs::permissions(dir_, fs::perms::owner_read | fs::perms::owner_exec);
  const std::string message = open_error_unprivileged(path_);
  EXPECT_NE(message.find("cannot open database " + path_ + ": "), std::string::npos) << message;
  EXPECT_NE(message.find("Permission denied"), std::string::npos) << message;
}

TEST_F(SqliteStoreTest, ReadOnlyFileGivesAClearError) {
  open().reset();
  fs::permissions(path_, fs::perms::owner_read);
  const std::string message = open_error_unprivileged(path_);
  EXPECT_NE(message.find("cannot open database " + path_ + ": "), std::string::npos) << message;
  EXPECT_NE(message.find("read-only"), std::string::npos) << message;
}

TEST_F(SqliteStoreTest, ExistingFileInUnwritableDirectoryGivesAClearError) {
  open().reset();
  fs::permissions(dir_, fs::perms::owner_read | fs::perms::owner_exec);  // no room for -wal
  const std::string message = open_error_unprivileged(path_);
  EXPECT_NE(message.find("cannot open database " + path_ + ": "), std::string::npos) << message;
}

TEST_F(SqliteStoreTest, ErrorsNameTheOperationAndTheFile) {
  auto store = open();
  store->create_key(make_key(1));
  try {
    store->create_key(make_key(1));
    FAIL() << "a duplicate key was accepted";
  } catch (const std::runtime_error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("cannot create key " + make_key(1).id), std::string::npos) << message;
    EXPECT_NE(message.find(path_), std::string::npos) << message;
    EXPECT_NE(message.find("UNIQUE"), std::string::npos) << message;
  }
}

TEST_F(SqliteStoreTest, WriteLockedPastTheBusyTimeoutThrows) {
  SqliteOptions options;
  options.busy_timeout_ms = 100;
  auto store = open(options);
  auto other = raw();
  other.exec("BEGIN IMMEDIATE");
  try {
    store->create_key(make_key(1));
    FAIL() << "wrote through another writer's lock";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("locked"), std::string::npos) << e.what();
  }
  other.exec("ROLLBACK");
  store->create_key(make_key(1));
}

// ---- The group-commit writer ----

TEST_F(SqliteStoreTest, ErrorCodesHaveTheirCategoryAndPortableConditions) {
  EXPECT_STREQ(sqlite_category().name(), "bouncer.sqlite");
  EXPECT_EQ(make_error_code(SqliteErrc::duplicate_jti), std::errc::file_exists);
  EXPECT_EQ(make_error_code(SqliteErrc::unknown_key), std::errc::invalid_argument);
  EXPECT_EQ(make_error_code(SqliteErrc::busy), std::errc::device_or_resource_busy);
  EXPECT_EQ(make_error_code(SqliteErrc::write_failed), std::errc::io_error);
  EXPECT_EQ(make_error_code(SqliteErrc::shutting_down), std::errc::operation_canceled);
  EXPECT_FALSE(make_error_code(SqliteErrc::write_failed).message().empty());
}

TEST_F(SqliteStoreTest, DuplicatesInOneBatchFailAlone) {
  SqliteOptions options;
  options.busy_timeout_ms = 20'000;
  auto store = open(options);
  const KeyRecord k = make_key(1);
  store->create_key(k);
  ASSERT_FALSE(record_and_wait(*store, make_token("jti-a", k.id)));
  const auto before = sqlite_stats(*store);

  // Hold the write lock so that the records below queue up and go in one transaction.
  auto other = raw();
  other.exec("BEGIN IMMEDIATE");
  std::vector<std::promise<std::error_code>> results(6);
  auto done = [&](std::size_t i) { return [&, i](std::error_code ec) { results[i].set_value(ec); }; };
  store->record_token(make_token("jti-first", k.id), done(0));  // may go alone: writer blocks
  std::this_thread::sleep_for(200ms);
  store->record_token(make_token("jti-b", k.id), done(1));
  store->record_token(make_token("jti-a", k.id), done(2));  // duplicate of a stored one
  store->record_token(make_token("jti-c", k.id), done(3));
  store->record_token(make_token("jti-c", k.id), done(4));  // duplicate within the batch
  store->record_token(make_token("jti-x", "key_unknown"), done(5));  // no such key
  std::this_thread::sleep_for(100ms);
  other.exec("COMMIT");

  std::vector<std::error_code> ec;
  for (auto& r : results) {
    auto f = r.get_future();
    ASSERT_EQ(f.wait_for(30s), std::future_status::ready);
    ec.push_back(f.get());
  }
  EXPECT_FALSE(ec[0]) << ec[0].message();
  EXPECT_FALSE(ec[1]) << ec[1].message();
  EXPECT_EQ(ec[2], make_error_code(SqliteErrc::duplicate_jti)) << ec[2].message();
  EXPECT_FALSE(ec[3]) << ec[3].message();
  EXPECT_EQ(ec[4], make_error_code(SqliteErrc::duplicate_jti)) << ec[4].message();
  EXPECT_EQ(ec[5], make_error_code(SqliteErrc::unknown_key)) << ec[5].message();
  EXPECT_EQ(ec[5], std::errc::invalid_argument);

  const auto after = sqlite_stats(*store);
  EXPECT_LE(after.commits - before.commits, 2u);
  EXPECT_GE(after.largest_batch, 5u) << "the five records were not in one transaction";
  EXPECT_EQ(after.records_stored - before.records_stored, 3u);
  EXPECT_EQ(after.records_failed - before.records_failed, 3u);
  EXPECT_TRUE(store->find_token("jti-b"));
  EXPECT_TRUE(store->find_token("jti-c"));
  EXPECT_FALSE(store->find_token("jti-x"));
}

TEST_F(SqliteStoreTest, BatchFailsAsAWholeWhenTheLockNeverComes) {
  SqliteOptions options;
  options.busy_timeout_ms = 200;
  auto store = open(options);
  const KeyRecord k = make_key(1);
  store->create_key(k);

  auto other = raw();
  other.exec("BEGIN IMMEDIATE");
  std::vector<std::promise<std::error_code>> results(3);
  for (std::size_t i = 0; i < results.size(); ++i) {
    store->record_token(make_token("jti-" + std::to_string(i), k.id),
                        [&, i](std::error_code ec) { results[i].set_value(ec); });
  }
  for (auto& r : results) {
    auto f = r.get_future();
    ASSERT_EQ(f.wait_for(30s), std::future_status::ready);
    const auto ec = f.get();
    EXPECT_EQ(ec, make_error_code(SqliteErrc::busy)) << ec.message();
    EXPECT_EQ(ec, std::errc::device_or_resource_busy);
  }
  other.exec("ROLLBACK");

  const auto stats = sqlite_stats(*store);
  EXPECT_EQ(stats.records_failed, 3u);
  EXPECT_EQ(stats.records_stored, 0u);
  EXPECT_NE(stats.last_error.find("locked"), std::string::npos) << stats.last_error;
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(store->find_token("jti-" + std::to_string(i)));
  // The writer carries on once the lock is free.
  EXPECT_FALSE(record_and_wait(*store, make_token("jti-later", k.id)));
  EXPECT_TRUE(store->find_token("jti-later"));
}

TEST_F(SqliteStoreTest, WriterWaitsForAnotherWritersLock) {
  auto store = open();  // default busy timeout: 5 s
  const KeyRecord k = make_key(1);
  store->create_key(k);
  auto other = raw();
  other.exec("BEGIN IMMEDIATE");
  std::jthread release([&] {
    std::this_thread::sleep_for(300ms);
    other.exec("COMMIT");
  });
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(record_and_wait(*store, make_token("jti-1", k.id)));
  EXPECT_GE(std::chrono::steady_clock::now() - start, 250ms);
  EXPECT_TRUE(store->find_token("jti-1"));
}

TEST_F(SqliteStoreTest, MaxBatchBoundsATransaction) {
  SqliteOptions options;
  options.max_batch = 10;
  auto store = open(options);
  const KeyRecord k = make_key(1);
  store->create_key(k);
  auto other = raw();
  other.exec("BEGIN IMMEDIATE");
  for (int i = 0; i < 100; ++i) {
    store->record_token(make_token("jti-" + std::to_string(i), k.id), nullptr);  // no callback
  }
  std::this_thread::sleep_for(100ms);
  other.exec("COMMIT");
  ASSERT_FALSE(record_and_wait(*store, make_token("jti-last", k.id)));
  const auto stats = sqlite_stats(*store);
  EXPECT_EQ(stats.records_stored, 101u);
  EXPECT_LE(stats.largest_batch, 10u);
  EXPECT_GE(stats.commits, 11u);
  EXPECT_LT(stats.commits, 101u);
  store.reset();
  auto reopened = open();
  for (int i = 0; i < 100; ++i) EXPECT_TRUE(reopened->find_token("jti-" + std::to_string(i)));
}

TEST_F(SqliteStoreTest, RecordAfterShutdownBeganFailsAtOnce) {
  auto store = open();
  const KeyRecord k = make_key(1);
  store->create_key(k);
  Store* raw_store = store.get();

  auto other = raw();
  other.exec("BEGIN IMMEDIATE");  // keeps the first record pending while shutdown begins
  std::error_code first, late;
  bool late_answered_at_once = false;
  store->record_token(make_token("jti-1", k.id), [&](std::error_code ec) {
    first = ec;
    // The destructor is draining: a new record is refused at once, on this thread.
    bool called = false;
    raw_store->record_token(make_token("jti-2", k.id), [&](std::error_code ec2) {
      called = true;
      late = ec2;
    });
    late_answered_at_once = called;
  });
  std::jthread closer([&] { store.reset(); });
  std::this_thread::sleep_for(300ms);
  other.exec("COMMIT");
  closer.join();

  EXPECT_FALSE(first) << first.message();
  EXPECT_TRUE(late_answered_at_once);
  EXPECT_EQ(late, make_error_code(SqliteErrc::shutting_down)) << late.message();
  EXPECT_EQ(late, std::errc::operation_canceled);
  auto reopened = open();
  EXPECT_TRUE(reopened->find_token("jti-1"));
  EXPECT_FALSE(reopened->find_token("jti-2"));
}

TEST_F(SqliteStoreTest, ThrowingCallbackDoesNotStopTheWriter) {
  auto store = open();
  const KeyRecord k = make_key(1);
  store->create_key(k);
  store->record_token(make_token("jti-1", k.id), [](std::error_code) { throw std::runtime_error("x"); });
  EXPECT_FALSE(record_and_wait(*store, make_token("jti-2", k.id)));
  EXPECT_TRUE(store->find_token("jti-1"));
}

TEST_F(SqliteStoreTest, StateVersionPolledWhileAnotherInstanceWrites) {
  auto poller = open();
  auto writer = open();
  const auto start = poller->state_version();
  constexpr int kKeys = 30;
  std::atomic<bool> done{false};
  std::atomic<bool> went_back{false};
  std::jthread poll([&] {
    std::uint64_t last = start;
    while (!done) {
      const auto v = poller->state_version();
      if (v < last) went_back = true;
      last = v;
      const auto snap = poller->snapshot();
      // The snapshot is consistent: its version matches what its contents say.
      if (snap.version != start + snap.keys.size()) went_back = true;
    }
  });
  for (int i = 0; i < kKeys; ++i) writer->create_key(make_key(i));
  done = true;
  poll.join();
  EXPECT_FALSE(went_back);
  EXPECT_EQ(poller->state_version(), start + kKeys);
}

}  // namespace
}  // namespace bouncer::store::testing
