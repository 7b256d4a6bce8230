// POST /v1/client/tokens: trade a permanent key for a short-lived client token.
// The life of a mint: authenticate (state cache) → rate limit → validate options (policy)
// → sign (token) → record durably (store, group commit) → answer.
#pragma once

#include "server/options.h"
#include "server/rate_limit.h"
#include "server/responses.h"
#include "server/state.h"

#include <functional>

namespace bouncer::server {

class Minter {
 public:
  Minter(const Options& options, StateCache& cache, store::Store& store);

  // `respond` is called exactly once, possibly on the store's writer thread.
  void handle(const Request& request, std::function<void(Response)> respond);

 private:
  const Options& options_;
  StateCache& cache_;
  store::Store& store_;
  RateLimiter limiter_;
  policy::ModelExists model_exists_;
};

}  // namespace bouncer::server
