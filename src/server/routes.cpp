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

std::string_view path_of(std::string_view target) { return target.substr(0, target.find('?')); }

}  // namespace

Router::Router(const Options& options, StateCache& cache, store::Store& store, SessionRegistry& sessions)
    : options_(options), cache_(cache), sessions_(sessions), minter_(options, cache, store) {}

// For load balancers (DESIGN §5's outage policy): 200 while this node admits sessions — with
// the store in reach ("ready"), or out of reach but within the staleness window
// ("degraded": admitting from the last state, not minting); 503 once it fails closed, and
// while it shuts down.
Response Router::readiness(unsigned version, bool keep_alive) {
  if (sessions_.closed()) {
    return json_response(http::status::service_unavailable, R"({"status":"draining"})", version, keep_alive);
  }
  const auto age = cache_.state_age();
  const bool reachable = cache_.store_reachable();
  const bool admitting = cache_.fresh_within(options_.store_staleness);
  const auto window = std::chrono::duration_cast<std::chrono::milliseconds>(options_.store_staleness);
  std::string body = "{\"status\":\"";
  body += reachable ? "ready" : admitting ? "degraded" : "unavailable";
  body += "\",\"store\":\"";
  body += reachable ? "reachable" : "unreachable";
  body += "\",\"minting\":" + std::string(reachable ? "true" : "false");
  body += ",\"admitting\":" + std::string(admitting ? "true" : "false");
  // Appended piece by piece: `literal + std::string&&` trips GCC 12's -Wrestrict/-Wstringop-overflow
  // false positive under -O3 (GCC PR 105329), and CI builds with -Werror.
  body += ",\"stateAgeMs\":";
  body += std::to_string(age.count());
  body += ",\"stalenessWindowMs\":";
  body += std::to_string(window.count());
  body += '}';
  return json_response(admitting ? http::status::ok : http::status::service_unavailable, std::move(body), version,
                       keep_alive);
}

void Router::handle(const Request& request, const std::string& client, std::function<void(Response)> respond) {
  const auto version = request.version();
  const bool keep_alive = request.keep_alive();
  const auto path = path_of(request.target());

  const Route* route = nullptr;
  for (const auto& r : kRoutes) {
    if (r.path == path) route = &r;
  }
  if (!route) {
    return respond(error_response({404, "invalid_request_error", "not_found", "No such endpoint", {}}, version, keep_alive));
  }
  const bool head_for_get = route->method == http::verb::get && request.method() == http::verb::head;
  if (request.method() != route->method && !head_for_get) {
    auto res = error_response({405, "invalid_request_error", "method_not_allowed",
                               std::string(path) + " accepts " + std::string(http::to_string(route->method)) + " only", {}},
                              version, keep_alive);
    res.set(http::field::allow, http::to_string(route->method));
    return respond(std::move(res));
  }

  if (head_for_get) {
    // HEAD: the GET answer's headers, Content-Length included, and no body (RFC 9110 §9.3.2).
    respond = [respond = std::move(respond)](Response res) {
      const auto length = res.body().size();
      res.body().clear();
      res.content_length(length);
      respond(std::move(res));
    };
  }
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
  if (path == "/readyz") return respond(readiness(version, keep_alive));
  return respond(json_response(http::status::ok, "{\"status\":\"ok\"}", version, keep_alive));
}

}  // namespace bouncer::server
