// The listening server: one io_context per thread, each with its own SO_REUSEPORT
// acceptor on the same port, so the kernel spreads connections and no lock is shared
// between threads on the accept path.
#pragma once

#include "models/builtin.h"
#include "server/http_session.h"
#include "server/leases.h"
#include "server/sessions.h"
#include "server/stream_session.h"
#include "server/options.h"
#include "server/routes.h"
#include "server/state.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <memory>
#include <thread>
#include <vector>

namespace bouncer::server {

class Server {
 public:
  Server(Options options, store::Store& store);
  ~Server();

  // Loads the state cache, binds every acceptor and starts the threads. Throws
  // std::runtime_error when the address cannot be bound, or when another running node on the
  // same store serves another public URL (admin/public_url.h).
  void start();
  std::uint16_t port() const { return port_; }

  // Reads the store again now, e.g. after this process added a key it is about to hand out.
  void reload_state() { cache_.refresh(); }

  // Blocks until SIGINT or SIGTERM, then shuts down gracefully.
  void run_until_signal();

  // Stops accepting and admitting, tells live sessions (1001), waits (at most
  // options.shutdown_grace) for sessions to close and requests in flight to be answered,
  // then stops the threads and the state cache.
  void shutdown();

  SessionRegistry& sessions() { return registry_; }

 private:
  struct Worker {
    boost::asio::io_context ioc{1};
    std::unique_ptr<boost::asio::ip::tcp::acceptor> acceptor;
    boost::asio::ip::tcp::endpoint peer;  // filled by each accept
    std::thread thread;
  };

  void open_acceptor(Worker& worker, const boost::asio::ip::tcp::endpoint& endpoint);
  void do_accept(Worker& worker);
  void start_builtin_models();
  void prepare_tls();

  Options options_;
  store::Store& store_;
  StateCache cache_;
  Router router_;
  Gauges gauges_;
  SessionRegistry registry_;
  std::unique_ptr<LeaseKeeper> lease_keeper_;  // with a shared store only
  TokenCache token_cache_;
  DoorContext door_;
  std::unique_ptr<models::BuiltinModels> builtin_models_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::uint16_t port_ = 0;
  bool started_ = false;  // start() finished: only then does a shutdown say "stopped"
  bool stopped_ = false;
};

}  // namespace bouncer::server
