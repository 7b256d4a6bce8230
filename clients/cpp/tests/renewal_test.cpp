// In-place renewal (the server's contract): {"type":"bouncer.renew","token":…} is answered
// bouncer.renewed or bouncer.renew_failed; bouncer.session_expiring warns once before the
// deadline (a 10 s cap: at 5 s left). None of these reaches the application as a message.
#include "live_server.hpp"

namespace client_test {
namespace {

using Renewal = LiveServer;

bc::MintRequest capped(bc::MintRequest request, int seconds) {
  request.max_session_duration = seconds;
  return request;
}

// Events up to the first that is not a message; messages are a failure (the echo model sends
// nothing unasked).
bc::Event next_bouncer_event(bc::Session& session, std::chrono::milliseconds timeout = 10s) {
  auto event = LiveServer::next_event(session, timeout);
  if (const auto* m = std::get_if<bc::Message>(&event)) {
    throw std::runtime_error("a message reached the application: " + m->data.substr(0, 200));
  }
  return event;
}

TEST_F(Renewal, ARenewalWithAFreshTokenIsAnsweredRenewed) {
  auto session = bc::Session::connect(bc::mint_token(capped(mint_request(), 60)), options());
  expect_echo(session, "before");
  session.renew(bc::mint_token(capped(mint_request(), 120)));
  const auto event = next_bouncer_event(session);
  ASSERT_TRUE(std::holds_alternative<bc::Renewed>(event)) << "event index " << event.index();
  const auto& renewed = std::get<bc::Renewed>(event);
  ASSERT_TRUE(renewed.deadline);
  EXPECT_EQ(renewed.deadline->size(), 20u) << *renewed.deadline;  // 2026-12-08T10:00:00Z
  expect_echo(session, "after");
}

TEST_F(Renewal, CredentialInTheQueryRenewsToo) {
  // Bouncer reads renewals only from clients that offer bouncer.v1: the client always does.
  auto o = options();
  o.credential_in = bc::CredentialPlacement::query;
  auto session = bc::Session::connect(bc::mint_token(capped(mint_request(), 60)), o);
  session.renew(bc::mint_token(capped(mint_request(), 120)));
  const auto event = next_bouncer_event(session);
  EXPECT_TRUE(std::holds_alternative<bc::Renewed>(event)) << "event index " << event.index();
}

TEST_F(Renewal, ATokenOfAnotherKeyFailsAndTheSessionGoesOn) {
  auto session = bc::Session::connect(bc::mint_token(capped(mint_request(), 60)), options());
  session.renew(bc::mint_token(mint_request(server().other_key())));
  const auto event = next_bouncer_event(session);
  ASSERT_TRUE(std::holds_alternative<bc::RenewFailed>(event)) << "event index " << event.index();
  EXPECT_EQ(std::get<bc::RenewFailed>(event).error, "Token of another key not allowed");
  EXPECT_TRUE(session.is_open());
  expect_echo(session, "still going");
}

TEST_F(Renewal, RenewalWithASignedUrlSendsItsToken) {
  auto session = bc::Session::connect(bc::mint_token(capped(mint_request(), 60)), options());
  session.renew(bc::mint_url(capped(mint_request(), 120), "echo"));
  const auto event = next_bouncer_event(session);
  EXPECT_TRUE(std::holds_alternative<bc::Renewed>(event)) << "event index " << event.index();
}

TEST_F(Renewal, AnUnknownBouncerMessageIsAnsweredBouncerError) {
  auto session = bc::Session::connect(mint_token(), options());
  session.send_text(R"({"type":"bouncer.no_such_thing"})");
  const auto event = next_bouncer_event(session);
  ASSERT_TRUE(std::holds_alternative<bc::BouncerError>(event)) << "event index " << event.index();
  EXPECT_EQ(std::get<bc::BouncerError>(event).error, "Unknown message type");
  expect_echo(session, "goes on");
}

TEST_F(Renewal, ExpiryWarningIsAnEventNotAMessage) {
  auto session = bc::Session::connect(bc::mint_token(capped(mint_request(), 10)), options());
  const auto event = next_bouncer_event(session, 15s);
  ASSERT_TRUE(std::holds_alternative<bc::SessionExpiring>(event)) << "event index " << event.index();
  const auto& warning = std::get<bc::SessionExpiring>(event);
  EXPECT_GT(warning.seconds_left, 0);
  EXPECT_LE(warning.seconds_left, 5);
  EXPECT_FALSE(warning.renewing);
}

TEST_F(Renewal, GetCredentialRenewsBeforeTheDeadline) {
  int asked = 0;
  auto o = options();
  o.get_credential = [&] {
    ++asked;
    return bc::mint_token(capped(mint_request(), 60));
  };
  auto session = bc::Session::connect(bc::mint_token(capped(mint_request(), 10)), o);
  const auto warning = next_bouncer_event(session, 15s);
  ASSERT_TRUE(std::holds_alternative<bc::SessionExpiring>(warning)) << "event index " << warning.index();
  EXPECT_TRUE(std::get<bc::SessionExpiring>(warning).renewing);
  EXPECT_EQ(asked, 1);
  const auto answer = next_bouncer_event(session);
  ASSERT_TRUE(std::holds_alternative<bc::Renewed>(answer)) << "event index " << answer.index();
  // Past the first deadline (10 s from the start, at most 5 s from the warning) nothing ends.
  EXPECT_FALSE(session.receive_for(7s));
  expect_echo(session, "outlived the first cap");
}

TEST_F(Renewal, AFailingGetCredentialIsARenewFailedEvent) {
  auto o = options();
  o.get_credential = []() -> bc::ClientCredential { throw std::runtime_error("backend unreachable"); };
  auto session = bc::Session::connect(bc::mint_token(capped(mint_request(), 10)), o);
  const auto warning = next_bouncer_event(session, 15s);
  ASSERT_TRUE(std::holds_alternative<bc::SessionExpiring>(warning)) << "event index " << warning.index();
  EXPECT_FALSE(std::get<bc::SessionExpiring>(warning).renewing);
  const auto failure = next_bouncer_event(session);
  ASSERT_TRUE(std::holds_alternative<bc::RenewFailed>(failure)) << "event index " << failure.index();
  EXPECT_NE(std::get<bc::RenewFailed>(failure).error.find("backend unreachable"), std::string::npos);
}

}  // namespace
}  // namespace client_test
