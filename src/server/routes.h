// HTTP routing: which handler answers which method and path.
#pragma once

#include "server/health.h"
#include "server/mint.h"
#include "server/model_table.h"
#include "server/options.h"
#include "server/responses.h"
#include "server/routing.h"
#include "server/sessions.h"
#include "server/state.h"

namespace bouncer::server {

// The public listener's routes: the API, the door's 426, the JWKS, and the health checks.
class Router : public RequestHandler {
 public:
  Router(const Options& options, StateCache& cache, store::Store& store, SessionRegistry& sessions,
         const ModelCatalog& models);

  void handle(const Request& request, const std::string& client, Respond respond) override;

 private:
  StateCache& cache_;
  Health health_;
  Minter minter_;
};

}  // namespace bouncer::server
