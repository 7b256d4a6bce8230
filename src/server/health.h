// /healthz and /readyz, answered the same on the public listener (for load balancers) and on
// the admin listener (for monitoring).
#pragma once

#include "server/options.h"
#include "server/responses.h"
#include "server/sessions.h"
#include "server/state.h"

namespace bouncer::server {

class Health {
 public:
  Health(const Options& options, StateCache& cache, SessionRegistry& sessions)
      : options_(options), cache_(cache), sessions_(sessions) {}

  // 200 {"status":"ok"} while the process serves HTTP at all.
  Response liveness(unsigned version, bool keep_alive) const;

  // 200 while this node admits sessions — with the store in reach ("ready"), or out of reach
  // but within the staleness window ("degraded": admitting from the last state, not minting);
  // 503 once it fails closed, and while it shuts down ("draining").
  Response readiness(unsigned version, bool keep_alive) const;

 private:
  const Options& options_;
  StateCache& cache_;
  SessionRegistry& sessions_;
};

}  // namespace bouncer::server
