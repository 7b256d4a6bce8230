#include "edge/client_address.h"

#include <boost/beast/core/string.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <stdexcept>

namespace bouncer::edge {
namespace {

namespace http = boost::beast::http;
namespace ip = boost::asio::ip;

constexpr std::string_view kOws = " \t";

std::string_view trim(std::string_view s) {
  const auto first = s.find_first_not_of(kOws);
  if (first == std::string_view::npos) return {};
  return s.substr(first, s.find_last_not_of(kOws) - first + 1);
}

// An IPv4-mapped IPv6 address (`::ffff:192.0.2.1`, what a dual-stack socket reports for an
// IPv4 peer) is that IPv4 address, for matching and for logs alike.
Address unmapped(const Address& a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped()) return ip::make_address_v4(ip::v4_mapped, a.to_v6());
  return a;
}

std::optional<Address> parse_address(std::string_view text) {
  boost::system::error_code ec;
  const auto a = ip::make_address(std::string(text), ec);
  if (ec) return std::nullopt;
  return unmapped(a);
}

template <std::size_t N>
bool has_bits_past(const std::array<unsigned char, N>& bytes, unsigned prefix) {
  for (std::size_t i = 0; i < N; ++i) {
    const unsigned first_bit = static_cast<unsigned>(i) * 8;
    if (first_bit + 8 <= prefix) continue;
    const unsigned keep = prefix > first_bit ? prefix - first_bit : 0;
    const unsigned mask = keep == 0 ? 0 : (0xffu << (8 - keep)) & 0xffu;
    if ((bytes[i] & ~mask & 0xffu) != 0) return true;
  }
  return false;
}

template <std::size_t N>
std::array<unsigned char, N> masked(std::array<unsigned char, N> bytes, unsigned prefix) {
  for (std::size_t i = 0; i < N; ++i) {
    const unsigned first_bit = static_cast<unsigned>(i) * 8;
    if (first_bit + 8 <= prefix) continue;
    const unsigned keep = prefix > first_bit ? prefix - first_bit : 0;
    bytes[i] = static_cast<unsigned char>(bytes[i] & (keep == 0 ? 0 : (0xffu << (8 - keep)) & 0xffu));
  }
  return bytes;
}

template <std::size_t N>
bool same_prefix(const std::array<unsigned char, N>& a, const std::array<unsigned char, N>& b, unsigned prefix) {
  return masked(a, prefix) == masked(b, prefix);
}

// Splits `list` at the commas outside quoted strings, calling `on_item` right-most first until
// it returns false. Scanning from the right keeps the entries a trusted proxy appended intact
// even when the client put an unbalanced quote in what it sent ahead of them.
template <typename F>
void for_each_item_from_right(std::string_view list, F&& on_item) {
  bool in_quotes = false;
  std::size_t end = list.size();
  for (std::size_t i = list.size(); i-- > 0;) {
    const char c = list[i];
    if (c == '"') {
      std::size_t backslashes = 0;
      while (backslashes < i && list[i - 1 - backslashes] == '\\') ++backslashes;
      if (!in_quotes || backslashes % 2 == 0) in_quotes = !in_quotes;
    } else if (c == ',' && !in_quotes) {
      if (!on_item(trim(list.substr(i + 1, end - i - 1)))) return;
      end = i;
    }
  }
  on_item(trim(list.substr(0, end)));
}

// A Forwarded element's `for` value (RFC 7239 §4): `for=token` or `for="quoted"`; empty when
// the element has none, has it twice, or does not parse.
std::string_view for_value_of_element(std::string_view element) {
  std::string_view found;
  bool seen = false;
  while (!element.empty()) {
    const auto eq = element.find('=');
    if (eq == std::string_view::npos) return {};
    const auto name = trim(element.substr(0, eq));
    element = trim(element.substr(eq + 1));
    std::string_view value;
    if (element.starts_with('"')) {
      const auto close = element.find('"', 1);
      if (close == std::string_view::npos) return {};
      value = element.substr(1, close - 1);
      if (value.find('\\') != std::string_view::npos) value = {};  // no address needs an escape
      element = trim(element.substr(close + 1));
    } else {
      const auto semi = element.find(';');
      value = trim(element.substr(0, semi));
      if (value.empty() || value.find_first_of(" \t\"") != std::string_view::npos) return {};
      element = element.substr(semi == std::string_view::npos ? element.size() : semi);
    }
    if (!element.empty()) {
      if (element.front() != ';') return {};
      element = trim(element.substr(1));
    }
    if (boost::beast::iequals(name, "for")) {
      if (seen) return {};
      seen = true;
      found = value;
    }
  }
  return found;
}

// The hops a trusted peer forwarded, right-most first: nullopt for one that cannot be read.
std::vector<std::optional<Address>> forwarded_hops(const http::fields& headers) {
  std::vector<std::optional<Address>> hops;
  // Lines of one field are one comma-separated list, in order (RFC 9110 §5.3): read the
  // last line first.
  std::vector<std::string_view> lines;
  for (const auto& f : headers) {
    if (boost::beast::iequals(f.name_string(), "X-Forwarded-For")) lines.emplace_back(f.value());
  }
  const bool from_xff = !lines.empty();
  if (!from_xff) {
    for (const auto& f : headers) {
      if (f.name() == http::field::forwarded) lines.emplace_back(f.value());
    }
  }
  for (auto line = lines.rbegin(); line != lines.rend() && hops.size() < kMaxForwardedHops; ++line) {
    if (from_xff) {
      for_each_item_from_right(*line, [&](std::string_view item) {
        if (!item.empty()) hops.push_back(parse_forwarded_node(item));  // empty list items do not count
        return hops.size() < kMaxForwardedHops;
      });
    } else {
      for (auto value : forwarded_for_values(*line, kMaxForwardedHops - hops.size())) {
        hops.push_back(parse_forwarded_node(value));
      }
    }
  }
  return hops;
}

}  // namespace

