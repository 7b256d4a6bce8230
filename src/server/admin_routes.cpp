#include "server/admin_routes.h"

#include "metrics/catalog.h"

#include <chrono>
#include <set>

namespace bouncer::server {

const AdminRouter::Route AdminRouter::kRoutes[] = {
    {"/metrics", http::verb::get, &AdminRouter::answer_metrics},
    {"/healthz", http::verb::get, &AdminRouter::answer_healthz},
    {"/readyz", http::verb::get, &AdminRouter::answer_readyz},
};

AdminRouter::AdminRouter(const Options& options, StateCache& cache, SessionRegistry& sessions,
                         const Gauges& public_gauges)
    : options_(options),
      cache_(cache),
      sessions_(sessions),
      public_gauges_(public_gauges),
      health_(options, cache, sessions) {}

void AdminRouter::handle(const Request& request, const std::string& /*client*/, Respond respond) {
  const auto version = request.version();
  const bool keep_alive = request.keep_alive();
  const auto path = path_of(request.target());
  for (const auto& route : kRoutes) {
    if (route.path != path) continue;
    const bool head_for_get = route.method == http::verb::get && request.method() == http::verb::head;
    if (request.method() != route.method && !head_for_get) {
      return respond(method_not_allowed(path, route.method, version, keep_alive));
    }
    if (head_for_get) respond = without_body(std::move(respond));
    return (this->*route.answer)(request, std::move(respond));
  }
  respond(not_found(version, keep_alive));
}

std::string AdminRouter::metrics_text() {
  auto& catalog = metrics::catalog();
  catalog.connections_open.set(static_cast<double>(public_gauges_.connections.load()));
  catalog.state_age.set(std::chrono::duration<double>(cache_.state_age()).count());
  // Every configured model, with 0 when idle, and any model removed from the configuration
  // while its sessions go on.
  auto live = sessions_.live_by_model();
  std::vector<std::pair<std::string, double>> by_model;
  std::set<std::string> seen;
  for (const auto& model : options_.models) {
    const auto it = live.find(model.name);
    by_model.emplace_back(model.name, it == live.end() ? 0.0 : static_cast<double>(it->second));
    seen.insert(model.name);
  }
  for (const auto& [model, count] : live) {
    if (!seen.contains(model)) by_model.emplace_back(model, static_cast<double>(count));
  }
  catalog.sessions_live.set(std::move(by_model));
  return metrics::render(catalog);
}

void AdminRouter::answer_metrics(const Request& request, Respond respond) {
  Response res{http::status::ok, request.version()};
  res.set(http::field::content_type, metrics::kContentType);
  res.set(http::field::cache_control, "no-store");
  res.keep_alive(request.keep_alive());
  res.body() = metrics_text();
  res.prepare_payload();
  respond(std::move(res));
}

void AdminRouter::answer_healthz(const Request& request, Respond respond) {
  respond(health_.liveness(request.version(), request.keep_alive()));
}

void AdminRouter::answer_readyz(const Request& request, Respond respond) {
  respond(health_.readiness(request.version(), request.keep_alive()));
}

}  // namespace bouncer::server
