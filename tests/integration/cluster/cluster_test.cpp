// Several `bouncer serve` nodes sharing one real redis-server (docs/CLUSTER.md): any node mints, any
// node admits, a revocation on one holds on all within a second, caps on concurrent sessions
// hold across nodes and are released when a node dies, and a Redis outage follows the
// documented policy (docs/OPERATIONS.md, "Several nodes"). Everything runs on 127.0.0.1:
// redis-server with appendonly yes + appendfsync always, the example model server as the
// upstream, and each node with a data directory of its own (its own signing key).
#include "servers.h"
#include "store/store.h"
#include "support/redis_server.h"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <latch>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <vector>

namespace door_test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;
namespace json = boost::json;
namespace store = bouncer::store;

constexpr const char* kSecret = "cluster-test-upstream-secret-8e2d41";
constexpr int kLeaseSeconds = 3;      // --session-lease-seconds: a dead node's places are free after this
constexpr int kStalenessSeconds = 4;  // --store-staleness-seconds

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

std::string stream_target(const std::string& credential, const std::string& model = "up") {
  return "/v1/stream?model=" + model + "&api_key=" + url_encode(credential);
}

class Cluster : public ::testing::Test {
 protected:
  void SetUp() override {
    redis_ = std::make_unique<test_support::RedisServer>(tmp_.path() / "redis");
    upstream_ = std::make_unique<ModelServer>(tmp_.path(), kSecret);
    std::string up = "ws://127.0.0.1:";  // appended: GCC 12 -O3 false warning on literal + string&& (PR 105329)
    up += std::to_string(upstream_->port());
    write_file(config(), "[models.up]\nupstream = \"" + up + "/cluster\"\nshared_secret = \"" + kSecret +
                             "\"\n[models.limited]\nupstream = \"" + up + "/limited\"\nshared_secret = \"" + kSecret +
                             "\"\nmax_sessions = 1\n");
  }

  void TearDown() override {
    if (HasFailure()) {
      for (std::size_t i = 0; i < nodes_.size(); ++i) {
        if (nodes_[i]) std::cerr << "==== node " << i << " ====\n" << tail(nodes_[i]->logs()) << "\n";
      }
      std::cerr << "==== redis ====\n" << tail(redis_->logs()) << "\n";
    }
    nodes_.clear();
  }

  static std::string tail(const std::string& s, std::size_t n = 8000) {
    return s.size() <= n ? s : "[…]\n" + s.substr(s.size() - n);
  }

  fs::path config() const { return tmp_.path() / "bouncer.toml"; }
  fs::path data_dir(std::size_t i) const {
    fs::path dir = tmp_.path() / "node-";
    dir += std::to_string(i);
    return dir;
  }

  // Starts node `i` (or restarts it on the same data dir) against the shared Redis.
  Bouncer& start_node(std::size_t i, std::vector<std::string> extra = {}) {
    if (nodes_.size() <= i) nodes_.resize(i + 1);
    nodes_[i].reset();
    // One public URL for all: it is every token's iss and aud, whichever node minted it.
    std::vector<std::string> args{"--config", config().string(), "--store", redis_->url(), "--public-url",
                                  public_url_, "--session-lease-seconds",
                                  std::to_string(kLeaseSeconds), "--store-staleness-seconds",
                                  std::to_string(kStalenessSeconds)};
    args.insert(args.end(), extra.begin(), extra.end());
    nodes_[i] = std::make_unique<Bouncer>(data_dir(i), tmp_.path(), args);
    return *nodes_[i];
  }
  Bouncer& node(std::size_t i) { return *nodes_.at(i); }

  // Node 0 on an empty Redis prints the cluster's first key; the others find it there.
  void start_nodes(std::size_t count, std::vector<std::string> extra = {}) {
    start_node(0, extra);
    const auto k = node(0).default_key();
    ASSERT_TRUE(k) << "no default key printed by the first node\n" << node(0).logs();
    key_ = *k;
    for (std::size_t i = 1; i < count; ++i) start_node(i, extra);
  }

