#include "server/http_session.h"

#include "log/log.h"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/websocket/rfc6455.hpp>

namespace bouncer::server {

namespace beast = boost::beast;
namespace net = boost::asio;
namespace websocket = beast::websocket;

HttpSession::HttpSession(net::ip::tcp::socket socket, net::ip::tcp::endpoint peer, const Options& options,
                         RequestHandler& router, Gauges& gauges, DoorContext* door)
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
  http::async_read(stream_, buffer_, *parser_,
                   [self = shared_from_this()](beast::error_code ec, std::size_t n) { self->on_read(ec, n); });
}

void HttpSession::on_read(beast::error_code ec, std::size_t) {
  if (ec == http::error::end_of_stream || ec == beast::error::timeout || ec == net::error::operation_aborted ||
      ec == net::error::connection_reset || ec == net::error::eof) {
    return do_close();
  }
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
    log::debug("http_bad_request", {{"error", ec.message()}});
    return reply_and_close({400, "invalid_request_error", "bad_http_request", "Malformed HTTP request", {}});
  }

  if (door_ && websocket::is_upgrade(parser_->get()) && path_of(parser_->get().target()) == "/v1/stream") {
    // From here on the connection belongs to the door; this HTTP session ends.
    std::make_shared<StreamSession>(stream_.release_socket(), peer_, parser_->release(), *door_)->run();
    return;
  }

  ++gauges_.requests_in_flight;
  // The router may answer from another thread (the store's writer); come back to ours.
  router_.handle(parser_->get(), [self = shared_from_this()](Response response) {
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
