// The upgrade request itself: a request that is not a valid WebSocket handshake (RFC 6455
// §4.2.1) is answered with 400 or 426 before anything else happens — no admission, no upstream
// contacted — even with a valid credential. Sent over raw TCP, since a WebSocket client library
// would not send them.
#include "door_fixture.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>

namespace door_test {
namespace {

namespace net = boost::asio;
namespace http = boost::beast::http;

using UpgradeTest = Door;

struct RawAnswer {
  unsigned status = 0;
  std::string version_header;  // Sec-WebSocket-Version
  std::string body;
};

// Sends `request` as is and reads the HTTP answer.
RawAnswer send_raw(std::uint16_t port, const std::string& request) {
  net::io_context ioc;
  beast::tcp_stream stream(ioc);
  stream.expires_after(std::chrono::seconds(10));
  stream.connect(net::ip::tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
  net::write(stream, net::buffer(request));
  beast::flat_buffer buffer;
  http::response<http::string_body> response;
  http::read(stream, buffer, response);
  return {response.result_int(), std::string(response[http::field::sec_websocket_version]), response.body()};
}

std::string upgrade_request(const std::string& target, const std::vector<std::string>& header_lines) {
  std::string request = "GET " + target + " HTTP/1.1\r\n";
  for (const auto& line : header_lines) request += line + "\r\n";
  return request + "\r\n";
}

// Each defect gets its status and names the header at fault; the model server never hears of
// any of them.
TEST_F(UpgradeTest, MalformedUpgradesAreRefusedBeforeTheUpstream) {
  start();
  const auto token = mint();
  const auto target = stream_target("up", "api_key=" + token.api_key);
  const std::string host = "Host: 127.0.0.1";
  const std::string upgrade = "Upgrade: websocket";
  const std::string connection = "Connection: Upgrade";
  const std::string version = "Sec-WebSocket-Version: 13";
  const std::string key = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==";
  struct Case {
    std::string name;
    std::vector<std::string> lines;
    unsigned status;
    std::string mentions;
  };
  const std::vector<Case> cases = {
      {"no key", {host, upgrade, connection, version}, 400, "Sec-WebSocket-Key"},
      {"short key", {host, upgrade, connection, version, "Sec-WebSocket-Key: c2hvcnQ="}, 400, "Sec-WebSocket-Key"},
      {"17-byte key", {host, upgrade, connection, version, "Sec-WebSocket-Key: MDEyMzQ1Njc4OWFiY2RlZmc="}, 400,
       "Sec-WebSocket-Key"},
      {"version 8", {host, upgrade, connection, "Sec-WebSocket-Version: 8", key}, 426, "Sec-WebSocket-Version"},
      {"no version", {host, upgrade, connection, key}, 400, "Sec-WebSocket-Version"},
      {"no Host", {upgrade, connection, version, key}, 400, "Host"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const auto answer = send_raw(bouncer_->port(), upgrade_request(target, c.lines));
    EXPECT_EQ(answer.status, c.status) << answer.body;
    EXPECT_NE(answer.body.find(c.mentions), std::string::npos) << answer.body;
    if (c.status == 426) {
      EXPECT_EQ(answer.version_header, "13");
    }
  }
  // A valid one after them all is relayed: the model server's first session is this one.
  auto ws = connect(target);
  expect_echo(*ws, "after the malformed ones");
  const auto sessions = upstream_->logs();
  std::size_t count = 0;
  for (auto at = sessions.find("session peer="); at != std::string::npos; at = sessions.find("session peer=", at + 1)) {
    ++count;
  }
  EXPECT_EQ(count, 1u) << sessions;
}

}  // namespace
}  // namespace door_test
