// The listening server: one io_context per thread, each with its own SO_REUSEPORT
// acceptor on the same port, so the kernel spreads connections and no lock is shared
// between threads on the accept path. Plain HTTP or TLS; SIGHUP reloads the certificate
// and the models without dropping a session.
#pragma once

#include "models/builtin.h"
#include "server/accept_backoff.h"
#include "server/address_limits.h"
#include "server/admin_listener.h"
#include "server/admin_routes.h"
#include "server/descriptors.h"
#include "server/http_session.h"
#include "server/leases.h"
#include "server/model_table.h"
#include "server/sessions.h"
#include "server/stream_session.h"
#include "server/options.h"
#include "server/refusal_log.h"
#include "server/routes.h"
#include "server/state.h"
#include "server/tls.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include <functional>
#include <memory>
#include <thread>
#include <vector>

namespace bouncer::server {

class Server {
 public:
  Server(Options options, store::Store& store);
  ~Server();

  // Where a reload reads the models from (the configuration file); without one, a reload
  // keeps the models of the start. Called on the thread that runs run_until_signal().
  // Throws std::runtime_error when the source cannot be read: the models in use stay.
  using ModelSource = std::function<std::vector<ModelRoute>()>;
  void set_model_source(ModelSource source) { model_source_ = std::move(source); }

  // Loads the TLS certificate (when configured) and the state cache, binds every acceptor
  // and starts the threads. Throws std::runtime_error when the certificate or key is
  // unusable, or when the address cannot be bound (another process listening there among
  // the reasons), or when another running node on the same store serves
  // another public URL (admin/public_url.h).
  void start();
  std::uint16_t port() const { return port_; }
  // The admin listener's port; 0 when it is off.
  std::uint16_t admin_port() const { return admin_ ? admin_->port() : 0; }
  // The URL clients reach this server at: --public-url, or http(s)://HOST:PORT.
  const std::string& public_url() const { return options_.public_url; }

  // Reads the store again now, e.g. after this process added a key it is about to hand out.
  void reload_state() { cache_.refresh(); }

  // Blocks until SIGINT or SIGTERM, then shuts down gracefully. SIGHUP reloads meanwhile.
  void run_until_signal();

  // Re-reads the TLS certificate and key and the models; what cannot be read is kept as it
  // was, and the log says why. Live sessions are never touched.
  void reload();

  // Stops accepting and admitting, tells live sessions (1001), waits (at most
  // options.shutdown_grace) for sessions to close and requests in flight to be answered,
  // then stops the threads and the state cache.
  void shutdown();

  SessionRegistry& sessions() { return registry_; }

 private:
  struct Worker {
    boost::asio::io_context ioc{1};
    std::unique_ptr<boost::asio::ip::tcp::acceptor> acceptor;
    std::unique_ptr<AcceptBackoff> backoff;
    boost::asio::ip::tcp::endpoint peer;  // filled by each accept
    std::thread thread;
  };

  void open_acceptor(Worker& worker, const boost::asio::ip::tcp::endpoint& endpoint, bool first);
  void do_accept(Worker& worker);
  // Hands an accepted connection to an HTTP session, or closes it at once when a limit is
  // reached (logged through connection_refusals_).
  void take_connection(boost::asio::ip::tcp::socket socket, const boost::asio::ip::tcp::endpoint& peer);
  void fit_connections_to_descriptors(const DescriptorLimit& limit);
  void schedule_refusal_flush();
  void start_builtin_models();
  void open_admin_listener(const boost::asio::ip::tcp::endpoint& public_endpoint);
  std::vector<ModelRoute> with_builtin_upstreams(std::vector<ModelRoute> routes) const;
  void load_tls();
  void reload_tls();
  void reload_models();

  Options options_;
  store::Store& store_;
  std::unique_ptr<TlsContextHolder> tls_;  // with --tls-cert only
  ModelCatalog models_;
  ModelSource model_source_;
  StateCache cache_;
  Router router_;
  Gauges gauges_;
  // Declared before workers_: admin connections still queued in a worker's io_context when it
  // is destroyed count down these gauges.
  Gauges admin_gauges_;
  AdminRouter admin_router_;
  SessionRegistry registry_;
  std::unique_ptr<LeaseKeeper> lease_keeper_;  // with a shared store only
  TokenCache token_cache_;
  AddressLimits address_limits_;
  RefusalLog connection_refusals_;  // connections closed at accept
  RefusalLog door_refusals_;        // upgrades refused in floods, penalties started
  DoorContext door_;
  std::unique_ptr<models::BuiltinModels> builtin_models_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::unique_ptr<AdminListener> admin_;  // after workers_: its acceptor goes before their io_contexts
  std::unique_ptr<boost::asio::steady_timer> refusal_flush_;  // on the first worker
  std::size_t descriptor_budget_ = 0;  // descriptors client connections and their upstreams may hold
  std::uint16_t port_ = 0;
  bool started_ = false;  // start() finished: only then does a shutdown say "stopped"
  bool stopped_ = false;
  // Made at start, before the "listening" line: a SIGHUP sent as soon as the server says it
  // listens is a reload, never the default action (the end of the process).
  boost::asio::io_context signals_ioc_{1};
  std::unique_ptr<boost::asio::signal_set> signals_;
};

}  // namespace bouncer::server
