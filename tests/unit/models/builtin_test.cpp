// The built-in models as a client of Bouncer's relay sees them: real WebSockets on
// 127.0.0.1, the server's io_context on its own thread, every wait bounded.
#include "models/builtin.h"

#include "ws_client.h"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <gtest/gtest.h>

#include <string>
#include <thread>

namespace bouncer::models {
namespace {

using testing::Message;
using testing::WsClient;
namespace json = boost::json;

class BuiltinModelsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    models_.start();
    thread_ = std::thread([this] { ioc_.run(); });
  }

  void TearDown() override {
    models_.stop();
    work_.reset();
    thread_.join();
  }

  // Connects to `model` ("echo", "demo") presenting the secret; asserts the handshake worked.
  void open(WsClient& client, const std::string& model) {
    const auto target = testing::parse_ws_url(models_.url_of(model));
    ASSERT_NE(target.port, 0) << model;
    ASSERT_FALSE(client.connect(target.port, target.path, {{std::string(kSecretHeader), models_.shared_secret()}}))
        << model;
  }

  // The next message as JSON; a failed read or non-JSON text fails the test.
  json::value read_json(WsClient& client) {
    const Message m = client.read();
    EXPECT_FALSE(m.ec) << m.ec.message();
    EXPECT_TRUE(m.text);
    boost::system::error_code ec;
    auto v = json::parse(m.data, ec);
    EXPECT_FALSE(ec) << m.data;
    return v;
  }

  std::uint16_t port() const { return testing::parse_ws_url(models_.url_of("echo")).port; }

  boost::asio::io_context ioc_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_ = boost::asio::make_work_guard(ioc_);
  BuiltinModels models_{ioc_};
  std::thread thread_;
};

// url_of names the two models on one loopback port and nothing else; the secret is 32
// random bytes in base64url.
TEST_F(BuiltinModelsTest, UrlsAndSecret) {
  const std::string echo = models_.url_of("echo");
  const std::string demo = models_.url_of("demo");
  EXPECT_EQ(echo.rfind("ws://127.0.0.1:", 0), 0u) << echo;
  EXPECT_EQ(echo.substr(echo.size() - 5), "/echo");
  EXPECT_EQ(demo.substr(demo.size() - 5), "/demo");
  EXPECT_EQ(echo.substr(0, echo.size() - 5), demo.substr(0, demo.size() - 5));
  EXPECT_EQ(models_.url_of("nope"), "");
  EXPECT_EQ(models_.url_of(""), "");
  EXPECT_EQ(models_.shared_secret().size(), 43u);

  boost::asio::io_context other;
  BuiltinModels second(other);
  EXPECT_NE(second.shared_secret(), models_.shared_secret());
  EXPECT_EQ(second.url_of("echo"), "");  // not started
}

// Text comes back as text and binary as binary, byte for byte, several times in a row.
TEST_F(BuiltinModelsTest, EchoKeepsTextAndBinary) {
  WsClient client;
  open(client, "echo");
  const std::string binary("\x00\x01\xff\xfe binary \x80", 14);
  for (int i = 0; i < 3; ++i) {
    ASSERT_FALSE(client.write("hello " + std::to_string(i), true));
    Message m = client.read();
    ASSERT_FALSE(m.ec) << m.ec.message();
    EXPECT_TRUE(m.text);
    EXPECT_EQ(m.data, "hello " + std::to_string(i));

    ASSERT_FALSE(client.write(binary, false));
    m = client.read();
    ASSERT_FALSE(m.ec) << m.ec.message();
    EXPECT_FALSE(m.text);
    EXPECT_EQ(m.data, binary);
  }
  EXPECT_FALSE(client.close());
  EXPECT_EQ(client.close_reason().code, 1000);
}

// A message of exactly 1 MiB is echoed; one byte more closes the session with 1009.
TEST_F(BuiltinModelsTest, EchoMessageSizeLimit) {
  WsClient client;
  open(client, "echo");
  std::string big(1 << 20, 'x');
  ASSERT_FALSE(client.write(big, false));
  Message m = client.read();
  ASSERT_FALSE(m.ec) << m.ec.message();
  EXPECT_EQ(m.data.size(), big.size());

  big.push_back('y');
  ASSERT_FALSE(client.write(big, false));
  m = client.read();
  EXPECT_EQ(m.ec, testing::websocket::error::closed) << m.ec.message();
  EXPECT_EQ(client.close_reason().code, testing::websocket::close_code::too_big);
}

