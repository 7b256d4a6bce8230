// The Redis engine against a real redis-server: the shared Store suite, plus what only a
// networked store has (its URL, outages, reconnection, key shapes and TTLs).
#include "store/redis/endpoint.h"
#include "store_suite.h"
#include "support/process.h"
#include "support/redis_server.h"

#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>

namespace bouncer::store::testing {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;
using test_support::RedisServer;

// One redis-server for the whole binary; every test keeps to its own key prefix.
RedisServer& shared_redis() {
  static const fs::path dir = make_temp_dir("bouncer-redis");
  static RedisServer server(dir);
  return server;
}

RedisOptions options_for(const fs::path& dir) {
  RedisOptions o;
  o.url = shared_redis().url();
  o.prefix = dir.filename().string();
  return o;
}

Engine redis_engine() {
  Engine e;
  e.name = "Redis";
  e.open = [](const fs::path& dir) { return open_redis(options_for(dir)); };
  return e;
}

INSTANTIATE_TEST_SUITE_P(Redis, StoreSuite, ::testing::Values(redis_engine()), engine_name);

std::string redis_cli(int port, const std::vector<std::string>& args) {
  std::vector<std::string> argv{"/usr/bin/redis-cli", "-h", "127.0.0.1", "-p", std::to_string(port), "--raw"};
  argv.insert(argv.end(), args.begin(), args.end());
  const auto scratch = make_temp_dir("bouncer-redis-cli");
  const auto r = test_support::run_program(argv, scratch);
  remove_temp_dir(scratch);
  if (r.status != 0) throw std::runtime_error("redis-cli failed: " + r.err);
  return r.out;
}

// ---- its own redis-server, for outages ----

class RedisOutage : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = make_temp_dir("bouncer-redis-outage");
    redis_ = std::make_unique<RedisServer>(dir_ / "redis");
  }
  void TearDown() override {
    redis_.reset();
    remove_temp_dir(dir_);
  }
  std::unique_ptr<Store> open(std::chrono::milliseconds command_timeout = 5s) {
    RedisOptions o;
    o.url = redis_->url();
    o.command_timeout = command_timeout;
    o.connect_timeout = 2s;
    return open_redis(o);
  }

  fs::path dir_;
  std::unique_ptr<RedisServer> redis_;
};

TEST_F(RedisOutage, UnreachableAtOpenIsAClearError) {
  const int port = redis_->port();
  redis_->kill();
  RedisOptions o;
  o.url = "redis://:s3cret-password@127.0.0.1:" + std::to_string(port) + "/0";
  try {
    (void)open_redis(o);
    FAIL() << "open_redis succeeded with nothing listening";
  } catch (const std::runtime_error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("cannot reach Redis at 127.0.0.1:" + std::to_string(port) + "/0"), std::string::npos)
        << message;
    EXPECT_EQ(message.find("s3cret"), std::string::npos) << "the password leaked: " << message;
  }
}

TEST_F(RedisOutage, BadUrlIsAClearError) {
  RedisOptions o;
  o.url = "http://127.0.0.1:6379";
  EXPECT_THROW((void)open_redis(o), std::runtime_error);
  o.url = shared_redis().url();
  o.prefix = "has{brace}";
  EXPECT_THROW((void)open_redis(o), std::runtime_error);
}

// Killed and restarted: calls fail fast while it is down, records answered before the kill
// are on disk (appendfsync always), and the store reconnects by itself.
TEST_F(RedisOutage, KillAndRestart) {
  auto store = open();
  const KeyRecord k = make_key(1);
  store->create_key(k);
  for (int i = 0; i < 50; ++i) ASSERT_FALSE(record_and_wait(*store, make_token("before-" + std::to_string(i), k.id)));

  redis_->kill();
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(record_and_wait(*store, make_token("during", k.id))) << "a record was acknowledged with Redis down";
  EXPECT_THROW((void)store->state_version(), std::runtime_error);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s) << "failing took longer than the timeouts";

  redis_->restart();
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  std::error_code ec = std::make_error_code(std::errc::not_connected);
  while (ec && std::chrono::steady_clock::now() < deadline) {
    ec = record_and_wait(*store, make_token("after", k.id));
    if (ec) std::this_thread::sleep_for(50ms);
  }
  ASSERT_FALSE(ec) << "the store did not reconnect: " << ec.message();
  for (int i = 0; i < 50; ++i) EXPECT_TRUE(store->find_token("before-" + std::to_string(i))) << i;
  EXPECT_EQ(store->find_key(k.id), k);
  EXPECT_FALSE(store->find_token("during"));
}

