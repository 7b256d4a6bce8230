// The admin listener: operator endpoints (admin_routes.h) on an address of their own, never the
// public one, so that a firewall rule or a loopback address keeps them private.
//
// One acceptor, on the first worker's io_context (scrapes are rare and cheap), without
// SO_REUSEPORT: a second process cannot share the port. Its connections go through HttpSession
// with the public listener's limits (header and body size, read timeout, --max-connections),
// counted apart so that a flood on the public port cannot lock operators out.
#pragma once

#include "server/gauges.h"
#include "server/options.h"
#include "server/routing.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <cstdint>
#include <string>

namespace bouncer::server {

class AdminListener {
 public:
  // `gauges` must outlive every connection (they may end after this listener).
  AdminListener(boost::asio::io_context& ioc, const Options& options, RequestHandler& router, Gauges& gauges);

  // Binds and listens. Throws std::runtime_error naming the address when it cannot.
  void open(const boost::asio::ip::tcp::endpoint& endpoint);
  // Accepts until close().
  void start();
  // Stops accepting (posted to the listener's io_context: callable from any thread).
  void close();

  // The address bound (with the port chosen for port 0), once open() succeeded.
  const boost::asio::ip::tcp::endpoint& endpoint() const { return endpoint_; }
  std::uint16_t port() const { return endpoint_.port(); }

 private:
  void do_accept();

  boost::asio::io_context& ioc_;
  const Options& options_;
  RequestHandler& router_;
  Gauges& gauges_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer retry_;      // the pause after a failed accept
  boost::asio::ip::tcp::endpoint peer_;  // filled by each accept
  boost::asio::ip::tcp::endpoint endpoint_;
};

// The admin address as the listening log line shows it ("127.0.0.1:9090", "[::1]:9090").
std::string endpoint_text(const boost::asio::ip::tcp::endpoint& endpoint);

}  // namespace bouncer::server
