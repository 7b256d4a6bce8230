// check(): the URL Standard's basic URL parser (https://url.spec.whatwg.org/#concept-basic-url-parser)
// for an absolute http(s) URL with no base, reduced to what decides the origin, plus a record
// of every repair the parser made so that a caller can say why an input is not canonical.
//
// For the special schemes the path, query and fragment can never make parsing fail (they are
// only percent-encoded), so past the authority we only look at whether they are there.
#include "origin/origin.h"

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "origin/host.h"
#include "origin/idna.h"

namespace bouncer::origin {
namespace {

using detail::ascii_lowercase;
using detail::Host;
using detail::HostKind;
using detail::is_ascii;

// The reasons an input is not canonical, in the order the parser meets them, without
// repeats ("HTTPS://EXAMPLE.com" has upper-case letters once, not twice).
class Problems {
 public:
  void add(std::string_view problem) {
    for (const std::string_view p : items_) {
      if (p == problem) return;
    }
    items_.push_back(problem);
  }
  std::string joined() const {
    std::string out;
    for (const std::string_view p : items_) {
      if (!out.empty()) out += ", ";
      out += p;
    }
    return out.empty() ? std::string("not in canonical form") : out;
  }

 private:
  std::vector<std::string_view> items_;  // static strings only
};

Check invalid(std::string_view problem) { return Check{Verdict::invalid, {}, std::string(problem)}; }

bool is_ascii_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_ascii_digit(char c) { return c >= '0' && c <= '9'; }
bool is_ascii_upper(char c) { return c >= 'A' && c <= 'Z'; }
bool is_c0_control_or_space(char c) { return static_cast<unsigned char>(c) <= 0x20; }
bool is_ascii_tab_or_newline(char c) { return c == '\t' || c == '\n' || c == '\r'; }

bool has_ascii_upper(std::string_view s) {
  for (const char c : s) {
    if (is_ascii_upper(c)) return true;
  }
  return false;
}


// The parser's first steps: strip leading and trailing C0 control or space, then remove
// every ASCII tab or newline wherever it is ("ht\ntp://x" is http://x).
std::string preprocess(std::string_view input, Problems& problems) {
  std::size_t begin = 0;
  std::size_t end = input.size();
  while (begin < end && is_c0_control_or_space(input[begin])) ++begin;
  while (end > begin && is_c0_control_or_space(input[end - 1])) --end;
  if (begin != 0 || end != input.size()) problems.add("surrounding whitespace");

  std::string out;
  out.reserve(end - begin);
  for (std::size_t i = begin; i < end; ++i) {
    if (is_ascii_tab_or_newline(input[i])) {
      problems.add("tab or newline");
    } else {
      out.push_back(input[i]);
    }
  }
  return out;
}

struct Scheme {
  std::string name;       // lower-cased
  std::size_t after = 0;  // index just past the ':'
};

// Scheme start and scheme states: ASCII alpha, then ASCII alphanumerics, '+', '-' or '.',
// up to a ':'. Anything else means "no scheme", which with no base URL is failure.
std::optional<Scheme> parse_scheme(std::string_view s) {
  if (s.empty() || !is_ascii_alpha(s[0])) return std::nullopt;
  for (std::size_t i = 1; i < s.size(); ++i) {
    const char c = s[i];
    if (c == ':') return Scheme{ascii_lowercase(s.substr(0, i)), i + 1};
    if (!is_ascii_alpha(c) && !is_ascii_digit(c) && c != '+' && c != '-' && c != '.') return std::nullopt;
  }
  return std::nullopt;
}

// "example.com:443" and "localhost:3000" parse as URLs with the schemes "example.com" and
// "localhost"; to a person they are origins without a scheme, so say that instead.
std::string_view describe_other_scheme(const Scheme& scheme, std::string_view s) {
  const std::string_view rest = s.substr(scheme.after);
  bool port_like = !rest.empty();
  for (const char c : rest) port_like = port_like && is_ascii_digit(c);
  if (scheme.name.find('.') != std::string::npos || port_like) return "missing scheme";
  return "unsupported scheme (only http and https)";
}

std::optional<std::uint16_t> default_port(std::string_view scheme) {
  if (scheme == "http") return 80;
  if (scheme == "https") return 443;
  return std::nullopt;
}

// Why the host as written differs from its serialization.
std::string_view describe_host_repair(std::string_view written, const Host& host) {
  switch (host.kind) {
    case HostKind::ipv6: return "non-canonical IPv6 address";
    case HostKind::ipv4: return "non-canonical IPv4 address";
    case HostKind::domain: break;
  }
  if (written.find('%') != std::string_view::npos) return "percent-encoded host";
  if (!is_ascii(written)) return "non-ASCII host (use its punycode form)";
  if (ascii_lowercase(written) == host.serialized) return "upper-case letters";
  return "non-canonical host";
}

// What follows the authority: "/" alone is a trailing slash; anything else is a path, a
// query or a fragment, none of which can fail to parse for http(s).
void describe_rest(std::string_view rest, Problems& problems) {
  if (rest.empty()) return;
  const std::size_t path_end = rest.find_first_of("?#");
  const std::string_view path = rest.substr(0, path_end);
  if (path == "/") {
    problems.add("trailing slash");
  } else if (path == "\\") {
    problems.add("trailing backslash");
  } else if (!path.empty()) {
    problems.add("path");
  }
  if (path_end == std::string_view::npos) return;
  if (rest[path_end] == '?') {
    problems.add("query");
    if (rest.find('#', path_end) != std::string_view::npos) problems.add("fragment");
  } else {
    problems.add("fragment");
  }
}

}  // namespace

Check check(std::string_view input) {
  // Bound the work before parsing: origins are short, and callers pass untrusted text.
  if (input.size() > kMaxInputLength) return invalid("too long");
  // The URL Standard parses strings of Unicode scalar values; bytes that are not UTF-8
  // cannot be one.
  if (!detail::is_valid_utf8(input)) return invalid("not valid UTF-8");

  Problems problems;
  const std::string s = preprocess(input, problems);
  if (s.empty()) return invalid("empty");
  if (s == "null") return invalid("opaque origin \"null\"");

  const std::optional<Scheme> scheme = parse_scheme(s);
  if (!scheme) return invalid("missing scheme");
  if (!default_port(scheme->name)) return invalid(describe_other_scheme(*scheme, s));
  if (has_ascii_upper(std::string_view(s).substr(0, scheme->after))) problems.add("upper-case letters");

  // Special authority (ignore) slashes: with no base, any run of '/' or '\' starts the
  // authority ("http:example.com", "http:\\\\example.com" and "http:///example.com" all work).
  std::size_t pos = scheme->after;
  const std::size_t slashes_begin = pos;
  while (pos < s.size() && (s[pos] == '/' || s[pos] == '\\')) ++pos;
  const std::string_view slashes = std::string_view(s).substr(slashes_begin, pos - slashes_begin);
  if (slashes != "//") {
    problems.add(slashes.find('\\') != std::string_view::npos ? "backslash"
                 : slashes.size() < 2                           ? "missing slashes after the scheme"
                                                                : "extra slashes after the scheme");
  }

  // Authority state: it ends at the first '/', '\', '?' or '#'; its last '@' ends the
  // userinfo, which is only percent-encoded and never fails.
  const std::size_t authority_end = std::min(s.find_first_of("/\\?#", pos), s.size());
  const std::string_view authority = std::string_view(s).substr(pos, authority_end - pos);
  std::string_view host_and_port = authority;
  if (const std::size_t at = authority.rfind('@'); at != std::string_view::npos) {
    problems.add("credentials");
    host_and_port = authority.substr(at + 1);
    if (host_and_port.empty()) return invalid("credentials but no host");
  }

  // Host state: the host ends at the first ':' outside brackets ("[::1]:8080").
  std::size_t colon = std::string_view::npos;
  bool inside_brackets = false;
  for (std::size_t i = 0; i < host_and_port.size() && colon == std::string_view::npos; ++i) {
    if (host_and_port[i] == '[') inside_brackets = true;
    if (host_and_port[i] == ']') inside_brackets = false;
    if (host_and_port[i] == ':' && !inside_brackets) colon = i;
  }
  const std::string_view host_text = host_and_port.substr(0, colon);
  if (host_text.empty()) return invalid("missing host");
  detail::HostParse parsed = detail::parse_host(host_text);
  if (!parsed.host) return invalid(parsed.error);
  const Host& host = *parsed.host;
  if (host_text != host.serialized) problems.add(describe_host_repair(host_text, host));

  // Port state: ASCII digits only, at most 65535, the scheme's default port dropped.
  std::optional<std::uint32_t> port;
  if (colon != std::string_view::npos) {
    const std::string_view port_text = host_and_port.substr(colon + 1);
    std::uint32_t value = 0;
    for (const char c : port_text) {
      if (!is_ascii_digit(c)) return invalid("invalid port");
      value = value * 10 + static_cast<std::uint32_t>(c - '0');
      if (value > 65535) return invalid("port out of range");
    }
    if (port_text.empty()) {
      problems.add("empty port");
    } else if (value == *default_port(scheme->name)) {
      problems.add("default port");
    } else {
      port = value;
      if (port_text != std::to_string(value)) problems.add("leading zeros in port");
    }
  }

  describe_rest(std::string_view(s).substr(authority_end), problems);

  // https://html.spec.whatwg.org/#ascii-serialisation-of-an-origin
  // Appended, not `":" + string&&`: GCC 12 -O3 reports a false -Wrestrict there (GCC PR 105329).
  std::string canonical = scheme->name;
  canonical.append("://").append(host.serialized);
  if (port) canonical.append(":").append(std::to_string(*port));
  if (canonical == input) return Check{Verdict::canonical, std::move(canonical), {}};
  return Check{Verdict::not_canonical, std::move(canonical), problems.joined()};
}

}  // namespace bouncer::origin