  static std::string jwks(const Bouncer& b) {
    return http_request(b.port(), beast::http::verb::get, "/.well-known/jwks.json").body;
  }

  static HttpResponse readyz(const Bouncer& b) { return http_request(b.port(), beast::http::verb::get, "/readyz"); }

  // The headers the upstream received, as the example model server tells them ("whoami").
  static json::object upstream_headers(const Bouncer& b, const std::string& target) {
    WsClient ws(5s);
    if (const auto ec = ws.connect(b.port(), target)) throw std::runtime_error("handshake failed: " + ec.message());
    if (ws.write(R"({"type":"whoami"})")) throw std::runtime_error("write failed");
    const auto m = ws.read();
    if (m.ec) throw std::runtime_error("no whoami answer: " + m.ec.message());
    return json::parse(m.data).at("headers").as_object();
  }

  // A session that is admitted echoes; a refused one answers with its refusal frame first.
  static std::string first_reply(const Bouncer& b, const std::string& target) {
    WsClient ws(5s);
    if (const auto ec = ws.connect(b.port(), target)) return "handshake failed: " + ec.message();
    (void)ws.write("probe");
    const auto m = ws.read();
    return m.ec ? "read failed: " + m.ec.message() : m.data;
  }

  static void expect_admitted(const Bouncer& b, const std::string& target) {
    EXPECT_EQ(first_reply(b, target), "probe") << "on port " << b.port();
  }

  // Opens a session and keeps it open (its first echo proves it is relaying).
  std::unique_ptr<WsClient> hold_session(const Bouncer& b, const std::string& target) {
    auto ws = std::make_unique<WsClient>(10s);
    if (const auto ec = ws->connect(b.port(), target)) throw std::runtime_error("handshake failed: " + ec.message());
    if (ws->write("hold")) throw std::runtime_error("write failed");
    const auto m = ws->read();
    if (m.ec || m.data != "hold") throw std::runtime_error("session not admitted: " + m.data + m.ec.message());
    return ws;
  }

  // Seconds until `target` on `b` first answers with `wanted`, probing every 10 ms.
  static double seconds_until(const Bouncer& b, const std::string& target, const std::string& wanted,
                              Clock::time_point t0, std::chrono::milliseconds limit) {
    for (;;) {
      const auto reply = first_reply(b, target);
      if (reply == wanted) return seconds_since(t0);
      if (Clock::now() - t0 > limit) {
        ADD_FAILURE() << "after " << seconds_since(t0) << " s the reply on port " << b.port() << " is still " << reply;
        return seconds_since(t0);
      }
      std::this_thread::sleep_for(10ms);
    }
  }

  TempDir tmp_;
  std::unique_ptr<test_support::RedisServer> redis_;
  std::unique_ptr<ModelServer> upstream_;
  std::vector<std::unique_ptr<Bouncer>> nodes_;
  ApiKey key_;
  std::string public_url_ = "http://cluster.bouncer.test";  // what start_node gives the next node
};

std::string refusal(const std::string& message) { return R"({"type":"error","error":")" + message + "\"}"; }

