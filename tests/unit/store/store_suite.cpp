#include "store_suite.h"

#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <future>
#include <iostream>
#include <mutex>
#include <random>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

namespace bouncer::store::testing {

void PrintTo(const Engine& engine, std::ostream* os) { *os << engine.name; }

std::string engine_name(const ::testing::TestParamInfo<Engine>& info) { return info.param.name; }

std::filesystem::path make_temp_dir(const std::string& prefix) {
  static std::atomic<unsigned> counter{0};
  std::random_device random;
  const auto base = std::filesystem::temp_directory_path();
  for (int attempt = 0; attempt < 100; ++attempt) {
    auto dir = base / (prefix + "-" + std::to_string(::getpid()) + "-" +
                       std::to_string(counter.fetch_add(1)) + "-" + std::to_string(random()));
    if (std::filesystem::create_directory(dir)) return dir;
  }
  throw std::runtime_error("cannot make a temporary directory under " + base.string());
}

void remove_temp_dir(const std::filesystem::path& dir) {
  if (dir.empty()) return;
  std::error_code ec;
  std::filesystem::permissions(dir, std::filesystem::perms::owner_all,
                               std::filesystem::perm_options::add, ec);
  std::filesystem::remove_all(dir, ec);
}

KeyRecord make_key(int n, std::int64_t created_at) {
  KeyRecord k;
  k.id = "key_" + std::string(12, '0') + std::to_string(1000 + n);
  k.name = "key number " + std::to_string(n);
  k.prefix = "sk_Ab" + std::to_string(1000 + n);
  for (std::size_t i = 0; i < k.secret_hash.size(); ++i) {
    k.secret_hash[i] = static_cast<std::uint8_t>(n * 31 + static_cast<int>(i));
  }
  k.created_at = created_at;
  return k;
}

SigningKeyRecord make_signing_key(int n, std::int64_t created_at) {
  SigningKeyRecord k;
  k.kid = "kid-" + std::to_string(n);
  for (std::size_t i = 0; i < k.public_key.size(); ++i) {
    k.public_key[i] = static_cast<std::uint8_t>(n * 17 + static_cast<int>(i));
  }
  k.created_at = created_at;
  return k;
}

TokenRecord make_token(const std::string& jti, const std::string& key_id, std::int64_t expires_at) {
  TokenRecord t;
  t.jti = jti;
  t.key_id = key_id;
  t.kid = "kid-1";
  t.issued_at = expires_at - 600;
  t.expires_at = expires_at;
  t.scopes_json = R"({"models":["demo"],"origins":["https://app.example"]})";
  t.metadata_json = R"({"user":")" + jti + R"("})";
  return t;
}

std::error_code record_and_wait(Store& store, TokenRecord record, std::chrono::seconds timeout) {
  auto promise = std::make_shared<std::promise<std::error_code>>();
  auto future = promise->get_future();
  store.record_token(std::move(record), [promise](std::error_code ec) { promise->set_value(ec); });
  if (future.wait_for(timeout) != std::future_status::ready) {
    ADD_FAILURE() << "record_token's done did not run within " << timeout.count() << " s";
    return std::make_error_code(std::errc::timed_out);
  }
  return future.get();
}

void StoreSuite::SetUp() { dir_ = make_temp_dir("bouncer-store-" + GetParam().name); }

void StoreSuite::TearDown() { remove_temp_dir(dir_); }

namespace {

using namespace std::chrono_literals;

// Collects the outcomes of many record_token calls, counting how often each `done` ran.
class Outcomes {
 public:
  explicit Outcomes(std::size_t n) : results_(n), calls_(n) {}

  Store::Done done(std::size_t i) {
    return [this, i](std::error_code ec) {
      std::lock_guard lock(mu_);
      results_[i] = ec;
      if (++calls_[i] == 1) ++answered_;
      cv_.notify_all();
    };
  }

  // Waits until every record was answered; false on timeout.
  bool wait(std::chrono::seconds timeout = 60s) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return answered_ == results_.size(); });
  }

  std::error_code result(std::size_t i) {
    std::lock_guard lock(mu_);
    return results_[i];
  }
  int calls(std::size_t i) {
    std::lock_guard lock(mu_);
    return calls_[i];
  }
  std::size_t size() const { return results_.size(); }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::error_code> results_;
  std::vector<int> calls_;
  std::size_t answered_ = 0;
};

