#include "server/routes.h"

#include <array>

namespace bouncer::server {
namespace {

struct Route {
  std::string_view path;
  http::verb method;
};

// Every path the API knows, with its one method; a known path with another method is a 405.
constexpr std::array kRoutes{
    Route{"/v1/client/tokens", http::verb::post},
    Route{"/v1/client/urls", http::verb::post},
    Route{"/v1/keys/self/revoke", http::verb::post},
    Route{"/v1/stream", http::verb::get},
    Route{"/.well-known/jwks.json", http::verb::get},
    Route{"/healthz", http::verb::get},
    Route{"/readyz", http::verb::get},
};

}  // namespace

Router::Router(const Options& options, StateCache& cache, store::Store& store, SessionRegistry& sessions,
               const ModelCatalog& models)
    : cache_(cache), health_(options, cache, sessions), minter_(options, cache, store, models) {}

void Router::handle(const Request& request, const std::string& client, Respond respond) {
  const auto version = request.version();
  const bool keep_alive = request.keep_alive();
  const auto path = path_of(request.target());

  const Route* route = nullptr;
  for (const auto& r : kRoutes) {
    if (r.path == path) route = &r;
  }
  if (!route) return respond(not_found(version, keep_alive));
  const bool head_for_get = route->method == http::verb::get && request.method() == http::verb::head;
  if (request.method() != route->method && !head_for_get) {
    return respond(method_not_allowed(path, route->method, version, keep_alive));
  }
  if (head_for_get) respond = without_body(std::move(respond));
  if (path == "/v1/client/tokens") return minter_.handle(request, client, policy::MintEndpoint::tokens, std::move(respond));
  if (path == "/v1/client/urls") return minter_.handle(request, client, policy::MintEndpoint::urls, std::move(respond));
  if (path == "/v1/keys/self/revoke") return minter_.revoke_self(request, client, std::move(respond));
  if (path == "/v1/stream") {
    // Reached only without an Upgrade: WebSocket upgrades go to the door before routing.
    auto res = error_response({426, "invalid_request_error", "upgrade_required",
                               "/v1/stream is a WebSocket endpoint: open it with a WebSocket client", {}},
                              version, keep_alive);
    res.set(http::field::upgrade, "websocket");
    return respond(std::move(res));
  }
  if (path == "/.well-known/jwks.json") {
    auto res = json_response(http::status::ok, cache_.current()->jwks_json, version, keep_alive);
    // Short cache: a freshly rotated key signs at once, and JOSE libraries (jose's
    // createRemoteJWKSet among them) refetch the set when they meet an unknown kid anyway.
    res.set(http::field::cache_control, "public, max-age=30");
    return respond(std::move(res));
  }
  if (path == "/readyz") return respond(health_.readiness(version, keep_alive));
  return respond(health_.liveness(version, keep_alive));
}

}  // namespace bouncer::server
