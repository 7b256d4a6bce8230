// A client connection as a Beast WebSocket, plain (ws://) or TLS (wss://) behind one type: how
// the door tells a refusal inside the WebSocket (accept, one error frame, close). An admitted
// session is relayed as bytes instead (relay/tunnel.h).
//
// A std::variant of the two Beast streams rather than a virtual interface: every call stays a
// template that hands its completion handler to Beast as it is.
//
// Not thread-safe, like any Beast stream: use it from its executor only.
#pragma once

#include <boost/asio/buffer.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/stream_traits.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <boost/beast/websocket/stream.hpp>

#include <memory>
#include <utility>
#include <variant>

namespace bouncer::relay {

using ClientStream = boost::beast::websocket::stream<boost::beast::tcp_stream>;
using TlsClientStream = boost::beast::websocket::stream<boost::beast::ssl_stream<boost::beast::tcp_stream>>;

class ClientWebSocket {
 public:
  using executor_type = boost::beast::tcp_stream::executor_type;

  // Implicit: a plain stream is a ClientWebSocket as it is.
  ClientWebSocket(ClientStream ws) : ws_(std::in_place_type<ClientStream>, std::move(ws)) {}  // NOLINT
  // `tls` is the context the TLS stream was made from: kept as long as the stream, since a
  // certificate reload replaces the server's context while this session goes on with its own.
  ClientWebSocket(TlsClientStream ws, std::shared_ptr<boost::asio::ssl::context> tls)
      : tls_(std::move(tls)), ws_(std::in_place_type<TlsClientStream>, std::move(ws)) {}

  ClientWebSocket(ClientWebSocket&&) = default;
  ClientWebSocket& operator=(ClientWebSocket&&) = delete;

  // Runs f(stream) on whichever Beast stream this is.
  template <class F>
  decltype(auto) visit(F&& f) {
    return std::visit(std::forward<F>(f), ws_);
  }
  template <class F>
  decltype(auto) visit(F&& f) const {
    return std::visit(std::forward<F>(f), ws_);
  }

  bool is_tls() const { return std::holds_alternative<TlsClientStream>(ws_); }
  executor_type get_executor() {
    return visit([](auto& ws) { return ws.get_executor(); });
  }
  // The TCP stream under everything (for expires_never(), close(), socket options).
  boost::beast::tcp_stream& tcp() {
    return visit([](auto& ws) -> boost::beast::tcp_stream& { return boost::beast::get_lowest_layer(ws); });
  }

  // Answers the upgrade `request` (Handler: void(boost::system::error_code)).
  template <class Body, class Allocator, class Handler>
  void async_accept(const boost::beast::http::request<Body, boost::beast::http::basic_fields<Allocator>>& request,
                    Handler&& handler) {
    visit([&](auto& ws) { ws.async_accept(request, std::forward<Handler>(handler)); });
  }

  // Writes `data` as one message, text when `text` is set, binary otherwise.
  template <class ConstBufferSequence, class Handler>
  void async_write(bool text, const ConstBufferSequence& data, Handler&& handler) {
    visit([&](auto& ws) {
      ws.text(text);
      ws.async_write(data, std::forward<Handler>(handler));
    });
  }

  template <class Handler>
  void async_close(const boost::beast::websocket::close_reason& reason, Handler&& handler) {
    visit([&](auto& ws) { ws.async_close(reason, std::forward<Handler>(handler)); });
  }

  // By value: a decorator is move-only.
  template <class Option>
  void set_option(Option option) {
    visit([&](auto& ws) { ws.set_option(std::move(option)); });
  }

 private:
  std::shared_ptr<boost::asio::ssl::context> tls_;  // declared first: outlives the stream
  std::variant<ClientStream, TlsClientStream> ws_;
};

}  // namespace bouncer::relay
