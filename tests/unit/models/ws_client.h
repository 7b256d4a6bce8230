// A small blocking WebSocket client for tests: each call runs its own io_context until the
// operation completes, and every operation has a time limit, so a test can never hang.
#pragma once

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/websocket.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace bouncer::models::testing {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace websocket = beast::websocket;

// "ws://127.0.0.1:PORT/PATH" → PORT and "/PATH".
struct Target {
  std::uint16_t port = 0;
  std::string path;
};

inline Target parse_ws_url(const std::string& url) {
  const std::string prefix = "ws://127.0.0.1:";
  if (url.rfind(prefix, 0) != 0) return {};
  const auto slash = url.find('/', prefix.size());
  return {static_cast<std::uint16_t>(std::stoi(url.substr(prefix.size(), slash - prefix.size()))),
          slash == std::string::npos ? "/" : url.substr(slash)};
}

struct Message {
  beast::error_code ec;
  bool text = false;
  std::string data;
};

class WsClient {
 public:
  using Headers = std::vector<std::pair<std::string, std::string>>;

  explicit WsClient(std::chrono::milliseconds timeout = std::chrono::seconds(5)) : timeout_(timeout) {
    ws_.read_message_max(64 << 20);
  }

  // A small receive buffer (set before connecting) keeps the kernel from absorbing
  // megabytes of what a test wants to see pile up on the server.
  void set_receive_buffer(int bytes) {
    auto& socket = beast::get_lowest_layer(ws_).socket();
    socket.open(net::ip::tcp::v4());
    socket.set_option(net::socket_base::receive_buffer_size(bytes));
  }

  // TCP connect + WebSocket handshake; `response` gets the server's answer either way.
  beast::error_code connect(std::uint16_t port, const std::string& target, const Headers& headers) {
    auto& tcp = beast::get_lowest_layer(ws_);
    tcp.expires_after(timeout_);
    beast::error_code ec = run([&](auto handler) {
      tcp.async_connect(net::ip::tcp::endpoint(net::ip::make_address_v4("127.0.0.1"), port), handler);
    });
    if (ec) return ec;
    ws_.set_option(websocket::stream_base::decorator([headers](websocket::request_type& req) {
      for (const auto& [name, value] : headers) req.set(name, value);
    }));
    return run([&](auto handler) { ws_.async_handshake(response, "127.0.0.1", target, handler); });
  }

  beast::error_code write(std::string_view data, bool text = true) {
    ws_.text(text);
    return run([&](auto handler) { ws_.async_write(net::buffer(data), handler); });
  }

  Message read() {
    beast::flat_buffer buffer;
    Message m;
    m.ec = run([&](auto handler) { ws_.async_read(buffer, handler); });
    m.text = ws_.got_text();
    m.data = beast::buffers_to_string(buffer.data());
    return m;
  }

  beast::error_code close(websocket::close_code code = websocket::close_code::normal) {
    return run([&](auto handler) { ws_.async_close(code, handler); });
  }

  websocket::close_reason close_reason() const { return ws_.reason(); }

  websocket::response_type response;

 private:
  // Starts one operation and runs the io_context until it completes or times out.
  template <typename Start>
  beast::error_code run(Start start) {
    beast::get_lowest_layer(ws_).expires_after(timeout_);
    beast::error_code result = net::error::would_block;
    start([&result](beast::error_code ec, auto&&...) { result = ec; });
    ioc_.restart();
    ioc_.run();
    return result;
  }

  std::chrono::milliseconds timeout_;
  net::io_context ioc_;
  websocket::stream<beast::tcp_stream> ws_{ioc_};
};

}  // namespace bouncer::models::testing
