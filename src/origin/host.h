// The URL Standard's host parser for special schemes (https://url.spec.whatwg.org/#host-parsing)
// and its host serializer. Internal to bouncer_origin; origin.h is the public interface.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace bouncer::origin::detail {

enum class HostKind { domain, ipv4, ipv6 };

struct Host {
  HostKind kind = HostKind::domain;
  std::string serialized;  // ASCII: "example.com", "127.0.0.1", "[::1]"
};

using Ipv6Address = std::array<std::uint16_t, 8>;

struct HostParse {
  std::optional<Host> host;  // std::nullopt is the URL Standard's "failure"
  std::string error;         // then a short reason, e.g. "invalid IPv6 address"
};

// Parses the host of a special-scheme URL (the text between the authority's last "@" and the
// port's ":", brackets included for IPv6).
HostParse parse_host(std::string_view input);

// The pieces below are exposed for unit tests.
std::optional<std::uint32_t> parse_ipv4(std::string_view input);
std::optional<Ipv6Address> parse_ipv6(std::string_view input);  // without brackets
std::string serialize_ipv4(std::uint32_t address);
std::string serialize_ipv6(const Ipv6Address& address);  // without brackets
bool ends_in_a_number(std::string_view input);
std::string percent_decode(std::string_view input);
// Well-formed UTF-8: no overlongs, surrogates or values past U+10FFFF.
bool is_valid_utf8(std::string_view s);

}  // namespace bouncer::origin::detail
