// One HTTP/1.1 connection, plain or TLS: (the TLS handshake first,) read a request (bounded
// header and body), route it, write the answer, repeat while keep-alive. The session owns
// itself through shared_from_this().
// The public listener and the admin listener both serve through it, each with its own router;
// only the public one has a door (WebSocket upgrades to /v1/stream).
//
// Deadlines, each absolute (bytes trickling in never extend them): a new connection's first
// byte within first_byte_timeout; a request's headers within header_timeout of its first byte;
// the whole request within read_timeout of its first byte; a kept-alive connection's next
// request begins within read_timeout.
#pragma once

#include "server/address_limits.h"
#include "relay/byte_stream.h"
#include "server/gauges.h"
#include "server/options.h"
#include "server/routing.h"
#include "server/stream_session.h"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>

#include <atomic>
#include <memory>
#include <optional>

namespace bouncer::server {

class HttpSession : public std::enable_shared_from_this<HttpSession> {
 public:
  // `door`: nullptr on a listener without one (the upgrade is then routed like any request).
  // `tls`: the listener's TLS context when it has TLS, else null.
  // `slot`: the connection's place under its address's limits; it stops counting as opening
  // once the first request's headers are read (for an upgrade: once the door has decided).
  HttpSession(boost::asio::ip::tcp::socket socket, boost::asio::ip::tcp::endpoint peer, const Options& options,
              RequestHandler& router, Gauges& gauges, DoorContext* door,
              std::shared_ptr<boost::asio::ssl::context> tls = nullptr, AddressLimits::Slot slot = {});
  ~HttpSession();

  void run();

 private:
  void do_handshake();
  void on_handshake(boost::beast::error_code ec);
  void do_read();
  void on_first_bytes(boost::beast::error_code ec, std::size_t bytes);
  void start_head();
  void read_head();
  void on_head(std::string_view head);  // empty: no whole head within the header limit
  void on_read(boost::beast::error_code ec, std::size_t bytes);
  void refuse_request(std::string_view why);  // 400 and close: the request breaks RFC 9112
  void do_write(Response response);
  void on_write(bool keep_alive, boost::beast::error_code ec, std::size_t bytes);
  void do_close();
  void reply_and_close(const policy::ApiError& error);
  // Behind a trusted proxy, counts this request under the client address it forwards (the
  // per-address caps, and later the door's penalty); false when that address is over its caps,
  // after answering 429 and closing.
  bool count_forwarded_client(const boost::asio::ip::address& client);

  relay::ByteStream stream_;
  boost::beast::flat_buffer buffer_;
  std::size_t head_searched_ = 0;  // bytes of buffer_ known to hold no end of the head
  std::optional<http::request_parser<http::string_body>> parser_;
  std::shared_ptr<Response> response_;
  const Options& options_;
  RequestHandler& router_;
  Gauges& gauges_;
  DoorContext* door_;
  boost::asio::ip::tcp::endpoint peer_;
  AddressLimits::Slot slot_;  // the TCP peer's, or behind a trusted proxy the current request's client
  bool from_trusted_proxy_ = false;
  bool first_request_ = true;
  std::chrono::steady_clock::time_point request_started_;  // the current request's first byte
};

}  // namespace bouncer::server
