#include "server/admin_listener.h"

#include "log/log.h"
#include "server/http_session.h"

#include <boost/asio/post.hpp>
#include <boost/asio/socket_base.hpp>

#include <chrono>
#include <memory>
#include <stdexcept>

namespace bouncer::server {

namespace net = boost::asio;
using tcp = net::ip::tcp;

std::string endpoint_text(const tcp::endpoint& endpoint) {
  const auto address = endpoint.address().to_string();
  const auto port = std::to_string(endpoint.port());
  return endpoint.address().is_v6() ? "[" + address + "]:" + port : address + ":" + port;
}

AdminListener::AdminListener(net::io_context& ioc, const Options& options, RequestHandler& router, Gauges& gauges)
    : ioc_(ioc), options_(options), router_(router), gauges_(gauges), acceptor_(ioc), retry_(ioc) {}

void AdminListener::open(const tcp::endpoint& endpoint) {
  boost::system::error_code ec;
  acceptor_.open(endpoint.protocol(), ec);
  // SO_REUSEADDR only lets a restart bind over connections in TIME_WAIT; on Linux it never lets
  // two listeners share the port.
  if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    throw std::runtime_error("cannot listen on " + endpoint_text(endpoint) + " (--admin-listen): " + ec.message());
  }
  endpoint_ = acceptor_.local_endpoint();
}

void AdminListener::start() { do_accept(); }

void AdminListener::close() {
  net::post(ioc_, [this] {
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    retry_.cancel();
  });
}

void AdminListener::do_accept() {
  acceptor_.async_accept(ioc_, peer_, [this](boost::system::error_code ec, tcp::socket socket) {
    if (ec == net::error::operation_aborted || !acceptor_.is_open()) return;
    if (!ec) {
      if (gauges_.connections >= options_.max_connections) {
        log::warn("connection_refused", {{"reason", "max_connections"}, {"listener", "admin"},
                                         {"limit", options_.max_connections}});
      } else {
        std::make_shared<HttpSession>(std::move(socket), peer_, options_, router_, gauges_, nullptr)->run();
      }
    } else {
      // Out of descriptors, most likely: retrying at once would spin. Pause, then go on.
      log::warn("accept_failed", {{"listener", "admin"}, {"error", ec.message()}});
      retry_.expires_after(std::chrono::milliseconds(100));
      retry_.async_wait([this](boost::system::error_code wait_ec) {
        if (!wait_ec && acceptor_.is_open()) do_accept();
      });
      return;
    }
    do_accept();
  });
}

}  // namespace bouncer::server
