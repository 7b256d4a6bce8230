#include "server/server.h"

#include "log/log.h"

#include <boost/asio/signal_set.hpp>
#include <boost/asio/socket_base.hpp>

#include <sys/socket.h>

#include <chrono>
#include <future>

namespace bouncer::server {

namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

using reuse_port = net::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;

}  // namespace

Server::Server(Options options, store::Store& store)
    : options_(std::move(options)),
      store_(store),
      cache_(store_, options_.data_dir, options_.state_poll_interval),
      router_(options_, cache_, store_, registry_),
      door_{options_, cache_, store_, registry_, gauges_, token_cache_, {}} {
  cache_.on_end_sessions([this](const std::string& key_id) {
    const auto ended = registry_.end_sessions_of_key(key_id, 1008, "Token revoked",
                                                     policy::error_frame(policy::Refusal::token_revoked));
    log::info("sessions_ended_by_revocation", {{"key_id", key_id}, {"sessions", ended}});
  });
}

Server::~Server() { shutdown(); }

void Server::open_acceptor(Worker& worker, const tcp::endpoint& endpoint) {
  auto acceptor = std::make_unique<tcp::acceptor>(worker.ioc);
  boost::system::error_code ec;
  acceptor->open(endpoint.protocol(), ec);
  if (!ec) acceptor->set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor->set_option(reuse_port(true), ec);
  if (!ec) acceptor->bind(endpoint, ec);
  if (!ec) acceptor->listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    throw std::runtime_error("cannot listen on " + endpoint.address().to_string() + ":" +
                             std::to_string(endpoint.port()) + ": " + ec.message());
  }
  worker.acceptor = std::move(acceptor);
}

void Server::do_accept(Worker& worker) {
  // The peer's address comes with the accept: no getpeername() per connection.
  worker.acceptor->async_accept(worker.ioc, worker.peer, [this, &worker](boost::system::error_code ec, tcp::socket socket) {
    if (ec == net::error::operation_aborted) return;
    if (!ec) {
      if (gauges_.connections >= options_.max_connections) {
        // Over the limit: closing at once is kinder to the process than queueing forever.
        log::warn("connection_refused", {{"reason", "max_connections"}, {"limit", options_.max_connections}});
      } else {
        // Answers and relayed frames are small and latency-bound: never wait for Nagle.
        boost::system::error_code ignored;
        socket.set_option(tcp::no_delay(true), ignored);
        std::make_shared<HttpSession>(std::move(socket), worker.peer, options_, router_, gauges_, door_)->run();
      }
    } else {
      log::warn("accept_failed", {{"error", ec.message()}});
    }
    do_accept(worker);
  });
}

void Server::start_builtin_models() {
  // They share the first worker's io_context; their sessions are as light as an echo.
  builtin_models_ = std::make_unique<models::BuiltinModels>(workers_.front()->ioc);
  builtin_models_->start();
  for (auto& model : options_.models) {
    if (!model.builtin) continue;
    model.upstream = builtin_models_->url_of(model.name);
    model.shared_secret = builtin_models_->shared_secret();
  }
}

void Server::prepare_tls() {
  for (const auto& model : options_.models) {
    const auto url = relay::parse_upstream_url(model.upstream);
    if (!url || !url->tls) continue;
    try {
      door_.tls_by_model[model.name] = relay::make_client_tls_context(model.ca_file);
    } catch (const std::exception& e) {
      throw std::runtime_error("model " + model.name + ": cannot use ca_file " + model.ca_file + ": " + e.what());
    }
  }
}

void Server::start() {
  cache_.start();
  if (auto* leases = store_.session_leases()) {
    lease_keeper_ = std::make_unique<LeaseKeeper>(*leases, registry_);
    lease_keeper_->start();
  }
  const auto threads = options_.threads ? options_.threads : std::max(1u, std::thread::hardware_concurrency());
  boost::system::error_code ec;
  const auto address = net::ip::make_address(options_.host, ec);
  if (ec) throw std::runtime_error("invalid listen address " + options_.host + ": " + ec.message());

  tcp::endpoint endpoint(address, options_.port);
  for (unsigned i = 0; i < threads; ++i) {
    auto worker = std::make_unique<Worker>();
    open_acceptor(*worker, endpoint);
    // With port 0 the first acceptor picks the port; the others join it.
    endpoint.port(worker->acceptor->local_endpoint().port());
    workers_.push_back(std::move(worker));
  }
  port_ = endpoint.port();
  start_builtin_models();
  prepare_tls();
  if (options_.public_url.empty()) options_.public_url = "http://" + options_.host + ":" + std::to_string(port_);
  // Before the first accept: a node whose tokens its peers would refuse does not serve.
  cache_.announce(options_.public_url);
  for (auto& w : workers_) {
    do_accept(*w);
    w->thread = std::thread([&ioc = w->ioc] { ioc.run(); });
  }
  log::info("listening", {{"address", options_.host + ":" + std::to_string(port_)},
                          {"threads", static_cast<std::int64_t>(threads)},
                          {"public_url", options_.public_url}});
  started_ = true;
}

void Server::run_until_signal() {
  net::io_context signals_ioc;
  net::signal_set signals(signals_ioc, SIGINT, SIGTERM);
  signals.async_wait([](boost::system::error_code, int signal) {
    log::info("shutdown_requested", {{"signal", signal == SIGINT ? "SIGINT" : "SIGTERM"}});
  });
  signals_ioc.run();
  shutdown();
}

void Server::shutdown() {
  if (stopped_) return;
  stopped_ = true;
  for (auto& w : workers_) {
    net::post(w->ioc, [&w] {
      boost::system::error_code ignored;
      if (w->acceptor) w->acceptor->close(ignored);
    });
  }
  const auto told = registry_.close_and_end_all(1001, "Server shutting down");
  if (told > 0) log::info("sessions_told_to_end", {{"sessions", told}});
  const auto deadline = std::chrono::steady_clock::now() + options_.shutdown_grace;
  while ((gauges_.requests_in_flight > 0 || registry_.live() > 0) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (gauges_.requests_in_flight > 0 || registry_.live() > 0) {
    log::warn("shutdown_grace_expired",
              {{"requests_in_flight", gauges_.requests_in_flight.load()}, {"sessions", registry_.live()}});
  }
  if (builtin_models_) {
    // Stopped on its own thread; bounded, since a wedged worker must not block shutdown.
    std::promise<void> stopped;
    auto done = stopped.get_future();
    net::post(workers_.front()->ioc, [this, &stopped] {
      builtin_models_->stop();
      stopped.set_value();
    });
    done.wait_for(std::chrono::seconds(2));
  }
  for (auto& w : workers_) w->ioc.stop();
  if (builtin_models_) {
    for (auto& w : workers_) {
      if (w->thread.joinable()) w->thread.join();
    }
    builtin_models_.reset();  // its io_context is stopped: destroying it runs nothing
  }
  for (auto& w : workers_) {
    if (w->thread.joinable()) w->thread.join();
  }
  door_.store_closed = true;
  if (lease_keeper_) lease_keeper_->stop();
  cache_.stop();
  // Not after a failed start: the error that stopped it is the last word, not "stopped".
  if (started_) log::info("stopped");
}

}  // namespace bouncer::server
