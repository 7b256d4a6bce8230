// The client's address behind trusted proxies: CIDR parsing and matching, X-Forwarded-For and
// RFC 7239 Forwarded, and that nobody else is believed.
#include "edge/client_address.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace bouncer::edge {
namespace {

namespace http = boost::beast::http;

Address ip(const std::string& s) { return boost::asio::ip::make_address(s); }

http::fields headers(const std::vector<std::pair<std::string, std::string>>& list) {
  http::fields f;
  for (const auto& [name, value] : list) f.insert(name, value);
  return f;
}

std::string resolve(const std::string& peer, const std::vector<std::pair<std::string, std::string>>& list,
                    const std::string& trusted) {
  return resolve_client_address(ip(peer), headers(list), TrustedProxies::parse(trusted)).to_string();
}

std::string error_of(const std::string& list) {
  try {
    TrustedProxies::parse(list);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

TEST(Cidr, ParseAndMatch) {
  const auto v4 = parse_cidr("10.0.0.0/8");
  EXPECT_TRUE(v4.contains(ip("10.1.2.3")));
  EXPECT_TRUE(v4.contains(ip("10.255.255.255")));
  EXPECT_FALSE(v4.contains(ip("11.0.0.0")));
  EXPECT_FALSE(v4.contains(ip("::1")));
  EXPECT_TRUE(v4.contains(ip("::ffff:10.9.8.7"))) << "an IPv4 peer on a dual-stack socket";
  EXPECT_EQ(v4.to_string(), "10.0.0.0/8");

  const auto odd = parse_cidr("192.168.4.0/22");
  EXPECT_TRUE(odd.contains(ip("192.168.7.255")));
  EXPECT_FALSE(odd.contains(ip("192.168.8.0")));
  EXPECT_FALSE(odd.contains(ip("192.168.3.255")));

  const auto host = parse_cidr("203.0.113.9");
  EXPECT_EQ(host.prefix_length, 32u);
  EXPECT_TRUE(host.contains(ip("203.0.113.9")));
  EXPECT_FALSE(host.contains(ip("203.0.113.8")));

  const auto v6 = parse_cidr("2001:db8:abcd::/49");
  EXPECT_TRUE(v6.contains(ip("2001:db8:abcd:7fff::1")));
  EXPECT_FALSE(v6.contains(ip("2001:db8:abcd:8000::1")));
  EXPECT_FALSE(v6.contains(ip("10.0.0.1")));
  EXPECT_EQ(parse_cidr("::1").prefix_length, 128u);

  const auto everyone = parse_cidr("0.0.0.0/0");
  EXPECT_TRUE(everyone.contains(ip("1.2.3.4")));
  EXPECT_FALSE(everyone.contains(ip("2001:db8::1")));
  EXPECT_TRUE(parse_cidr("::/0").contains(ip("2001:db8::1")));

  const auto mapped = parse_cidr("::ffff:10.0.0.0/104");
  EXPECT_EQ(mapped.to_string(), "10.0.0.0/8");
}

TEST(Cidr, ClearErrors) {
  EXPECT_EQ(error_of("10.0.0.1/8"), "'10.0.0.1/8' has bits set past its /8 prefix: did you mean 10.0.0.0/8?");
  EXPECT_EQ(error_of("2001:db8::1/32"), "'2001:db8::1/32' has bits set past its /32 prefix: did you mean 2001:db8::/32?");
  EXPECT_EQ(error_of("10.0.0.0/33"), "'10.0.0.0/33': the prefix length must be a number from 0 to 32");
  EXPECT_EQ(error_of("::/129"), "'::/129': the prefix length must be a number from 0 to 128");
  EXPECT_EQ(error_of("10.0.0.0/"), "'10.0.0.0/': the prefix length must be a number from 0 to 32");
  EXPECT_EQ(error_of("10.0.0.0/-1"), "'10.0.0.0/-1': the prefix length must be a number from 0 to 32");
  EXPECT_EQ(error_of("10.0.0.0/8x"), "'10.0.0.0/8x': the prefix length must be a number from 0 to 32");
  EXPECT_EQ(error_of("lb.example.com"), "'lb.example.com' is not an IP address or CIDR (such as 10.0.0.0/8 or 2001:db8::/32)");
  EXPECT_EQ(error_of("10.0.0/8"), "'10.0.0/8' is not an IP address or CIDR (such as 10.0.0.0/8 or 2001:db8::/32)");
  EXPECT_EQ(error_of("/8"), "'/8' is not an IP address or CIDR (such as 10.0.0.0/8 or 2001:db8::/32)");
  EXPECT_EQ(error_of("fe80::1%eth0"), "'fe80::1%eth0': a zone id (%…) has no place in a CIDR");
  EXPECT_EQ(error_of("10.0.0.0/8,,127.0.0.1"), "an empty item in the list (two commas in a row?)");
  EXPECT_EQ(error_of("10.0.0.0/8,"), "an empty item at the end of the list (a trailing comma?)");
}

TEST(TrustedProxies, ParseLists) {
  EXPECT_TRUE(TrustedProxies::parse("").empty());
  EXPECT_TRUE(TrustedProxies::parse("  ").empty());
  const auto t = TrustedProxies::parse(" 10.0.0.0/8 , 127.0.0.1,2001:db8::/32");
  ASSERT_EQ(t.networks().size(), 3u);
  EXPECT_TRUE(t.contains(ip("127.0.0.1")));
  EXPECT_FALSE(t.contains(ip("127.0.0.2")));
  EXPECT_TRUE(t.contains(ip("2001:db8::5")));
}

// Nobody is believed unless trusted: the peer is the client.
TEST(ResolveClientAddress, UntrustedPeersAreNotBelieved) {
  const std::vector<std::pair<std::string, std::string>> forged{{"X-Forwarded-For", "198.51.100.7"},
                                                                {"Forwarded", "for=198.51.100.8"}};
  EXPECT_EQ(resolve("203.0.113.5", forged, ""), "203.0.113.5");
  EXPECT_EQ(resolve("203.0.113.5", forged, "10.0.0.0/8"), "203.0.113.5");
  EXPECT_EQ(resolve("::ffff:203.0.113.5", forged, "10.0.0.0/8"), "203.0.113.5");
  EXPECT_EQ(resolve("10.0.0.1", {}, "10.0.0.0/8"), "10.0.0.1") << "a trusted peer without the headers";
}

TEST(ResolveClientAddress, RightMostUntrustedOfXForwardedFor) {
  const std::string trusted = "10.0.0.0/8";
  EXPECT_EQ(resolve("10.0.0.1", {{"X-Forwarded-For", "198.51.100.7"}}, trusted), "198.51.100.7");
  // The client's own (forged) entries are to the left of what the proxy appended.
  EXPECT_EQ(resolve("10.0.0.1", {{"X-Forwarded-For", "1.1.1.1, 2.2.2.2, 198.51.100.7"}}, trusted), "198.51.100.7");
  // Several proxies: skip the trusted ones.
  EXPECT_EQ(resolve("10.0.0.1", {{"X-Forwarded-For", "1.1.1.1, 198.51.100.7, 10.0.0.9, 10.2.3.4"}}, trusted),
            "198.51.100.7");
  // Several lines are one list, in order.
  EXPECT_EQ(resolve("10.0.0.1", {{"X-Forwarded-For", "1.1.1.1, 198.51.100.7"}, {"X-Forwarded-For", "10.0.0.9"}}, trusted),
            "198.51.100.7");
  // Every hop trusted: the left-most is the client.
  EXPECT_EQ(resolve("10.0.0.1", {{"X-Forwarded-For", "10.9.9.9, 10.0.0.2"}}, trusted), "10.9.9.9");
  // Spaces, empty list items, ports, IPv6 in every spelling.
  EXPECT_EQ(resolve("10.0.0.1", {{"X-Forwarded-For", " 198.51.100.7:4711 ,, "}}, trusted), "198.51.100.7");
  EXPECT_EQ(resolve("10.0.0.1", {{"X-Forwarded-For", "2001:db8::7"}}, trusted), "2001:db8::7");
  EXPECT_EQ(resolve("10.0.0.1", {{"X-Forwarded-For", "[2001:db8::7]:443"}}, trusted), "2001:db8::7");
  EXPECT_EQ(resolve("10.0.0.1", {{"X-Forwarded-For", "::ffff:198.51.100.7"}}, trusted), "198.51.100.7");
  EXPECT_EQ(resolve("10.0.0.1", {{"x-forwarded-for", "198.51.100.7"}}, trusted), "198.51.100.7");
  // An IPv6 proxy.
  EXPECT_EQ(resolve("2001:db8::1", {{"X-Forwarded-For", "198.51.100.7"}}, "2001:db8::/64"), "198.51.100.7");
}

// An entry that cannot be read ends the walk: the nearest trusted hop is the best address known.
TEST(ResolveClientAddress, UnreadableEntriesStopAtTheNearestTrustedHop) {
  const std::string trusted = "10.0.0.0/8";
  EXPECT_EQ(resolve("10.0.0.1", {{"X-Forwarded-For", "garbage"}}, trusted), "10.0.0.1");
  EXPECT_EQ(resolve("10.0.0.1", {{"X-Forwarded-For", "unknown, 10.0.0.7"}}, trusted), "10.0.0.7");
  EXPECT_EQ(resolve("10.0.0.1", {{"X-Forwarded-For", "198.51.100.7, 300.1.1.1, 10.0.0.7"}}, trusted), "10.0.0.7");
  EXPECT_EQ(resolve("10.0.0.1", {{"X-Forwarded-For", "lb.example.com"}}, trusted), "10.0.0.1");
  EXPECT_EQ(resolve("10.0.0.1", {{"X-Forwarded-For", "1.2.3.4:80:90"}}, trusted), "10.0.0.1");
  // Junk to the left of an untrusted client does not matter.
  EXPECT_EQ(resolve("10.0.0.1", {{"X-Forwarded-For", "\"x, <script>, 198.51.100.7"}}, trusted), "198.51.100.7");
}

TEST(ResolveClientAddress, ManyHopsAreReadUpToALimit) {
  std::string chain = "198.51.100.7";
  for (int i = 0; i < 200; ++i) chain += ", 10.0.0." + std::to_string(i % 250 + 1);
  // The client is beyond kMaxForwardedHops trusted hops: the last one read stands in.
  const auto got = resolve("10.0.0.1", {{"X-Forwarded-For", chain}}, "10.0.0.0/8");
  EXPECT_TRUE(got.starts_with("10.0.0.")) << got;
  std::string short_chain = "198.51.100.7";
  for (std::size_t i = 0; i + 1 < kMaxForwardedHops; ++i) short_chain += ", 10.0.0.2";
  EXPECT_EQ(resolve("10.0.0.1", {{"X-Forwarded-For", short_chain}}, "10.0.0.0/8"), "198.51.100.7");
}

TEST(ResolveClientAddress, Forwarded) {
  const std::string trusted = "10.0.0.0/8";
  EXPECT_EQ(resolve("10.0.0.1", {{"Forwarded", "for=198.51.100.7"}}, trusted), "198.51.100.7");
  EXPECT_EQ(resolve("10.0.0.1", {{"Forwarded", "for=192.0.2.43, for=198.51.100.7;proto=https;by=10.0.0.1"}}, trusted),
            "198.51.100.7");
  EXPECT_EQ(resolve("10.0.0.1", {{"Forwarded", R"(For="[2001:db8:cafe::17]:4711")"}}, trusted), "2001:db8:cafe::17");
  EXPECT_EQ(resolve("10.0.0.1", {{"Forwarded", R"(proto=http;for="198.51.100.7:80", for=10.0.0.3)"}}, trusted),
            "198.51.100.7");
  EXPECT_EQ(resolve("10.0.0.1", {{"Forwarded", "for=198.51.100.6"}, {"Forwarded", "for=198.51.100.7"}}, trusted),
            "198.51.100.7");
  // Obfuscated and unknown identifiers (RFC 7239 §6): the nearest trusted hop.
  EXPECT_EQ(resolve("10.0.0.1", {{"Forwarded", "for=_hidden, for=10.0.0.5"}}, trusted), "10.0.0.5");
  EXPECT_EQ(resolve("10.0.0.1", {{"Forwarded", "for=unknown"}}, trusted), "10.0.0.1");
  EXPECT_EQ(resolve("10.0.0.1", {{"Forwarded", R"(for="_gazonk")"}}, trusted), "10.0.0.1");
  EXPECT_EQ(resolve("10.0.0.1", {{"Forwarded", "for=198.51.100.7:_port"}}, trusted), "198.51.100.7");
  // Malformed elements.
  EXPECT_EQ(resolve("10.0.0.1", {{"Forwarded", "for=198.51.100.7;for=198.51.100.8"}}, trusted), "10.0.0.1");
  EXPECT_EQ(resolve("10.0.0.1", {{"Forwarded", "proto=https"}}, trusted), "10.0.0.1");
  EXPECT_EQ(resolve("10.0.0.1", {{"Forwarded", "for"}}, trusted), "10.0.0.1");
  EXPECT_EQ(resolve("10.0.0.1", {{"Forwarded", "for=[2001:db8::1]"}}, trusted), "2001:db8::1");
  EXPECT_EQ(resolve("10.0.0.1", {{"Forwarded", "for=2001:db8::1"}}, trusted), "2001:db8::1");
  // A client's unbalanced quote does not swallow what the proxy appended after it.
  EXPECT_EQ(resolve("10.0.0.1", {{"Forwarded", R"(for="1.1.1.1, for=198.51.100.7)"}}, trusted), "198.51.100.7");
  EXPECT_EQ(resolve("10.0.0.1", {{"Forwarded", R"(for="a,\"b", for=198.51.100.7)"}}, trusted), "198.51.100.7");
}

// X-Forwarded-For is what load balancers set: when it is there, Forwarded is not read.
TEST(ResolveClientAddress, XForwardedForComesFirst) {
  EXPECT_EQ(resolve("10.0.0.1", {{"Forwarded", "for=198.51.100.8"}, {"X-Forwarded-For", "198.51.100.7"}}, "10.0.0.0/8"),
            "198.51.100.7");
}

TEST(ForwardedNode, Forms) {
  EXPECT_EQ(parse_forwarded_node("192.0.2.1")->to_string(), "192.0.2.1");
  EXPECT_EQ(parse_forwarded_node("192.0.2.1:4711")->to_string(), "192.0.2.1");
  EXPECT_EQ(parse_forwarded_node("[2001:db8::1]")->to_string(), "2001:db8::1");
  EXPECT_EQ(parse_forwarded_node("[2001:db8::1]:4711")->to_string(), "2001:db8::1");
  EXPECT_EQ(parse_forwarded_node("::ffff:192.0.2.1")->to_string(), "192.0.2.1");
  for (const char* bad : {"", "unknown", "_hidden", "[192.0.2.1]", "[2001:db8::1", "[2001:db8::1]x", "2001:db8::1:", "a.b",
                          "192.0.2.1:80:80", "1.2.3"}) {
    EXPECT_FALSE(parse_forwarded_node(bad)) << bad;
  }
}

TEST(ForwardedNode, ForValuesRightMostFirst) {
  const auto v = forwarded_for_values(R"(for=a, by=x;for="b", proto=https)", 10);
  ASSERT_EQ(v.size(), 3u);
  EXPECT_EQ(v[0], "");
  EXPECT_EQ(v[1], "b");
  EXPECT_EQ(v[2], "a");
  EXPECT_EQ(forwarded_for_values("for=a, for=b, for=c", 2).size(), 2u);
}

}  // namespace
}  // namespace bouncer::edge