// Any node mints, any node admits; every node publishes every node's public key (each signs
// with its own); a revocation on one node is refused by the others within a second.
TEST_F(Cluster, AnyNodeMintsAnyNodeAdmitsAndRevocationsHoldEverywhere) {
  start_nodes(3);
  // Each node has a signing key of its own, and every JWKS lists all three, identically.
  const auto deadline = Clock::now() + 5s;
  while (!(jwks(node(0)) == jwks(node(1)) && jwks(node(1)) == jwks(node(2))) && Clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);
  }
  const auto keys = json::parse(jwks(node(0))).at("keys").as_array();
  EXPECT_EQ(keys.size(), 3u) << jwks(node(0));
  EXPECT_EQ(jwks(node(0)), jwks(node(1)));
  EXPECT_EQ(jwks(node(1)), jwks(node(2)));

  // A token minted on any node opens sessions on every node.
  std::vector<Minted> minted;
  for (std::size_t i = 0; i < 3; ++i) minted.push_back(mint(node(i), key_.secret, R"({"expiresIn":120})"));
  std::set<std::string> kids;
  for (const auto& m : minted) kids.insert(m.jwt.substr(0, m.jwt.find('.')));  // the header holds the kid
  EXPECT_EQ(kids.size(), 3u) << "each node signs with its own key";
  for (const auto& m : minted) {
    for (std::size_t i = 0; i < 3; ++i) expect_admitted(node(i), stream_target(m.api_key));
  }

  // Revoked on node 2 (through its API): nodes 0 and 1 refuse its tokens within a second.
  const auto t0 = Clock::now();
  const auto revoked = node(2).post("/v1/keys/self/revoke", key_.secret, "{}");
  ASSERT_EQ(revoked.status, 200) << revoked.body;
  const double on_0 = seconds_until(node(0), stream_target(minted[0].api_key), refusal("Token revoked"), t0, 3s);
  const double on_1 = seconds_until(node(1), stream_target(minted[1].api_key), refusal("Token revoked"), t0, 3s);
  std::cout << "revocation on node 2 refused on node 0 after " << on_0 * 1000 << " ms, on node 1 after "
            << on_1 * 1000 << " ms (from the API call's start)\n";
  RecordProperty("revocation_ms_node0", static_cast<int>(on_0 * 1000));
  RecordProperty("revocation_ms_node1", static_cast<int>(on_1 * 1000));
  EXPECT_LT(on_0, 1.0);
  EXPECT_LT(on_1, 1.0);
  // And no node mints for it any more.
  EXPECT_EQ(node(0).post("/v1/client/tokens", key_.secret, "{}").status, 403);
}

// When the CLI had stored its revocation, on the steady clock: the time of its `key_revoked`
// log line ("2026-12-02T15:55:22.040Z info key_revoked …", logged once the store returned).
// Measuring from the CLI's spawn instead would count its process start, which under the ASan
// build on a loaded CI machine alone took ~0.8 s.
std::optional<Clock::time_point> revoked_at(const std::string& cli_log) {
  const auto at = cli_log.find(" info key_revoked ");
  if (at == std::string::npos) return std::nullopt;
  const auto line_start = cli_log.rfind('\n', at);
  const auto stamp = cli_log.substr(line_start == std::string::npos ? 0 : line_start + 1, 24);
  std::tm tm{};
  int millis = 0;
  if (std::sscanf(stamp.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                  &tm.tm_min, &tm.tm_sec, &millis) != 7) {
    return std::nullopt;
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  const auto wall = std::chrono::system_clock::from_time_t(timegm(&tm)) + std::chrono::milliseconds(millis);
  const auto age = std::chrono::duration_cast<Clock::duration>(std::chrono::system_clock::now() - wall);
  return Clock::now() - age;
}

// `bouncer keys revoke --store redis://…` from any machine reaches every running node within a
// second of being stored.
TEST_F(Cluster, RevocationByTheCliReachesEveryNode) {
  start_nodes(2);
  const auto m = mint(node(0), key_.secret);
  expect_admitted(node(1), stream_target(m.api_key));
  const auto r = bouncer_cli(tmp_.path() / "cli-data", tmp_.path(), {"keys", "revoke", key_.id, "--store", redis_->url()});
  ASSERT_EQ(r.status, 0) << r.err;
  const auto t0 = revoked_at(r.err);
  ASSERT_TRUE(t0) << "no key_revoked line in the CLI's log:\n" << r.err;
  for (std::size_t i = 0; i < 2; ++i) {
    const double took = seconds_until(node(i), stream_target(m.api_key), refusal("Token revoked"), *t0, 3s);
    std::cout << "CLI revocation refused on node " << i << " " << took * 1000 << " ms after it was stored\n";
    EXPECT_LT(took, 1.0);
  }
}

// A push can be lost (say, with a dropped subscriber connection): the version check catches
// it. Here the change is made straight in Redis with no PUBLISH at all, so only polling the
// version can bring it to the nodes.
TEST_F(Cluster, AChangeWhosePushWasLostStillReachesEveryNode) {
  start_nodes(2);
  const auto m = mint(node(0), key_.secret);
  expect_admitted(node(1), stream_target(m.api_key));
  const auto redis_cli = [&](std::vector<std::string> args) {
    std::vector<std::string> argv{"/usr/bin/redis-cli", "-h", "127.0.0.1", "-p", std::to_string(redis_->port())};
    argv.insert(argv.end(), args.begin(), args.end());
    const auto r = test_support::run_program(argv, tmp_.path());
    if (r.status != 0) throw std::runtime_error("redis-cli failed: " + r.err);
  };
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch());
  redis_cli({"HSET", "{bouncer}:key:" + key_.id, "revoked_at", std::to_string(now.count())});
  // The nodes poll the version: the change is there for them from the INCR on.
  const auto t0 = Clock::now();
  redis_cli({"INCR", "{bouncer}:version"});
  for (std::size_t i = 0; i < 2; ++i) {
    const double s = seconds_until(node(i), stream_target(m.api_key), refusal("Token revoked"), t0, 3s);
    std::cout << "node " << i << " saw an unpublished revocation after " << s * 1000 << " ms\n";
    EXPECT_LT(s, 1.0);
  }
}

