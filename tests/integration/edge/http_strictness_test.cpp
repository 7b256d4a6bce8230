// HTTP/1.1 strictness (RFC 9112) on the public listener, over a raw TCP socket against the real
// server: every request below is answered 400 `bad_http_request` and the connection is closed,
// so whatever follows on it (here, a smuggled `GET /healthz`) is never read as a request. Both
// the mint endpoints and the WebSocket upgrade are covered.
#include "door_fixture.h"
#include "raw_http.h"

namespace edge_test {
namespace {

using namespace std::chrono_literals;
using door_test::Door;
using door_test::StartOptions;

class HttpStrictness : public Door {
 protected:
  // A mint request with the real key (served 200 were it let through), `extra` header lines
  // (each ending "\r\n") and the body as written.
  std::string mint_head(const std::string& extra) const {
    return "POST /v1/client/tokens HTTP/1.1\r\nX-API-KEY: " + key_.secret + "\r\nContent-Type: application/json\r\n" +
           extra + "\r\n";
  }

  static std::string upgrade_head(const std::string& extra) {
    return "GET /v1/stream?model=echo HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" +
           extra + "\r\n";
  }

  static constexpr const char* kSmuggled = "GET /healthz HTTP/1.1\r\nHost: smuggled\r\n\r\n";

