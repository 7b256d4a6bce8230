// Renewing a session in place (docs/API.md, "Renewing a session in place"): the client sends
// {"type":"bouncer.renew","token":…}; Bouncer takes it (the upstream never sees it: the echo
// model would echo it back), checks the token like an admission of this session and moves the
// deadline, or answers why not while the session goes on. Before each deadline it warns once.
#include "door_fixture.h"

namespace door_test {
namespace {

std::string renew(const std::string& token) { return R"({"type":"bouncer.renew","token":")" + token + "\"}"; }

class Renewal : public Door {
 protected:
  // The next message, which must be Bouncer's text of type `type`.
  static json::object expect_bouncer(WsClient& ws, const std::string& type, std::chrono::milliseconds wait = 10s) {
    ws.set_timeout(wait);
    const auto m = ws.read();
    if (m.ec) {
      ADD_FAILURE() << "waiting for " << type << ": " << m.ec.message() << " (close " << ws.close_code() << " "
                    << ws.close_text() << ")";
      return {};
    }
    EXPECT_TRUE(m.text);
    const auto v = json::parse(m.data).as_object();
    EXPECT_EQ(v.at("type").as_string(), type) << m.data;
    return v;
  }

  // A renewal refused with `error`; the session goes on (it still echoes).
  void expect_renew_failed(WsClient& ws, const std::string& message, const std::string& error) {
    SCOPED_TRACE("renewal refused: " + error);
    ASSERT_FALSE(ws.write(message));
    const auto answer = expect_bouncer(ws, "bouncer.renew_failed");
    if (!answer.empty()) {
    EXPECT_EQ(answer.at("error").as_string(), error);
  }
    expect_echo(ws, "still relaying after: " + error);
  }
};

TEST_F(Renewal, ARenewalMovesTheDeadlineAndIsNeverRelayed) {
  start();
  const auto first = mint(R"({"constraints":{"realtime":{"maxSessionDuration":10}}})");
  auto ws = connect(stream_target("echo", "api_key=" + first.api_key));
  const auto opened = std::chrono::steady_clock::now();
  expect_echo(*ws, "before");
  // The warning: once, half the 10 s cap before the end.
  const auto warned = expect_bouncer(*ws, "bouncer.session_expiring");
  ASSERT_FALSE(warned.empty());
  EXPECT_EQ(warned.at("secondsLeft").as_int64(), 5);
  EXPECT_GE(std::chrono::steady_clock::now() - opened, 4s);

  const auto fresh = mint(R"({"constraints":{"realtime":{"maxSessionDuration":12}}})");
  ASSERT_FALSE(ws->write(renew(fresh.api_key)));
  const auto renewed = expect_bouncer(*ws, "bouncer.renewed");
  ASSERT_TRUE(renewed.contains("deadline")) << json::serialize(renewed);
  EXPECT_TRUE(renewed.at("deadline").is_string());
  // The echo model would have echoed a relayed renewal: the next message is the probe's echo.
  expect_echo(*ws, "after the renewal");
  // Its next warning comes 6 s before the new deadline, past the first one: the session lives on.
  const auto warned_again = expect_bouncer(*ws, "bouncer.session_expiring", 15s);
  if (!warned_again.empty()) {
    EXPECT_EQ(warned_again.at("secondsLeft").as_int64(), 6);
  }
  EXPECT_GE(std::chrono::steady_clock::now() - opened, 10s);
  expect_echo(*ws, "past the first deadline");
  // No renewal this time: it ends at the new deadline, as any capped session does.
  const auto ended = expect_bouncer(*ws, "session_ended", 15s);
  if (!ended.empty()) {
    EXPECT_EQ(ended.at("seconds").as_int64(), 12);
  }
  EXPECT_EQ(ws->read().ec, websocket::error::closed);
  EXPECT_EQ(ws->close_code(), 1000);
  EXPECT_GE(std::chrono::steady_clock::now() - opened, 16s);
}

TEST_F(Renewal, ATokenWithoutACapLiftsTheDeadline) {
  start();
  const auto first = mint(R"({"constraints":{"realtime":{"maxSessionDuration":10}}})");
  auto ws = connect(stream_target("echo", "token=" + first.jwt));
  ASSERT_FALSE(ws->write(renew(mint().jwt)));  // the bare JWT works as well as the ek_ key
  const auto renewed = expect_bouncer(*ws, "bouncer.renewed");
  if (!renewed.empty()) {
    EXPECT_TRUE(renewed.at("deadline").is_null());
  }
  // Neither the warning nor the end comes: only the echo.
  std::this_thread::sleep_for(11s);
  expect_echo(*ws, "no deadline any more");
}

TEST_F(Renewal, RefusedRenewalsLeaveTheSessionAsItWas) {
  start(StartOptions().keys({"session-key", "other-key"}));
  const auto& own = extra_keys_[0];
  const auto& other = extra_keys_[1];
  const auto session_token = mint_with(own, R"({"allowedOrigins":["https://app.example"]})");
  auto ws = connect(stream_target("echo", "api_key=" + session_token.api_key), {{"Origin", "https://app.example"}});
  expect_echo(*ws, "admitted");

  expect_renew_failed(*ws, renew(mint_with(other).api_key), "Token of another key not allowed");
  expect_renew_failed(*ws, renew(mint_with(own, R"({"allowedModels":["demo"]})").api_key), "Model not allowed");
  expect_renew_failed(*ws, renew(mint_with(own, R"({"allowedOrigins":["https://other.example"]})").api_key),
                      "Origin not allowed");
  expect_renew_failed(*ws, renew("ek_not-a-token"), "Invalid API key");
  expect_renew_failed(*ws, renew(own.secret), "Invalid API key");
  expect_renew_failed(*ws, R"({"type":"bouncer.renew"})", "Invalid renew message: it needs a token");
  // A token used up renews no more.
  const auto once = mint_with(own, R"({"maxUses":1})");
  ASSERT_FALSE(ws->write(renew(once.api_key)));
  expect_bouncer(*ws, "bouncer.renewed");
  expect_renew_failed(*ws, renew(once.api_key), "Token already used");
  // Another type of Bouncer's is answered, not relayed; JSON that is not Bouncer's is relayed.
  ASSERT_FALSE(ws->write(R"({"type":"bouncer.unheard_of"})"));
  const auto unknown = expect_bouncer(*ws, "bouncer.error");
  if (!unknown.empty()) {
    EXPECT_EQ(unknown.at("error").as_string(), "Unknown message type");
  }
  expect_echo(*ws, R"({"type":"response.create","note":"mentions bouncer. but is the model's"})");

  // The session's own key revoked (its sessions left running): its tokens renew nothing.
  const auto spare = mint_with(own);
  const auto revoked = bouncer_cli(data_dir(), tmp_.path(), {"keys", "revoke", own.id});
  ASSERT_EQ(revoked.status, 0) << revoked.err;
  std::this_thread::sleep_for(1500ms);  // the server's state poll
  expect_renew_failed(*ws, renew(spare.api_key), "Token revoked");
}

// A client that offers bouncer.v1 may renew, so its messages must stay readable: its
// permessage-deflate offer is not passed on (the model server's whoami shows what it got).
TEST_F(Renewal, BouncerV1SessionsAreNotCompressed) {
  start();
  const auto token = mint();
  const auto extensions_upstream = [&](Headers headers, const std::string& target) {
    headers.emplace_back("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits");
    auto ws = connect(target, headers);
    if (ws->write(R"({"type":"whoami"})")) throw std::runtime_error("whoami: write failed");
    const auto headers_seen = json::parse(ws->read().data).at("headers").as_object();
    const auto* offered = headers_seen.if_contains("sec-websocket-extensions");
    return offered ? std::string(offered->as_string()) : std::string("(none)");
  };
  EXPECT_EQ(extensions_upstream({}, stream_target("up", "api_key=" + token.api_key)),
            "permessage-deflate; client_max_window_bits");
  EXPECT_EQ(extensions_upstream({{"Sec-WebSocket-Protocol", "bouncer.key." + token.api_key + ", bouncer.v1"}},
                                stream_target("up")),
            "(none)");
}

}  // namespace
}  // namespace door_test
