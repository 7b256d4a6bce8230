// One connection's byte stream, plain or TLS behind one type: the client's connection (read by
// the HTTP session, then handed to the door) and the upstream's (opened by relay/upstream.h).
// After a WebSocket upgrade the tunnel (relay/tunnel.h) moves bytes between two of these.
//
// A std::variant rather than a virtual interface: every call stays a template that hands its
// completion handler to Asio as it is (no std::function, no allocation), and the plain path
// costs one branch per call and nothing else.
//
// Not thread-safe, like the streams it holds: use it from its executor only.
#pragma once

#include "relay/client_stream.h"

#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream_base.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/stream_traits.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <openssl/ssl.h>

#include <memory>
#include <utility>
#include <variant>

namespace bouncer::relay {

class ByteStream {
 public:
  using Plain = boost::beast::tcp_stream;
  using Tls = boost::beast::ssl_stream<boost::beast::tcp_stream>;
  using executor_type = Plain::executor_type;

  // An accepted connection. `tls` null: plain. Otherwise the context its handshake uses, kept
  // with it for its whole life (a certificate reload swaps the server's, not this one).
  ByteStream(boost::asio::ip::tcp::socket socket, std::shared_ptr<boost::asio::ssl::context> tls)
      : tls_(std::move(tls)), stream_(make(std::move(socket), tls_.get())) {}
  // An upstream connection, its TLS handshake (if any) done.
  explicit ByteStream(Plain stream) : stream_(std::in_place_type<Plain>, std::move(stream)) {}
  ByteStream(Tls stream, std::shared_ptr<boost::asio::ssl::context> tls)
      : tls_(std::move(tls)), stream_(std::in_place_type<Tls>, std::move(stream)) {}

  ByteStream(ByteStream&&) = default;
  ByteStream& operator=(ByteStream&&) = delete;

  template <class F>
  decltype(auto) visit(F&& f) {
    return std::visit(std::forward<F>(f), stream_);
  }

  bool is_tls() const { return std::holds_alternative<Tls>(stream_); }
  executor_type get_executor() {
    return visit([](auto& s) { return s.get_executor(); });
  }
  // The TCP stream under everything (deadlines, socket options, close).
  Plain& tcp() {
    return visit([](auto& s) -> Plain& { return boost::beast::get_lowest_layer(s); });
  }
  boost::asio::ip::tcp::socket& socket() { return tcp().socket(); }

  // The server side of the TLS handshake (Handler: void(boost::system::error_code)). TLS only.
  template <class Handler>
  void async_handshake(Handler&& handler) {
    std::get<Tls>(stream_).async_handshake(boost::asio::ssl::stream_base::server, std::forward<Handler>(handler));
  }

  // Sends TLS's close_notify and waits for the peer's (bounded by the TCP stream's deadline).
  template <class Handler>
  void async_shutdown(Handler&& handler) {
    std::get<Tls>(stream_).async_shutdown(std::forward<Handler>(handler));
  }

  // Handler: void(boost::system::error_code, std::size_t).
  template <class MutableBuffer, class Handler>
  void async_read_some(const MutableBuffer& buffer, Handler&& handler) {
    visit([&](auto& s) { s.async_read_some(buffer, std::forward<Handler>(handler)); });
  }
  // Writes all of `buffers` (Handler: void(boost::system::error_code, std::size_t)).
  template <class ConstBuffers, class Handler>
  void async_write(const ConstBuffers& buffers, Handler&& handler) {
    visit([&](auto& s) { boost::asio::async_write(s, buffers, std::forward<Handler>(handler)); });
  }

  // The connection as a Beast WebSocket (to answer a refused upgrade inside the WebSocket, as
  // a browser sees nothing of a refused HTTP upgrade); this object is left empty.
  ClientWebSocket into_websocket() && {
    if (auto* tls = std::get_if<Tls>(&stream_)) return ClientWebSocket(TlsClientStream(std::move(*tls)), tls_);
    return ClientWebSocket(ClientStream(std::move(std::get<Plain>(stream_))));
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

}  // namespace bouncer::relay