// Caps on concurrent sessions count every node's sessions; a node killed with its sessions
// open frees their places within one lease, not never.
TEST_F(Cluster, SessionCapsHoldAcrossNodesAndADeadNodesPlacesComeFree) {
  start_nodes(2, {"--max-sessions-per-key", "2"});
  const auto m = mint(node(0), key_.secret, R"({"expiresIn":300})");
  // Per model: `limited` takes one session, wherever it is (the key holds one: under its cap).
  auto only = hold_session(node(1), stream_target(m.api_key, "limited"));
  EXPECT_EQ(first_reply(node(0), stream_target(m.api_key, "limited")), refusal("Concurrent session limit reached"));
  // A session that ends frees its place at once.
  only->close();
  only.reset();
  const auto freed = Clock::now();
  const double model_free = seconds_until(node(0), stream_target(m.api_key, "limited"), "probe", freed, 3s);
  EXPECT_LT(model_free, 1.0) << "a closed session's place is released at once, not when its lease runs out";

  // Per key: node 1 holds no session of this key itself, yet the cap is reached: it is the cluster's.
  auto first = hold_session(node(0), stream_target(m.api_key));
  auto second = hold_session(node(0), stream_target(m.api_key));
  EXPECT_EQ(first_reply(node(1), stream_target(m.api_key)), refusal("Concurrent session limit reached"));

  // kill -9 the node holding both: nothing releases them but the lease running out.
  node(0).process().signal(SIGKILL);
  (void)node(0).process().wait(5s);
  const auto killed = Clock::now();
  EXPECT_EQ(first_reply(node(1), stream_target(m.api_key)), refusal("Concurrent session limit reached"))
      << "the dead node's leases still hold right after it died";
  const double free_after = seconds_until(node(1), stream_target(m.api_key), "probe", killed, 10s);
  std::cout << "a killed node's sessions were released after " << free_after << " s (lease " << kLeaseSeconds << " s)\n";
  RecordProperty("dead_node_release_ms", static_cast<int>(free_after * 1000));
  EXPECT_LE(free_after, kLeaseSeconds + 1.0);
}

