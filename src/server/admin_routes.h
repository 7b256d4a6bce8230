// The admin listener's routes: /metrics (Prometheus), /healthz and /readyz (the same answers as
// on the public listener). Operator-only endpoints belong here, never on the public listener: a
// route is one line in the table of admin_routes.cpp and one member function.
#pragma once

#include "server/gauges.h"
#include "server/health.h"
#include "server/options.h"
#include "server/routing.h"
#include "server/sessions.h"
#include "server/state.h"

#include <string_view>

namespace bouncer::server {

class AdminRouter : public RequestHandler {
 public:
  // `public_gauges`: the public listener's, whose open connections /metrics reports.
  AdminRouter(const Options& options, StateCache& cache, SessionRegistry& sessions, const Gauges& public_gauges);

  void handle(const Request& request, const std::string& client, Respond respond) override;

  // The exposition /metrics answers: the catalog, with the values read when scraped filled in.
  std::string metrics_text();

 private:
  struct Route {
    std::string_view path;
    http::verb method;
    void (AdminRouter::*answer)(const Request& request, Respond respond);
  };
  static const Route kRoutes[];

  void answer_metrics(const Request& request, Respond respond);
  void answer_healthz(const Request& request, Respond respond);
  void answer_readyz(const Request& request, Respond respond);

  const Options& options_;
  StateCache& cache_;
  SessionRegistry& sessions_;
  const Gauges& public_gauges_;
  Health health_;
};

}  // namespace bouncer::server
