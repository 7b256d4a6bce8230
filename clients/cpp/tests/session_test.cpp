// Sessions through a real server to its built-in echo model, with each credential form.
#include "live_server.hpp"

namespace client_test {
namespace {

using Sessions = LiveServer;

TEST_F(Sessions, TokenInSubprotocolEchoesTextAndBinary) {
  auto session = bc::Session::connect(mint_token(), options());
  EXPECT_EQ(session.subprotocol(), "bouncer.v1");
  expect_echo(session, "hello");
  const std::string bytes("\x00\x01\xfe\xff", 4);
  session.send_binary(bytes);
  const auto m = next_message(session);
  EXPECT_TRUE(m.binary);
  EXPECT_EQ(m.data, bytes);
  const auto closed = session.close(1000, "bye");
  EXPECT_EQ(closed.code, 1000);
  EXPECT_FALSE(session.is_open());
}

TEST_F(Sessions, TokenInQuery) {
  auto o = options();
  o.credential_in = bc::CredentialPlacement::query;
  auto session = bc::Session::connect(mint_token(), o);
  EXPECT_EQ(session.subprotocol(), "bouncer.v1");
  expect_echo(session, "through the query");
}

TEST_F(Sessions, SignedUrl) {
  const auto credential = bc::mint_url(mint_request(), "echo");
  bc::ConnectOptions o;  // the URL names the server and the model
  auto session = bc::Session::connect(credential, o);
  expect_echo(session, "through a signed URL");
}

TEST_F(Sessions, SignedUrlForAnotherModelThanAskedIsNotOpened) {
  const auto credential = bc::mint_url(mint_request(), "echo");
  EXPECT_THROW(bc::Session::connect(credential, options("demo")), std::invalid_argument);
}

TEST_F(Sessions, BareJwtAndPermanentKey) {
  const auto url = bc::mint_url(mint_request(), "echo");
  auto with_jwt = bc::Session::connect(bc::ClientCredential::from_token(url.secret()), options());
  expect_echo(with_jwt, "bare JWT");
  auto with_key = bc::Session::connect(bc::ClientCredential::from_token(server().key()), options());
  expect_echo(with_key, "permanent key");
}

TEST_F(Sessions, ApplicationSubprotocolIsOfferedAfterBouncersOwn) {
  auto o = options();
  o.subprotocols = {"realtime"};
  auto session = bc::Session::connect(mint_token(), o);
  // The echo model chooses no protocol, so Bouncer answers its own.
  EXPECT_EQ(session.subprotocol(), "bouncer.v1");
  expect_echo(session, "x");
}

TEST_F(Sessions, ReceiveForTimesOutAndTheSessionGoesOn) {
  auto session = bc::Session::connect(mint_token(), options());
  EXPECT_FALSE(session.receive_for(200ms));
  expect_echo(session, "still here");
  EXPECT_FALSE(session.receive_for(100ms));
  // A close while a read is pending.
  EXPECT_EQ(session.close(4000, "done").code, 4000);
}

TEST_F(Sessions, LargeMessagesInBothDirections) {
  auto session = bc::Session::connect(mint_token(), options());
  const std::string big(300 * 1024, 'z');
  expect_echo(session, big);
}

TEST_F(Sessions, ClosedSessionRefusesFurtherUse) {
  auto session = bc::Session::connect(mint_token(), options());
  session.close();
  EXPECT_THROW(session.send_text("x"), bc::SessionClosedError);
  EXPECT_THROW(session.receive_for(10ms), bc::SessionClosedError);
  EXPECT_EQ(session.close().code, 1000);  // the same answer again
}

TEST_F(Sessions, MovedFromSessionIsNotOpen) {
  auto first = bc::Session::connect(mint_token(), options());
  auto moved = std::move(first);
  EXPECT_FALSE(first.is_open());
  EXPECT_THROW(first.send_text("x"), bc::SessionClosedError);
  EXPECT_THROW(first.receive_for(10ms), bc::SessionClosedError);
  expect_echo(moved, "moved");
  moved = bc::Session::connect(mint_token(), options());
  expect_echo(moved, "assigned");
}

TEST_F(Sessions, MaxSessionDurationEndsTheSessionAsClosed) {
  auto request = mint_request();
  request.max_session_duration = 10;
  auto session = bc::Session::connect(bc::mint_token(request), options());
  expect_echo(session, "before the end");
  // Whatever Bouncer warns about on the way (an expiry warning), the end comes as Closed.
  std::optional<bc::Closed> closed;
  for (int i = 0; i < 5 && !closed; ++i) {
    auto event = next_event(session, 20s);
    ASSERT_FALSE(std::holds_alternative<bc::Message>(event)) << std::get<bc::Message>(event).data;
    if (auto* c = std::get_if<bc::Closed>(&event)) closed = *c;
  }
  ASSERT_TRUE(closed);
  EXPECT_EQ(closed->code, 1000);
  EXPECT_EQ(closed->reason, "max_session_duration");
  EXPECT_EQ(closed->max_session_duration, 10);
  EXPECT_FALSE(session.is_open());
  EXPECT_THROW(session.receive_for(10ms), bc::SessionClosedError);
}

TEST_F(Sessions, UnreachableServerIsAConnectionErrorWithoutTheCredential) {
  const auto credential = bc::mint_url(mint_request(), "echo");
  auto url = credential;
  url.url.replace(url.url.find(std::to_string(server().port())), std::to_string(server().port()).size(), "1");
  try {
    bc::Session::connect(url, {});
    FAIL() << "connected";
  } catch (const bc::ConnectionError& e) {
    EXPECT_EQ(std::string(e.what()).find(credential.secret()), std::string::npos) << e.what();
  }
}

TEST_F(Sessions, UnansweredUpgradeIsATimeout) {
  SilentListener silent;
  auto o = options();
  o.base_url = "ws://127.0.0.1:" + std::to_string(silent.port());
  o.connect_timeout = 300ms;
  EXPECT_THROW(bc::Session::connect(mint_token(), o), bc::TimeoutError);
}

TEST_F(Sessions, BadResumeIdIsRefusedBeforeConnecting) {
  auto o = options();
  o.resume_id = "too-short";
  EXPECT_THROW(bc::Session::connect(mint_token(), o), std::invalid_argument);
}

}  // namespace
}  // namespace client_test
