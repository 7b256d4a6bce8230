// Who the client is when Bouncer runs behind load balancers or reverse proxies
// (--trusted-proxies). Only a TCP peer inside one of the trusted CIDRs is believed about
// the address it forwards, in `X-Forwarded-For` (or, when that header is absent, RFC 7239's
// `Forwarded: for=`); the client is the right-most address of that list that is not itself a
// trusted proxy. From any other peer those headers are ignored: the client is the peer.
// Pure: no I/O.
#pragma once

#include <boost/asio/ip/address.hpp>
#include <boost/beast/http/fields.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bouncer::edge {

using Address = boost::asio::ip::address;

// An IPv4 or IPv6 network: `10.0.0.0/8`, `2001:db8::/32`; a bare address is a /32 or /128.
struct Cidr {
  Address network;
  unsigned prefix_length = 0;

  bool contains(const Address& address) const;
  std::string to_string() const;
};

// Throws std::invalid_argument with a message naming `text` and what is wrong with it: not an
// address, a prefix length out of range, bits set past the prefix.
Cidr parse_cidr(std::string_view text);

class TrustedProxies {
 public:
  TrustedProxies() = default;
  explicit TrustedProxies(std::vector<Cidr> networks) : networks_(std::move(networks)) {}

  // "CIDR,CIDR,…" (spaces around items allowed; the empty string trusts nobody). Throws
  // std::invalid_argument as parse_cidr does.
  static TrustedProxies parse(std::string_view list);

  bool empty() const { return networks_.empty(); }
  bool contains(const Address& address) const;
  const std::vector<Cidr>& networks() const { return networks_; }

 private:
  std::vector<Cidr> networks_;
};

// At most this many forwarded hops are read, right to left; the header is the client's to fill.
inline constexpr std::size_t kMaxForwardedHops = 32;

// The client's address for a request that came from `peer` with `headers`. When a forwarded
// entry cannot be read (`unknown`, an obfuscated `_name`, garbage) the walk stops there and the
// answer is the nearest trusted hop to its right: the best address known.
Address resolve_client_address(const Address& peer, const boost::beast::http::fields& headers,
                               const TrustedProxies& trusted);

// One forwarded hop as written by a proxy: `192.0.2.1`, `192.0.2.1:4711`, `2001:db8::1`,
// `[2001:db8::1]:4711`, or the same in RFC 7239's quoted form. IPv4-mapped IPv6 becomes IPv4.
std::optional<Address> parse_forwarded_node(std::string_view text);

// The `for=` values of a Forwarded header's elements, right-most first, at most `max` of them;
// an element without `for=`, or that does not parse, gives an empty string view in its place.
std::vector<std::string_view> forwarded_for_values(std::string_view header, std::size_t max);

}  // namespace bouncer::edge