// A token's own cap (maxConcurrentSessions 3) holds exactly across nodes: 20 concurrent
// attempts spread over two nodes admit exactly 3, wherever they land; another token of the same
// key is still admitted on both; a session that ends gives its place back to either node.
TEST_F(Cluster, ATokensCapHoldsExactlyAcrossNodes) {
  const std::string token_cap_refusal = refusal("Concurrent session limit reached for this token");
  start_nodes(2);
  const auto m =
      mint(node(0), key_.secret, R"({"expiresIn":300,"constraints":{"realtime":{"maxConcurrentSessions":3}}})");
  constexpr int kAttempts = 20;
  struct Attempt {
    std::unique_ptr<WsClient> ws;
    std::string reply;
  };
  std::vector<Attempt> attempts(kAttempts);
  std::latch ready(kAttempts);
  std::vector<std::thread> threads;
  for (int i = 0; i < kAttempts; ++i) {
    threads.emplace_back([&, i] {
      auto& a = attempts[static_cast<std::size_t>(i)];
      a.ws = std::make_unique<WsClient>(15s);
      ready.arrive_and_wait();  // all at once, half on each node
      if (const auto ec = a.ws->connect(node(static_cast<std::size_t>(i % 2)).port(), stream_target(m.api_key))) {
        a.reply = "handshake failed: " + ec.message();
        return;
      }
      (void)a.ws->write("hold");
      const auto r = a.ws->read();
      a.reply = r.ec ? "read failed: " + r.ec.message() : r.data;
    });
  }
  for (auto& t : threads) t.join();
  int admitted = 0, refused = 0;
  std::set<int> nodes_admitting;
  for (int i = 0; i < kAttempts; ++i) {
    const auto& reply = attempts[static_cast<std::size_t>(i)].reply;
    if (reply == "hold") {
      ++admitted;
      nodes_admitting.insert(i % 2);
    } else {
      EXPECT_EQ(reply, token_cap_refusal) << "attempt " << i;
      EXPECT_EQ(attempts[static_cast<std::size_t>(i)].ws->read().ec, websocket::error::closed);
      EXPECT_EQ(attempts[static_cast<std::size_t>(i)].ws->close_code(), 1013) << "attempt " << i;
      ++refused;
    }
  }
  std::cout << admitted << " of " << kAttempts << " concurrent attempts admitted, on " << nodes_admitting.size()
            << " node(s)\n";
  EXPECT_EQ(admitted, 3);
  EXPECT_EQ(refused, kAttempts - 3);

  // Another token of the same key is not held back, on either node.
  const auto other = mint(node(1), key_.secret);
  for (std::size_t i = 0; i < 2; ++i) expect_admitted(node(i), stream_target(other.api_key));
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(first_reply(node(i), stream_target(m.api_key)), token_cap_refusal);
  }

  // One ends: its place comes free for the whole cluster at once, not when its lease runs out.
  const auto held = std::find_if(attempts.begin(), attempts.end(), [](const Attempt& a) { return a.reply == "hold"; });
  ASSERT_NE(held, attempts.end());
  const std::size_t freed_on = static_cast<std::size_t>(held - attempts.begin()) % 2;
  held->ws->close();
  held->ws.reset();
  const auto freed = Clock::now();
  const double free_after = seconds_until(node(1 - freed_on), stream_target(m.api_key), "probe", freed, 3s);
  EXPECT_LT(free_after, 1.0) << "a closed session's place is released at once, not when its lease runs out";
}

// A live session keeps its place for as long as it lives (its node renews the lease), far
// past one lease's lifetime.
TEST_F(Cluster, LiveSessionsKeepTheirPlaceAcrossRenewals) {
  start_nodes(2, {"--max-sessions-per-key", "1"});
  const auto m = mint(node(0), key_.secret, R"({"expiresIn":300})");
  auto held = hold_session(node(0), stream_target(m.api_key));
  std::this_thread::sleep_for(std::chrono::seconds(kLeaseSeconds * 2 + 1));
  EXPECT_EQ(first_reply(node(1), stream_target(m.api_key)), refusal("Concurrent session limit reached"));
  ASSERT_FALSE(held->write("still here"));
  EXPECT_EQ(held->read().data, "still here");
}

