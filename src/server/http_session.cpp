#include "server/http_session.h"

#include "edge/client_address.h"
#include "edge/http_strictness.h"
#include "log/log.h"
#include "metrics/catalog.h"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/beast/core/read_size.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/websocket/rfc6455.hpp>

#include <atomic>
#include <chrono>
#include <limits>

namespace bouncer::server {

namespace beast = boost::beast;
namespace net = boost::asio;
namespace websocket = beast::websocket;

namespace {

// Failed TLS handshakes are routine on a public port (scanners, plain HTTP sent to the TLS
// port, clients that do not trust the certificate): one info line per window says they
// happen, with how many were only logged at debug since the last one.
class HandshakeFailureLog {
 public:
  void record(const std::string& client, const beast::error_code& ec) {
    const auto now = std::chrono::steady_clock::now().time_since_epoch().count();
    auto last = last_info_.load(std::memory_order_relaxed);
    const bool due = now - last >= std::chrono::duration_cast<std::chrono::steady_clock::duration>(kWindow).count();
    if (due && last_info_.compare_exchange_strong(last, now, std::memory_order_relaxed)) {
      const auto quiet = quiet_.exchange(0, std::memory_order_relaxed);
      log::info("tls_handshake_failed", {{"client", client}, {"error", ec.message()}, {"failures_since_last_logged", quiet}});
      return;
    }
    quiet_.fetch_add(1, std::memory_order_relaxed);
    log::debug("tls_handshake_failed", {{"client", client}, {"error", ec.message()}});
  }

 private:
  static constexpr std::chrono::seconds kWindow{10};
  std::atomic<std::int64_t> last_info_{std::numeric_limits<std::int64_t>::min() / 2};
  std::atomic<std::uint64_t> quiet_{0};
};

HandshakeFailureLog handshake_failure_log;

// The first read of a request waits for its first byte: a small buffer, so that idle
// connections hold little memory.
constexpr std::size_t kFirstRead = 512;

bool is_door_upgrade(const http::request_parser<http::string_body>& parser) {
  return websocket::is_upgrade(parser.get()) && path_of(parser.get().target()) == "/v1/stream";
}

std::string_view buffered(const beast::flat_buffer& buffer) {
  return {static_cast<const char*>(buffer.data().data()), buffer.size()};
}

// stream_truncated: a TLS client that closed its connection without TLS's close_notify.
bool is_disconnect(beast::error_code ec) {
  return ec == http::error::end_of_stream || ec == beast::error::timeout || ec == net::error::operation_aborted ||
         ec == net::error::connection_reset || ec == net::error::eof || ec == net::ssl::error::stream_truncated;
}

}  // namespace

HttpSession::HttpSession(net::ip::tcp::socket socket, net::ip::tcp::endpoint peer, const Options& options,
                         RequestHandler& router, Gauges& gauges, DoorContext* door,
                         std::shared_ptr<net::ssl::context> tls, AddressLimits::Slot slot)
    : stream_(std::move(socket), std::move(tls)),
      options_(options),
      router_(router),
      gauges_(gauges),
      door_(door),
      peer_(peer),
      slot_(std::move(slot)),
      from_trusted_proxy_(options.trusted_proxies.contains(peer.address())) {
  ++gauges_.connections;
}

HttpSession::~HttpSession() { --gauges_.connections; }

void HttpSession::run() {
  net::dispatch(stream_.get_executor(), [self = shared_from_this()] {
    if (self->stream_.is_tls()) return self->do_handshake();
    self->do_read();
  });
}

void HttpSession::do_handshake() {
  // Bounded like the WebSocket upgrade: a client that opens a connection and says nothing
  // holds it for this long at most.
  stream_.tcp().expires_after(options_.handshake_timeout);
  stream_.async_handshake([self = shared_from_this()](beast::error_code ec) { self->on_handshake(ec); });
}

void HttpSession::on_handshake(beast::error_code ec) {
  if (ec) {
    metrics::catalog().tls_handshake_failures.add();
    handshake_failure_log.record(peer_.address().to_string(), ec);
    return;  // the socket closes with this session
  }
  do_read();
}

void HttpSession::do_read() {
  parser_.emplace();
  parser_->header_limit(static_cast<std::uint32_t>(options_.max_header_bytes));
  parser_->body_limit(options_.mint_limits.max_body_bytes);
  head_searched_ = 0;
  if (buffer_.size() > 0) return start_head();  // the next request is already here (pipelined)
  stream_.tcp().expires_after(first_request_ ? options_.first_byte_timeout : options_.read_timeout);
  stream_.visit([&](auto& stream) {
    stream.async_read_some(buffer_.prepare(kFirstRead), [self = shared_from_this()](beast::error_code ec, std::size_t n) {
      self->on_first_bytes(ec, n);
    });
  });
}

void HttpSession::on_first_bytes(beast::error_code ec, std::size_t bytes) {
  if (ec) return do_close();  // timed out, or the client left: nothing to answer
  buffer_.commit(bytes);
  start_head();
}

void HttpSession::start_head() {
  first_request_ = false;
  request_started_ = std::chrono::steady_clock::now();
  // One deadline for the whole head, however slowly its bytes come (slowloris).
  stream_.tcp().expires_after(options_.header_timeout);
  read_head();
}

// The head first, as it came (the parser would hide an obsolete line folding): read until the
// buffer holds a whole one, or more than the header limit without one (the parser then
// answers 431). A pipelined request may already be there.
void HttpSession::read_head() {
  const auto bytes = buffered(buffer_);
  if (const auto end = edge::end_of_head(bytes.substr(head_searched_)); end != std::string_view::npos) {
    return on_head(bytes.substr(0, head_searched_ + end));
  }
  if (bytes.size() > options_.max_header_bytes + 4) return on_head({});
  // A terminator may straddle two reads: look at the last two bytes again.
  head_searched_ = bytes.size() > 2 ? bytes.size() - 2 : 0;
  stream_.visit([&](auto& stream) {
    stream.async_read_some(buffer_.prepare(beast::read_size(buffer_, 65536)),
                           [self = shared_from_this()](beast::error_code ec, std::size_t n) {
                             self->buffer_.commit(n);
                             if (!ec) return self->read_head();
                             if (ec == net::error::eof && self->buffer_.size() > 0) {
                               return self->reply_and_close(
                                   {400, "invalid_request_error", "bad_http_request", "Malformed HTTP request", {}});
                             }
                             self->on_read(ec, 0);
                           });
  });
}

void HttpSession::on_head(std::string_view head) {
  if (const auto violation = edge::check_raw_head(head)) return refuse_request(*violation);
  // The body, and the answer's write, have what is left of the request's read_timeout.
  stream_.tcp().expires_at(request_started_ + options_.read_timeout);
  stream_.visit([&](auto& stream) {
    http::async_read(stream, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, std::size_t n) { self->on_read(ec, n); });
  });
}