  void expect_refused(const std::string& name, const std::string& bytes, const std::string& why) {
    SCOPED_TRACE(name);
    const auto r = raw_exchange(bouncer_->port(), bytes + kSmuggled);
    EXPECT_EQ(response_statuses(r.received), std::vector<int>{400}) << r.received;
    EXPECT_TRUE(r.closed_by_server) << "the connection stays open after: " << r.received;
    EXPECT_NE(r.received.find("\"code\":\"bad_http_request\""), std::string::npos) << r.received;
    EXPECT_NE(r.received.find(why), std::string::npos) << "the 400 should say '" << why << "': " << r.received;
    EXPECT_NE(r.received.find("Connection: close"), std::string::npos) << r.received;
  }
};

TEST_F(HttpStrictness, WellFormedRequestsStillPass) {
  start();
  // Two pipelined requests on one connection, then a mint: all answered.
  const auto r = raw_exchange(bouncer_->port(), "GET /healthz HTTP/1.1\r\nHost: a\r\n\r\nGET /healthz HTTP/1.1\r\nHost: a\r\n\r\n" +
                                                    mint_head("Host: a\r\nContent-Length: 2\r\nConnection: close\r\n") + "{}");
  EXPECT_EQ(response_statuses(r.received), (std::vector<int>{200, 200, 200})) << r.received;
  // A chunked body is fine.
  const auto chunked = raw_exchange(
      bouncer_->port(), mint_head("Host: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n") + "2\r\n{}\r\n0\r\n\r\n");
  EXPECT_EQ(response_statuses(chunked.received), std::vector<int>{200}) << chunked.received;
  // HTTP/1.0 needs no Host.
  const auto old = raw_exchange(bouncer_->port(), "GET /healthz HTTP/1.0\r\n\r\n");
  EXPECT_EQ(response_statuses(old.received), std::vector<int>{200}) << old.received;
}

TEST_F(HttpStrictness, Host) {
  start();
  expect_refused("mint without Host", mint_head("Content-Length: 2\r\n") + "{}", "Missing Host header");
  expect_refused("mint with two Hosts", mint_head("Host: a\r\nHost: b\r\nContent-Length: 2\r\n") + "{}",
                 "More than one Host header");
  expect_refused("mint with two equal Hosts", mint_head("Host: a\r\nhost: a\r\nContent-Length: 2\r\n") + "{}",
                 "More than one Host header");
  expect_refused("mint with a bad Host", mint_head("Host: a b\r\nContent-Length: 2\r\n") + "{}", "Invalid Host header");
  expect_refused("upgrade without Host", upgrade_head(""), "Missing Host header");
  expect_refused("upgrade with two Hosts", upgrade_head("Host: a\r\nHost: b\r\n"), "More than one Host header");
  expect_refused("GET without Host", "GET /healthz HTTP/1.1\r\n\r\n", "Missing Host header");
}

TEST_F(HttpStrictness, TransferEncodingOtherThanChunked) {
  start();
  for (const std::string coding : {"chunked, identity", "xchunked", "gzip, chunked", "identity", "gzip"}) {
    expect_refused("Transfer-Encoding: " + coding,
                   mint_head("Host: a\r\nTransfer-Encoding: " + coding + "\r\n") + "2\r\n{}\r\n0\r\n\r\n",
                   "Transfer-Encoding other than chunked");
  }
  expect_refused("identity with Content-Length",
                 mint_head("Host: a\r\nTransfer-Encoding: identity\r\nContent-Length: 2\r\n") + "{}",
                 "Transfer-Encoding together with Content-Length");
  expect_refused("two Transfer-Encoding lines",
                 mint_head("Host: a\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n") + "0\r\n\r\n",
                 "More than one Transfer-Encoding header");
  expect_refused("upgrade with Transfer-Encoding: identity", upgrade_head("Host: a\r\nTransfer-Encoding: identity\r\n"),
                 "Transfer-Encoding other than chunked");
  // Beast's own refusals keep their 400 and close.
  for (const std::string both : {"Content-Length: 2\r\nTransfer-Encoding: chunked\r\n",
                                 "Transfer-Encoding: chunked\r\nContent-Length: 2\r\n"}) {
    SCOPED_TRACE(both);
    const auto r = raw_exchange(bouncer_->port(), mint_head("Host: a\r\n" + both) + "2\r\n{}\r\n0\r\n\r\n" + kSmuggled);
    EXPECT_EQ(response_statuses(r.received), std::vector<int>{400}) << r.received;
    EXPECT_TRUE(r.closed_by_server);
  }
}

TEST_F(HttpStrictness, ObsoleteLineFolding) {
  start();
  const std::string why = "Obsolete line folding";
  expect_refused("folded header in a mint", mint_head("Host: a\r\nX-Note: one\r\n two\r\nContent-Length: 2\r\n") + "{}", why);
  expect_refused("folded with a tab", mint_head("Host: a\r\nX-Note: one\r\n\ttwo\r\nContent-Length: 2\r\n") + "{}", why);
  expect_refused("folded Transfer-Encoding",
                 mint_head("Host: a\r\nTransfer-Encoding: chunked\r\n , identity\r\n") + "2\r\n{}\r\n0\r\n\r\n", why);
  expect_refused("folded header in an upgrade", upgrade_head("Host: a\r\nOrigin: https://a.example\r\n b\r\n"), why);
}

// The head is read whole before anything else: its limit still answers 431, and a head that
// arrives in pieces is read (and checked) whole.
TEST_F(HttpStrictness, HeadLimitAndSlowHeads) {
  start(StartOptions().args({"--max-header-bytes", "1024"}));
  const auto big = raw_exchange(bouncer_->port(), "GET /healthz HTTP/1.1\r\nHost: a\r\nX-Big: " + std::string(4000, 'x') + "\r\n\r\n");
  EXPECT_EQ(response_statuses(big.received), std::vector<int>{431}) << big.received;
  const auto endless = raw_exchange(bouncer_->port(), "GET /healthz HTTP/1.1\r\nX-Big: " + std::string(4000, 'x'));
  EXPECT_EQ(response_statuses(endless.received), std::vector<int>{431}) << endless.received;
  // The blank line that ends the head split across reads.
  const auto slow = raw_exchange(
      bouncer_->port(), std::vector<std::string>{"GET /healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r", "\n", "\r", "\n"}, 50ms);
  EXPECT_EQ(response_statuses(slow.received), std::vector<int>{200}) << slow.received;
  const auto slow_fold = raw_exchange(bouncer_->port(), std::vector<std::string>{"GET /healthz HTTP/1.1\r\nHost: a\r\nX-A: b\r\n", " c\r\n\r\n"}, 50ms);
  EXPECT_EQ(response_statuses(slow_fold.received), std::vector<int>{400}) << slow_fold.received;
}

}  // namespace
}  // namespace edge_test
