#include "endpoint.hpp"

#include <boost/asio/ip/address.hpp>

#include <cctype>
#include <stdexcept>

namespace bouncer::client::detail {

namespace {

struct Scheme {
  std::string_view prefix;
  bool secure;
  std::string_view default_port;
};

constexpr Scheme kSchemes[] = {
    {"ws://", false, "80"}, {"wss://", true, "443"}, {"http://", false, "80"}, {"https://", true, "443"}};

const Scheme* scheme_of(std::string_view url) {
  for (const auto& scheme : kSchemes) {
    if (url.size() >= scheme.prefix.size()) {
      bool same = true;
      for (std::size_t i = 0; i < scheme.prefix.size(); ++i) {
        same = same && std::tolower(static_cast<unsigned char>(url[i])) == scheme.prefix[i];
      }
      if (same) return &scheme;
    }
  }
  return nullptr;
}

bool is_all_digits(std::string_view s) {
  if (s.empty()) return false;
  for (const char c : s) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

void split_authority(std::string_view authority, const Scheme& scheme, Endpoint& out) {
  if (authority.find('@') != std::string_view::npos) {
    throw std::invalid_argument("the URL must not hold user information");
  }
  std::string_view port;
  if (authority.starts_with('[')) {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) throw std::invalid_argument("the URL's IPv6 address has no closing ']'");
    out.host = std::string(authority.substr(1, close - 1));
    const auto rest = authority.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') throw std::invalid_argument("the URL's authority is malformed");
      port = rest.substr(1);
    }
  } else {
    const auto colon = authority.rfind(':');
    out.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port = authority.substr(colon + 1);
  }
  if (out.host.empty()) throw std::invalid_argument("the URL has no host");
  if (!port.empty() && !is_all_digits(port)) throw std::invalid_argument("the URL's port is not a number");
  out.port = port.empty() ? std::string(scheme.default_port) : std::string(port);
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string percent_decode(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (std::size_t i = 0; i < value.size(); ++i) {
    if (value[i] == '+') {
      out += ' ';
    } else if (value[i] == '%' && i + 2 < value.size() && hex_value(value[i + 1]) >= 0 &&
               hex_value(value[i + 2]) >= 0) {
      out += static_cast<char>(hex_value(value[i + 1]) * 16 + hex_value(value[i + 2]));
      i += 2;
    } else {
      out += value[i];
    }
  }
  return out;
}

}  // namespace

std::string Endpoint::host_header() const {
  const bool default_port = port == (secure ? "443" : "80");
  const std::string bracketed = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return default_port ? bracketed : bracketed + ":" + port;
}

Endpoint parse_endpoint(std::string_view url) {
  const Scheme* scheme = scheme_of(url);
  if (!scheme) throw std::invalid_argument("the URL must start with ws://, wss://, http:// or https://");
  const auto rest = url.substr(scheme->prefix.size());
  const auto authority_end = rest.find_first_of("/?#");
  Endpoint out;
  out.secure = scheme->secure;
  split_authority(rest.substr(0, authority_end), *scheme, out);
  std::string_view target = authority_end == std::string_view::npos ? std::string_view{} : rest.substr(authority_end);
  target = target.substr(0, target.find('#'));
  out.target = target.empty() ? "/" : target.starts_with('?') ? "/" + std::string(target) : std::string(target);
  return out;
}

std::string percent_encode(std::string_view value) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const char c : value) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += c;
    } else {
      out += '%';
      out += kHex[u >> 4];
      out += kHex[u & 15];
    }
  }
  return out;
}

std::optional<std::string> query_parameter(std::string_view url, std::string_view name) {
  const auto question = url.find('?');
  if (question == std::string_view::npos) return std::nullopt;
  auto query = url.substr(question + 1);
  query = query.substr(0, query.find('#'));
  while (!query.empty()) {
    const auto amp = query.find('&');
    const auto pair = query.substr(0, amp);
    const auto eq = pair.find('=');
    if (percent_decode(pair.substr(0, eq)) == name) {
      return eq == std::string_view::npos ? std::string{} : percent_decode(pair.substr(eq + 1));
    }
    if (amp == std::string_view::npos) break;
    query = query.substr(amp + 1);
  }
  return std::nullopt;
}

bool is_ip_literal(const std::string& host) {
  boost::system::error_code ec;
  boost::asio::ip::make_address(host, ec);
  return !ec;
}

}  // namespace bouncer::client::detail