// Alive but silent (SIGSTOP): nothing waits past the command timeout.
TEST_F(RedisOutage, SilentServerTimesOut) {
  auto store = open(500ms);
  const KeyRecord k = make_key(1);
  store->create_key(k);
  redis_->pause();
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_THROW((void)store->find_key(k.id), std::runtime_error);
  EXPECT_TRUE(record_and_wait(*store, make_token("paused", k.id), 10s));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 8s);
  redis_->resume();
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  std::optional<KeyRecord> found;
  while (!found && std::chrono::steady_clock::now() < deadline) {
    try {
      found = store->find_key(k.id);
    } catch (const std::runtime_error&) {
      std::this_thread::sleep_for(50ms);
    }
  }
  EXPECT_EQ(found, k) << "no recovery after the server resumed";
}

// ---- what lands in Redis ----

TEST(RedisKeys, ShapesAndTtls) {
  const fs::path dir = make_temp_dir("bouncer-redis-keys");
  const std::string prefix = dir.filename().string();
  auto store = open_redis(options_for(dir));
  const KeyRecord k = make_key(1);
  store->create_key(k);
  const std::int64_t now =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  ASSERT_FALSE(record_and_wait(*store, make_token("jti-1", k.id, now + 600)));
  const int port = shared_redis().port();
  const std::string tag = "{" + prefix + "}:";
  EXPECT_EQ(redis_cli(port, {"GET", tag + "version"}), "1\n");
  EXPECT_EQ(redis_cli(port, {"SMEMBERS", tag + "keys"}), k.id + "\n");
  EXPECT_EQ(redis_cli(port, {"HGET", tag + "key:" + k.id, "name"}), k.name + "\n");
  EXPECT_EQ(redis_cli(port, {"HGET", tag + "token:jti-1", "key_id"}), k.id + "\n");
  // The record outlives its token by the retention period (7 days), then Redis drops it.
  const long ttl = std::stol(redis_cli(port, {"TTL", tag + "token:jti-1"}));
  EXPECT_GT(ttl, 7 * 86400 + 500);
  EXPECT_LE(ttl, 7 * 86400 + 600);
  EXPECT_EQ(redis_cli(port, {"ZSCORE", tag + "token-expiry", "jti-1"}), std::to_string(now + 600) + "\n");
  store.reset();
  remove_temp_dir(dir);
}

// ---- session leases (cluster-wide caps) ----

class RedisLeases : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = make_temp_dir("bouncer-redis-leases");
    auto o = options_for(dir_);
    o.session_lease_ttl = 400ms;
    store_ = open_redis(o);
    leases_ = store_->session_leases();
    ASSERT_NE(leases_, nullptr);
  }
  void TearDown() override {
    store_.reset();
    remove_temp_dir(dir_);
  }

  std::pair<std::error_code, SessionLeases::Outcome> acquire(const SessionLeases::Lease& l, const SessionCaps& caps) {
    std::promise<std::pair<std::error_code, SessionLeases::Outcome>> p;
    auto f = p.get_future();
    leases_->acquire(l, caps, [&p](std::error_code ec, SessionLeases::Outcome o) { p.set_value({ec, o}); });
    EXPECT_EQ(f.wait_for(10s), std::future_status::ready);
    return f.get();
  }
  SessionLeases::Outcome outcome(const SessionLeases::Lease& l, std::size_t key_cap, std::size_t model_cap,
                                 std::size_t token_cap = 0) {
    const auto [ec, o] = acquire(l, {key_cap, model_cap, token_cap});
    EXPECT_FALSE(ec) << ec.message();
    return o;
  }
  std::vector<bool> renew(const std::vector<SessionLeases::Lease>& live) {
    std::promise<std::vector<bool>> p;
    auto f = p.get_future();
    leases_->renew(live, [&p](std::error_code ec, std::vector<bool> held) {
      EXPECT_FALSE(ec) << ec.message();
      p.set_value(std::move(held));
    });
    EXPECT_EQ(f.wait_for(10s), std::future_status::ready);
    return f.get();
  }
  // release() does not wait; a later command on the same connection is answered after it.
  void settle() { (void)store_->state_version(); }
  std::string tag() const { return "{" + dir_.filename().string() + "}:"; }

  fs::path dir_;
  std::unique_ptr<Store> store_;
  SessionLeases* leases_ = nullptr;
};

