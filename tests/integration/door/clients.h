// Blocking HTTP and WebSocket clients over 127.0.0.1 for the door's integration tests. Each
// client runs its own io_context for one operation at a time, and every operation has a time
// limit (the TCP stream's expiry), so a test can never hang on the network.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/verb.hpp>
#include <boost/beast/websocket/stream.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace door_test {

namespace beast = boost::beast;
namespace websocket = beast::websocket;

using Headers = std::vector<std::pair<std::string, std::string>>;

// ---- HTTP ----

struct HttpResponse {
  int status = 0;  // 0: no answer (see error)
  std::string error;
  std::map<std::string, std::string> headers;  // names lowercased
  std::string body;
};

HttpResponse http_request(std::uint16_t port, beast::http::verb method, const std::string& target,
                          const Headers& headers = {}, const std::string& body = {},
                          std::chrono::milliseconds timeout = std::chrono::seconds(15));

// ---- WebSocket ----

// "ws://127.0.0.1:PORT/PATH?QUERY" → PORT and "/PATH?QUERY"; port 0 when not that shape.
struct WsUrl {
  std::uint16_t port = 0;
  std::string target;
};
WsUrl parse_ws_url(const std::string& url);

// Percent-encodes a query parameter value.
std::string url_encode(std::string_view value);

struct Message {
  beast::error_code ec;  // websocket::error::closed when the peer closed (see close_reason)
  bool text = false;
  std::string data;
};

class WsClient {
 public:
  explicit WsClient(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  ~WsClient();

  // TCP connect + WebSocket handshake with extra request headers (Origin, Sec-WebSocket-
  // Protocol …). `response` holds the server's answer either way.
  beast::error_code connect(std::uint16_t port, const std::string& target, const Headers& headers = {});

  beast::error_code write(std::string_view data, bool text = true);
  // One message, or the error that ended the wait (timeout: beast::error::timeout).
  Message read();
  Message read(std::chrono::milliseconds timeout);
  // Reads one message into `buffer` (cleared first), for bulk transfers without copies.
  beast::error_code read_into(beast::flat_buffer& buffer, bool& text);
  beast::error_code close(std::uint16_t code = 1000, const std::string& reason = {});

  // The close frame the peer sent (after a read returned websocket::error::closed).
  websocket::close_reason close_reason() const { return ws_.reason(); }
  std::uint16_t close_code() const { return ws_.reason().code; }
  std::string close_text() const { return std::string(ws_.reason().reason.data(), ws_.reason().reason.size()); }
  bool is_open() const { return ws_.is_open(); }
  void set_timeout(std::chrono::milliseconds timeout) { timeout_ = timeout; }
  // Caps the size of messages this client accepts.
  void read_message_max(std::size_t bytes) { ws_.read_message_max(bytes); }

  websocket::response_type response;

 private:
  template <typename Start>
  beast::error_code run(Start start, std::chrono::milliseconds timeout);

  std::chrono::milliseconds timeout_;
  boost::asio::io_context ioc_;
  websocket::stream<beast::tcp_stream> ws_;
};

}  // namespace door_test
