// What every HTTP listener's router shares: the interface an HttpSession hands requests to, and
// the answers both routers give the same way (404, 405, HEAD).
#pragma once

#include "server/responses.h"

#include <functional>
#include <string>
#include <string_view>

namespace bouncer::server {

using Respond = std::function<void(Response)>;

class RequestHandler {
 public:
  virtual ~RequestHandler() = default;
  // Calls `respond` exactly once, possibly from another thread. `client`: the client's
  // address (the forwarded one behind a trusted proxy), for the logs.
  virtual void handle(const Request& request, const std::string& client, Respond respond) = 0;
};

std::string_view path_of(std::string_view target);

Response not_found(unsigned version, bool keep_alive);
// A known path asked with another method: 405 with Allow.
Response method_not_allowed(std::string_view path, http::verb allowed, unsigned version, bool keep_alive);
// HEAD: the GET answer's headers, Content-Length included, and no body (RFC 9110 §9.3.2).
Respond without_body(Respond respond);

}  // namespace bouncer::server