// ---- Permanent keys ----

TEST_P(StoreSuite, CreateFindAndListKeys) {
  auto store = open();
  EXPECT_TRUE(store->list_keys().empty());
  const KeyRecord a = make_key(1, 300), b = make_key(2, 100), c = make_key(3, 200);
  KeyRecord d = make_key(4, 200);
  d.id = "key_0000000000000000";  // same created_at as c, smaller id: ordered before it
  for (const auto& k : {a, b, c, d}) store->create_key(k);

  EXPECT_EQ(store->find_key(a.id), a);
  EXPECT_EQ(store->find_key(d.id), d);
  EXPECT_EQ(store->find_key("key_ffffffffffffffff"), std::nullopt);
  EXPECT_EQ(store->list_keys(), (std::vector<KeyRecord>{b, d, c, a}));
}

TEST_P(StoreSuite, KeyFieldsRoundTrip) {
  auto store = open();
  KeyRecord k = make_key(7);
  k.name = "prod — été \"quoted\" 'x'";
  k.last_used_at = 1'700'000'100;
  k.revoked_at = 1'700'000'200;
  k.end_sessions = true;
  k.secret_hash.fill(0);  // zero bytes must survive (blob, not text)
  k.secret_hash[31] = 0xff;
  store->create_key(k);
  EXPECT_EQ(store->find_key(k.id), k);
}

TEST_P(StoreSuite, DuplicateSecretHashIsRejected) {
  auto store = open();
  const KeyRecord a = make_key(1);
  KeyRecord b = make_key(2);
  b.secret_hash = a.secret_hash;
  store->create_key(a);
  const auto version = store->state_version();
  EXPECT_THROW(store->create_key(b), std::runtime_error);
  EXPECT_EQ(store->find_key(b.id), std::nullopt);
  EXPECT_EQ(store->list_keys(), std::vector<KeyRecord>{a});
  EXPECT_EQ(store->state_version(), version) << "a failed change must not change the version";
}

TEST_P(StoreSuite, DuplicateKeyIdIsRejected) {
  auto store = open();
  const KeyRecord a = make_key(1);
  KeyRecord b = make_key(2);
  b.id = a.id;
  store->create_key(a);
  EXPECT_THROW(store->create_key(b), std::runtime_error);
  EXPECT_EQ(store->find_key(a.id), a);
}

TEST_P(StoreSuite, RevokeUnknownKeyReturnsFalse) {
  auto store = open();
  store->create_key(make_key(1));
  const auto version = store->state_version();
  EXPECT_FALSE(store->revoke_key("key_nope", 100, true));
  EXPECT_EQ(store->state_version(), version);
}

TEST_P(StoreSuite, RevokeKeepsTheFirstTime) {
  auto store = open();
  const KeyRecord k = make_key(1);
  store->create_key(k);
  EXPECT_TRUE(store->revoke_key(k.id, 1000, false));
  EXPECT_TRUE(store->revoke_key(k.id, 2000, false));
  const auto found = store->find_key(k.id);
  ASSERT_TRUE(found);
  EXPECT_EQ(found->revoked_at, 1000);
  EXPECT_FALSE(found->end_sessions);
  // The rest of the record is untouched.
  KeyRecord expected = k;
  expected.revoked_at = 1000;
  EXPECT_EQ(found, expected);
}

TEST_P(StoreSuite, RevokeRaisesEndSessionsButNeverLowersIt) {
  auto store = open();
  const KeyRecord k = make_key(1);
  store->create_key(k);
  ASSERT_TRUE(store->revoke_key(k.id, 1000, false));
  EXPECT_FALSE(store->find_key(k.id)->end_sessions);

  const auto before_raise = store->state_version();
  ASSERT_TRUE(store->revoke_key(k.id, 2000, true));
  EXPECT_TRUE(store->find_key(k.id)->end_sessions);
  EXPECT_EQ(store->find_key(k.id)->revoked_at, 1000);
  EXPECT_NE(store->state_version(), before_raise) << "raising end_sessions is a change";

  ASSERT_TRUE(store->revoke_key(k.id, 3000, false));
  EXPECT_TRUE(store->find_key(k.id)->end_sessions);
  EXPECT_EQ(store->find_key(k.id)->revoked_at, 1000);
}

