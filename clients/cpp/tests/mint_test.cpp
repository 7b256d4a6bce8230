// Minting against a real server: both credential kinds, and HTTP errors as MintError.
#include "live_server.hpp"

#include <regex>

namespace client_test {
namespace {

using Mint = LiveServer;

const std::regex kRfc3339(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)");

TEST_F(Mint, TokenCredential) {
  auto request = mint_request();
  request.expires_in = 120;
  request.allowed_models = {"echo"};
  request.metadata_json = R"({"user":"u_42"})";
  const auto credential = bc::mint_token(request);
  EXPECT_EQ(credential.kind, bc::CredentialKind::token);
  EXPECT_TRUE(credential.token.starts_with("ek_eyJ")) << credential.token.substr(0, 6);
  EXPECT_TRUE(credential.url.empty());
  EXPECT_TRUE(std::regex_match(credential.expires_at, kRfc3339)) << credential.expires_at;
}

TEST_F(Mint, UrlCredential) {
  const auto credential = bc::mint_url(mint_request(), "echo");
  EXPECT_EQ(credential.kind, bc::CredentialKind::url);
  EXPECT_TRUE(credential.url.starts_with(server().ws_url() + "/v1/stream?model=echo&token=eyJ"));
  EXPECT_TRUE(credential.secret().starts_with("eyJ"));
  EXPECT_TRUE(std::regex_match(credential.expires_at, kRfc3339)) << credential.expires_at;
}

TEST_F(Mint, EveryOptionIsAccepted) {
  auto request = mint_request();
  request.expires_in = 30;
  request.allowed_models = {"echo", "demo"};
  request.allowed_origins = {"https://app.example.com"};
  request.max_session_duration = 60;
  request.max_concurrent_sessions = 2;
  request.metadata_json = R"({"plan":"pro","n":[1,2]})";
  EXPECT_EQ(bc::mint_token(request).kind, bc::CredentialKind::token);
}

TEST_F(Mint, BadRequestIsATypedError) {
  auto request = mint_request();
  request.allowed_models = {"no-such-model"};
  try {
    bc::mint_token(request);
    FAIL() << "minted";
  } catch (const bc::MintError& e) {
    EXPECT_EQ(e.status(), 400);
    EXPECT_EQ(e.type(), "invalid_request_error");
    EXPECT_EQ(e.code(), "unknown_model");
    EXPECT_EQ(e.param(), "allowedModels[0]");
    EXPECT_FALSE(e.retryable());
    EXPECT_FALSE(e.retry_after());
    EXPECT_NE(e.message().find("no-such-model"), std::string::npos) << e.message();
  }
}

TEST_F(Mint, UrlWithoutAllowedModelIsRefused) {
  auto request = mint_request();
  request.allowed_models = {"demo"};
  try {
    bc::mint_url(request, "echo");
    FAIL() << "minted";
  } catch (const bc::MintError& e) {
    EXPECT_EQ(e.status(), 400);
    EXPECT_EQ(e.code(), "model_not_allowed");
    EXPECT_EQ(e.param(), "model");
  }
}

TEST_F(Mint, UnknownKeyIsAnAuthenticationErrorThatDoesNotQuoteTheKey) {
  const std::string wrong = "sk_" + std::string(43, 'A');
  try {
    bc::mint_token(mint_request(wrong));
    FAIL() << "minted";
  } catch (const bc::MintError& e) {
    EXPECT_EQ(e.status(), 401);
    EXPECT_EQ(e.type(), "authentication_error");
    EXPECT_EQ(e.code(), "invalid_api_key");
    EXPECT_EQ(std::string(e.what()).find(wrong), std::string::npos) << e.what();
  }
}

TEST_F(Mint, RateLimitIsRetryableWithRetryAfter) {
  BouncerServer limited({"--mint-rate-per-key", "1"});
  bc::MintRequest request;
  request.base_url = limited.http_url();
  request.api_key = limited.key();
  std::optional<bc::MintError> refusal;
  for (int i = 0; i < 20 && !refusal; ++i) {
    try {
      bc::mint_token(request);
    } catch (const bc::MintError& e) {
      refusal = e;
    }
  }
  ASSERT_TRUE(refusal) << "20 mints in a row at --mint-rate-per-key 1 were all answered";
  EXPECT_EQ(refusal->status(), 429);
  EXPECT_EQ(refusal->code(), "rate_limited");
  EXPECT_TRUE(refusal->retryable());
  ASSERT_TRUE(refusal->retry_after());
  EXPECT_GE(refusal->retry_after()->count(), 1);
}

TEST_F(Mint, UnansweredRequestIsATimeout) {
  SilentListener silent;
  auto request = mint_request();
  request.base_url = "http://127.0.0.1:" + std::to_string(silent.port());
  request.timeout = 300ms;
  EXPECT_THROW(bc::mint_token(request), bc::TimeoutError);
}

TEST_F(Mint, MetadataMustBeAnObject) {
  auto request = mint_request();
  request.metadata_json = "[1]";
  EXPECT_THROW(bc::mint_token(request), std::invalid_argument);
}

TEST_F(Mint, NoServerIsAConnectionError) {
  auto request = mint_request();
  request.base_url = "http://127.0.0.1:1";
  EXPECT_THROW(bc::mint_token(request), bc::ConnectionError);
}

}  // namespace
}  // namespace client_test
