#include "server/responses.h"

#include "json/write.h"
#include "log/redact.h"

#include <array>
#include <ctime>

namespace bouncer::server {

Response json_response(http::status status, std::string body, unsigned version, bool keep_alive) {
  Response res{status, version};
  res.set(http::field::content_type, "application/json");
  res.set(http::field::cache_control, "no-store");
  res.keep_alive(keep_alive);
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

Response error_response(const policy::ApiError& error, unsigned version, bool keep_alive) {
  std::string body = "{\"error\":{\"type\":";
  json::append_string(body, error.type);
  body += ",\"code\":";
  json::append_string(body, error.code);
  // Messages and params quote the client's input ("'sk_…' is not a valid origin", an unknown
  // field's name): a credential pasted in the wrong place is not sent back, nor stored by
  // whatever logs this answer on the way.
  body += ",\"message\":";
  json::append_string(body, log::redact_secrets(error.message));
  body += ",\"param\":";
  if (error.param.empty()) {
    body += "null";
  } else {
    json::append_string(body, log::redact_secrets(error.param));
  }
  body += "}}";
  return json_response(static_cast<http::status>(error.http_status), std::move(body), version, keep_alive);
}

std::string rfc3339(std::int64_t unix_seconds) {
  const std::time_t t = unix_seconds;
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::array<char, 32> buf{};
  std::strftime(buf.data(), buf.size(), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf.data();
}

}  // namespace bouncer::server
