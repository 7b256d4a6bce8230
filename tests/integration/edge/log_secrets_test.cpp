// No secret in any log line or error message. A real server, at debug level with no rate limit
// (every line written), in both log formats, is sent a permanent key, a client key and a bare
// JWT in every place a client may put one by mistake; then the server's WHOLE output (stdout
// and stderr) and every answer it gave are searched for them.
#include "door_fixture.h"
#include "raw_http.h"

namespace edge_test {
namespace {

using namespace std::chrono_literals;
using door_test::Headers;
using door_test::http_request;
using door_test::StartOptions;
using door_test::WsClient;
namespace http = boost::beast::http;

class LogSecrets : public door_test::Door, public ::testing::WithParamInterface<const char*> {
 protected:
  // Opens the door and reads what it answers (a refusal: its frame and close reason, and the
  // 101's headers), into answers_.
  void door(const std::string& target, const Headers& headers = {}) {
    SCOPED_TRACE(target);
    WsClient ws(10s);
    const auto ec = ws.connect(bouncer_->port(), target, headers);
    for (const auto& field : ws.response) {
      answers_ += std::string(field.name_string()) + ": " + std::string(field.value()) + "\n";
    }
    if (ec) {
      answers_ += ec.message() + "\n";
      return;
    }
    for (int i = 0; i < 3; ++i) {
      const auto m = ws.read();
      answers_ += m.data + "\n";
      if (m.ec) break;
    }
    answers_ += ws.close_text() + "\n";
    EXPECT_GE(ws.close_code(), 1000) << "the session was not refused";
  }

  void http(http::verb method, const std::string& target, const Headers& headers, const std::string& body = {},
            bool refused = true) {
    const auto r = http_request(bouncer_->port(), method, target, headers, body);
    if (refused) {
      EXPECT_GE(r.status, 400) << target << " " << body << ": " << r.body;
    }
    answers_ += r.body + "\n";
  }

  std::string answers_;
};

TEST_P(LogSecrets, NoCredentialInAnyLogLineOrAnswer) {
  // A key made with the CLI: no first-start banner (which shows a key on stdout by design), so
  // all of stdout can be searched too.
  start(StartOptions().keys({"scanned"}).args({"--log-level", "debug", "--log-format", GetParam(), "--log-rate-limit", "0"}));
  const auto token = mint(R"({"expiresIn":300})");
  const auto& sk = key_.secret;
  const auto& jwt = token.jwt;
  const auto payload = jwt.substr(jwt.find('.') + 1, jwt.rfind('.') - jwt.find('.') - 1);
  const auto signature = jwt.substr(jwt.rfind('.') + 1);
  const std::vector<std::string> secrets{sk, sk.substr(3), token.api_key, jwt, payload, signature};
  const std::vector<std::string> credentials{sk, token.api_key, jwt};

  for (const auto& c : credentials) {
    // The door: every misspelling of the parameter, the credential as the model, glued to it,
    // with a refusal after authentication, in the subprotocol with and without its prefix,
    // in a header the door does not read.
    for (const std::string name : {"apiKey", "apikey", "API_KEY", "api%5Fkey", ";api_key", "api_key%00", "Token"}) {
      door(door_test::stream_target("echo", name + "=" + c));
    }
    door("/v1/stream?model=" + c);
    door("/v1/stream?model=echo;api_key=" + c);
    door(door_test::stream_target("no-such-model", "api_key=" + c));
    door(door_test::stream_target("no-such-model"), {{"Sec-WebSocket-Protocol", "bouncer.key." + c + ", realtime"}});
    door(door_test::stream_target("echo"), {{"Sec-WebSocket-Protocol", c}});
    door(door_test::stream_target("echo"), {{"Authorization", "Bearer " + c}});

    // The mint endpoints: the credential in headers, in paths, and in bodies the error
    // messages quote.
    http(http::verb::post, "/v1/client/tokens", {{"X-API-KEY", c + "x"}}, "{}");
    http(http::verb::post, "/v1/client/tokens", {{"Authorization", "Bearer " + c}}, "{}", c != sk);  // sk_: minted
    http(http::verb::get, "/" + c, {});
    http(http::verb::get, "/v1/client/tokens/" + c, {});
    http(http::verb::get, "/v1/client/tokens?api_key=" + c, {});
    const Headers key{{"X-API-KEY", sk}};
    for (const auto& body : {R"({"allowedOrigins":[")" + c + R"("]})", R"({"allowedModels":[")" + c + R"("]})",
                             R"({")" + c + R"(":1})", R"({"expiresIn":")" + c + R"("})",
                             R"({"metadata":")" + c + R"("})", R"({"constraints":{"realtime":{")" + c + R"(":1}}})",
                             R"({"allowedOrigins":["https://a.example", ")" + c + R"("]})",
                             R"({"origin": )" + c + "}"}) {
      http(http::verb::post, "/v1/client/tokens", key, body);
    }
    http(http::verb::post, "/v1/client/urls", key, R"({"model":")" + c + R"("})");
    http(http::verb::post, "/v1/keys/self/revoke", key, R"({")" + c + R"(":true})");

    // Requests the HTTP layer refuses.
    for (const auto& raw : {"GET /v1/stream?api_key=" + c + " HTTP/1.1\r\n\r\n",
                            "GET /" + c + " HTTP/1.1\r\nHost: a\r\nX-A: b\r\n " + c + "\r\n\r\n",
                            "POST /v1/client/tokens HTTP/1.1\r\nHost: a\r\nX-API-KEY: " + c +
                                "\r\nTransfer-Encoding: xchunked\r\n\r\n",
                            "GET /v1/stream?api_key=" + c + " HTTP/1.1\r\nHost: " + c + " x\r\n\r\n"}) {
      answers_ += raw_exchange(bouncer_->port(), raw).received + "\n";
    }
  }
  // The key still works: nothing above revoked it.
  mint();

  EXPECT_EQ(bouncer_->process().stop(), 0);
  const auto output = bouncer_->process().out() + bouncer_->process().err();
  for (const auto& s : secrets) {
    EXPECT_EQ(output.find(s), std::string::npos) << "the server's output carries a secret (" << s.substr(0, 12) << "…):\n"
                                                  << output.substr(output.find(s) > 400 ? output.find(s) - 400 : 0, 800);
    EXPECT_EQ(answers_.find(s), std::string::npos) << "an answer carries a secret (" << s.substr(0, 12) << "…):\n"
                                                   << answers_.substr(answers_.find(s) > 400 ? answers_.find(s) - 400 : 0, 800);
  }
  // What was searched did happen, and was told.
  EXPECT_NE(output.find("session_refused"), std::string::npos) << output;
  EXPECT_NE(output.find("/v1/stream?model=echo&apiKey=REDACTED"), std::string::npos) << output;
  EXPECT_NE(output.find("sk_REDACTED"), std::string::npos) << output;
  EXPECT_NE(output.find("mint_refused"), std::string::npos) << output;
  EXPECT_NE(answers_.find("sk_REDACTED"), std::string::npos) << answers_;
  EXPECT_NE(answers_.find("Invalid API key"), std::string::npos) << answers_;
}

INSTANTIATE_TEST_SUITE_P(Formats, LogSecrets, ::testing::Values("text", "json"));

}  // namespace
}  // namespace edge_test
