#include "server/health.h"

namespace bouncer::server {

Response Health::liveness(unsigned version, bool keep_alive) const {
  return json_response(http::status::ok, "{\"status\":\"ok\"}", version, keep_alive);
}

// The outage policy for load balancers (docs/CLUSTER.md): a node out of reach of the store
// still admits from its last state within the staleness window, and says so.
Response Health::readiness(unsigned version, bool keep_alive) const {
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

}  // namespace bouncer::server
