#include "server/http_session.h"

#include "edge/client_address.h"
#include "edge/http_strictness.h"
#include "log/log.h"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core/read_size.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/websocket/rfc6455.hpp>

namespace bouncer::server {

namespace beast = boost::beast;
namespace net = boost::asio;
namespace websocket = beast::websocket;

namespace {

std::string_view path_of(std::string_view target) { return target.substr(0, target.find('?')); }

std::string_view buffered(const beast::flat_buffer& buffer) {
  return {static_cast<const char*>(buffer.data().data()), buffer.size()};
}

bool is_disconnect(beast::error_code ec) {
  return ec == http::error::end_of_stream || ec == beast::error::timeout || ec == net::error::operation_aborted ||
         ec == net::error::connection_reset || ec == net::error::eof;
}

}  // namespace

HttpSession::HttpSession(net::ip::tcp::socket socket, net::ip::tcp::endpoint peer, const Options& options,
                         Router& router, Gauges& gauges, DoorContext& door)
    : stream_(std::move(socket)), options_(options), router_(router), gauges_(gauges), door_(door), peer_(peer) {
  ++gauges_.connections;
}

HttpSession::~HttpSession() { --gauges_.connections; }

void HttpSession::run() {
  net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->do_read(); });
}

void HttpSession::do_read() {
  parser_.emplace();
  parser_->header_limit(static_cast<std::uint32_t>(options_.max_header_bytes));
  parser_->body_limit(options_.mint_limits.max_body_bytes);
  stream_.expires_after(options_.read_timeout);
  head_searched_ = 0;
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
  stream_.async_read_some(buffer_.prepare(beast::read_size(buffer_, 65536)),
                          [self = shared_from_this()](beast::error_code ec, std::size_t n) {
                            self->buffer_.commit(n);
                            if (!ec) return self->read_head();
                            if (ec == net::error::eof && self->buffer_.size() > 0) {
                              return self->reply_and_close(
                                  {400, "invalid_request_error", "bad_http_request", "Malformed HTTP request", {}});
                            }
                            self->on_read(ec, 0);
                          });
}

void HttpSession::on_head(std::string_view head) {
  if (const auto violation = edge::check_raw_head(head)) return refuse_request(*violation);
  http::async_read(stream_, buffer_, *parser_,
                   [self = shared_from_this()](beast::error_code ec, std::size_t n) { self->on_read(ec, n); });
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

  if (websocket::is_upgrade(request) && path_of(request.target()) == "/v1/stream") {
    // From here on the connection belongs to the door; this HTTP session ends.
    std::make_shared<StreamSession>(stream_.release_socket(), client, parser_->release(), door_)->run();
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
  http::async_write(stream_, *response_, [self = shared_from_this(), keep_alive](beast::error_code ec, std::size_t n) {
    self->on_write(keep_alive, ec, n);
  });
}

void HttpSession::on_write(bool keep_alive, beast::error_code ec, std::size_t) {
  if (gauges_.requests_in_flight > 0) --gauges_.requests_in_flight;
  response_.reset();
  if (ec || !keep_alive) return do_close();
  do_read();
}

void HttpSession::reply_and_close(const policy::ApiError& error) {
  ++gauges_.requests_in_flight;  // balanced in on_write
  do_write(error_response(error, 11, false));
}

void HttpSession::do_close() {
  beast::error_code ec;
  stream_.socket().shutdown(net::ip::tcp::socket::shutdown_send, ec);
}

}  // namespace bouncer::server