// A token's maxUses holds exactly across nodes: 50 concurrent admissions of a 10-use token,
// half on each node, admit 10.
TEST_F(Cluster, ATokensUsesHoldExactlyAcrossNodes) {
  start_nodes(2, {"--max-sessions-per-token", "0"});
  const auto m = mint(node(1), key_.secret, R"({"expiresIn":300,"maxUses":10})");
  constexpr int kAttempts = 50;
  std::vector<std::string> replies(kAttempts);
  std::latch ready(kAttempts);
  {
    std::vector<std::jthread> threads;
    for (int i = 0; i < kAttempts; ++i) {
      threads.emplace_back([&, i] {
        ready.arrive_and_wait();
        replies[static_cast<std::size_t>(i)] = first_reply(node(static_cast<std::size_t>(i % 2)), stream_target(m.api_key));
      });
    }
  }
  int admitted = 0, used_up = 0;
  for (const auto& reply : replies) {
    if (reply == "probe") ++admitted;
    else if (reply == refusal("Token already used")) ++used_up;
    else ADD_FAILURE() << "unexpected reply " << reply;
  }
  EXPECT_EQ(admitted, 10);
  EXPECT_EQ(used_up, kAttempts - 10);
}

// One live connection per resume id, whichever node holds it; its reconnect on the other node
// uses nothing.
TEST_F(Cluster, AResumeIdIsOneConnectionAcrossNodes) {
  start_nodes(2);
  const auto m = mint(node(0), key_.secret, R"({"expiresIn":300,"maxUses":1})");
  const std::string with_id = stream_target(m.api_key) + "&resume=cluster-resume-0123456789";
  auto held = hold_session(node(0), with_id);
  EXPECT_EQ(first_reply(node(1), with_id), refusal("Resume id already in use"));
  ASSERT_FALSE(held->close());
  held.reset();
  expect_admitted(node(1), with_id);
  EXPECT_EQ(first_reply(node(1), stream_target(m.api_key) + "&resume=another-resume-0123456789"),
            refusal("Token already used"));
}

// A session on one node renews with a token minted on the other; the model server never sees
// the renewal (it would echo it).
TEST_F(Cluster, ASessionRenewsWithATokenFromAnotherNode) {
  start_nodes(2);
  const auto m = mint(node(0), key_.secret, R"({"expiresIn":300,"constraints":{"realtime":{"maxSessionDuration":10}}})");
  auto held = hold_session(node(0), stream_target(m.api_key));
  const auto fresh = mint(node(1), key_.secret, R"({"expiresIn":300,"constraints":{"realtime":{"maxSessionDuration":60}}})");
  ASSERT_FALSE(held->write(R"({"type":"bouncer.renew","token":")" + fresh.api_key + "\"}"));
  const auto answer = held->read();
  ASSERT_FALSE(answer.ec) << answer.ec.message();
  EXPECT_EQ(json::parse(answer.data).at("type").as_string(), "bouncer.renewed") << answer.data;
  // Past the first deadline, the session goes on.
  std::this_thread::sleep_for(11s);
  ASSERT_FALSE(held->write("still here"));
  const auto echoed = held->read();
  EXPECT_EQ(echoed.data, "still here") << echoed.ec.message();
}

