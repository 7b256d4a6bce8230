// The life of admitted sessions: maxSessionDuration, expiry during a session, revocation
// with and without ending sessions, concurrent-session caps (per key, per model, per token).
#include "door_fixture.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <future>

namespace door_test {
namespace {

namespace net = boost::asio;

using Session = Door;
using Revocation = Door;
using Caps = Door;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// A session ended by revocation: optionally {"type":"error","error":"Token revoked"}, then
// close 1008 "Token revoked". Returns when the close arrived.
Clock::time_point expect_ended_by_revocation(WsClient& ws) {
  auto m = ws.read(10s);
  if (!m.ec) {
    EXPECT_TRUE(m.text);
    EXPECT_EQ(m.data, error_frame("Token revoked"));
    m = ws.read(10s);
  }
  const auto at = Clock::now();
  EXPECT_EQ(m.ec, websocket::error::closed) << m.ec.message() << " " << m.data;
  EXPECT_EQ(ws.close_code(), 1008);
  EXPECT_EQ(ws.close_text(), "Token revoked");
  return at;
}

// Capacity refusals: {"type":"error","error":"…Concurrent session limit reached…"}, then 1013.
void expect_capacity_refusal(WsClient& ws) {
  const auto m = ws.read();
  ASSERT_FALSE(m.ec) << m.ec.message() << " (close " << ws.close_code() << ")";
  ASSERT_TRUE(m.text);
  const auto frame = json::parse(m.data).as_object();
  EXPECT_EQ(frame.size(), 2u) << m.data;
  EXPECT_EQ(frame.at("type").as_string(), "error");
  EXPECT_NE(std::string(frame.at("error").as_string()).find("Concurrent session limit reached"), std::string::npos)
      << m.data;
  const auto end = ws.read();
  EXPECT_EQ(end.ec, websocket::error::closed) << end.ec.message();
  EXPECT_EQ(ws.close_code(), 1013);
}

// maxSessionDuration 10: the session ends between 10 and 11 s after it opened, first with
// {"type":"session_ended","reason":"max_session_duration","seconds":10}, then close 1000
// "max_session_duration". Traffic during the session does not extend it.
TEST_F(Session, MaxSessionDurationEndsTheSession) {
  start();
  const auto token = mint(R"({"constraints":{"realtime":{"maxSessionDuration":10}}})");
  const auto before_open = Clock::now();
  auto ws = connect(stream_target("echo", "api_key=" + token.api_key), {}, 15s);
  const auto opened = Clock::now();
  // Traffic does not extend it; the client is warned once, 5 s before the end.
  int warnings = 0;
  while (seconds_since(opened) < 8.5) {
    const std::string probe = "still here at " + std::to_string(seconds_since(opened));
    ASSERT_FALSE(ws->write(probe));
    auto reply = ws->read();
    if (reply.data == R"({"type":"bouncer.session_expiring","secondsLeft":5})") {
      ++warnings;
      EXPECT_GE(seconds_since(opened), 4.5);
      reply = ws->read();
    }
    ASSERT_FALSE(reply.ec) << reply.ec.message();
    EXPECT_EQ(reply.data, probe);
    std::this_thread::sleep_for(500ms);
  }
  EXPECT_EQ(warnings, 1);
  const auto m = ws->read(15s);
  const auto ended = Clock::now();
  ASSERT_FALSE(m.ec) << "expected the session_ended frame, got " << m.ec.message() << " (close "
                     << ws->close_code() << " " << ws->close_text() << ")";
  EXPECT_TRUE(m.text);
  EXPECT_EQ(json::parse(m.data), json::parse(R"({"type":"session_ended","reason":"max_session_duration","seconds":10})"))
      << m.data;
  const auto close = ws->read(5s);
  EXPECT_EQ(close.ec, websocket::error::closed) << close.ec.message() << " " << close.data;
  EXPECT_EQ(ws->close_code(), 1000);
  EXPECT_EQ(ws->close_text(), "max_session_duration");
  // The server's clock starts between our two readings; ours stops after its frame arrived.
  EXPECT_GE(ended - before_open, 10s) << "ended after " << std::chrono::duration<double>(ended - before_open).count();
  EXPECT_LE(ended - opened, 11s) << "ended after " << std::chrono::duration<double>(ended - opened).count();
}

// Expiry blocks new sessions only: a session opened just before it goes on.
TEST_F(Session, ExpiryDuringSessionDoesNotEndIt) {
  start(StartOptions().args({"--leeway-seconds", "0"}));
  const auto token = mint(R"({"expiresIn":2})");
  auto echo = connect(stream_target("echo", "api_key=" + token.api_key));
  auto up = connect(stream_target("up", "token=" + token.jwt));
  expect_echo(*echo, "before expiry");
  const auto exp = std::chrono::system_clock::time_point(std::chrono::seconds(token.claims.at("exp").as_int64()));
  std::this_thread::sleep_until(exp + 1500ms);
  expect_refused(stream_target("echo", "api_key=" + token.api_key), {}, "Token expired");
  expect_echo(*echo, "after expiry");
  expect_echo(*up, "after expiry, upstream");
  expect_echo(*echo, std::string(5000, 'z'), false);
}

// `bouncer keys revoke ID`: new sessions are refused within ~1 s; live ones go on.
TEST_F(Revocation, WithoutEndSessionsLiveSessionsGoOn) {
  start(StartOptions().keys({"revoked", "other"}));
  const auto& revoked = extra_keys_[0];
  const auto token = mint_with(revoked);
  auto echo = connect(stream_target("echo", "api_key=" + token.api_key));
  auto up = connect(stream_target("up", "api_key=" + token.api_key));
  auto s2s = connect(stream_target("echo", "api_key=" + revoked.secret));
  expect_echo(*echo, "before");

  const auto cli = bouncer_cli(data_dir(), tmp_.path(), {"keys", "revoke", revoked.id});
  ASSERT_EQ(cli.status, 0) << cli.err;
  const auto took = seconds_until_first_reply(stream_target("echo", "api_key=" + token.api_key),
                                              error_frame("Token revoked"), 2s);
  ASSERT_TRUE(took) << "a new session was still admitted 2 s after the revocation";
  std::cerr << "[door] new sessions refused " << *took << " s after `keys revoke`\n";
  expect_refused(stream_target("up", "token=" + token.jwt), {}, "Token revoked");
  // Well past the revocation, the live sessions still relay.
  std::this_thread::sleep_for(1500ms);
  expect_echo(*echo, "after the revocation");
  expect_echo(*up, "after the revocation, upstream");
  expect_echo(*s2s, "after the revocation, sk_");
}

// `bouncer keys revoke ID --end-sessions`: every live session of the key (its tokens' and its
// own server-to-server ones) gets 1008 "Token revoked" within ~1 s; other keys' go on.
TEST_F(Revocation, EndSessionsClosesLiveSessions1008) {
  start(StartOptions().keys({"revoked", "other"}));
  const auto& revoked = extra_keys_[0];
  const auto token = mint_with(revoked);
  const auto other = mint_with(extra_keys_[1]);
  auto echo = connect(stream_target("echo", "api_key=" + token.api_key));
  auto up = connect(stream_target("up", "token=" + token.jwt));
  auto s2s = connect(stream_target("echo", "api_key=" + revoked.secret));
  auto bystander = connect(stream_target("up", "api_key=" + other.api_key));
  expect_echo(*echo, "before");
  expect_echo(*up, "before");

  const auto cli = bouncer_cli(data_dir(), tmp_.path(), {"keys", "revoke", revoked.id, "--end-sessions"});
  ASSERT_EQ(cli.status, 0) << cli.err;
  const auto t0 = Clock::now();
  for (auto* ws : {echo.get(), up.get(), s2s.get()}) {
    const auto at = expect_ended_by_revocation(*ws);
    const double after = std::chrono::duration<double>(at - t0).count();
    std::cerr << "[door] live session ended " << after << " s after `keys revoke --end-sessions`\n";
    EXPECT_LT(after, 2.0) << "~1 s expected";
  }
  expect_refused(stream_target("echo", "api_key=" + token.api_key), {}, "Token revoked");
  expect_echo(*bystander, "another key's session goes on");
}

// A session still waiting for its model server when its key is revoked with --end-sessions
// is refused with "Token revoked" once the wait ends: never let through, and not reported as
// an upstream failure. The upstream here listens but never answers the handshake.
TEST_F(Revocation, EndSessionsReachesSessionsStillConnectingUpstream) {
  net::io_context io;
  net::ip::tcp::acceptor silent(io, {net::ip::make_address("127.0.0.1"), 0});  // never accepts
  const auto silent_port = silent.local_endpoint().port();
  start(StartOptions()
            .keys({"revoked"})
            .args({"--upstream-connect-timeout-seconds", "5"})
            .toml("[models.silent]\nupstream = \"ws://127.0.0.1:" + std::to_string(silent_port) + "/\"\n"));
  const auto token = mint_with(extra_keys_[0]);
  auto pending = std::async(std::launch::async, [&] { return connect(stream_target("silent", "api_key=" + token.api_key)); });
  std::this_thread::sleep_for(1s);  // admitted by now; its upstream handshake hangs
  const auto cli = bouncer_cli(data_dir(), tmp_.path(), {"keys", "revoke", extra_keys_[0].id, "--end-sessions"});
  ASSERT_EQ(cli.status, 0) << cli.err;
  auto ws = pending.get();
  expect_refusal(*ws, "Token revoked", 1008);
}

// POST /v1/keys/self/revoke {"endSessions":true}: the key revokes itself over HTTP and its
// live sessions end with 1008 "Token revoked".
TEST_F(Revocation, SelfRevokeWithEndSessions) {
  start(StartOptions().keys({"leaked", "other"}));
  const auto& leaked = extra_keys_[0];
  const auto token = mint_with(leaked);
  const auto other = mint_with(extra_keys_[1]);
  auto echo = connect(stream_target("echo", "api_key=" + token.api_key));
  auto up = connect(stream_target("up", "api_key=" + token.api_key));
  auto bystander = connect(stream_target("echo", "api_key=" + other.api_key));
  expect_echo(*echo, "before");

  const auto t0 = Clock::now();
  const auto r = bouncer_->post("/v1/keys/self/revoke", leaked.secret, R"({"endSessions":true})");
  ASSERT_EQ(r.status, 200) << r.body;
  const auto answer = json::parse(r.body).as_object();
  EXPECT_EQ(answer.at("id").as_string(), leaked.id);
  EXPECT_EQ(answer.at("endSessions"), json::value(true));
  for (auto* ws : {echo.get(), up.get()}) {
    const auto at = expect_ended_by_revocation(*ws);
    EXPECT_LT(std::chrono::duration<double>(at - t0).count(), 2.0);
  }
  expect_refused(stream_target("echo", "api_key=" + token.api_key), {}, "Token revoked");
  EXPECT_EQ(bouncer_->post("/v1/client/tokens", leaked.secret, "{}").status, 403);
  expect_echo(*bystander, "another key's session goes on");
}

// --max-sessions-per-key 2: a third concurrent session of the key is refused with 1013, other
// keys are not affected, and a freed place can be taken again.
TEST_F(Caps, PerKey) {
  start(StartOptions().args({"--max-sessions-per-key", "2"}).keys({"capped", "other"}));
  const auto& capped = extra_keys_[0];
  const auto t1 = mint_with(capped);
  const auto t2 = mint_with(capped);
  auto first = connect(stream_target("echo", "api_key=" + t1.api_key));
  auto second = connect(stream_target("up", "api_key=" + t2.api_key));
  expect_echo(*first, "one");
  expect_echo(*second, "two");
  {
    auto third = connect(stream_target("echo", "api_key=" + t1.api_key));
    expect_capacity_refusal(*third);
  }
  {
    auto third = connect(stream_target("demo", "api_key=" + capped.secret));  // the key itself counts too
    expect_capacity_refusal(*third);
  }
  const auto other = mint_with(extra_keys_[1]);
  auto o1 = connect(stream_target("echo", "api_key=" + other.api_key));
  auto o2 = connect(stream_target("echo", "api_key=" + other.api_key));
  expect_echo(*o1, "other key, one");
  expect_echo(*o2, "other key, two");

  ASSERT_FALSE(first->close(1000, "making room"));
  // The place freed by the closed session is given back.
  ASSERT_TRUE(seconds_until_first_reply(stream_target("echo", "api_key=" + t1.api_key), kProbe, 5s));
  expect_echo(*second, "still two");
}

// [models.limited] max_sessions = 1: a second session on that model is refused with 1013,
// whoever asks; other models are not affected.
TEST_F(Caps, PerModel) {
  start(StartOptions().keys({"a", "b"}));
  const auto a = mint_with(extra_keys_[0]);
  const auto b = mint_with(extra_keys_[1]);
  auto first = connect(stream_target("limited", "api_key=" + a.api_key));
  expect_echo(*first, "the only one");
  for (const auto& credential : {a.api_key, b.api_key, extra_keys_[1].secret}) {
    auto second = connect(stream_target("limited", "api_key=" + credential));
    expect_capacity_refusal(*second);
  }
  auto up = connect(stream_target("up", "api_key=" + b.api_key));
  expect_echo(*up, "another model");

  ASSERT_FALSE(first->close(1000, "making room"));
  // The place freed by the closed session is given back.
  ASSERT_TRUE(seconds_until_first_reply(stream_target("limited", "api_key=" + b.api_key), kProbe, 5s));
}

// The per-token cap's refusal: the key cap's code and message style, saying whose cap it is.
constexpr const char* kTokenCapMessage = "Concurrent session limit reached for this token";

// Without --max-sessions-per-token the default (10) holds: one browser token cannot take its
// key's whole cap. Its 11th concurrent session is refused with 1013, on any model, while
// another token of the same key, and the key itself, are still admitted; a freed place is
// given back.
TEST_F(Caps, PerTokenByDefault) {
  start();
  const auto greedy = mint(R"({"expiresIn":300})");
  EXPECT_EQ(greedy.answer.at("constraints"), json::value(nullptr)) << "the server's default is not echoed";
  EXPECT_EQ(greedy.claims.if_contains("max_concurrent_sessions"), nullptr);
  std::vector<std::unique_ptr<WsClient>> held;
  for (int i = 0; i < 10; ++i) {
    held.push_back(connect(stream_target(i % 2 ? "up" : "echo", "api_key=" + greedy.api_key)));
    expect_echo(*held.back(), "session " + std::to_string(i));
  }
  for (const char* model : {"echo", "up", "demo"}) {
    expect_refused(stream_target(model, "api_key=" + greedy.api_key), {}, kTokenCapMessage, 1013);
  }
  // The same key's other token and the key itself are not held back (the key's cap is 1000).
  const auto other = mint();
  auto o1 = connect(stream_target("echo", "api_key=" + other.api_key));
  expect_echo(*o1, "another token of the same key");
  auto by_key = connect(stream_target("echo", "api_key=" + key_.secret));
  expect_echo(*by_key, "the key itself");
  expect_refused(stream_target("echo", "api_key=" + greedy.api_key), {}, kTokenCapMessage, 1013);

  ASSERT_FALSE(held.front()->close(1000, "making room"));
  ASSERT_TRUE(seconds_until_first_reply(stream_target("echo", "api_key=" + greedy.api_key), kProbe, 5s));
  for (std::size_t i = 1; i < held.size(); ++i) expect_echo(*held[i], "still here");
}

// constraints.realtime.maxConcurrentSessions 2: echoed in the answer and carried in the token;
// the third concurrent session is refused with 1013, and once one ends a new one is admitted.
TEST_F(Caps, PerTokenOption) {
  start();
  const auto two = mint(R"({"expiresIn":300,"constraints":{"realtime":{"maxConcurrentSessions":2}}})");
  EXPECT_EQ(two.answer.at("constraints"), json::parse(R"({"realtime":{"maxConcurrentSessions":2}})"));
  EXPECT_EQ(two.claims.at("max_concurrent_sessions"), json::value(2));
  const auto target = stream_target("echo", "api_key=" + two.api_key);
  auto first = connect(target);
  auto second = connect(stream_target("up", "api_key=" + two.api_key));
  expect_echo(*first, "one");
  expect_echo(*second, "two");
  expect_refused(target, {}, kTokenCapMessage, 1013);
  // The bare JWT is the same token: it counts against the same cap.
  expect_refused(stream_target("echo", "token=" + two.jwt), {}, kTokenCapMessage, 1013);

  ASSERT_FALSE(first->close(1000, "making room"));
  // The server gives the place back once it has seen the close: retry (bounded) until then.
  std::unique_ptr<WsClient> third;
  const auto deadline = Clock::now() + 5s;
  while (!third && Clock::now() < deadline) {
    auto ws = connect(target);
    ASSERT_FALSE(ws->write("three"));
    const auto m = ws->read();
    if (!m.ec && m.data == "three") {
      third = std::move(ws);
    } else {
      std::this_thread::sleep_for(50ms);
    }
  }
  ASSERT_TRUE(third) << "the place of the closed session was not given back within 5 s";
  expect_refused(target, {}, kTokenCapMessage, 1013);
  expect_echo(*second, "still two");
}

// The server's cap is the ceiling: a mint asking for more is refused, naming it; up to it is
// fine. A lower --max-sessions-per-token lowers the default too.
TEST_F(Caps, PerTokenCeilingAtMint) {
  start(StartOptions().args({"--max-sessions-per-token", "3"}));
  const auto above = bouncer_->post("/v1/client/tokens", key_.secret,
                                    R"({"constraints":{"realtime":{"maxConcurrentSessions":4}}})");
  ASSERT_EQ(above.status, 400) << above.body;
  const auto error = json::parse(above.body).at("error").as_object();
  EXPECT_EQ(error.at("code"), "out_of_range");
  EXPECT_EQ(error.at("param"), "constraints.realtime.maxConcurrentSessions");
  EXPECT_NE(std::string(error.at("message").as_string()).find("ceiling of 3"), std::string::npos) << above.body;
  const auto at = bouncer_->post("/v1/client/tokens", key_.secret,
                                 R"({"constraints":{"realtime":{"maxConcurrentSessions":3}}})");
  EXPECT_EQ(at.status, 200) << at.body;

  const auto by_default = mint();
  std::vector<std::unique_ptr<WsClient>> held;
  for (int i = 0; i < 3; ++i) {
    held.push_back(connect(stream_target("echo", "api_key=" + by_default.api_key)));
    expect_echo(*held.back(), "held");
  }
  expect_refused(stream_target("echo", "api_key=" + by_default.api_key), {}, kTokenCapMessage, 1013);
}

}  // namespace
}  // namespace door_test
