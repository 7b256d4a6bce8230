// The pure parts: telling Bouncer's frames from the application's, URLs, error classes.
#include "endpoint.hpp"
#include "protocol.hpp"

#include <bouncer/client/client.hpp>
#include <gtest/gtest.h>

namespace bc = bouncer::client;
namespace detail = bouncer::client::detail;
using Kind = detail::Notice::Kind;

TEST(Notice, BouncerRenewalMessagesAreRead) {
  const auto renewed = detail::read_notice(R"({"type":"bouncer.renewed","deadline":"2026-12-08T10:00:00Z"})");
  EXPECT_EQ(renewed.kind, Kind::renewed);
  EXPECT_EQ(renewed.deadline, "2026-12-08T10:00:00Z");
  const auto unlimited = detail::read_notice(R"({"type":"bouncer.renewed","deadline":null})");
  EXPECT_EQ(unlimited.kind, Kind::renewed);
  EXPECT_FALSE(unlimited.deadline);
  const auto failed = detail::read_notice(R"({"type":"bouncer.renew_failed","error":"Invalid API key"})");
  EXPECT_EQ(failed.kind, Kind::renew_failed);
  EXPECT_EQ(failed.text, "Invalid API key");
  const auto expiring = detail::read_notice(R"({"type":"bouncer.session_expiring","secondsLeft":5})");
  EXPECT_EQ(expiring.kind, Kind::session_expiring);
  EXPECT_EQ(expiring.seconds, 5);
}

TEST(Notice, BouncerErrorIsRead) {
  const auto n = detail::read_notice(R"({"type":"bouncer.error","error":"Unknown message type"})");
  EXPECT_EQ(n.kind, Kind::bouncer_error);
  EXPECT_EQ(n.text, "Unknown message type");
}

TEST(Notice, UnknownBouncerMessagesAreNotTheApplications) {
  EXPECT_EQ(detail::read_notice(R"({"type":"bouncer.something_new","x":1})").kind, Kind::other_bouncer);
}

TEST(Notice, ApplicationMessagesAreData) {
  EXPECT_EQ(detail::read_notice("hello").kind, Kind::none);
  EXPECT_EQ(detail::read_notice(R"({"type":"response.delta","text":"bouncer."})").kind, Kind::none);
  EXPECT_EQ(detail::read_notice(R"({"type":"error","error":"x","code":42})").kind, Kind::none);
  EXPECT_EQ(detail::read_notice(R"({"type":"session_ended"})").kind, Kind::none);
  EXPECT_EQ(detail::read_notice(R"(["type"])").kind, Kind::none);
  EXPECT_EQ(detail::read_notice(R"({"type":)").kind, Kind::none);
}

TEST(Notice, ARefusalFrameIsConfirmedOnlyByItsClose) {
  const auto n = detail::read_notice(R"({"type":"error","error":"Model not allowed"})");
  ASSERT_EQ(n.kind, Kind::error);
  EXPECT_TRUE(detail::close_confirms(n, 1008, "Model not allowed"));
  EXPECT_FALSE(detail::close_confirms(n, 1000, "bye"));
}

TEST(Notice, SessionEndedIsConfirmedByCloseMaxSessionDuration) {
  const auto n = detail::read_notice(R"({"type":"session_ended","reason":"max_session_duration","seconds":10})");
  ASSERT_EQ(n.kind, Kind::session_ended);
  EXPECT_EQ(n.seconds, 10);
  EXPECT_TRUE(detail::close_confirms(n, 1000, "max_session_duration"));
  EXPECT_FALSE(detail::close_confirms(n, 1001, "max_session_duration"));
}

TEST(Notice, RenewRequestCarriesTheToken) {
  EXPECT_EQ(detail::renew_request("ek_abc"), R"({"type":"bouncer.renew","token":"ek_abc"})");
}

TEST(ResumeId, LengthAndAlphabet) {
  EXPECT_TRUE(detail::is_valid_resume_id("abcdefghij_-0123"));
  EXPECT_FALSE(detail::is_valid_resume_id("short"));
  EXPECT_FALSE(detail::is_valid_resume_id(std::string(65, 'a')));
  EXPECT_FALSE(detail::is_valid_resume_id("abcdefghij012345!"));
}

TEST(Endpoint, SchemesHostsPorts) {
  const auto a = detail::parse_endpoint("wss://bouncer.example.com/v1/stream?model=x&token=t");
  EXPECT_TRUE(a.secure);
  EXPECT_EQ(a.host, "bouncer.example.com");
  EXPECT_EQ(a.port, "443");
  EXPECT_EQ(a.target, "/v1/stream?model=x&token=t");
  EXPECT_EQ(a.host_header(), "bouncer.example.com");
  const auto b = detail::parse_endpoint("http://127.0.0.1:8080");
  EXPECT_FALSE(b.secure);
  EXPECT_EQ(b.port, "8080");
  EXPECT_EQ(b.target, "/");
  EXPECT_EQ(b.host_header(), "127.0.0.1:8080");
  const auto c = detail::parse_endpoint("ws://[::1]:9000?x=1");
  EXPECT_EQ(c.host, "::1");
  EXPECT_EQ(c.host_header(), "[::1]:9000");
  EXPECT_EQ(c.target, "/?x=1");
}

TEST(Endpoint, BadUrlsAreRefusedWithoutQuotingThem) {
  for (const auto* url : {"ftp://x", "ws://", "ws://h:port", "ws://user:sk_secret@host"}) {
    try {
      detail::parse_endpoint(url);
      ADD_FAILURE() << url << " was accepted";
    } catch (const std::invalid_argument& e) {
      EXPECT_EQ(std::string(e.what()).find("sk_secret"), std::string::npos);
    }
  }
}

TEST(Credential, SecretOfEachKind) {
  EXPECT_EQ(bc::ClientCredential::from_token("ek_x").secret(), "ek_x");
  EXPECT_EQ(bc::ClientCredential::from_url("ws://h/v1/stream?model=echo&token=eyJ.a.b").secret(), "eyJ.a.b");
  EXPECT_EQ(bc::ClientCredential::from_url("ws://h/v1/stream?model=echo").secret(), "");
  EXPECT_EQ(detail::query_parameter("ws://h/?model=a%20b+c", "model"), "a b c");
}

TEST(Errors, RefusalClasses) {
  EXPECT_TRUE(bc::RefusedError(1008, "Token already used").permanent());
  EXPECT_FALSE(bc::RefusedError(1008, "Token already used").retryable());
  for (const int code : {1013, 1011, 1001}) {
    EXPECT_TRUE(bc::RefusedError(code, "x").retryable()) << code;
    EXPECT_FALSE(bc::RefusedError(code, "x").permanent()) << code;
  }
}

TEST(Errors, MintErrorClasses) {
  EXPECT_TRUE(bc::MintError(429, "rate_limit_error", "rate_limited", "", "slow down", std::chrono::seconds(2)).retryable());
  EXPECT_TRUE(bc::MintError(503, "api_error", "store_unavailable", "", "", std::nullopt).retryable());
  EXPECT_FALSE(bc::MintError(400, "invalid_request_error", "unknown_model", "allowedModels[0]", "", std::nullopt).retryable());
}

TEST(Version, IsTheProjects) { EXPECT_STREQ(bc::version(), BOUNCER_CLIENT_VERSION); }