using Outcome = SessionLeases::Outcome;

TEST_F(RedisLeases, CapsPerKeyAndPerModel) {
  EXPECT_EQ(outcome({"s1", "key_a", "m"}, 2, 0), Outcome::granted);
  EXPECT_EQ(outcome({"s2", "key_a", "n"}, 2, 0), Outcome::granted);
  EXPECT_EQ(outcome({"s3", "key_a", "m"}, 2, 0), Outcome::key_cap);
  EXPECT_EQ(outcome({"s3", "key_b", "m"}, 2, 1), Outcome::model_cap) << "model m holds s1 already";
  EXPECT_EQ(outcome({"s3", "key_b", "o"}, 2, 1), Outcome::granted);
  // The same session asking again (a retry) is counted once.
  EXPECT_EQ(outcome({"s1", "key_a", "m"}, 2, 0), Outcome::granted);
  // No cap: always granted (a live session taking its place back).
  EXPECT_EQ(outcome({"s9", "key_a", "m"}, 0, 0), Outcome::granted);
}

TEST_F(RedisLeases, ReleaseFreesAPlaceAtOnce) {
  EXPECT_EQ(outcome({"s1", "key_a", "m"}, 1, 0), Outcome::granted);
  EXPECT_EQ(outcome({"s2", "key_a", "m"}, 1, 0), Outcome::key_cap);
  leases_->release({"s1", "key_a", "m"});
  settle();
  EXPECT_EQ(outcome({"s2", "key_a", "m"}, 1, 0), Outcome::granted);
}

TEST_F(RedisLeases, AnUnrenewedLeaseRunsOutAndRenewalSaysSo) {
  EXPECT_EQ(outcome({"s1", "key_a", "m"}, 1, 1), Outcome::granted);
  std::this_thread::sleep_for(600ms);  // past the 400 ms lease
  EXPECT_EQ(renew({{"s1", "key_a", "m"}}), std::vector<bool>{false}) << "a lease that ran out is not renewed";
  EXPECT_EQ(outcome({"s2", "key_a", "m"}, 1, 1), Outcome::granted) << "its place came free";
}

TEST_F(RedisLeases, RenewedLeasesLiveOn) {
  EXPECT_EQ(outcome({"s1", "key_a", "m"}, 1, 0), Outcome::granted);
  for (int i = 0; i < 8; ++i) {  // 1.2 s, three times the lease
    std::this_thread::sleep_for(150ms);
    EXPECT_EQ(renew({{"s1", "key_a", "m"}}), std::vector<bool>{true});
  }
  EXPECT_EQ(outcome({"s2", "key_a", "m"}, 1, 0), Outcome::key_cap);
}

// A token's sessions are counted on their own: its cap holds whatever the key's and model's
// counts, other tokens of the same key are not held back, and a permanent key's own session
// (no token) counts against no token. Key, then model, then token: the first cap reached is
// the one reported.
TEST_F(RedisLeases, CapsPerToken) {
  EXPECT_EQ(outcome({"s1", "key_a", "m", "jti_1"}, 0, 0, 2), Outcome::granted);
  EXPECT_EQ(outcome({"s2", "key_a", "n", "jti_1"}, 0, 0, 2), Outcome::granted);
  EXPECT_EQ(outcome({"s3", "key_a", "o", "jti_1"}, 0, 0, 2), Outcome::token_cap);
  EXPECT_EQ(outcome({"s3", "key_a", "m", "jti_2"}, 0, 0, 2), Outcome::granted);
  EXPECT_EQ(outcome({"s4", "key_a", "m"}, 0, 0, 2), Outcome::granted) << "no token, no token cap";
  EXPECT_EQ(outcome({"s5", "key_a", "m", "jti_1"}, 5, 0, 0), Outcome::granted) << "token cap 0: none";
  // The same session asking again (a retry) is counted once.
  EXPECT_EQ(outcome({"s1", "key_a", "m", "jti_1"}, 0, 0, 3), Outcome::granted);
  EXPECT_EQ(outcome({"s6", "key_a", "m", "jti_1"}, 0, 0, 3), Outcome::token_cap) << "s1, s2, s5 hold it";
  // Order of the reports: key_a holds 5 sessions, model m 4 (s1, s3, s4, s5), jti_1 3.
  EXPECT_EQ(outcome({"s7", "key_a", "m", "jti_1"}, 5, 4, 1), Outcome::key_cap);
  EXPECT_EQ(outcome({"s7", "key_b", "m", "jti_1"}, 5, 4, 1), Outcome::model_cap);
  EXPECT_EQ(outcome({"s7", "key_b", "z", "jti_1"}, 5, 4, 1), Outcome::token_cap);
  EXPECT_EQ(outcome({"s7", "key_b", "z", "jti_3"}, 5, 4, 1), Outcome::granted);
}

