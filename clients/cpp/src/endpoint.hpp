// Where to connect, from a URL: the scheme decides TLS, the authority the host and port, the
// rest is the request target.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace bouncer::client::detail {

struct Endpoint {
  bool secure = false;  // https:// or wss://
  std::string host;     // without the brackets of an IPv6 literal
  std::string port;
  std::string target;   // path and query; "/" when the URL has none

  // Host header form: the port only when it is not the scheme's default.
  std::string host_header() const;
};

// Accepts http, https, ws and wss URLs. Throws std::invalid_argument, whose message never
// quotes the URL (a signed URL holds a credential).
Endpoint parse_endpoint(std::string_view url);

std::string percent_encode(std::string_view value);

// The first `name` parameter of the URL's query, percent-decoded; nullopt when absent.
std::optional<std::string> query_parameter(std::string_view url, std::string_view name);

bool is_ip_literal(const std::string& host);

}  // namespace bouncer::client::detail