void HttpSession::refuse_request(std::string_view why) {
  log::debug("http_bad_request", {{"error", why}, {"client", peer_.address().to_string()}});
  reply_and_close({400, "invalid_request_error", "bad_http_request", std::string(why), {}});
}

void HttpSession::on_read(beast::error_code ec, std::size_t) {
  if (is_disconnect(ec)) return do_close();
  if (ec == http::error::body_limit) {
    return reply_and_close({413, "invalid_request_error", "body_too_large",
                            "The request body is larger than " + std::to_string(options_.mint_limits.max_body_bytes) +
                                " bytes",
                            {}});
  }
  if (ec == http::error::header_limit) {
    return reply_and_close({431, "invalid_request_error", "headers_too_large",
                            "The request headers are larger than " + std::to_string(options_.max_header_bytes) + " bytes",
                            {}});
  }
  if (ec) {
    log::debug("http_bad_request", {{"error", ec.message()}, {"client", peer_.address().to_string()}});
    return reply_and_close({400, "invalid_request_error", "bad_http_request", "Malformed HTTP request", {}});
  }
  const auto& request = parser_->get();
  if (const auto violation = edge::check_header_fields(request, request.version())) return refuse_request(*violation);

  // Per request: a proxy's one connection carries many clients' requests.
  const auto client = edge::resolve_client_address(peer_.address(), request, options_.trusted_proxies);
  if (!count_forwarded_client(client)) return;

  const bool door_upgrade = door_ && is_door_upgrade(*parser_);
  // An upgrade to the door is still opening until the door has decided on it.
  if (!door_upgrade) slot_.finish_handshake();
  if (door_upgrade) {
    // From here on the connection belongs to the door; this HTTP session ends.
    std::make_shared<StreamSession>(std::move(stream_), client, parser_->release(), *door_,
                                    std::move(slot_))
        ->run();
    return;
  }

  ++gauges_.requests_in_flight;
  // The router may answer from another thread (the store's writer); come back to ours.
  router_.handle(request, client.to_string(), [self = shared_from_this()](Response response) {
    net::post(self->stream_.get_executor(),
              [self, response = std::move(response)]() mutable { self->do_write(std::move(response)); });
  });
}

void HttpSession::do_write(Response response) {
  response_ = std::make_shared<Response>(std::move(response));
  response_->set(http::field::server, "bouncer");
  const bool keep_alive = response_->keep_alive();
  stream_.visit([&](auto& stream) {
    http::async_write(stream, *response_, [self = shared_from_this(), keep_alive](beast::error_code ec, std::size_t n) {
      self->on_write(keep_alive, ec, n);
    });
  });
}

void HttpSession::on_write(bool keep_alive, beast::error_code ec, std::size_t) {
  if (gauges_.requests_in_flight > 0) --gauges_.requests_in_flight;
  response_.reset();
  // A forwarded client is counted for its request only: the proxy's next request may be another's.
  if (from_trusted_proxy_) slot_ = {};
  if (ec || !keep_alive) return do_close();
  do_read();
}

bool HttpSession::count_forwarded_client(const net::ip::address& client) {
  if (!from_trusted_proxy_ || !door_ || !door_->address_limits) return true;
  AddressLimits::Slot slot;
  const auto verdict = door_->address_limits->open(address_key(client), slot);
  if (verdict == AddressLimits::Verdict::admitted) {
    slot_ = std::move(slot);
    return true;
  }
  // Repeated lines are rate-limited by the log itself; a flood costs one line with a count.
  log::warn("forwarded_client_refused", {{"reason", to_string(verdict)}, {"client", slot.address()}});
  reply_and_close({429, "rate_limit_error", "too_many_connections",
                   "Too many connections from this client address: retry later", {}});
  return false;
}

void HttpSession::reply_and_close(const policy::ApiError& error) {
  ++gauges_.requests_in_flight;  // balanced in on_write
  do_write(error_response(error, 11, false));
}

void HttpSession::do_close() {
  if (stream_.is_tls()) {
    // TLS ends with close_notify (so the client can tell an end from a cut); the peer's
    // answer is awaited no longer than a handshake.
    if (!stream_.tcp().socket().is_open()) return;
    stream_.tcp().expires_after(options_.handshake_timeout);
    stream_.async_shutdown([self = shared_from_this()](beast::error_code) {});
    return;
  }
  beast::error_code ec;
  stream_.tcp().socket().shutdown(net::ip::tcp::socket::shutdown_send, ec);
}

}  // namespace bouncer::server
