#include "store/redis/endpoint.h"

#include <charconv>

namespace bouncer::store::redis {
namespace {

constexpr std::string_view kScheme = "redis://";
constexpr int kMaxDb = 1 << 20;  // Redis's own limit is its `databases` setting (16 by default)

bool parse_int(std::string_view text, int low, int high, int& out) {
  if (text.empty() || text.size() > 7) return false;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc{} && end == text.data() + text.size() && out >= low && out <= high;
}

// %XX escapes in the user-info part, so a password may hold ':' or '@'.
bool percent_decode(std::string_view in, std::string& out) {
  out.clear();
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out += in[i];
      continue;
    }
    int value = 0;
    if (i + 2 >= in.size()) return false;
    const auto [end, ec] = std::from_chars(in.data() + i + 1, in.data() + i + 3, value, 16);
    if (ec != std::errc{} || end != in.data() + i + 3) return false;
    out += static_cast<char>(value);
    i += 2;
  }
  return true;
}

}  // namespace

std::string Endpoint::describe() const {
  const bool ipv6 = host.find(':') != std::string::npos;
  return (ipv6 ? "[" + host + "]" : host) + ":" + std::to_string(port) + "/" + std::to_string(db);
}

std::variant<Endpoint, std::string> parse_endpoint(std::string_view url) {
  if (!url.starts_with(kScheme)) return std::string("a Redis store is given as redis://HOST:PORT/DB");
  std::string_view rest = url.substr(kScheme.size());
  Endpoint ep;

  if (const auto at = rest.rfind('@'); at != std::string_view::npos) {
    const std::string_view userinfo = rest.substr(0, at);
    rest = rest.substr(at + 1);
    const auto colon = userinfo.find(':');
    if (colon == std::string_view::npos) return std::string("the user part of the Redis URL needs ':' before the password");
    if (!percent_decode(userinfo.substr(0, colon), ep.username) ||
        !percent_decode(userinfo.substr(colon + 1), ep.password)) {
      return std::string("the user part of the Redis URL has a bad %-escape");
    }
    if (ep.password.empty()) return std::string("the Redis URL has an empty password");
  }

  std::string_view authority = rest;
  if (const auto slash = rest.find('/'); slash != std::string_view::npos) {
    authority = rest.substr(0, slash);
    const std::string_view db = rest.substr(slash + 1);
    if (!db.empty() && !parse_int(db, 0, kMaxDb, ep.db)) {
      return "Redis database '" + std::string(db) + "' is not a number from 0";
    }
  }

  std::string_view port;
  if (authority.starts_with('[')) {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) return std::string("unclosed '[' in the Redis host");
    ep.host = std::string(authority.substr(1, close - 1));
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return std::string("unexpected text after the Redis host's ']'");
      port = after.substr(1);
    }
  } else {
    const auto colon = authority.rfind(':');
    ep.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port = authority.substr(colon + 1);
    if (ep.host.find(':') != std::string::npos) return std::string("an IPv6 Redis host goes in brackets: [::1]");
  }
  if (ep.host.empty()) return std::string("the Redis URL has no host");
  for (const char c : ep.host) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                    c == '-' || c == '_' || c == ':';
    if (!ok) return "the Redis host '" + ep.host + "' has a character a host name cannot have";
  }
  if (authority.ends_with(':') && port.empty()) return std::string("the Redis URL has an empty port");
  if (!port.empty() && !parse_int(port, 1, 65535, ep.port)) {
    return "Redis port '" + std::string(port) + "' is not from 1 to 65535";
  }
  return ep;
}

}  // namespace bouncer::store::redis
