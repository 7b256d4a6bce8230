#include "server/server.h"

#include "log/log.h"

#include <boost/asio/socket_base.hpp>

#include <sys/socket.h>

#include <chrono>
#include <future>
#include <numeric>

namespace bouncer::server {

namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

using reuse_port = net::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string joined(const std::vector<std::string>& names) {
  if (names.empty()) return "-";
  return std::accumulate(std::next(names.begin()), names.end(), names.front(),
                         [](std::string a, const std::string& b) { return std::move(a) + "," + b; });
}

void log_certificate(std::string_view event, const TlsFiles& files, const CertificateInfo& cert) {
  log::info(event, {{"cert", files.cert_file},
                    {"subject", cert.subject},
                    {"issuer", cert.issuer},
                    {"serial", cert.serial},
                    {"sha256", cert.sha256},
                    {"not_before", rfc3339(cert.not_before)},
                    {"not_after", rfc3339(cert.not_after)}});
  const auto problem = validity_problem(cert, unix_now());
  if (!problem.empty()) {
    // Served anyway (a clock that is wrong here would otherwise stop the service), but
    // clients will refuse it: say so loudly, with the dates.
    log::warn("tls_certificate_not_valid_now", {{"cert", files.cert_file},
                                                {"problem", problem},
                                                {"not_before", rfc3339(cert.not_before)},
                                                {"not_after", rfc3339(cert.not_after)}});
  }
}

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
      models_(std::make_shared<const ModelTable>(std::vector<ModelRoute>{})),
      cache_(store_, options_.data_dir, options_.state_poll_interval),
      router_(options_, cache_, store_, registry_, models_),
      admin_router_(options_, cache_, registry_, gauges_),
      address_limits_(address_limits_of(options_)),
      connection_refusals_("connection_refused",
                           {"max_connections", "descriptors", "connections_per_ip", "handshakes_per_ip", "addresses_tracked"}),
      door_refusals_("sessions_refused", {"address_penalised", "penalty_started", "descriptors"}),
      door_{options_, cache_, store_, registry_, gauges_, token_cache_, models_} {
  door_.address_limits = &address_limits_;
  door_.refusals = &door_refusals_;
  cache_.on_end_sessions([this](const std::string& key_id) {
    const auto ended = registry_.end_sessions_of_key(key_id, 1008, "Token revoked",
                                                     policy::error_frame(policy::Refusal::token_revoked));
    log::info("sessions_ended_by_revocation", {{"key_id", key_id}, {"sessions", ended}});
  });
}

Server::~Server() { shutdown(); }

// One server per port. This process's acceptors form one SO_REUSEPORT group, so the kernel
// spreads connections over the threads. But such a group admits any process of the same
// user that sets the option too: a second `serve` on the port would start silently and take
// half the connections. So the first acceptor binds WITHOUT SO_REUSEPORT, and that bind is
// the check: it fails (EADDRINUSE) while any other socket is bound to the port, and, unlike
// a probe socket closed before the real bind, leaves no moment in which another process
// could slip in. Owning the port, it then sets SO_REUSEPORT (Linux reads it at listen() and
// when a later socket binds), and the other threads' acceptors join it. A second `serve`
// meets the same first bind and fails, naming the port.
void Server::open_acceptor(Worker& worker, const tcp::endpoint& endpoint, bool first) {
  auto acceptor = std::make_unique<tcp::acceptor>(worker.ioc);
  boost::system::error_code ec;
  acceptor->open(endpoint.protocol(), ec);
  // SO_REUSEADDR: a restart may bind while the last run's connections are in TIME_WAIT; it
  // never lets two sockets listen on one port.
  if (!ec) acceptor->set_option(net::socket_base::reuse_address(true), ec);
  if (!ec && !first) acceptor->set_option(reuse_port(true), ec);
  if (!ec) acceptor->bind(endpoint, ec);
  if (first && ec == net::error::address_in_use) {
    throw std::runtime_error("cannot listen on " + endpoint.address().to_string() + ":" +
                             std::to_string(endpoint.port()) + ": port " + std::to_string(endpoint.port()) +
                             " is already in use by another process (another bouncer serve?)");
  }
  if (!ec && first) acceptor->set_option(reuse_port(true), ec);
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
  // A trusted proxy speaks for many clients: its connections are not counted under its own
  // address; each request it forwards is, under the client's (HttpSession::count_forwarded_client).
  if (!options_.trusted_proxies.contains(peer.address())) {
    if (const auto verdict = address_limits_.open(std::move(address), slot); verdict != AddressLimits::Verdict::admitted) {
      return connection_refusals_.note(to_string(verdict), slot.address());
    }
  }
  // Answers and relayed frames are small and latency-bound: never wait for Nagle.
  boost::system::error_code ignored;
  socket.set_option(tcp::no_delay(true), ignored);
  // A TLS connection takes the context current now and keeps it: a reload changes what the
  // next connections get, never a live one.
  auto tls = tls_ ? tls_->current()->context : nullptr;
  std::make_shared<HttpSession>(std::move(socket), peer, options_, router_, gauges_, &door_, std::move(tls),
                                std::move(slot))
      ->run();
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
  options_.models = with_builtin_upstreams(std::move(options_.models));
  models_.replace(std::make_shared<const ModelTable>(options_.models));
}

std::vector<ModelRoute> Server::with_builtin_upstreams(std::vector<ModelRoute> routes) const {
  for (auto& model : routes) {
    if (!model.builtin) continue;
    model.upstream = builtin_models_->url_of(model.name);
    model.shared_secret = builtin_models_->shared_secret();
  }
  return routes;
}

void Server::load_tls() {
  if (!options_.tls()) return;
  const TlsFiles files{options_.tls_cert_file, options_.tls_key_file};
  auto loaded = load_server_tls(files);
  log_certificate("tls_certificate_loaded", files, loaded.certificate);
  tls_ = std::make_unique<TlsContextHolder>(std::move(loaded));
}

void Server::reload_tls() {
  if (!tls_) return;
  const TlsFiles files{options_.tls_cert_file, options_.tls_key_file};
  try {
    auto loaded = load_server_tls(files);
    log_certificate("tls_certificate_reloaded", files, loaded.certificate);
    tls_->replace(std::move(loaded));
  } catch (const std::exception& e) {
    const auto kept = tls_->current()->certificate;
    log::error("tls_reload_failed", {{"error", e.what()},
                                     {"kept_subject", kept.subject},
                                     {"kept_serial", kept.serial},
                                     {"kept_not_after", rfc3339(kept.not_after)}});
  }
}

// The admin listener never shares the public listener's socket address: its endpoints are for
// operators, and a load balancer in front of the public port must not reach them.
void Server::open_admin_listener(const tcp::endpoint& public_endpoint) {
  if (options_.admin_host.empty()) return;
  boost::system::error_code ec;
  const auto address = net::ip::make_address(options_.admin_host, ec);
  if (ec) throw std::runtime_error("invalid --admin-listen address " + options_.admin_host + ": " + ec.message());
  const tcp::endpoint endpoint(address, options_.admin_port);
  const bool same_port = endpoint.port() != 0 && endpoint.port() == public_endpoint.port();
  const bool overlapping = address == public_endpoint.address() || address.is_unspecified() ||
                           public_endpoint.address().is_unspecified();
  if (same_port && overlapping) {
    throw std::runtime_error("--admin-listen " + endpoint_text(endpoint) + " is the public listener's address (--listen " +
                             endpoint_text(public_endpoint) + "): the admin listener needs a port of its own, or off");
  }
  admin_ = std::make_unique<AdminListener>(workers_.front()->ioc, options_, admin_router_, admin_gauges_);
  admin_->open(endpoint);
}

void Server::reload_models() {
  if (!model_source_) {
    log::info("models_not_reloaded", {{"reason", "no configuration file (--config)"}});
    return;
  }
  std::shared_ptr<const ModelTable> next;
  try {
    next = std::make_shared<const ModelTable>(with_builtin_upstreams(model_source_()));
  } catch (const std::exception& e) {
    log::error("models_reload_failed", {{"error", e.what()}, {"kept_models", static_cast<std::int64_t>(models_.current()->routes().size())}});
    return;
  }
  const auto changes = diff_models(*models_.current(), *next);
  models_.replace(std::move(next));
  log::info("models_reloaded", {{"added", joined(changes.added)},
                                {"changed", joined(changes.changed)},
                                {"removed", joined(changes.removed)},
                                {"models", static_cast<std::int64_t>(models_.current()->routes().size())}});
}

void Server::reload() {
  log::info("reload_started");
  reload_tls();
  reload_models();
  // Everything else (listen address, limits, timeouts, store, …) is read once at start.
  log::info("reload_finished", {{"reloaded", "tls certificate and key, [models]"},
                                {"not_reloaded", "every other setting (restart to change it)"}});
}

void Server::start() {
  load_tls();  // first: a bad certificate or key stops the start before anything else
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
    open_acceptor(*worker, endpoint, i == 0);
    worker->backoff = std::make_unique<AcceptBackoff>(*worker->acceptor);
    // With port 0 the first acceptor picks the port; the others join it.
    endpoint.port(worker->acceptor->local_endpoint().port());
    workers_.push_back(std::move(worker));
  }
  port_ = endpoint.port();
  open_admin_listener(endpoint);
  start_builtin_models();
  if (options_.public_url.empty()) {
    options_.public_url = (tls_ ? "https://" : "http://") + options_.host + ":" + std::to_string(port_);
  }
  // Before the first accept: a node whose tokens its peers would refuse does not serve.
  cache_.announce(options_.public_url);
  fit_connections_to_descriptors(descriptor_limit);
  refusal_flush_ = std::make_unique<net::steady_timer>(workers_.front()->ioc);
  schedule_refusal_flush();
  signals_ = std::make_unique<net::signal_set>(signals_ioc_, SIGINT, SIGTERM, SIGHUP);
  if (admin_) admin_->start();
  for (auto& w : workers_) {
    do_accept(*w);
    w->thread = std::thread([&ioc = w->ioc] { ioc.run(); });
  }
  const auto admin_address = admin_ ? endpoint_text(admin_->endpoint()) : "off";
  log::info("listening", {{"address", options_.host + ":" + std::to_string(port_)},
                          {"admin_address", admin_address},
                          {"threads", static_cast<std::int64_t>(threads)},
                          {"tls", tls_ != nullptr},
                          {"public_url", options_.public_url}});
  if (!options_.trusted_proxies.empty()) {
    std::string networks;
    for (const auto& cidr : options_.trusted_proxies.networks()) {
      // Appended piece by piece: `literal + std::string&&` trips GCC 12's -Wstringop-overflow
      // false positive under -O3 (GCC PR 105329), and CI builds with -Werror.
      if (!networks.empty()) networks += ',';
      networks += cidr.to_string();
    }
    log::info("trusted_proxies", {{"networks", networks}});
  }
  started_ = true;
}

void Server::run_until_signal() {
  if (!signals_) return shutdown();  // never started
  for (;;) {
    int received = 0;
    signals_->async_wait([&received](boost::system::error_code ec, int signal) {
      if (!ec) received = signal;
    });
    signals_ioc_.restart();
    signals_ioc_.run();
    if (received == SIGHUP) {
      reload();
      continue;
    }
    log::info("shutdown_requested", {{"signal", received == SIGINT ? "SIGINT" : "SIGTERM"}});
    break;
  }
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
  if (admin_) admin_->close();
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
  log::flush_suppressed();
  // Not after a failed start: the error that stopped it is the last word, not "stopped".
  if (started_) log::info("stopped");
}

}  // namespace bouncer::server