// Without the shared secret, or with a wrong one, the upgrade is refused with 403.
TEST_F(BuiltinModelsTest, RefusesMissingOrWrongSecret) {
  for (const auto& headers : std::vector<WsClient::Headers>{
           {},
           {{std::string(kSecretHeader), "wrong"}},
           {{std::string(kSecretHeader), models_.shared_secret() + "x"}},
           {{std::string(kSecretHeader), models_.shared_secret().substr(1)}},
           {{std::string(kSecretHeader), ""}},
       }) {
    for (const char* path : {"/echo", "/demo", "/nope"}) {
      WsClient client;
      const auto ec = client.connect(port(), path, headers);
      EXPECT_EQ(ec, testing::websocket::error::upgrade_declined) << path << ": " << ec.message();
      EXPECT_EQ(client.response.result_int(), 403) << path;
    }
  }
}

// With the secret, a path that names no model is refused with 404; so is a prefix of one.
TEST_F(BuiltinModelsTest, RefusesUnknownPath) {
  for (const char* path : {"/nope", "/", "/echo/", "/echoes", "/ECHO", "/demo/x"}) {
    WsClient client;
    const auto ec = client.connect(port(), path, {{std::string(kSecretHeader), models_.shared_secret()}});
    EXPECT_EQ(ec, testing::websocket::error::upgrade_declined) << path << ": " << ec.message();
    EXPECT_EQ(client.response.result_int(), 404) << path;
  }
}

// A query string does not change which model a path names.
TEST_F(BuiltinModelsTest, IgnoresQuery) {
  WsClient client;
  ASSERT_FALSE(client.connect(port(), "/echo?session=1", {{std::string(kSecretHeader), models_.shared_secret()}}));
  ASSERT_FALSE(client.write("q"));
  EXPECT_EQ(client.read().data, "q");
}

// A prompt is acknowledged, then ticks count the seconds from 1.
TEST_F(BuiltinModelsTest, DemoPromptThenTicks) {
  WsClient client;
  open(client, "demo");
  ASSERT_FALSE(client.write(R"({"type":"prompt","prompt":"a cat, \"quoted\" ✓"})"));
  EXPECT_EQ(read_json(client), json::parse(R"({"type":"prompt_ack","prompt":"a cat, \"quoted\" ✓"})"));
  EXPECT_EQ(read_json(client), json::parse(R"({"type":"generation_tick","seconds":1})"));
  EXPECT_EQ(read_json(client), json::parse(R"({"type":"generation_tick","seconds":2})"));
}

// A new prompt restarts the count: after its ack, the next tick says 1 again.
TEST_F(BuiltinModelsTest, DemoNewPromptRestartsTicks) {
  WsClient client;
  open(client, "demo");
  ASSERT_FALSE(client.write(R"({"type":"prompt","prompt":"one"})"));
  EXPECT_EQ(read_json(client).at("type"), "prompt_ack");
  EXPECT_EQ(read_json(client).at("seconds"), 1);
  EXPECT_EQ(read_json(client).at("seconds"), 2);

  ASSERT_FALSE(client.write(R"({"type":"prompt","prompt":"two"})"));
  json::value v = read_json(client);
  while (v.at("type") == "generation_tick") v = read_json(client);  // a tick of "one" may cross
  EXPECT_EQ(v, json::parse(R"({"type":"prompt_ack","prompt":"two"})"));
  EXPECT_EQ(read_json(client), json::parse(R"({"type":"generation_tick","seconds":1})"));
  EXPECT_EQ(read_json(client), json::parse(R"({"type":"generation_tick","seconds":2})"));
}

