// --trusted-proxies: the client address a trusted peer forwards is the one the logs and the
// upstream see; from any other peer X-Forwarded-For and Forwarded are ignored. The tests reach
// the server from 127.0.0.1, which is (or is not) the trusted proxy; the example model server's
// whoami shows the headers the upstream received.
#include "door_fixture.h"
#include "support/process.h"

#include <chrono>
#include <thread>

namespace edge_test {
namespace {

using door_test::Headers;
using door_test::StartOptions;
using door_test::WsClient;
using namespace std::chrono_literals;
namespace json = boost::json;

class TrustedProxies : public door_test::Door {
 protected:
  // What the upstream was told is the client's address.
  std::string upstream_sees(const Headers& headers) {
    auto ws = connect(door_test::stream_target("up", "api_key=" + key_.secret), headers);
    if (ws->write(R"({"type":"whoami"})")) throw std::runtime_error("whoami: write failed");
    const auto answer = json::parse(ws->read().data).as_object();
    const auto& received = answer.at("headers").as_object();
    const auto* xff = received.if_contains("x-forwarded-for");
    return xff ? std::string(xff->as_string()) : std::string("(none)");
  }

  std::string mint_from(const Headers& forwarded) {
    Headers headers{{"X-API-KEY", key_.secret}};
    headers.insert(headers.end(), forwarded.begin(), forwarded.end());
    const auto r = door_test::http_request(bouncer_->port(), boost::beast::http::verb::post, "/v1/client/tokens", headers, "{}");
    if (r.status != 200) throw std::runtime_error("mint: " + std::to_string(r.status) + " " + r.body);
    return r.body;
  }

  bool logged(const std::string& needle) const { return bouncer_->process().err().find(needle) != std::string::npos; }

