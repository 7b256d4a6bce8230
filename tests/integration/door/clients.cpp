#include "clients.h"

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

#include <cctype>
#include <optional>

namespace door_test {

namespace net = boost::asio;
namespace http = beast::http;
using tcp = net::ip::tcp;

namespace {

tcp::endpoint loopback(std::uint16_t port) { return {net::ip::make_address_v4("127.0.0.1"), port}; }

// Starts one operation and runs `ioc` until it completes. The stream's expiry bounds the
// operation; run_for is the last resort should anything outlive it (then the socket is
// closed, which completes whatever was pending).
template <typename Stream, typename Start>
beast::error_code run_one(net::io_context& ioc, Stream& lowest, Start start, std::chrono::milliseconds timeout) {
  lowest.expires_after(timeout);
  std::optional<beast::error_code> result;
  start([&result](beast::error_code ec, auto&&...) { result = ec; });
  ioc.restart();
  ioc.run_for(timeout + std::chrono::seconds(2));
  if (!result) {
    lowest.close();
    ioc.restart();
    ioc.run_for(std::chrono::seconds(2));
    if (!result) return beast::error::timeout;
  }
  return *result;
}

}  // namespace

HttpResponse http_request(std::uint16_t port, http::verb method, const std::string& target, const Headers& headers,
                          const std::string& body, std::chrono::milliseconds timeout) {
  net::io_context ioc;
  beast::tcp_stream stream(ioc);
  HttpResponse out;
  auto ec = run_one(ioc, stream, [&](auto handler) { stream.async_connect(loopback(port), handler); }, timeout);
  if (ec) {
    out.error = "connect: " + ec.message();
    return out;
  }
  http::request<http::string_body> req{method, target, 11};
  req.set(http::field::host, "127.0.0.1:" + std::to_string(port));
  req.set(http::field::connection, "close");
  for (const auto& [name, value] : headers) req.set(name, value);
  if (!body.empty()) {
    if (req.find(http::field::content_type) == req.end()) req.set(http::field::content_type, "application/json");
    req.body() = body;
  }
  req.prepare_payload();
  ec = run_one(ioc, stream, [&](auto handler) { http::async_write(stream, req, handler); }, timeout);
  if (ec) {
    out.error = "write: " + ec.message();
    return out;
  }
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(64 << 20);
  ec = run_one(ioc, stream, [&](auto handler) { http::async_read(stream, buffer, parser, handler); }, timeout);
  if (ec) {
    out.error = "read: " + ec.message();
    return out;
  }
  const auto& res = parser.get();
  out.status = static_cast<int>(res.result_int());
  for (const auto& field : res) {
    std::string name(field.name_string());
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    out.headers[name] = std::string(field.value());
  }
  out.body = res.body();
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  return out;
}

WsUrl parse_ws_url(const std::string& url) {
  const std::string prefix = "ws://127.0.0.1:";
  if (url.rfind(prefix, 0) != 0) return {};
  const auto slash = url.find('/', prefix.size());
  if (slash == std::string::npos) return {};
  WsUrl out;
  try {
    out.port = static_cast<std::uint16_t>(std::stoi(url.substr(prefix.size(), slash - prefix.size())));
  } catch (...) {
    return {};
  }
  out.target = url.substr(slash);
  return out;
}

std::string url_encode(std::string_view value) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (const unsigned char c : value) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
  return out;
}

WsClient::WsClient(std::chrono::milliseconds timeout) : timeout_(timeout), ws_(ioc_) { ws_.read_message_max(64 << 20); }

WsClient::~WsClient() {
  beast::error_code ignored;
  beast::get_lowest_layer(ws_).socket().close(ignored);
}

template <typename Start>
beast::error_code WsClient::run(Start start, std::chrono::milliseconds timeout) {
  return run_one(ioc_, beast::get_lowest_layer(ws_), start, timeout);
}

beast::error_code WsClient::connect(std::uint16_t port, const std::string& target, const Headers& headers) {
  auto& tcp_layer = beast::get_lowest_layer(ws_);
  if (auto ec = run([&](auto handler) { tcp_layer.async_connect(loopback(port), handler); }, timeout_)) return ec;
  ws_.set_option(websocket::stream_base::decorator([headers](websocket::request_type& req) {
    for (const auto& [name, value] : headers) req.set(name, value);
  }));
  return run([&](auto handler) { ws_.async_handshake(response, "127.0.0.1:" + std::to_string(port), target, handler); },
             timeout_);
}

beast::error_code WsClient::write(std::string_view data, bool text) {
  ws_.text(text);
  return run([&](auto handler) { ws_.async_write(net::buffer(data.data(), data.size()), handler); }, timeout_);
}

Message WsClient::read() { return read(timeout_); }

Message WsClient::read(std::chrono::milliseconds timeout) {
  beast::flat_buffer buffer;
  Message m;
  m.ec = run([&](auto handler) { ws_.async_read(buffer, handler); }, timeout);
  m.text = ws_.got_text();
  m.data = beast::buffers_to_string(buffer.data());
  return m;
}

beast::error_code WsClient::read_into(beast::flat_buffer& buffer, bool& text) {
  buffer.clear();
  auto ec = run([&](auto handler) { ws_.async_read(buffer, handler); }, timeout_);
  text = ws_.got_text();
  return ec;
}

beast::error_code WsClient::close(std::uint16_t code, const std::string& reason) {
  websocket::close_reason cr(static_cast<websocket::close_code>(code), reason);
  return run([&](auto handler) { ws_.async_close(cr, handler); }, timeout_);
}

}  // namespace door_test
