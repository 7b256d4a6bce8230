// The one error shape of the HTTP API (docs/API.md):
//   {"error":{"type":"invalid_request_error","code":"origin_not_canonical","message":"…","param":"allowedOrigins[0]"}}
#pragma once

#include <string>

namespace bouncer::policy {

struct ApiError {
  int http_status = 400;
  std::string type;     // invalid_request_error | authentication_error | permission_error | rate_limit_error | api_error
  std::string code;     // machine-readable, snake_case
  std::string message;  // for humans
  std::string param;    // the offending field ("allowedOrigins[0]"), empty when none

  static ApiError invalid_request(std::string code, std::string message, std::string param = {}) {
    return {400, "invalid_request_error", std::move(code), std::move(message), std::move(param)};
  }
};

}  // namespace bouncer::policy