// Bad input gets an error message and the session goes on.
TEST_F(BuiltinModelsTest, DemoErrorsKeepTheSession) {
  WsClient client;
  open(client, "demo");
  for (const char* bad : {"not json", R"({"type":"dance"})", R"([1,2])", R"({"prompt":"x"})",
                          R"({"type":"prompt"})", R"({"type":"prompt","prompt":"a","prompt":"b"})"}) {
    ASSERT_FALSE(client.write(bad));
    const json::value v = read_json(client);
    EXPECT_EQ(v.at("type"), "error") << bad;
    EXPECT_TRUE(v.at("error").is_string()) << bad;
  }
  ASSERT_FALSE(client.write("{}", false));  // binary
  EXPECT_EQ(read_json(client).at("type"), "error");

  ASSERT_FALSE(client.write(R"({"type":"prompt","prompt":"still here"})"));
  EXPECT_EQ(read_json(client), json::parse(R"({"type":"prompt_ack","prompt":"still here"})"));
}

// A client that sends but never reads fills the demo's bounded output queue and is
// closed with 1008 "Too slow", instead of the server buffering without limit.
TEST_F(BuiltinModelsTest, DemoClosesTooSlowClient) {
  WsClient client(std::chrono::seconds(20));
  client.set_receive_buffer(64 * 1024);
  open(client, "demo");
  const std::string prompt = R"({"type":"prompt","prompt":")" + std::string(256 * 1024, 'p') + R"("})";
  // 16 MiB of acks: enough to fill the server's send buffer and then its queue (4 MiB).
  for (int i = 0; i < 64; ++i) {
    const auto ec = client.write(prompt);
    if (ec) break;  // the server may already have given up on us
  }
  Message m;
  int acks = 0;
  do {
    m = client.read();
    if (!m.ec) ++acks;
  } while (!m.ec);
  EXPECT_EQ(m.ec, testing::websocket::error::closed) << m.ec.message();
  EXPECT_EQ(client.close_reason().code, testing::websocket::close_code::policy_error);
  EXPECT_EQ(client.close_reason().reason, "Too slow");
  EXPECT_LT(acks, 64);
}

// stop() closes every live session with 1001 and accepts no new connection.
TEST_F(BuiltinModelsTest, StopClosesSessionsWithGoingAway) {
  WsClient echo;
  WsClient demo;
  open(echo, "echo");
  open(demo, "demo");
  ASSERT_FALSE(demo.write(R"({"type":"prompt","prompt":"p"})"));
  EXPECT_EQ(read_json(demo).at("type"), "prompt_ack");
  ASSERT_FALSE(echo.write("before"));
  EXPECT_EQ(echo.read().data, "before");

  models_.stop();

  Message m = echo.read();
  EXPECT_EQ(m.ec, testing::websocket::error::closed) << m.ec.message();
  EXPECT_EQ(echo.close_reason().code, testing::websocket::close_code::going_away);
  do {
    m = demo.read();  // ticks may come first
  } while (!m.ec);
  EXPECT_EQ(m.ec, testing::websocket::error::closed) << m.ec.message();
  EXPECT_EQ(demo.close_reason().code, testing::websocket::close_code::going_away);

  WsClient late;
  EXPECT_TRUE(late.connect(port(), "/echo", {{std::string(kSecretHeader), models_.shared_secret()}}));
}

// stop() also ends a connection that has not finished its HTTP handshake.
TEST_F(BuiltinModelsTest, StopEndsPendingHandshakes) {
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::socket socket(ioc);
  socket.connect({boost::asio::ip::make_address_v4("127.0.0.1"), port()});
  boost::asio::write(socket, boost::asio::buffer(std::string("GET /echo HTTP/1.1\r\nHost: x\r\n")));  // unfinished
  // Connections are accepted in order: once a later one has been served, this one is in
  // its handshake.
  WsClient later;
  open(later, "echo");
  ASSERT_FALSE(later.write("x"));
  EXPECT_EQ(later.read().data, "x");

  models_.stop();
  char byte = 0;
  boost::system::error_code ec;
  socket.read_some(boost::asio::buffer(&byte, 1), ec);  // bounded by the server's own 10 s limit
  EXPECT_EQ(ec, boost::asio::error::eof) << ec.message();
}

}  // namespace
}  // namespace bouncer::models
