// Where a Redis server is, from `--store redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]`.
#pragma once

#include <string>
#include <string_view>
#include <variant>

namespace bouncer::store::redis {

struct Endpoint {
  std::string host;  // a name or an IPv4 address; IPv6 without its brackets
  int port = 6379;
  int db = 0;
  std::string username;  // AUTH USERNAME PASSWORD (Redis 6 ACLs) when set
  std::string password;  // AUTH PASSWORD when set alone

  // "HOST:PORT/DB", never the password: what logs and error messages show.
  std::string describe() const;
};

// A parse error says what is wrong in words; it never repeats the password.
std::variant<Endpoint, std::string> parse_endpoint(std::string_view url);

}  // namespace bouncer::store::redis