bool Cidr::contains(const Address& address) const {
  const auto a = unmapped(address);
  if (a.is_v4() != network.is_v4()) return false;
  if (a.is_v4()) return same_prefix(a.to_v4().to_bytes(), network.to_v4().to_bytes(), prefix_length);
  return same_prefix(a.to_v6().to_bytes(), network.to_v6().to_bytes(), prefix_length);
}

std::string Cidr::to_string() const { return network.to_string() + "/" + std::to_string(prefix_length); }

Cidr parse_cidr(std::string_view text) {
  // Appended piece by piece: `literal + std::string&&` trips GCC 12's -Wstringop-overflow false
  // positive under -O3 (GCC PR 105329), and CI builds with -Werror.
  std::string quoted = "'";
  quoted.append(text);
  quoted += '\'';
  const auto slash = text.find('/');
  const auto address_text = text.substr(0, slash);
  if (address_text.find('%') != std::string_view::npos) {
    throw std::invalid_argument(quoted + ": a zone id (%…) has no place in a CIDR");
  }
  boost::system::error_code ec;
  auto address = ip::make_address(std::string(address_text), ec);
  if (ec || address_text.empty()) {
    throw std::invalid_argument(quoted + " is not an IP address or CIDR (such as 10.0.0.0/8 or 2001:db8::/32)");
  }
  const unsigned max_prefix = address.is_v4() ? 32 : 128;
  unsigned prefix = max_prefix;
  if (slash != std::string_view::npos) {
    const auto digits = text.substr(slash + 1);
    const auto [end, err] = std::from_chars(digits.data(), digits.data() + digits.size(), prefix);
    if (digits.empty() || err != std::errc{} || end != digits.data() + digits.size() || prefix > max_prefix) {
      throw std::invalid_argument(quoted + ": the prefix length must be a number from 0 to " + std::to_string(max_prefix));
    }
  }
  // `::ffff:10.0.0.0/104` is `10.0.0.0/8`: peers are matched as IPv4.
  if (address.is_v6() && address.to_v6().is_v4_mapped() && prefix >= 96) {
    address = unmapped(address);
    prefix -= 96;
  }
  const bool stray_bits = address.is_v4() ? has_bits_past(address.to_v4().to_bytes(), prefix)
                                          : has_bits_past(address.to_v6().to_bytes(), prefix);
  if (stray_bits) {
    const Address base = address.is_v4() ? Address(ip::address_v4(masked(address.to_v4().to_bytes(), prefix)))
                                          : Address(ip::address_v6(masked(address.to_v6().to_bytes(), prefix)));
    throw std::invalid_argument(quoted + " has bits set past its /" + std::to_string(prefix) + " prefix: did you mean " +
                                base.to_string() + "/" + std::to_string(prefix) + "?");
  }
  return {address, prefix};
}

TrustedProxies TrustedProxies::parse(std::string_view list) {
  std::vector<Cidr> networks;
  while (!trim(list).empty()) {
    const auto comma = list.find(',');
    const auto item = trim(list.substr(0, comma));
    if (item.empty()) throw std::invalid_argument("an empty item in the list (two commas in a row?)");
    networks.push_back(parse_cidr(item));
    if (comma == std::string_view::npos) break;
    list = list.substr(comma + 1);
    if (trim(list).empty()) throw std::invalid_argument("an empty item at the end of the list (a trailing comma?)");
  }
  return TrustedProxies(std::move(networks));
}

bool TrustedProxies::contains(const Address& address) const {
  return std::any_of(networks_.begin(), networks_.end(), [&](const Cidr& c) { return c.contains(address); });
}

std::optional<Address> parse_forwarded_node(std::string_view text) {
  text = trim(text);
  if (text.starts_with('[')) {
    const auto close = text.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    const auto rest = text.substr(close + 1);
    if (!rest.empty() && !rest.starts_with(':')) return std::nullopt;
    const auto a = parse_address(text.substr(1, close - 1));
    if (!a || !a->is_v6()) return std::nullopt;
    return a;
  }
  // One colon: IPv4 with a port (`192.0.2.1:4711`, `192.0.2.1:_obf`). None or several: a bare
  // address.
  if (const auto colon = text.find(':'); colon != std::string_view::npos && text.find(':', colon + 1) == std::string_view::npos) {
    const auto a = parse_address(text.substr(0, colon));
    if (!a || !a->is_v4()) return std::nullopt;
    return a;
  }
  return parse_address(text);
}

std::vector<std::string_view> forwarded_for_values(std::string_view header, std::size_t max) {
  std::vector<std::string_view> out;
  if (max == 0) return out;
  for_each_item_from_right(header, [&](std::string_view element) {
    if (!element.empty()) out.push_back(for_value_of_element(element));
    return out.size() < max;
  });
  return out;
}

Address resolve_client_address(const Address& peer, const http::fields& headers, const TrustedProxies& trusted) {
  auto best = unmapped(peer);
  if (trusted.empty() || !trusted.contains(best)) return best;
  for (const auto& hop : forwarded_hops(headers)) {
    if (!hop) return best;
    if (!trusted.contains(*hop)) return *hop;
    best = *hop;
  }
  return best;
}

}  // namespace bouncer::edge