// Redis killed under load (the outage policy of docs/CLUSTER.md): no acknowledged mint is lost, minting
// answers 503 meanwhile and recovers by itself, admissions go on from memory within the
// staleness window and fail closed after it, and /readyz says which of these holds.
TEST_F(Cluster, RedisOutageLosesNoAcknowledgedMintAndFollowsThePolicy) {
  start_nodes(2);
  const auto before = mint(node(0), key_.secret, R"({"expiresIn":600,"metadata":{"user":"u_42"}})");
  EXPECT_EQ(readyz(node(1)).status, 200);
  EXPECT_EQ(upstream_headers(node(1), stream_target(before.api_key)).at("x-bouncer-metadata"), R"({"user":"u_42"})");

  // Mint on both nodes from 4 threads until told to stop (bounded: 60 s, 200 000 mints).
  std::atomic<bool> stop{false};
  std::mutex mu;
  std::vector<std::string> acknowledged;
  std::atomic<int> refused_503{0}, other{0};
  std::vector<std::thread> load;
  const auto load_deadline = Clock::now() + 60s;
  for (int t = 0; t < 4; ++t) {
    load.emplace_back([&, t] {
      const auto& target = node(t % 2);
      for (int n = 0; n < 50'000 && !stop && Clock::now() < load_deadline; ++n) {
        const auto r = target.post("/v1/client/tokens", key_.secret, "{}");
        if (r.status == 200) {
          const auto jwt = std::string(json::parse(r.body).at("token").as_string());
          std::lock_guard lock(mu);
          acknowledged.push_back(std::string(jwt_claims(jwt).at("jti").as_string()));
        } else if (r.status == 503) {
          ++refused_503;
          std::this_thread::sleep_for(5ms);
        } else {
          ++other;
        }
      }
    });
  }
  std::this_thread::sleep_for(1s);
  redis_->kill();
  const auto down = Clock::now();

  // Within the staleness window: admission goes on from memory; minting refuses; degraded.
  std::this_thread::sleep_for(500ms);
  expect_admitted(node(1), stream_target(before.api_key));
  // The token's record cannot be read: the upstream is told so, in place of the metadata.
  const auto headers = upstream_headers(node(1), stream_target(before.api_key));
  EXPECT_EQ(headers.if_contains("x-bouncer-metadata"), nullptr);
  EXPECT_EQ(headers.at("x-bouncer-metadata-status"), "unavailable");
  const auto minted_during = node(1).post("/v1/client/tokens", key_.secret, "{}");
  EXPECT_EQ(minted_during.status, 503) << minted_during.body;
  EXPECT_NE(minted_during.body.find("store_unavailable"), std::string::npos) << minted_during.body;
  const auto degraded = readyz(node(1));
  EXPECT_EQ(degraded.status, 200) << degraded.body;
  EXPECT_NE(degraded.body.find(R"("status":"degraded")"), std::string::npos) << degraded.body;

  // Past the window: fail closed.
  std::this_thread::sleep_until(down + std::chrono::seconds(kStalenessSeconds) + 1500ms);
  EXPECT_EQ(first_reply(node(1), stream_target(before.api_key)), refusal("Service unavailable, try again later"));
  const auto closed = readyz(node(1));
  EXPECT_EQ(closed.status, 503) << closed.body;
  EXPECT_NE(closed.body.find(R"("status":"unavailable")"), std::string::npos) << closed.body;

  // Redis comes back with its append-only file: both nodes recover by themselves.
  redis_->restart();
  const auto back = Clock::now();
  for (std::size_t i = 0; i < 2; ++i) {
    const double admits = seconds_until(node(i), stream_target(before.api_key), "probe", back, 15s);
    std::cout << "node " << i << " admits again " << admits << " s after Redis restarted\n";
  }
  const auto mint_deadline = Clock::now() + 15s;
  int status = 0;
  while ((status = node(0).post("/v1/client/tokens", key_.secret, "{}").status) != 200 && Clock::now() < mint_deadline) {
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_EQ(status, 200) << "minting did not recover within 15 s of Redis's return";
  EXPECT_EQ(readyz(node(0)).status, 200);

  std::this_thread::sleep_for(500ms);
  stop = true;
  for (auto& t : load) t.join();
  EXPECT_GT(refused_503.load(), 0) << "the load never met the outage";
  EXPECT_EQ(other.load(), 0);

  // Every mint that was answered 200 has its record in Redis.
  store::RedisOptions o;
  o.url = redis_->url();
  const auto store = store::open_redis(o);
  std::size_t missing = 0;
  for (const auto& jti : acknowledged) {
    if (!store->find_token(jti)) ++missing;
  }
  std::cout << acknowledged.size() << " mints acknowledged, " << refused_503.load() << " answered 503, " << missing
            << " records missing\n";
  EXPECT_GT(acknowledged.size(), 100u);
  EXPECT_EQ(missing, 0u);
}

// Nodes with different public URLs would refuse each other's tokens as "Invalid API key" (the
// URL is every token's iss and aud), with nothing in any log to say why. A node whose URL
// differs from a running node's refuses to start, naming both; the running node goes on.
TEST_F(Cluster, ANodeWithAnotherPublicUrlThanARunningOneRefusesToStart) {
  start_nodes(1);
  public_url_ = "http://elsewhere.bouncer.test";
  std::string refusal_message;
  try {
    start_node(1);
  } catch (const std::runtime_error& e) {
    refusal_message = e.what();  // the harness's "exited before listening" and the node's output
  }
  ASSERT_FALSE(refusal_message.empty()) << "a node with another public URL started";
  EXPECT_NE(refusal_message.find("exited (status 1)"), std::string::npos) << refusal_message;
  EXPECT_NE(refusal_message.find("http://cluster.bouncer.test"), std::string::npos) << refusal_message;
  EXPECT_NE(refusal_message.find("http://elsewhere.bouncer.test"), std::string::npos) << refusal_message;
  EXPECT_NE(refusal_message.find("--public-url"), std::string::npos) << refusal_message;
  nodes_[1].reset();

  // The same URL joins as always; the first node never noticed.
  public_url_ = "http://cluster.bouncer.test";
  start_node(2);
  const auto m = mint(node(0), key_.secret);
  expect_admitted(node(2), stream_target(m.api_key));
}

// Once the node with the old URL has stopped (cleanly: it says so at once), a node with a new
// URL starts. A token the old node minted is then refused here as "Invalid API key", and this
// node's log says why, naming both URLs, as an error.
TEST_F(Cluster, ATokenFromANodeWithAnotherPublicUrlIsRefusedWithAnErrorNamingBoth) {
  start_nodes(1);
  const auto m = mint(node(0), key_.secret);
  node(0).process().signal(SIGTERM);
  ASSERT_EQ(node(0).process().wait(15s).value_or(-1), 0) << node(0).logs();

  public_url_ = "http://elsewhere.bouncer.test";
  start_node(1);
  EXPECT_EQ(first_reply(node(1), stream_target(m.api_key)), refusal("Invalid API key"));
  const auto deadline = Clock::now() + 5s;
  std::string line;
  while (line.empty() && Clock::now() < deadline) {
    const auto logs = node(1).logs();
    const auto at = logs.find(" error token_from_other_public_url ");
    if (at != std::string::npos) line = logs.substr(at, logs.find('\n', at) - at);
    std::this_thread::sleep_for(20ms);
  }
  ASSERT_FALSE(line.empty()) << "no error about the other public URL:\n" << node(1).logs();
  EXPECT_NE(line.find("token_public_url=http://cluster.bouncer.test"), std::string::npos) << line;
  EXPECT_NE(line.find("public_url=http://elsewhere.bouncer.test"), std::string::npos) << line;
}

// A node restarted with an empty memory (same data directory) rejoins: it admits tokens every
// node minted before, and its own keep verifying elsewhere. A brand-new node joins too, and
// every node then publishes its key.
TEST_F(Cluster, RestartedAndNewNodesJoinAndAdmit) {
  start_nodes(2);
  const auto from_0 = mint(node(0), key_.secret, R"({"expiresIn":300})");
  const auto from_1 = mint(node(1), key_.secret, R"({"expiresIn":300})");
  node(1).process().signal(SIGKILL);
  (void)node(1).process().wait(5s);
  start_node(1);
  expect_admitted(node(1), stream_target(from_0.api_key));
  expect_admitted(node(0), stream_target(from_1.api_key));
  expect_admitted(node(1), stream_target(from_1.api_key));
  const auto again = mint(node(1), key_.secret);
  EXPECT_EQ(again.jwt.substr(0, again.jwt.find('.')), from_1.jwt.substr(0, from_1.jwt.find('.')))
      << "the restarted node signs with its own key from its data directory";

  start_node(2);  // an empty data directory: a new signing key, published to all
  const auto from_2 = mint(node(2), key_.secret);
  expect_admitted(node(0), stream_target(from_2.api_key));
  expect_admitted(node(2), stream_target(from_0.api_key));
  const auto deadline = Clock::now() + 5s;
  while (jwks(node(0)) != jwks(node(2)) && Clock::now() < deadline) std::this_thread::sleep_for(20ms);
  EXPECT_EQ(json::parse(jwks(node(0))).at("keys").as_array().size(), 3u);
  EXPECT_EQ(jwks(node(0)), jwks(node(2)));
}

}  // namespace
}  // namespace door_test