TEST_P(StoreSuite, RevokeWithEndSessionsAtOnce) {
  auto store = open();
  const KeyRecord k = make_key(1);
  store->create_key(k);
  ASSERT_TRUE(store->revoke_key(k.id, 1000, true));
  EXPECT_EQ(store->find_key(k.id)->revoked_at, 1000);
  EXPECT_TRUE(store->find_key(k.id)->end_sessions);
}

TEST_P(StoreSuite, TouchKeysRecordsLastUseAndNeverGoesBack) {
  auto store = open();
  const KeyRecord a = make_key(1), b = make_key(2);
  store->create_key(a);
  store->create_key(b);
  store->touch_keys({{a.id, 500}, {"key_unknown", 600}});
  EXPECT_EQ(store->find_key(a.id)->last_used_at, 500);
  EXPECT_EQ(store->find_key(b.id)->last_used_at, std::nullopt);
  store->touch_keys({{a.id, 400}, {b.id, 700}});
  EXPECT_EQ(store->find_key(a.id)->last_used_at, 500);
  EXPECT_EQ(store->find_key(b.id)->last_used_at, 700);
  store->touch_keys({});
}

// ---- state_version ----

TEST_P(StoreSuite, StateVersionChangesOnEveryKeyChange) {
  auto store = open();
  std::set<std::uint64_t> seen{store->state_version()};
  auto expect_new = [&](const char* what) {
    const auto v = store->state_version();
    EXPECT_TRUE(seen.insert(v).second) << what << " did not change the version (" << v << ")";
  };
  const KeyRecord k = make_key(1);
  store->create_key(k);
  expect_new("create_key");
  store->revoke_key(k.id, 100, false);
  expect_new("revoke_key");
  store->revoke_key(k.id, 200, true);
  expect_new("revoke_key raising end_sessions");
  store->add_signing_key(make_signing_key(1));
  expect_new("add_signing_key");
  store->retire_signing_key("kid-1", 100, 900);
  expect_new("retire_signing_key");
}

TEST_P(StoreSuite, StateVersionIgnoresTokenRecordsTouchesAndPurges) {
  auto store = open();
  const KeyRecord k = make_key(1);
  store->create_key(k);
  const auto version = store->state_version();
  ASSERT_FALSE(record_and_wait(*store, make_token("jti-1", k.id, 100)));
  store->touch_keys({{k.id, 123}});
  EXPECT_EQ(store->purge_tokens(1000), 1u);
  EXPECT_EQ(store->state_version(), version);
}

TEST_P(StoreSuite, ChangesAreSeenAcrossInstances) {
  auto a = open();
  auto b = open();  // another process on the same state
  const auto version = a->state_version();
  EXPECT_EQ(b->state_version(), version);

  const KeyRecord k = make_key(1);
  b->create_key(k);
  const auto after_create = a->state_version();
  EXPECT_NE(after_create, version);
  EXPECT_EQ(a->find_key(k.id), k);
  EXPECT_EQ(a->snapshot().keys, std::vector<KeyRecord>{k});

  a->revoke_key(k.id, 100, true);
  EXPECT_NE(b->state_version(), after_create);
  EXPECT_TRUE(b->find_key(k.id)->end_sessions);

  ASSERT_FALSE(record_and_wait(*a, make_token("jti-a", k.id)));
  EXPECT_EQ(b->find_token("jti-a"), make_token("jti-a", k.id));
}

TEST_P(StoreSuite, SnapshotHoldsKeysSigningKeysAndVersion) {
  auto store = open();
  const auto empty = store->snapshot();
  EXPECT_EQ(empty.version, store->state_version());
  EXPECT_TRUE(empty.keys.empty());
  EXPECT_TRUE(empty.signing_keys.empty());

  KeyRecord a = make_key(1, 100), b = make_key(2, 200);
  const SigningKeyRecord s1 = make_signing_key(1, 100), s2 = make_signing_key(2, 200);
  store->create_key(b);
  store->create_key(a);
  store->add_signing_key(s2);
  store->add_signing_key(s1);
  store->revoke_key(a.id, 150, true);
  store->retire_signing_key(s1.kid, 200, 900);
  a.revoked_at = 150;
  a.end_sessions = true;
  SigningKeyRecord retired = s1;
  retired.retired_at = 200;
  retired.publish_until = 900;

  const auto snap = store->snapshot();
  EXPECT_EQ(snap.version, store->state_version());
  EXPECT_NE(snap.version, empty.version);
  EXPECT_EQ(snap.keys, (std::vector<KeyRecord>{a, b}));
  EXPECT_EQ(snap.keys, store->list_keys());
  EXPECT_EQ(snap.signing_keys, (std::vector<SigningKeyRecord>{retired, s2}));
}