  static StartOptions with(std::vector<std::string> args) {
    args.insert(args.end(), {"--log-level", "debug", "--log-rate-limit", "0"});
    return StartOptions().args(std::move(args));
  }
};

TEST_F(TrustedProxies, ForwardedAddressFromATrustedPeer) {
  start(with({"--trusted-proxies", "10.0.0.0/8, 127.0.0.1/32, 2001:db8:ffff::/48"}));
  EXPECT_TRUE(logged("trusted_proxies networks=10.0.0.0/8,127.0.0.1/32,2001:db8:ffff::/48"));

  EXPECT_EQ(upstream_sees({{"X-Forwarded-For", "203.0.113.7"}}), "203.0.113.7");
  // The right-most address that is not a trusted proxy; the client's own claims to its left.
  EXPECT_EQ(upstream_sees({{"X-Forwarded-For", "192.0.2.66, 198.51.100.23, 10.1.2.3, 127.0.0.1"}}), "198.51.100.23");
  EXPECT_EQ(upstream_sees({{"Forwarded", R"(for="[2001:db8::7]:4711";proto=https)"}}), "2001:db8::7");
  EXPECT_EQ(upstream_sees({{"Forwarded", "for=192.0.2.60, for=10.0.0.1"}}), "192.0.2.60");
  EXPECT_EQ(upstream_sees({{"X-Forwarded-For", "unknown"}}), "127.0.0.1") << "unreadable: the nearest trusted hop";
  EXPECT_EQ(upstream_sees({}), "127.0.0.1");

  mint_from({{"X-Forwarded-For", "203.0.113.9"}});
  bouncer_->process().stop();
  EXPECT_TRUE(logged("session_started")) << bouncer_->logs();
  EXPECT_TRUE(logged("client=203.0.113.7")) << bouncer_->logs();
  EXPECT_TRUE(logged("client=198.51.100.23")) << bouncer_->logs();
  EXPECT_TRUE(logged("client=2001:db8::7")) << bouncer_->logs();
  EXPECT_TRUE(logged("minted")) << bouncer_->logs();
  EXPECT_TRUE(logged("client=203.0.113.9")) << "the mint's log line: " << bouncer_->logs();
  EXPECT_FALSE(logged("client=192.0.2.66")) << "a client's own claim was believed";
}

// No --trusted-proxies: the headers are the client's to write, and nobody believes them.
TEST_F(TrustedProxies, IgnoredByDefault) {
  start(with({}));
  EXPECT_EQ(upstream_sees({{"X-Forwarded-For", "203.0.113.7"}, {"Forwarded", "for=203.0.113.8"}}), "127.0.0.1");
  mint_from({{"X-Forwarded-For", "203.0.113.9"}});
  bouncer_->process().stop();
  EXPECT_FALSE(logged("203.0.113.")) << bouncer_->logs();
  EXPECT_TRUE(logged("client=127.0.0.1")) << bouncer_->logs();
}

// Trusting other networks than the peer's changes nothing for this peer.
TEST_F(TrustedProxies, IgnoredFromAnUntrustedPeer) {
  start(with({"--trusted-proxies", "10.0.0.0/8,::1"}));
  EXPECT_EQ(upstream_sees({{"X-Forwarded-For", "203.0.113.7"}}), "127.0.0.1");
  EXPECT_EQ(upstream_sees({{"Forwarded", "for=203.0.113.8"}}), "127.0.0.1");
  mint_from({{"X-Forwarded-For", "203.0.113.9"}});
  bouncer_->process().stop();
  EXPECT_FALSE(logged("203.0.113.")) << bouncer_->logs();
}

// Behind a trusted proxy the per-address caps and the invalid-credential penalty count the
// client each request is forwarded for, never the proxy: the proxy holds more connections than
// one address may, one forwarded client is held to its own caps, and a client flooding bad
// tokens is penalised alone.
TEST_F(TrustedProxies, PerAddressLimitsCountTheForwardedClient) {
  start(with({"--trusted-proxies", "127.0.0.1/32", "--max-connections-per-ip", "2", "--max-invalid-credentials-per-ip",
              "3"}));
  const auto target = door_test::stream_target("echo", "api_key=" + key_.secret);
  const Headers seven{{"X-Forwarded-For", "203.0.113.7"}};
  const Headers eight{{"X-Forwarded-For", "203.0.113.8"}};
  std::vector<std::unique_ptr<WsClient>> open;
  for (const auto* client : {&seven, &seven, &eight, &eight}) open.push_back(connect(target, *client));
  for (auto& ws : open) {
    ASSERT_FALSE(ws->write("hello"));
    EXPECT_EQ(ws->read().data, "hello") << "four sessions through one proxy, two per forwarded client";
  }

  // 203.0.113.7 holds its two: a third request of its own is refused, as an upgrade and as a mint.
  WsClient third(10s);
  EXPECT_TRUE(third.connect(bouncer_->port(), target, seven)) << "a third upgrade of 203.0.113.7 was accepted";
  Headers mint_headers{{"X-API-KEY", key_.secret}, {"X-Forwarded-For", "203.0.113.7"}};
  const auto refused = door_test::http_request(bouncer_->port(), boost::beast::http::verb::post, "/v1/client/tokens",
                                               mint_headers, "{}");
  EXPECT_EQ(refused.status, 429) << refused.body;
  EXPECT_NE(refused.body.find("\"code\":\"too_many_connections\""), std::string::npos) << refused.body;
  // Another client behind the same proxy is not held to 203.0.113.7's caps.
  EXPECT_NO_THROW(mint_from({{"X-Forwarded-For", "203.0.113.9"}}));
  open.clear();  // 203.0.113.7's sessions end: its requests are served again
  const auto after = std::chrono::steady_clock::now() + 10s;
  int status = 0;
  while (std::chrono::steady_clock::now() < after) {
    status = door_test::http_request(bouncer_->port(), boost::beast::http::verb::post, "/v1/client/tokens", mint_headers, "{}")
                 .status;
    if (status == 200) break;
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_EQ(status, 200) << "203.0.113.7 was still refused after its sessions ended";

  // Three bad tokens from 198.51.100.1 start its penalty; 198.51.100.2, behind the same proxy, goes on.
  const auto forged = door_test::stream_target("echo", "api_key=ek_forged_forged_forged_forged");
  for (int i = 0; i < 3; ++i) expect_refused(forged, {{"X-Forwarded-For", "198.51.100.1"}}, "Invalid API key");
  expect_refused(target, {{"X-Forwarded-For", "198.51.100.1"}}, "Too many invalid credentials, try again later", 1013);
  auto other = connect(target, {{"X-Forwarded-For", "198.51.100.2"}});
  ASSERT_FALSE(other->write("still here"));
  EXPECT_EQ(other->read().data, "still here");
  other.reset();
  bouncer_->process().stop();
  EXPECT_TRUE(logged("forwarded_client_refused reason=connections_per_ip client=203.0.113.7")) << bouncer_->logs();
}

// A bad list stops the start, naming the item and what is wrong.
TEST_F(TrustedProxies, BadListsAreRefusedAtStart) {
  for (const auto& [list, message] : std::vector<std::pair<std::string, std::string>>{
           {"10.0.0.1/8", "--trusted-proxies: '10.0.0.1/8' has bits set past its /8 prefix: did you mean 10.0.0.0/8?"},
           {"127.0.0.1,lb.internal", "--trusted-proxies: 'lb.internal' is not an IP address or CIDR"},
           {"::/129", "--trusted-proxies: '::/129': the prefix length must be a number from 0 to 128"}}) {
    const auto r = test_support::run_program(
        {door_test::bouncer_bin(), "serve", "--data-dir", (tmp_.path() / "data").string(), "--listen", "127.0.0.1:0",
         "--trusted-proxies", list},
        tmp_.path());
    EXPECT_NE(r.status, 0) << list;
    EXPECT_NE(r.status, -1) << list << ": still running";
    EXPECT_NE(r.err.find(message), std::string::npos) << r.err;
  }
}

}  // namespace
}  // namespace edge_test
