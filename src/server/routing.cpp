#include "server/routing.h"

namespace bouncer::server {

std::string_view path_of(std::string_view target) { return target.substr(0, target.find('?')); }

Response not_found(unsigned version, bool keep_alive) {
  return error_response({404, "invalid_request_error", "not_found", "No such endpoint", {}}, version, keep_alive);
}

Response method_not_allowed(std::string_view path, http::verb allowed, unsigned version, bool keep_alive) {
  auto res = error_response({405, "invalid_request_error", "method_not_allowed",
                             std::string(path) + " accepts " + std::string(http::to_string(allowed)) + " only", {}},
                            version, keep_alive);
  res.set(http::field::allow, http::to_string(allowed));
  return res;
}

Respond without_body(Respond respond) {
  return [respond = std::move(respond)](Response res) {
    const auto length = res.body().size();
    res.body().clear();
    res.content_length(length);
    respond(std::move(res));
  };
}

}  // namespace bouncer::server
