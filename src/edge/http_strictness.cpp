#include "edge/http_strictness.h"

#include <boost/asio/ip/address_v6.hpp>
#include <boost/beast/core/string.hpp>

#include <string>

namespace bouncer::edge {
namespace {

namespace http = boost::beast::http;

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_unreserved(char c) { return is_alpha(c) || is_digit(c) || c == '-' || c == '.' || c == '_' || c == '~'; }
bool is_sub_delim(char c) { return std::string_view("!$&'()*+,;=").find(c) != std::string_view::npos; }

bool is_port(std::string_view s) {
  for (char c : s) {
    if (!is_digit(c)) return false;
  }
  return true;
}

// reg-name = *( unreserved / pct-encoded / sub-delims ); an IPv4 address is one too.
bool is_reg_name(std::string_view s) {
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%') {
      if (i + 2 >= s.size() || !is_hex(s[i + 1]) || !is_hex(s[i + 2])) return false;
      i += 2;
    } else if (!is_unreserved(s[i]) && !is_sub_delim(s[i])) {
      return false;
    }
  }
  return true;
}

// IP-literal = "[" ( IPv6address / IPvFuture ) "]", without the brackets.
bool is_ip_literal(std::string_view s) {
  if (s.size() >= 4 && (s[0] == 'v' || s[0] == 'V')) {  // IPvFuture = "v" 1*HEXDIG "." 1*( unreserved / sub-delims / ":" )
    std::size_t i = 1;
    while (i < s.size() && is_hex(s[i])) ++i;
    if (i == 1 || i >= s.size() - 1 || s[i] != '.') return false;
    for (++i; i < s.size(); ++i) {
      if (!is_unreserved(s[i]) && !is_sub_delim(s[i]) && s[i] != ':') return false;
    }
    return true;
  }
  if (s.find('%') != std::string_view::npos) return false;  // no zone id in a URI (RFC 6874 aside)
  boost::system::error_code ec;
  boost::asio::ip::make_address_v6(std::string(s), ec);
  return !ec;
}

}  // namespace

std::size_t end_of_head(std::string_view bytes) {
  for (auto lf = bytes.find('\n'); lf != std::string_view::npos; lf = bytes.find('\n', lf + 1)) {
    if (lf + 1 >= bytes.size()) return std::string_view::npos;
    if (bytes[lf + 1] == '\n') return lf + 2;
    if (bytes[lf + 1] == '\r') {
      if (lf + 2 >= bytes.size()) return std::string_view::npos;
      if (bytes[lf + 2] == '\n') return lf + 3;
    }
  }
  return std::string_view::npos;
}

Violation check_raw_head(std::string_view head) {
  const auto first_lf = head.find('\n');
  if (first_lf == std::string_view::npos) return std::nullopt;
  // Every line after the request line, up to the empty line that ends the head.
  for (auto start = first_lf + 1; start < head.size();) {
    const auto lf = head.find('\n', start);
    const auto line = head.substr(start, lf == std::string_view::npos ? std::string_view::npos : lf - start);
    if (line.empty() || line == "\r") break;
    if (line.front() == ' ' || line.front() == '\t') return "Obsolete line folding (a header line starting with a space or tab)";
    if (lf == std::string_view::npos) break;
    start = lf + 1;
  }
  return std::nullopt;
}

Violation check_header_fields(const http::fields& fields, unsigned version) {
  const auto hosts = fields.count(http::field::host);
  if (hosts > 1) return "More than one Host header";
  if (hosts == 0 && version >= 11) return "Missing Host header";
  if (hosts == 1 && !is_valid_host_value(fields[http::field::host])) return "Invalid Host header";

  const auto codings = fields.count(http::field::transfer_encoding);
  if (codings > 0) {
    if (version < 11) return "Transfer-Encoding in an HTTP/1.0 request";
    if (fields.count(http::field::content_length) > 0) return "Transfer-Encoding together with Content-Length";
    if (codings > 1) return "More than one Transfer-Encoding header";
    if (!boost::beast::iequals(fields[http::field::transfer_encoding], "chunked")) {
      return "Transfer-Encoding other than chunked";
    }
  }
  return std::nullopt;
}

bool is_valid_host_value(std::string_view value) {
  if (value.starts_with('[')) {
    const auto close = value.find(']');
    if (close == std::string_view::npos || !is_ip_literal(value.substr(1, close - 1))) return false;
    const auto rest = value.substr(close + 1);
    return rest.empty() || (rest.front() == ':' && is_port(rest.substr(1)));
  }
  const auto colon = value.find(':');
  if (colon == std::string_view::npos) return is_reg_name(value);
  return is_reg_name(value.substr(0, colon)) && is_port(value.substr(colon + 1));
}

}  // namespace bouncer::edge