TEST_F(RedisLeases, ATokensPlaceIsReleasedAndRenewed) {
  EXPECT_EQ(outcome({"s1", "key_a", "m", "jti_1"}, 0, 0, 1), Outcome::granted);
  EXPECT_EQ(outcome({"s2", "key_a", "m", "jti_1"}, 0, 0, 1), Outcome::token_cap);
  leases_->release({"s1", "key_a", "m", "jti_1"});
  settle();
  EXPECT_EQ(outcome({"s2", "key_a", "m", "jti_1"}, 0, 0, 1), Outcome::granted);
  for (int i = 0; i < 8; ++i) {  // 1.2 s, three times the lease
    std::this_thread::sleep_for(150ms);
    EXPECT_EQ(renew({{"s2", "key_a", "m", "jti_1"}}), std::vector<bool>{true});
  }
  EXPECT_EQ(outcome({"s3", "key_a", "m", "jti_1"}, 0, 0, 1), Outcome::token_cap) << "renewed: still held";
  std::this_thread::sleep_for(600ms);  // past the 400 ms lease, unrenewed
  EXPECT_EQ(renew({{"s2", "key_a", "m", "jti_1"}}), std::vector<bool>{false});
  EXPECT_EQ(outcome({"s3", "key_a", "m", "jti_1"}, 0, 0, 1), Outcome::granted) << "its place came free";
}

// A lease whose token place alone ran out is not renewed either (it is taken back whole).
TEST_F(RedisLeases, RenewalNeedsTheTokensPlaceToo) {
  EXPECT_EQ(outcome({"s1", "key_a", "m", "jti_1"}, 0, 0, 1), Outcome::granted);
  redis_cli(shared_redis().port(), {"ZREM", tag() + "sessions:token:jti_1", "s1"});
  EXPECT_EQ(renew({{"s1", "key_a", "m", "jti_1"}}), std::vector<bool>{false});
}

TEST_F(RedisLeases, LeaseSetsExpireWithTheirLastLease) {
  EXPECT_EQ(outcome({"s1", "key_a", "m", "jti_1"}, 0, 0), Outcome::granted);
  const int port = shared_redis().port();
  for (const auto& key : {tag() + "sessions:key:key_a", tag() + "sessions:model:m", tag() + "sessions:token:jti_1"}) {
    const long pttl = std::stol(redis_cli(port, {"PTTL", key}));
    EXPECT_GT(pttl, 0) << key << " has no TTL: it would outlive its sessions";
    EXPECT_LE(pttl, 400) << key;
  }
  std::this_thread::sleep_for(600ms);
  EXPECT_EQ(redis_cli(port, {"EXISTS", tag() + "sessions:key:key_a"}), "0\n");
  EXPECT_EQ(redis_cli(port, {"EXISTS", tag() + "sessions:token:jti_1"}), "0\n");
}

TEST_F(RedisOutage, LeasesFailClearlyWhileRedisIsDown) {
  auto store = open();
  redis_->kill();
  std::promise<std::error_code> p;
  auto f = p.get_future();
  store->session_leases()->acquire({"s", "k", "m", "t"}, {1, 1, 1},
                                   [&p](std::error_code ec, SessionLeases::Outcome) { p.set_value(ec); });
  ASSERT_EQ(f.wait_for(10s), std::future_status::ready);
  EXPECT_TRUE(f.get()) << "a lease was granted with Redis down";
}

// ---- the change push ----

