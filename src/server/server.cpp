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

AddressLimitsOptions address_limits_of(const Options& o) {
  AddressLimitsOptions a;
  a.max_connections = o.max_connections_per_ip;
  a.max_handshakes = o.max_handshakes_per_ip;
  a.max_invalid_credentials = o.max_invalid_credentials_per_ip;
  a.invalid_credentials_window = o.invalid_credentials_window;
  a.penalty = o.invalid_credentials_penalty;
  return a;
}

}  // namespace

Server::Server(Options options, store::Store& store)
    : options_(std::move(options)),
      store_(store),
      cache_(store_, options_.data_dir, options_.state_poll_interval),
      router_(options_, cache_, store_, registry_),
      address_limits_(address_limits_of(options_)),
      connection_refusals_("connection_refused",
                           {"max_connections", "descriptors", "connections_per_ip", "handshakes_per_ip", "addresses_tracked"}),
      door_refusals_("sessions_refused", {"address_penalised", "penalty_started", "descriptors"}),
      door_{options_, cache_, store_, registry_, gauges_, token_cache_, {}} {
  door_.address_limits = &address_limits_;
  door_.refusals = &door_refusals_;
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
    if (ec) {
      // Never retry at once (EMFILE would spin): pause, shedding the backlog if out of descriptors.
      return worker.backoff->failed(ec, [this, &worker] { do_accept(worker); });
    }
    worker.backoff->succeeded();
    take_connection(std::move(socket), worker.peer);
    do_accept(worker);
  });
}

// Over a limit, the connection is closed at once: kinder to the process than queueing forever.
void Server::take_connection(tcp::socket socket, const tcp::endpoint& peer) {
  auto address = address_key(peer.address());
  if (gauges_.connections >= options_.max_connections) return connection_refusals_.note("max_connections", address);
  if (gauges_.connections + gauges_.upstream_descriptors >= descriptor_budget_) {
    return connection_refusals_.note("descriptors", address);
  }
  AddressLimits::Slot slot;
  if (const auto verdict = address_limits_.open(std::move(address), slot); verdict != AddressLimits::Verdict::admitted) {
    return connection_refusals_.note(to_string(verdict), slot.address());
  }
  // Answers and relayed frames are small and latency-bound: never wait for Nagle.
  boost::system::error_code ignored;
  socket.set_option(tcp::no_delay(true), ignored);
  std::make_shared<HttpSession>(std::move(socket), peer, options_, router_, gauges_, door_, std::move(slot))->run();
}

// Client load may hold the open-file limit minus what is open now and a reserve: more
// connections than that could only end in EMFILE for the store, the state poll and accept().
void Server::fit_connections_to_descriptors(const DescriptorLimit& limit) {
  const auto open = open_descriptors();
  descriptor_budget_ = client_descriptor_budget(limit.soft, open);
  if (descriptor_budget_ < 16) {
    throw std::runtime_error("the open-file limit (" + std::to_string(limit.soft) + ", hard " + std::to_string(limit.hard) +
                             ") leaves almost no descriptors for clients: " + std::to_string(open) + " are open and " +
                             std::to_string(kReservedDescriptors) + " are kept in reserve; raise it (ulimit -n, LimitNOFILE=)");
  }
  door_.descriptor_budget = descriptor_budget_;
  const auto configured = options_.max_connections;
  options_.max_connections = std::min(configured, descriptor_budget_);
  log::info("descriptor_limit", {{"soft_at_start", limit.soft_before},
                                 {"soft", limit.soft},
                                 {"hard", limit.hard},
                                 {"open", open},
                                 {"reserved", kReservedDescriptors},
                                 {"for_clients", descriptor_budget_},
                                 {"max_connections", options_.max_connections}});
  if (options_.max_connections < configured) {
    log::warn("max_connections_lowered", {{"configured", configured},
                                          {"max_connections", options_.max_connections},
                                          {"why", "open-file limit"}});
  }
}

// Counts of refusals still unwritten are written within a second, also after a flood ends.
void Server::schedule_refusal_flush() {
  refusal_flush_->expires_after(std::chrono::seconds(1));
  refusal_flush_->async_wait([this](boost::system::error_code ec) {
    if (ec) return;
    connection_refusals_.flush();
    door_refusals_.flush();
    schedule_refusal_flush();
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
    if (url && url->tls) door_.tls_by_model[model.name] = relay::make_client_tls_context(model.ca_file);
  }
}

void Server::start() {
  const auto descriptor_limit = raise_descriptor_limit();
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
    worker->backoff = std::make_unique<AcceptBackoff>(*worker->acceptor);
    // With port 0 the first acceptor picks the port; the others join it.
    endpoint.port(worker->acceptor->local_endpoint().port());
    workers_.push_back(std::move(worker));
  }
  port_ = endpoint.port();
  start_builtin_models();
  prepare_tls();
  if (options_.public_url.empty()) options_.public_url = "http://" + options_.host + ":" + std::to_string(port_);
  fit_connections_to_descriptors(descriptor_limit);
  refusal_flush_ = std::make_unique<net::steady_timer>(workers_.front()->ioc);
  schedule_refusal_flush();
  for (auto& w : workers_) {
    do_accept(*w);
    w->thread = std::thread([&ioc = w->ioc] { ioc.run(); });
  }
  log::info("listening", {{"address", options_.host + ":" + std::to_string(port_)},
                          {"threads", static_cast<std::int64_t>(threads)},
                          {"public_url", options_.public_url}});
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
      if (w->backoff) w->backoff->stop();
      if (w->acceptor) w->acceptor->close(ignored);
    });
  }
  if (refusal_flush_) {
    net::post(workers_.front()->ioc, [this] { refusal_flush_->cancel(); });
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
  log::info("stopped");
}

}  // namespace bouncer::server
