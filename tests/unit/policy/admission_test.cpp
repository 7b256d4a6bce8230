#include "policy/admission.h"

#include <gtest/gtest.h>

namespace bouncer::policy {
namespace {

const std::vector<std::string> kOrigins{"https://app.example.com", "http://localhost:3000"};

Grant scoped() {
  Grant g;
  g.key_id = "key_1";
  g.token_id = "jti";
  g.models = std::vector<std::string>{"demo"};
  g.origins = kOrigins;
  return g;
}

// docs/API.md: `{"type":"error","error":"Origin not allowed"}` with 1008, byte for byte.
TEST(CloseReason, OriginRefusalIsExact) {
  EXPECT_EQ(close_reason(Refusal::origin_not_allowed).code, 1008);
  EXPECT_EQ(error_frame(Refusal::origin_not_allowed), R"({"type":"error","error":"Origin not allowed"})");
}

TEST(CloseReason, EveryRefusalMapsToTheDocumentedCodeAndMessage) {
  struct Row {
    Refusal refusal;
    std::uint16_t code;
    std::string_view message;
  };
  const Row rows[] = {
      {Refusal::invalid_api_key, 1008, "Invalid API key"},
      {Refusal::token_expired, 1008, "Token expired"},
      {Refusal::token_revoked, 1008, "Token revoked"},
      {Refusal::model_not_allowed, 1008, "Model not allowed"},
      {Refusal::unknown_model, 1008, "Unknown model"},
      {Refusal::origin_not_allowed, 1008, "Origin not allowed"},
      {Refusal::capacity, 1013, "Concurrent session limit reached"},
      {Refusal::token_capacity, 1013, "Concurrent session limit reached for this token"},
      {Refusal::upstream_unavailable, 1011, "Upstream unavailable"},
      {Refusal::shutting_down, 1001, "Server shutting down"},
      {Refusal::store_unavailable, 1013, "Service unavailable, try again later"},
      {Refusal::address_penalised, 1013, "Too many invalid credentials, try again later"},
      {Refusal::token_used_up, 1008, "Token already used"},
      {Refusal::resume_in_use, 1008, "Resume id already in use"},
      {Refusal::resume_not_allowed, 1008, "Resume id not allowed"},
  };
  for (const auto& row : rows) {
    SCOPED_TRACE(std::string(row.message));
    EXPECT_EQ(close_reason(row.refusal).code, row.code);
    EXPECT_EQ(close_reason(row.refusal).message, row.message);
    EXPECT_EQ(error_frame(row.refusal), std::string(R"({"type":"error","error":")") + std::string(row.message) + "\"}");
    // Close reasons travel in a control frame: at most 123 bytes.
    EXPECT_LE(row.message.size(), 123u);
    EXPECT_NE(counter_name(row.refusal), counter_name(Refusal::none));
  }
}

// A token's cap is the smaller of its own and the server's; the server's is the default, and
// 0 (no cap) on either side leaves the other. A permanent key has no token, hence no token cap.
TEST(TokenSessionCap, TheSmallerOfTheTokensAndTheServersHolds) {
  Grant g = scoped();
  EXPECT_EQ(token_session_cap(g, 10), 10u) << "no option: the server's cap is the default";
  EXPECT_EQ(token_session_cap(g, 0), 0u) << "no option, no server cap: none";
  g.max_concurrent_sessions = 2;
  EXPECT_EQ(token_session_cap(g, 10), 2u);
  EXPECT_EQ(token_session_cap(g, 2), 2u);
  EXPECT_EQ(token_session_cap(g, 0), 2u) << "a server without a cap keeps the token's own";
  g.max_concurrent_sessions = 50;
  EXPECT_EQ(token_session_cap(g, 10), 10u) << "the server's cap is the ceiling, whoever minted the token";
  EXPECT_EQ(token_session_cap(g, 1000), 50u);
  Grant key_itself;
  key_itself.key_id = "key_1";
  EXPECT_EQ(token_session_cap(key_itself, 10), 0u) << "an sk_ key at the door is capped by its key's cap only";
}

TEST(CheckScope, UnknownModelComesFirst) {
  EXPECT_EQ(check_scope(scoped(), "nope", false, std::nullopt), Refusal::unknown_model);
  EXPECT_EQ(check_scope(Grant{}, "nope", false, "https://app.example.com"), Refusal::unknown_model);
}

TEST(CheckScope, ModelMustBeListedWhenScoped) {
  EXPECT_EQ(check_scope(scoped(), "echo", true, "https://app.example.com"), Refusal::model_not_allowed);
  EXPECT_EQ(check_scope(scoped(), "demo", true, "https://app.example.com"), Refusal::none);
  Grant any_model = scoped();
  any_model.models.reset();
  EXPECT_EQ(check_scope(any_model, "echo", true, "https://app.example.com"), Refusal::none);
}

// Model before Origin: a wrong model on a wrong origin reports the model.
TEST(CheckScope, ModelIsCheckedBeforeOrigin) {
  EXPECT_EQ(check_scope(scoped(), "echo", true, "https://evil.example"), Refusal::model_not_allowed);
}

TEST(CheckScope, OriginMustBePresentAndListedWhenScoped) {
  EXPECT_EQ(check_scope(scoped(), "demo", true, std::nullopt), Refusal::origin_not_allowed);
  EXPECT_EQ(check_scope(scoped(), "demo", true, ""), Refusal::origin_not_allowed);
  EXPECT_EQ(check_scope(scoped(), "demo", true, "null"), Refusal::origin_not_allowed);
  EXPECT_EQ(check_scope(scoped(), "demo", true, "https://app.example.com/"), Refusal::origin_not_allowed);
  EXPECT_EQ(check_scope(scoped(), "demo", true, "https://APP.example.com"), Refusal::origin_not_allowed);
  EXPECT_EQ(check_scope(scoped(), "demo", true, "https://app.example.com:443"), Refusal::origin_not_allowed);
  EXPECT_EQ(check_scope(scoped(), "demo", true, "http://localhost:3001"), Refusal::origin_not_allowed);
  EXPECT_EQ(check_scope(scoped(), "demo", true, "http://localhost:3000"), Refusal::none);
  EXPECT_EQ(check_scope(scoped(), "demo", true, "https://app.example.com"), Refusal::none);
}

TEST(CheckScope, UnscopedOriginAllowsAnyOrNone) {
  Grant g = scoped();
  g.origins.reset();
  EXPECT_EQ(check_scope(g, "demo", true, std::nullopt), Refusal::none);
  EXPECT_EQ(check_scope(g, "demo", true, "https://anything.example"), Refusal::none);
}

}  // namespace
}  // namespace bouncer::policy