// ---- Signing keys ----

TEST_P(StoreSuite, SigningKeysAddAndRetire) {
  auto store = open();
  const SigningKeyRecord k = make_signing_key(1);
  store->add_signing_key(k);
  SigningKeyRecord dup = make_signing_key(2);
  dup.kid = k.kid;
  EXPECT_THROW(store->add_signing_key(dup), std::runtime_error);

  const auto version = store->state_version();
  EXPECT_FALSE(store->retire_signing_key("kid-unknown", 100, 200));
  EXPECT_EQ(store->state_version(), version);

  EXPECT_TRUE(store->retire_signing_key(k.kid, 1000, 5000));
  EXPECT_TRUE(store->retire_signing_key(k.kid, 2000, 4000));  // again: the first time stays
  const auto keys = store->snapshot().signing_keys;
  ASSERT_EQ(keys.size(), 1u);
  EXPECT_EQ(keys[0].kid, k.kid);
  EXPECT_EQ(keys[0].public_key, k.public_key);
  EXPECT_EQ(keys[0].retired_at, 1000);
  EXPECT_EQ(keys[0].publish_until, 5000) << "publication is never shortened";
}

// A node's public URL and heartbeat ride on its signing key; only a changed URL is a state change.
TEST_P(StoreSuite, SigningKeysCarryTheirNodesAnnouncement) {
  auto store = open();
  SigningKeyRecord k = make_signing_key(1);
  store->add_signing_key(k);
  EXPECT_EQ(store->snapshot().signing_keys, std::vector<SigningKeyRecord>{k}) << "nothing announced yet";

  auto version = store->state_version();
  EXPECT_FALSE(store->announce_signing_key("kid-unknown", "https://a.example", 100));
  EXPECT_EQ(store->state_version(), version);

  EXPECT_TRUE(store->announce_signing_key(k.kid, "https://a.example", 100));
  EXPECT_NE(store->state_version(), version) << "a new URL reaches every node's cache";
  k.public_url = "https://a.example";
  k.alive_until = 100;
  EXPECT_EQ(store->snapshot().signing_keys, std::vector<SigningKeyRecord>{k});

  version = store->state_version();
  EXPECT_TRUE(store->announce_signing_key(k.kid, "https://a.example", 105));
  EXPECT_EQ(store->state_version(), version) << "a heartbeat alone makes no node reload";
  EXPECT_TRUE(store->announce_signing_key(k.kid, "https://a.example", std::nullopt));
  EXPECT_EQ(store->state_version(), version);
  k.alive_until = std::nullopt;
  EXPECT_EQ(store->snapshot().signing_keys, std::vector<SigningKeyRecord>{k}) << "a clean stop clears the heartbeat";

  EXPECT_TRUE(store->announce_signing_key(k.kid, "https://b.example", 200));
  EXPECT_NE(store->state_version(), version);
  // Another process (node) reads the same.
  k.public_url = "https://b.example";
  k.alive_until = 200;
  EXPECT_EQ(open()->snapshot().signing_keys, std::vector<SigningKeyRecord>{k});

  // A record added with its announcement keeps it.
  SigningKeyRecord announced = make_signing_key(2);
  announced.public_url = "https://c.example";
  announced.alive_until = 300;
  store->add_signing_key(announced);
  EXPECT_EQ(store->snapshot().signing_keys.back(), announced);
}

// ---- Token records ----

