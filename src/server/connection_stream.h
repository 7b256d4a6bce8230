// One accepted client connection, plain or TLS behind one type: what an HttpSession reads
// requests from and writes answers to, and what it hands to the door, as a WebSocket, on an
// upgrade. A std::variant rather than a virtual interface, as for the relay's streams: the
// plain path costs one branch per call and nothing else.
#pragma once

#include "relay/client_stream.h"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream_base.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <memory>
#include <utility>
#include <variant>

namespace bouncer::server {

class ConnectionStream {
 public:
  using Plain = boost::beast::tcp_stream;
  using Tls = boost::beast::ssl_stream<boost::beast::tcp_stream>;
  using executor_type = Plain::executor_type;

  // `tls` null: a plain connection. Otherwise the context this connection's handshake uses,
  // kept with it for its whole life (a reload swaps the server's, not this one).
  ConnectionStream(boost::asio::ip::tcp::socket socket, std::shared_ptr<boost::asio::ssl::context> tls)
      : tls_(std::move(tls)), stream_(make(std::move(socket), tls_.get())) {}

  template <class F>
  decltype(auto) visit(F&& f) {
    return std::visit(std::forward<F>(f), stream_);
  }

  bool is_tls() const { return std::holds_alternative<Tls>(stream_); }
  executor_type get_executor() {
    return visit([](auto& s) { return s.get_executor(); });
  }
  Plain& tcp() {
    return visit([](auto& s) -> Plain& { return boost::beast::get_lowest_layer(s); });
  }

  // The server side of the TLS handshake (Handler: void(boost::system::error_code)). Only
  // for a TLS connection.
  template <class Handler>
  void async_handshake(Handler&& handler) {
    std::get<Tls>(stream_).async_handshake(boost::asio::ssl::stream_base::server, std::forward<Handler>(handler));
  }

  // Sends TLS's close_notify and waits for the peer's (bounded by the TCP stream's deadline).
  template <class Handler>
  void async_shutdown(Handler&& handler) {
    std::get<Tls>(stream_).async_shutdown(std::forward<Handler>(handler));
  }

  // The connection as the WebSocket the door accepts on it; this object is left empty.
  relay::ClientWebSocket release_websocket() && {
    if (auto* tls = std::get_if<Tls>(&stream_)) return relay::ClientWebSocket(relay::TlsClientStream(std::move(*tls)), tls_);
    return relay::ClientWebSocket(relay::ClientStream(std::get<Plain>(stream_).release_socket()));
  }

 private:
  using Variant = std::variant<Plain, Tls>;
  static Variant make(boost::asio::ip::tcp::socket socket, boost::asio::ssl::context* tls) {
    if (tls) return Variant(std::in_place_type<Tls>, std::move(socket), *tls);
    return Variant(std::in_place_type<Plain>, std::move(socket));
  }

  std::shared_ptr<boost::asio::ssl::context> tls_;  // declared first: outlives the stream
  Variant stream_;
};

}  // namespace bouncer::server