// A change made through one store instance (another node) is pushed to a watcher within a
// moment, without waiting for a poll; the watcher is also told when its subscription starts.
TEST(RedisWatch, ChangesArePushed) {
  const fs::path dir = make_temp_dir("bouncer-redis-watch");
  auto watcher = open_redis(options_for(dir));
  auto other = open_redis(options_for(dir));
  std::mutex mu;
  std::condition_variable cv;
  int calls = 0;
  watcher->watch_changes([&] {
    std::lock_guard lock(mu);
    ++calls;
    cv.notify_all();
  });
  std::unique_lock lock(mu);
  ASSERT_TRUE(cv.wait_for(lock, 5s, [&] { return calls >= 1; })) << "no call when the subscription started";
  const int before = calls;
  lock.unlock();
  other->create_key(make_key(1));
  lock.lock();
  EXPECT_TRUE(cv.wait_for(lock, 2s, [&] { return calls > before; })) << "the change was not pushed";
  lock.unlock();
  watcher.reset();
  other.reset();
  remove_temp_dir(dir);
}

// ---- the URL ----

using redis::Endpoint;
using redis::parse_endpoint;

Endpoint parsed(std::string_view url) {
  auto r = parse_endpoint(url);
  if (auto* e = std::get_if<std::string>(&r)) ADD_FAILURE() << url << ": " << *e;
  return std::get_if<Endpoint>(&r) ? std::get<Endpoint>(r) : Endpoint{};
}

std::string refusal(std::string_view url) {
  auto r = parse_endpoint(url);
  return std::get_if<std::string>(&r) ? std::get<std::string>(r) : std::string("(accepted)");
}

TEST(RedisEndpoint, Forms) {
  const Endpoint a = parsed("redis://127.0.0.1:6380/2");
  EXPECT_EQ(a.host, "127.0.0.1");
  EXPECT_EQ(a.port, 6380);
  EXPECT_EQ(a.db, 2);
  EXPECT_EQ(a.describe(), "127.0.0.1:6380/2");
  const Endpoint b = parsed("redis://cache.internal");
  EXPECT_EQ(b.host, "cache.internal");
  EXPECT_EQ(b.port, 6379);
  EXPECT_EQ(b.db, 0);
  const Endpoint c = parsed("redis://[::1]:7000/");
  EXPECT_EQ(c.host, "::1");
  EXPECT_EQ(c.port, 7000);
  EXPECT_EQ(c.describe(), "[::1]:7000/0");
  const Endpoint d = parsed("redis://:p%40ss%3Aword@h:1/3");
  EXPECT_EQ(d.username, "");
  EXPECT_EQ(d.password, "p@ss:word");
  EXPECT_EQ(d.describe(), "h:1/3");
  const Endpoint e = parsed("redis://bouncer:pw@h");
  EXPECT_EQ(e.username, "bouncer");
  EXPECT_EQ(e.password, "pw");
}

TEST(RedisEndpoint, Refusals) {
  EXPECT_NE(refusal("http://h:1"), "(accepted)");
  EXPECT_NE(refusal("redis://"), "(accepted)");
  EXPECT_NE(refusal("redis://h:0"), "(accepted)");
  EXPECT_NE(refusal("redis://h:65536"), "(accepted)");
  EXPECT_NE(refusal("redis://h:"), "(accepted)");
  EXPECT_NE(refusal("redis://h:12a"), "(accepted)");
  EXPECT_NE(refusal("redis://h/x"), "(accepted)");
  EXPECT_NE(refusal("redis://h/-1"), "(accepted)");
  EXPECT_NE(refusal("redis://::1:6379"), "(accepted)");
  EXPECT_NE(refusal("redis://[::1"), "(accepted)");
  EXPECT_NE(refusal("redis://h h"), "(accepted)");
  EXPECT_NE(refusal("redis://user@h"), "(accepted)");
  EXPECT_NE(refusal("redis://:@h"), "(accepted)");
  EXPECT_NE(refusal("redis://:%zz@h"), "(accepted)");
  EXPECT_NE(refusal("redis://:%4@h"), "(accepted)");
  // A refusal never repeats the password.
  EXPECT_EQ(refusal("redis://:hunter2@h:99999").find("hunter2"), std::string::npos);
}

}  // namespace
}  // namespace bouncer::store::testing
