#include "relay/upstream.h"

#include <gtest/gtest.h>

namespace bouncer::relay {
namespace {

UpstreamUrl parsed(std::string_view text) {
  auto url = parse_upstream_url(text);
  EXPECT_TRUE(url.has_value()) << text;
  return url.value_or(UpstreamUrl{});
}

TEST(UpstreamUrl, PlainDefaults) {
  auto url = parsed("ws://model.internal");
  EXPECT_FALSE(url.tls);
  EXPECT_EQ(url.host, "model.internal");
  EXPECT_EQ(url.port, 80);
  EXPECT_EQ(url.target, "/");
}

TEST(UpstreamUrl, TlsDefaultPort) {
  auto url = parsed("wss://api.example.com/v1/realtime");
  EXPECT_TRUE(url.tls);
  EXPECT_EQ(url.host, "api.example.com");
  EXPECT_EQ(url.port, 443);
  EXPECT_EQ(url.target, "/v1/realtime");
}

TEST(UpstreamUrl, PortPathAndQuery) {
  auto url = parsed("ws://127.0.0.1:8081/stream?model=mirage&x=1");
  EXPECT_EQ(url.host, "127.0.0.1");
  EXPECT_EQ(url.port, 8081);
  EXPECT_EQ(url.target, "/stream?model=mirage&x=1");
}

// A query straight after the authority still makes an origin-form target.
TEST(UpstreamUrl, QueryWithoutPath) {
  EXPECT_EQ(parsed("ws://h?a=b").target, "/?a=b");
  EXPECT_EQ(parsed("ws://h:9/").target, "/");
}

TEST(UpstreamUrl, Ipv6InBrackets) {
  auto url = parsed("wss://[::1]:9443/rt");
  EXPECT_EQ(url.host, "::1");
  EXPECT_EQ(url.port, 9443);
  EXPECT_EQ(url.target, "/rt");
  auto bare = parsed("ws://[2001:db8::7]");
  EXPECT_EQ(bare.host, "2001:db8::7");
  EXPECT_EQ(bare.port, 80);
}

TEST(UpstreamUrl, SchemeIsCaseInsensitive) {
  EXPECT_TRUE(parsed("WSS://h").tls);
  EXPECT_FALSE(parsed("Ws://h").tls);
}

TEST(UpstreamUrl, PortBounds) {
  EXPECT_EQ(parsed("ws://h:1").port, 1);
  EXPECT_EQ(parsed("ws://h:65535").port, 65535);
}

TEST(UpstreamUrl, Refused) {
  for (std::string_view bad : {
           "",
           "ws:/h",
           "ws//h",
           "http://h",
           "https://h",
           "wsx://h",
           "ws://",
           "ws:///path",
           "ws://:80",
           "ws://user@h",
           "ws://user:pw@h/x",
           "ws://h#frag",
           "ws://h/p#",
           "ws://h:",
           "ws://h:0",
           "ws://h:65536",
           "ws://h:99999",
           "ws://h:-1",
           "ws://h:80x",
           "ws://h: 80",
           "ws://h:+80",
           "ws://h:8080:1",
           "ws://[::1",
           "ws://[]",
           "ws://[zz::1]",
           "ws://[::1]x",
           "ws://[::1]:",
           "ws://[fe80::1%eth0]",
           "ws://::1/",
           "ws://h/a b",
           "ws://h/\x01",
           "ws://ho st",
           "ws://h\r\nX: y",
       }) {
    EXPECT_FALSE(parse_upstream_url(bad).has_value()) << "accepted: " << bad;
  }
}

}  // namespace
}  // namespace bouncer::relay
