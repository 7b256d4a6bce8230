// Admitted sessions: every way to present a credential, transparent relay of text and binary
// frames, close codes both ways, the message size limit, the built-in demo.
#include "door_fixture.h"

#include <csignal>

namespace door_test {
namespace {

using Credentials = Door;
using Relay = Door;

std::string all_bytes(std::size_t size) {
  std::string s(size, '\0');
  for (std::size_t i = 0; i < size; ++i) s[i] = static_cast<char>((i * 7 + i / 256) & 0xff);
  return s;
}

// ?api_key=ek_… (what the browser SDK sends).
TEST_F(Credentials, QueryApiKeyWithClientKey) {
  start();
  const auto token = mint();
  ASSERT_EQ(token.api_key, "ek_" + token.jwt);
  auto ws = connect(stream_target("echo", "api_key=" + token.api_key));
  expect_echo(*ws, "via api_key");
  auto up = connect(stream_target("up", "api_key=" + token.api_key));
  expect_echo(*up, "via api_key, through the model server");
}

// ?token=<the bare JWT> (the mint answer's `token`), and ?token=ek_… as well.
TEST_F(Credentials, QueryTokenWithBareJwt) {
  start();
  const auto token = mint();
  auto ws = connect(stream_target("echo", "token=" + token.jwt));
  expect_echo(*ws, "via token");
  auto ws2 = connect(stream_target("up", "api_key=" + token.jwt));
  expect_echo(*ws2, "bare JWT in api_key");
}

// Server to server: the permanent key itself opens a session.
TEST_F(Credentials, PermanentKey) {
  start();
  auto ws = connect(stream_target("echo", "api_key=" + key_.secret));
  expect_echo(*ws, "via sk_");
  auto up = connect(stream_target("up", "api_key=" + key_.secret));
  expect_echo(*up, "via sk_, through the model server");
}

// Sec-WebSocket-Protocol: bouncer.key.<credential> plus "realtime": the offer goes to the model
// server without the credential, and its choice ("realtime") comes back, never the credential.
TEST_F(Credentials, SubprotocolWithRealtime) {
  start();
  const auto token = mint();
  for (const auto& offer : {"bouncer.key." + token.api_key + ", realtime", "realtime, bouncer.key." + token.api_key,
                            "realtime,bouncer.key." + token.jwt}) {
    SCOPED_TRACE(offer);
    auto ws = connect(stream_target("up"), {{"Sec-WebSocket-Protocol", offer}});
    const auto answered = ws->response.find(beast::http::field::sec_websocket_protocol);
    ASSERT_NE(answered, ws->response.end()) << "no Sec-WebSocket-Protocol answered";
    EXPECT_EQ(answered->value(), "realtime");
    expect_echo(*ws, "via subprotocol");
  }
}

// A model server that speaks no subprotocol: a client that offered bouncer.v1 beside its
// credential gets bouncer.v1 back (a browser fails a connection whose offer gets no answer).
TEST_F(Credentials, SubprotocolBouncerV1WhenTheModelPicksNone) {
  start();
  const auto token = mint();
  for (const auto& offer : {"bouncer.key." + token.api_key + ", bouncer.v1",
                            "bouncer.v1, chat, bouncer.key." + token.jwt}) {
    SCOPED_TRACE(offer);
    auto ws = connect(stream_target("echo"), {{"Sec-WebSocket-Protocol", offer}});
    EXPECT_EQ(ws->response[beast::http::field::sec_websocket_protocol], "bouncer.v1");
    expect_echo(*ws, "bouncer.v1");
  }
  // The model server's own choice wins over bouncer.v1.
  auto ws = connect(stream_target("up"), {{"Sec-WebSocket-Protocol", "bouncer.v1, realtime, bouncer.key." + token.api_key}});
  EXPECT_EQ(ws->response[beast::http::field::sec_websocket_protocol], "realtime");
}

// Only the credential protocol offered: admitted, and no protocol is answered.
TEST_F(Credentials, SubprotocolCredentialOnly) {
  start();
  const auto token = mint();
  for (const auto& credential : {token.api_key, token.jwt, key_.secret}) {
    auto ws = connect(stream_target("echo"), {{"Sec-WebSocket-Protocol", "bouncer.key." + credential}});
    EXPECT_EQ(ws->response.find(beast::http::field::sec_websocket_protocol), ws->response.end())
        << "answered " << ws->response[beast::http::field::sec_websocket_protocol];
    expect_echo(*ws, "credential protocol only");
  }
}

// POST /v1/client/urls: the URL it answers is opened as is.
TEST_F(Credentials, SignedUrlOpensAsIs) {
  start();
  const auto r = bouncer_->post("/v1/client/urls", key_.secret, R"({"model":"up","expiresIn":60})");
  ASSERT_EQ(r.status, 200) << r.body;
  const auto answer = json::parse(r.body).as_object();
  EXPECT_EQ(answer.at("kind").as_string(), "url");
  const std::string url(answer.at("url").as_string());
  const auto parsed = parse_ws_url(url);
  ASSERT_EQ(parsed.port, bouncer_->port()) << url;
  auto ws = connect(parsed.target);
  expect_echo(*ws, "through a signed URL");
  // Bound to its one model: the same credential for another model is refused.
  const auto token = parsed.target.substr(parsed.target.find("token=") + 6);
  expect_refused(stream_target("echo", "token=" + token), {}, "Model not allowed");
}

// Text stays text, binary stays binary, every byte intact, big or small.
TEST_F(Relay, TextAndBinaryFrames) {
  start();
  const auto token = mint();
  for (const std::string model : {"echo", "up"}) {
    SCOPED_TRACE(model);
    auto ws = connect(stream_target(model, "api_key=" + token.api_key));
    expect_echo(*ws, "hello");
    expect_echo(*ws, "UTF-8: Zoë, 東京, 🎧");
    expect_echo(*ws, "", true);
    expect_echo(*ws, all_bytes(256), false);
    expect_echo(*ws, std::string("\0\x01\xff", 3), false);
    expect_echo(*ws, all_bytes(200 * 1024), false);           // many TCP segments, one message
    expect_echo(*ws, std::string(100 * 1024, 'x'), true);
    // Several in flight at once arrive in order.
    for (int i = 0; i < 20; ++i) ASSERT_FALSE(ws->write("message " + std::to_string(i), i % 2 == 0));
    for (int i = 0; i < 20; ++i) {
      const auto m = ws->read();
      ASSERT_FALSE(m.ec) << m.ec.message();
      EXPECT_EQ(m.data, "message " + std::to_string(i));
      EXPECT_EQ(m.text, i % 2 == 0);
    }
    ASSERT_FALSE(ws->close(1000, "done"));
    EXPECT_EQ(ws->close_code(), 1000);
  }
}

// The client closes with 4001 "bye": the upstream sees 4001 "bye".
TEST_F(Relay, ClientCloseCodeReachesUpstream) {
  start();
  const auto token = mint();
  auto ws = connect(stream_target("up", "api_key=" + token.api_key));
  ASSERT_FALSE(ws->write(R"({"type":"whoami"})"));
  const auto who = read_json(*ws);
  const std::string session_id(who.at("session").at("id").as_string());
  ASSERT_FALSE(session_id.empty());
  ASSERT_FALSE(ws->close(4001, "bye")) << "close handshake failed";
  // The model server logs each session's end: `closed session_id="…" code=4001 reason="bye"`.
  const std::string expected = "session_id=\"" + session_id + "\" code=4001 reason=\"bye\"";
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  std::string log;
  for (;;) {
    log = upstream_->err();
    if (log.find(expected) != std::string::npos) break;
    ASSERT_TRUE(std::chrono::steady_clock::now() < deadline)
        << "the model server did not log a close with 4001 \"bye\" (" << expected << ")\n" << log;
    std::this_thread::sleep_for(50ms);
  }
}

// The upstream closes with 4002 "done": the client gets 4002 "done".
TEST_F(Relay, UpstreamCloseCodeReachesClient) {
  start();
  const auto token = mint();
  auto ws = connect(stream_target("up", "api_key=" + token.api_key));
  expect_echo(*ws, "before the close");
  ASSERT_FALSE(ws->write(R"({"type":"close","code":4002,"reason":"done"})"));
  const auto m = ws->read();
  EXPECT_EQ(m.ec, websocket::error::closed) << m.ec.message() << " " << m.data;
  EXPECT_EQ(ws->close_code(), 4002);
  EXPECT_EQ(ws->close_text(), "done");
}

// --max-message-bytes 1024: 1000 bytes pass, 2000 bytes close the session with 1009.
TEST_F(Relay, OversizeMessageCloses1009) {
  start(StartOptions().args({"--max-message-bytes", "1024"}));
  const auto token = mint();
  for (const std::string model : {"echo", "up"}) {
    SCOPED_TRACE(model);
    auto ws = connect(stream_target(model, "api_key=" + token.api_key));
    expect_echo(*ws, std::string(1000, 'a'));
    expect_echo(*ws, all_bytes(1024), false);
    ASSERT_FALSE(ws->write(std::string(2000, 'b'), false));
    const auto m = ws->read();
    // The close frame arrives. (The server drops the connection right after it, with the rest
    // of our message unread, so the closing handshake may end in a reset: the read's error
    // is then ENOTCONN/ECONNRESET instead of "closed". The client has its 1009 either way.)
    EXPECT_TRUE(m.ec) << "no close after an oversize message";
    EXPECT_EQ(ws->close_code(), 1009) << m.ec.message();
  }
}

// The built-in demo: prompt → prompt_ack, then a generation_tick a second.
TEST_F(Relay, BuiltinDemo) {
  start();
  const auto token = mint();
  auto ws = connect(stream_target("demo", "api_key=" + token.api_key));
  ASSERT_FALSE(ws->write(R"({"type":"prompt","prompt":"a cat in a hat"})"));
  const auto ack = read_json(*ws);
  EXPECT_EQ(ack.at("type").as_string(), "prompt_ack") << json::serialize(ack);
  EXPECT_EQ(ack.at("prompt").as_string(), "a cat in a hat");
  const auto tick = read_json(*ws);
  EXPECT_EQ(tick.at("type").as_string(), "generation_tick") << json::serialize(tick);
  EXPECT_EQ(tick.at("seconds").to_number<std::int64_t>(), 1);
}

// SIGTERM with a live session: the client is told 1001 (going away), and the server exits.
TEST_F(Relay, GracefulShutdownCloses1001) {
  start();
  const auto token = mint();
  auto ws = connect(stream_target("echo", "api_key=" + token.api_key));
  auto up = connect(stream_target("up", "api_key=" + token.api_key));
  expect_echo(*ws, "alive");
  expect_echo(*up, "alive");
  bouncer_->process().signal(SIGTERM);
  for (auto* client : {ws.get(), up.get()}) {
    const auto m = client->read(15s);
    EXPECT_EQ(m.ec, websocket::error::closed) << m.ec.message() << " " << m.data;
    EXPECT_EQ(client->close_code(), 1001);
  }
  const auto status = bouncer_->process().wait(15s);
  ASSERT_TRUE(status) << "the server did not exit within 15 s of SIGTERM";
  EXPECT_EQ(*status, 0);
}

}  // namespace
}  // namespace door_test
