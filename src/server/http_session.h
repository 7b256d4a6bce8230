// One HTTP/1.1 connection: read a request (bounded header and body), route it, write the
// answer, repeat while keep-alive. The session owns itself through shared_from_this().
#pragma once

#include "server/gauges.h"
#include "server/options.h"
#include "server/routes.h"
#include "server/stream_session.h"

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/parser.hpp>

#include <atomic>
#include <memory>
#include <optional>

namespace bouncer::server {

class HttpSession : public std::enable_shared_from_this<HttpSession> {
 public:
  HttpSession(boost::asio::ip::tcp::socket socket, boost::asio::ip::tcp::endpoint peer, const Options& options,
              Router& router, Gauges& gauges, DoorContext& door);
  ~HttpSession();

  void run();

 private:
  void do_read();
  void read_head();
  void on_head(std::string_view head);  // empty: no whole head within the header limit
  void on_read(boost::beast::error_code ec, std::size_t bytes);
  void refuse_request(std::string_view why);  // 400 and close: the request breaks RFC 9112
  void do_write(Response response);
  void on_write(bool keep_alive, boost::beast::error_code ec, std::size_t bytes);
  void do_close();
  void reply_and_close(const policy::ApiError& error);

  boost::beast::tcp_stream stream_;
  boost::beast::flat_buffer buffer_;
  std::size_t head_searched_ = 0;  // bytes of buffer_ known to hold no end of the head
  std::optional<http::request_parser<http::string_body>> parser_;
  std::shared_ptr<Response> response_;
  const Options& options_;
  Router& router_;
  Gauges& gauges_;
  DoorContext& door_;
  boost::asio::ip::tcp::endpoint peer_;
};

}  // namespace bouncer::server