TEST_P(StoreSuite, TokenRecordsRoundTripAndSurviveReopen) {
  const KeyRecord k = make_key(1);
  std::vector<TokenRecord> tokens;
  {
    auto store = open();
    store->create_key(k);
    for (int i = 0; i < 20; ++i) {
      TokenRecord t = make_token("jti-" + std::to_string(i), k.id, 1'700'000'000 + i);
      if (i % 2 == 0) t.metadata_json.clear();  // no metadata
      if (i % 3 == 0) t.scopes_json = "{}";
      tokens.push_back(t);
      ASSERT_FALSE(record_and_wait(*store, t)) << t.jti;
    }
  }
  auto store = open();
  for (const auto& t : tokens) EXPECT_EQ(store->find_token(t.jti), t);
  EXPECT_EQ(store->find_token("jti-unknown"), std::nullopt);
}

TEST_P(StoreSuite, DoneRunsOnlyWhenTheRecordIsVisible) {
  auto writer = open();
  auto reader = open();  // another process
  const KeyRecord k = make_key(1);
  writer->create_key(k);
  std::promise<std::optional<TokenRecord>> seen;
  writer->record_token(make_token("jti-1", k.id), [&](std::error_code ec) {
    EXPECT_FALSE(ec) << ec.message();
    seen.set_value(reader->find_token("jti-1"));
  });
  auto future = seen.get_future();
  ASSERT_EQ(future.wait_for(30s), std::future_status::ready);
  EXPECT_EQ(future.get(), make_token("jti-1", k.id));
}

TEST_P(StoreSuite, DuplicateJtiFailsOnlyThatRecord) {
  auto store = open();
  const KeyRecord k = make_key(1);
  store->create_key(k);
  const TokenRecord original = make_token("jti-a", k.id, 1000);
  ASSERT_FALSE(record_and_wait(*store, original));

  TokenRecord dup_a = make_token("jti-a", k.id, 2000);
  dup_a.metadata_json = R"({"overwrite":true})";
  const TokenRecord d = make_token("jti-d", k.id, 3000);
  TokenRecord dup_d = d;
  dup_d.metadata_json = R"({"second":true})";
  const std::vector<TokenRecord> batch = {make_token("jti-b", k.id), dup_a,
                                          make_token("jti-c", k.id), d, dup_d};
  Outcomes outcomes(batch.size());
  for (std::size_t i = 0; i < batch.size(); ++i) store->record_token(batch[i], outcomes.done(i));
  ASSERT_TRUE(outcomes.wait());

  EXPECT_FALSE(outcomes.result(0)) << outcomes.result(0).message();
  EXPECT_EQ(outcomes.result(1), std::errc::file_exists) << outcomes.result(1).message();
  EXPECT_FALSE(outcomes.result(2)) << outcomes.result(2).message();
  EXPECT_FALSE(outcomes.result(3)) << outcomes.result(3).message();
  EXPECT_EQ(outcomes.result(4), std::errc::file_exists) << outcomes.result(4).message();

  EXPECT_EQ(store->find_token("jti-a"), original) << "a duplicate must never overwrite";
  EXPECT_EQ(store->find_token("jti-b"), batch[0]);
  EXPECT_EQ(store->find_token("jti-c"), batch[2]);
  EXPECT_EQ(store->find_token("jti-d"), d);
}

TEST_P(StoreSuite, ConcurrentRecordsAreAllStoredOnceAndBatched) {
  constexpr int kThreads = 8;
  constexpr int kPerThread = 500;
  constexpr std::size_t kTotal = kThreads * kPerThread;
  const KeyRecord k = make_key(1);
  auto jti = [](std::size_t i) { return "jti-" + std::to_string(i); };

  auto store = open();
  store->create_key(k);
  const std::uint64_t commits_before = GetParam().commits ? GetParam().commits(*store) : 0;
  Outcomes outcomes(kTotal);
  {
    std::vector<std::jthread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < kPerThread; ++i) {
          const std::size_t n = static_cast<std::size_t>(t * kPerThread + i);
          store->record_token(make_token(jti(n), k.id), outcomes.done(n));
        }
      });
    }
  }
  ASSERT_TRUE(outcomes.wait()) << "not every record was answered";
  if (GetParam().commits) {
    const std::uint64_t commits = GetParam().commits(*store) - commits_before;
    EXPECT_GT(commits, 0u);
    EXPECT_LT(commits, kTotal) << "records were not batched";
    std::cout << "[          ] " << kTotal << " records in " << commits << " commits\n";
  }
  store.reset();  // no `done` may run after this

  for (std::size_t i = 0; i < kTotal; ++i) {
    ASSERT_EQ(outcomes.calls(i), 1) << "done of record " << i;
    ASSERT_FALSE(outcomes.result(i)) << "record " << i << ": " << outcomes.result(i).message();
  }
  auto reopened = open();
  for (std::size_t i = 0; i < kTotal; ++i) {
    ASSERT_EQ(reopened->find_token(jti(i)), make_token(jti(i), k.id)) << "record " << i;
  }
}

