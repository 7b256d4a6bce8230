// Every refusal of the door surfaces as a RefusedError with its close code and class.
#include "live_server.hpp"

namespace client_test {
namespace {

using Refusals = LiveServer;

void expect_class(const bc::RefusedError& e, int code, const std::string& reason) {
  EXPECT_EQ(e.close_code(), code);
  EXPECT_EQ(e.reason(), reason);
  EXPECT_EQ(e.permanent(), code == 1008);
  EXPECT_EQ(e.retryable(), code != 1008);
}

TEST_F(Refusals, UnknownModel) {
  expect_class(expect_refused(mint_token(), options("no-such-model")), 1008, "Unknown model");
}

TEST_F(Refusals, ModelNotAllowed) {
  auto request = mint_request();
  request.allowed_models = {"demo"};
  expect_class(expect_refused(bc::mint_token(request), options("echo")), 1008, "Model not allowed");
}

TEST_F(Refusals, OriginNotAllowedUnlessTheOriginOptionMatches) {
  auto request = mint_request();
  request.allowed_origins = {"https://app.example.com"};
  const auto credential = bc::mint_token(request);
  auto o = options();
  expect_class(expect_refused(credential, o), 1008, "Origin not allowed");  // no Origin at all
  o.origin = "https://evil.example.com";
  expect_class(expect_refused(credential, o), 1008, "Origin not allowed");
  o.origin = "https://app.example.com";
  auto session = bc::Session::connect(credential, o);
  expect_echo(session, "from the right page");
}

TEST_F(Refusals, InvalidKeyDoesNotQuoteTheCredential) {
  const std::string forged = "ek_eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.c2ln";
  for (const auto placement : {bc::CredentialPlacement::protocol, bc::CredentialPlacement::query}) {
    auto o = options();
    o.credential_in = placement;
    const auto e = expect_refused(bc::ClientCredential::from_token(forged), o);
    expect_class(e, 1008, "Invalid API key");
    EXPECT_EQ(std::string(e.what()).find("eyJ"), std::string::npos) << e.what();
  }
}

TEST_F(Refusals, TokenCapIsRetryable) {
  auto request = mint_request();
  request.max_concurrent_sessions = 1;
  const auto credential = bc::mint_token(request);
  auto first = bc::Session::connect(credential, options());
  expect_echo(first, "one");
  expect_class(expect_refused(credential, options()), 1013, "Concurrent session limit reached for this token");
}

TEST_F(Refusals, ASendAfterTheRefusalReportsTheRefusal) {
  auto session = bc::Session::connect(mint_token(), options("no-such-model"));
  // Sends may succeed until the refusal has arrived; the refusal then comes out of one of them
  // or of the receive.
  try {
    for (int i = 0; i < 50; ++i) {
      session.send_text("x");
      if (session.receive_for(100ms)) FAIL() << "an event on a refused session";
    }
    FAIL() << "no refusal";
  } catch (const bc::RefusedError& e) {
    EXPECT_EQ(e.reason(), "Unknown model");
  }
}

}  // namespace
}  // namespace client_test
