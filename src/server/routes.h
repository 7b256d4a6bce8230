// HTTP routing: which handler answers which method and path.
#pragma once

#include "server/mint.h"
#include "server/options.h"
#include "server/responses.h"
#include "server/sessions.h"
#include "server/state.h"

#include <functional>

namespace bouncer::server {

class Router {
 public:
  Router(const Options& options, StateCache& cache, store::Store& store, SessionRegistry& sessions);

  // Calls `respond` exactly once, possibly from another thread. `client`: the client's
  // address, for the logs.
  void handle(const Request& request, const std::string& client, std::function<void(Response)> respond);

 private:
  Response readiness(unsigned version, bool keep_alive);

  const Options& options_;
  StateCache& cache_;
  SessionRegistry& sessions_;
  Minter minter_;
};

}  // namespace bouncer::server
