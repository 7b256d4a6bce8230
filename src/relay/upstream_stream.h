// The open WebSocket to a model server: plain (ws://) or TLS (wss://) behind one type.
//
// A std::variant of the two Beast streams rather than a virtual interface: the relay's
// per-frame calls (read, write) stay templates, so the completion handler is passed to
// Beast as it is — no std::function, no type erasure, no allocation per frame. Each call
// below is one std::visit that forwards to the same-named member of the Beast stream.
//
// Like any Beast stream, an Upstream is not thread-safe: use it only from its executor,
// with at most one read and one write (a close counts as a write) outstanding.
#pragma once

#include "relay/upstream.h"

#include <boost/asio/buffer.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/stream_traits.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <boost/beast/websocket/stream.hpp>

#include <algorithm>
#include <bit>
#include <cstddef>
#include <memory>
#include <utility>
#include <variant>

namespace bouncer::relay {

using PlainWebSocket = boost::beast::websocket::stream<boost::beast::tcp_stream>;
using TlsWebSocket = boost::beast::websocket::stream<boost::beast::ssl_stream<boost::beast::tcp_stream>>;

// A client masks every frame it sends, and Beast masks through a write buffer that the stream
// keeps for its whole life (4 KiB by default). Sized to the messages actually relayed instead:
// 512 B for the many sessions that send little and then sit idle, up to 16 KiB (four times
// fewer writes than 4 KiB) for large messages. Beast reallocates only when the size changes,
// and the sizes are powers of two, so a steady stream of similar messages never reallocates.
constexpr std::size_t masking_buffer_bytes(std::size_t message_bytes) {
  return std::bit_ceil(std::clamp<std::size_t>(message_bytes, 512, 16 * 1024));
}

class Upstream {
 public:
  using executor_type = boost::beast::tcp_stream::executor_type;

  explicit Upstream(PlainWebSocket ws) : ws_(std::in_place_type<PlainWebSocket>, std::move(ws)) {}
  // `tls` is the context the stream was made from; kept alive as long as the stream.
  Upstream(TlsWebSocket ws, std::shared_ptr<boost::asio::ssl::context> tls)
      : tls_(std::move(tls)), ws_(std::in_place_type<TlsWebSocket>, std::move(ws)) {}

  Upstream(const Upstream&) = delete;
  Upstream& operator=(const Upstream&) = delete;

  // Runs f(stream) on whichever Beast stream this is.
  template <class F>
  decltype(auto) visit(F&& f) {
    return std::visit(std::forward<F>(f), ws_);
  }
  template <class F>
  decltype(auto) visit(F&& f) const {
    return std::visit(std::forward<F>(f), ws_);
  }

  bool is_tls() const { return std::holds_alternative<TlsWebSocket>(ws_); }
  executor_type get_executor() {
    return visit([](auto& ws) { return ws.get_executor(); });
  }

  // The TCP stream under everything (for expires_never(), close(), socket options).
  boost::beast::tcp_stream& tcp() {
    return visit([](auto& ws) -> boost::beast::tcp_stream& { return boost::beast::get_lowest_layer(ws); });
  }

  // --- per-frame operations (Handler: void(boost::system::error_code, std::size_t)) ---

  // Reads one whole message into `buffer`.
  template <class Handler>
  void async_read(boost::beast::flat_buffer& buffer, Handler&& handler) {
    visit([&](auto& ws) { ws.async_read(buffer, std::forward<Handler>(handler)); });
  }

  // Writes `data` as one message, text when `text` is set, binary otherwise.
  template <class ConstBufferSequence, class Handler>
  void async_write(bool text, const ConstBufferSequence& data, Handler&& handler) {
    const auto buffer_bytes = masking_buffer_bytes(boost::asio::buffer_size(data));
    visit([&](auto& ws) {
      ws.text(text);
      ws.write_buffer_bytes(buffer_bytes);
      ws.async_write(data, std::forward<Handler>(handler));
    });
  }

  // Sends a close frame and waits for the peer's (Handler: void(boost::system::error_code)).
  template <class Handler>
  void async_close(const boost::beast::websocket::close_reason& reason, Handler&& handler) {
    visit([&](auto& ws) { ws.async_close(reason, std::forward<Handler>(handler)); });
  }

  // Whether the last message read was text.
  bool got_text() const {
    return visit([](const auto& ws) { return ws.got_text(); });
  }
  // The close frame received from the peer, after a read ended with websocket::error::closed.
  const boost::beast::websocket::close_reason& reason() const {
    return visit([](const auto& ws) -> const boost::beast::websocket::close_reason& { return ws.reason(); });
  }
  bool is_open() const {
    return visit([](const auto& ws) { return ws.is_open(); });
  }

  // --- options ---

  template <class Option>
  void set_option(const Option& option) {
    visit([&](auto& ws) { ws.set_option(option); });
  }
  void read_message_max(std::size_t bytes) {
    visit([&](auto& ws) { ws.read_message_max(bytes); });
  }
  void auto_fragment(bool on) {
    visit([&](auto& ws) { ws.auto_fragment(on); });
  }

 private:
  std::shared_ptr<boost::asio::ssl::context> tls_;  // declared first: outlives the stream
  std::variant<PlainWebSocket, TlsWebSocket> ws_;
};

}  // namespace bouncer::relay