TEST_P(StoreSuite, DestructorDrainsQueuedRecords) {
  constexpr std::size_t kTotal = 2500;  // more than one default batch
  const KeyRecord k = make_key(1);
  auto store = open();
  store->create_key(k);
  Outcomes outcomes(kTotal);
  for (std::size_t i = 0; i < kTotal; ++i) {
    store->record_token(make_token("jti-" + std::to_string(i), k.id), outcomes.done(i));
  }
  store.reset();  // returns only once every record was answered
  for (std::size_t i = 0; i < kTotal; ++i) {
    ASSERT_EQ(outcomes.calls(i), 1) << "record " << i << " was not answered exactly once";
    ASSERT_FALSE(outcomes.result(i)) << "record " << i << ": " << outcomes.result(i).message();
  }
  auto reopened = open();
  for (std::size_t i = 0; i < kTotal; ++i) {
    ASSERT_TRUE(reopened->find_token("jti-" + std::to_string(i))) << "record " << i;
  }
}

TEST_P(StoreSuite, PurgeTokensDeletesOnlyThoseExpiredBefore) {
  auto store = open();
  const KeyRecord k = make_key(1);
  store->create_key(k);
  for (int i = 1; i <= 5; ++i) {
    ASSERT_FALSE(record_and_wait(*store, make_token("jti-" + std::to_string(i), k.id, i * 100)));
  }
  EXPECT_EQ(store->purge_tokens(100), 0u) << "expires_at == before is not before";
  EXPECT_EQ(store->purge_tokens(301), 3u);
  EXPECT_EQ(store->find_token("jti-1"), std::nullopt);
  EXPECT_EQ(store->find_token("jti-3"), std::nullopt);
  EXPECT_TRUE(store->find_token("jti-4"));
  EXPECT_TRUE(store->find_token("jti-5"));
  EXPECT_EQ(store->purge_tokens(301), 0u);
  // A purged jti does not come back, and the purge did not touch the keys.
  EXPECT_EQ(store->find_key(k.id), k);
}

