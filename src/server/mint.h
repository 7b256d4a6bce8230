// POST /v1/client/tokens: trade a permanent key for a short-lived client token.
// The life of a mint: authenticate (state cache) → rate limit → validate options (policy)
// → sign (token) → record durably (store, group commit) → answer.
#pragma once

#include "server/model_table.h"
#include "server/options.h"
#include "server/rate_limit.h"
#include "server/responses.h"
#include "server/state.h"

#include <boost/asio/thread_pool.hpp>

#include <functional>

namespace bouncer::server {

class Minter {
 public:
  // `models`: the models served now (a mint names only those).
  Minter(const Options& options, StateCache& cache, store::Store& store, const ModelCatalog& models);

  // POST /v1/client/tokens and POST /v1/client/urls. `respond` is called exactly once,
  // possibly on the store's writer thread.
  // `client`: the client's address, for the logs.
  void handle(const Request& request, const std::string& client, policy::MintEndpoint endpoint,
              std::function<void(Response)> respond);

  // POST /v1/keys/self/revoke: a permanent key revokes itself (a leaked key's owner need not
  // reach the server's shell); {"endSessions":true} also ends its live sessions.
  void revoke_self(const Request& request, const std::string& client, std::function<void(Response)> respond);

 private:
  const Options& options_;
  StateCache& cache_;
  store::Store& store_;
  RateLimiter limiter_;
  policy::ModelExists model_exists_;
  policy::MintLimits limits_;  // options.mint_limits with --max-sessions-per-token as the ceiling
  // Administrative writes wait for the store (a network round trip with Redis): they run
  // here, never on an I/O thread.
  boost::asio::thread_pool admin_pool_{1};
};

}  // namespace bouncer::server