TEST_P(StoreSuite, PurgeManyTokens) {
  auto store = open();
  const KeyRecord k = make_key(1);
  store->create_key(k);
  constexpr std::size_t kTotal = 12'000;  // several purge chunks, if the engine uses them
  Outcomes outcomes(kTotal);
  for (std::size_t i = 0; i < kTotal; ++i) {
    store->record_token(make_token("jti-" + std::to_string(i), k.id, i < 11'000 ? 10 : 1000),
                        outcomes.done(i));
  }
  ASSERT_TRUE(outcomes.wait());
  EXPECT_EQ(store->purge_tokens(11), 11'000u);
  EXPECT_FALSE(store->find_token("jti-0"));
  EXPECT_TRUE(store->find_token("jti-11999"));
}


// ---- Uses of client tokens (maxUses) and resume ids ----

namespace uses {

std::pair<std::error_code, UseOutcome> use_and_wait(Store& store, const TokenUse& use) {
  auto promise = std::make_shared<std::promise<std::pair<std::error_code, UseOutcome>>>();
  auto future = promise->get_future();
  store.use_token(use, [promise](std::error_code ec, UseOutcome outcome) { promise->set_value({ec, outcome}); });
  if (future.wait_for(30s) != std::future_status::ready) {
    ADD_FAILURE() << "use_token's done did not run within 30 s";
    return {std::make_error_code(std::errc::timed_out), UseOutcome::used};
  }
  return future.get();
}

UseOutcome outcome_of(Store& store, const TokenUse& use) {
  const auto [ec, outcome] = use_and_wait(store, use);
  EXPECT_FALSE(ec) << ec.message();
  return outcome;
}

// A connection of the token's, as the door makes one: on an engine shared by several nodes it
// holds a session lease first, which is what keeps its resume id live.
TokenUse connection(Store& store, const std::string& jti, const std::string& session, std::int64_t max_uses,
                    const std::string& resume = {}) {
  TokenUse use;
  use.jti = jti;
  use.max_uses = max_uses;
  use.resume_id = resume;
  use.session_id = session;
  use.expires_at = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count() + 600;
  if (auto* leases = store.session_leases()) {
    std::promise<void> taken;
    leases->acquire({session, "key", "model", jti}, {}, [&](std::error_code, SessionLeases::Outcome) { taken.set_value(); });
    taken.get_future().wait();
  }
  return use;
}

}  // namespace uses

TEST_P(StoreSuite, EachUseIsTakenOnceAndTheCountSurvivesReopening) {
  using uses::connection;
  using uses::outcome_of;
  const KeyRecord k = make_key(1);
  {
    auto store = open();
    store->create_key(k);
    ASSERT_FALSE(record_and_wait(*store, make_token("jti-n", k.id, 4'000'000'000)));
    for (int i = 0; i < 2; ++i) EXPECT_EQ(outcome_of(*store, connection(*store, "jti-n", "s" + std::to_string(i), 3)), UseOutcome::used);
  }
  auto store = open();
  EXPECT_EQ(outcome_of(*store, connection(*store, "jti-n", "s2", 3)), UseOutcome::used);
  EXPECT_EQ(outcome_of(*store, connection(*store, "jti-n", "s3", 3)), UseOutcome::used_up);
  // A token without maxUses counts nothing and refuses nothing.
  EXPECT_EQ(outcome_of(*store, connection(*store, "jti-unlimited", "s4", 0)), UseOutcome::used);
}

TEST_P(StoreSuite, ConcurrentUsesFromTwoInstancesTakeExactlyMaxUses) {
  const KeyRecord k = make_key(1);
  auto a = open();
  auto b = open();
  a->create_key(k);
  ASSERT_FALSE(record_and_wait(*a, make_token("jti-c", k.id, 4'000'000'000)));
  constexpr int kAttempts = 40;
  std::atomic<int> used{0}, used_up{0}, failed{0};
  {
    std::vector<std::jthread> threads;
    for (int i = 0; i < kAttempts; ++i) {
      threads.emplace_back([&, i] {
        Store& store = i % 2 ? *a : *b;
        const auto [ec, outcome] = uses::use_and_wait(store, uses::connection(store, "jti-c", "c" + std::to_string(i), 10));
        if (ec) ++failed;
        else if (outcome == UseOutcome::used) ++used;
        else if (outcome == UseOutcome::used_up) ++used_up;
      });
    }
  }
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(used.load(), 10);
  EXPECT_EQ(used_up.load(), kAttempts - 10);
}

TEST_P(StoreSuite, AResumeIdIsLiveOnceAndResumedFreeAfterItsConnectionEnds) {
  using uses::connection;
  using uses::outcome_of;
  const KeyRecord k = make_key(1);
  auto store = open();
  store->create_key(k);
  ASSERT_FALSE(record_and_wait(*store, make_token("jti-r", k.id, 4'000'000'000)));
  const std::string id = "resume-0123456789";
  const TokenUse first = connection(*store, "jti-r", "s1", 1, id);
  EXPECT_EQ(outcome_of(*store, first), UseOutcome::used);
  EXPECT_EQ(outcome_of(*store, connection(*store, "jti-r", "s2", 1, id)), UseOutcome::resume_in_use);
  store->end_use(first, UseOutcome::used, false);
  const TokenUse second = connection(*store, "jti-r", "s3", 1, id);
  EXPECT_EQ(outcome_of(*store, second), UseOutcome::resumed);
  EXPECT_EQ(outcome_of(*store, connection(*store, "jti-r", "s4", 1, "another-0123456789")), UseOutcome::used_up);
  // The same id under another token is another id.
  EXPECT_EQ(outcome_of(*store, connection(*store, "jti-other", "s5", 0, id)), UseOutcome::used);
  // A connection never relayed gives its use back and frees its id.
  ASSERT_FALSE(record_and_wait(*store, make_token("jti-g", k.id, 4'000'000'000)));
  const TokenUse given = connection(*store, "jti-g", "s6", 1, id);
  EXPECT_EQ(outcome_of(*store, given), UseOutcome::used);
  store->end_use(given, UseOutcome::used, true);
  EXPECT_EQ(outcome_of(*store, connection(*store, "jti-g", "s7", 1, "fresh-id-0123456789")), UseOutcome::used);
}

}  // namespace
}  // namespace bouncer::store::testing
