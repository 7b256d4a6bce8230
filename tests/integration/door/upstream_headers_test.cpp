// What the upstream learns (docs/API.md, "Upstream"): who connected, through X-Bouncer-* headers, and the
// configured shared secret and headers — never the credential, however it was presented.
// The example model server's whoami command answers with the headers and target it received.
#include "door_fixture.h"

#include <ctime>

namespace door_test {
namespace {

using UpstreamHeaders = Door;

// "2026-11-23T15:40:00Z" (optionally with a fraction) → Unix seconds; nullopt otherwise.
std::optional<std::int64_t> parse_rfc3339_utc(const std::string& s) {
  std::tm tm{};
  int used = 0;
  if (std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
                  &tm.tm_sec, &used) != 6 || used != 19) {
    return std::nullopt;
  }
  std::size_t i = 19;
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
  }
  if (i + 1 != s.size() || s[i] != 'Z') return std::nullopt;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return static_cast<std::int64_t>(timegm(&tm));
}

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

struct Whoami {
  json::object headers;  // lower-cased names
  std::string target;
  json::object raw;
};

Whoami whoami(WsClient& ws) {
  if (ws.write(R"({"type":"whoami"})")) throw std::runtime_error("whoami: write failed");
  const auto m = ws.read();
  if (m.ec) throw std::runtime_error("whoami: " + m.ec.message());
  Whoami w;
  w.raw = json::parse(m.data).as_object();
  if (w.raw.at("type").as_string() != "whoami") throw std::runtime_error("not a whoami answer: " + m.data);
  w.headers = w.raw.at("headers").as_object();
  w.target = std::string(w.raw.at("target").as_string());
  return w;
}

std::string header(const Whoami& w, const std::string& name) {
  const auto* v = w.headers.if_contains(name);
  return v ? std::string(v->as_string()) : std::string();
}

// Nothing the client presented as a credential reaches the upstream, in any form.
void expect_no_credential(const Whoami& w, const std::vector<std::string>& secrets) {
  std::vector<std::string> needles = secrets;
  for (const auto& s : {"bouncer.key.", "api_key", "token="}) needles.emplace_back(s);
  for (const auto& needle : needles) {
    EXPECT_EQ(w.target.find(needle), std::string::npos) << "the upstream target carries '" << needle << "': " << w.target;
    for (const auto& [name, value] : w.headers) {
      const std::string v(value.as_string());
      EXPECT_EQ(v.find(needle), std::string::npos) << "header " << name << " carries '" << needle << "': " << v;
      EXPECT_EQ(std::string(name).find(needle), std::string::npos) << "a header name carries '" << needle << "'";
    }
  }
}

// The parts of a JWT, each a secret on its own (the signature above all).
std::vector<std::string> jwt_secrets(const Minted& token) {
  std::vector<std::string> out{token.api_key, token.jwt};
  const auto dot1 = token.jwt.find('.');
  const auto dot2 = token.jwt.find('.', dot1 + 1);
  out.push_back(token.jwt.substr(dot1 + 1, dot2 - dot1 - 1));
  out.push_back(token.jwt.substr(dot2 + 1));
  return out;
}

// A token with metadata and a maxSessionDuration, presented as ?api_key=ek_…: every
// X-Bouncer-* header, the configured headers and secret, the configured target unchanged.
TEST_F(UpstreamHeaders, TellWhoConnected) {
  start(StartOptions().args({"--log-level", "debug"}));
  const std::string metadata = R"({"user":"u-42","plan":"pro","name":"Zoë 東京","nested":{"list":[1,2,3],"ok":true}})";
  const auto token =
      mint(R"({"expiresIn":120,"constraints":{"realtime":{"maxSessionDuration":30}},"metadata":)" + metadata + "}");
  const auto before = unix_now();
  auto ws = connect(stream_target("up", "api_key=" + token.api_key));
  const auto w = whoami(*ws);
  const auto after = unix_now();

  EXPECT_EQ(w.target, kUpstreamPath);
  EXPECT_FALSE(header(w, "x-bouncer-session-id").empty());
  EXPECT_EQ(header(w, "x-bouncer-key-id"), key_.id);
  EXPECT_EQ(header(w, "x-bouncer-token-id"), token.claims.at("jti").as_string());
  const auto deadline = parse_rfc3339_utc(header(w, "x-bouncer-session-deadline"));
  ASSERT_TRUE(deadline) << "not RFC 3339 UTC: '" << header(w, "x-bouncer-session-deadline") << "'";
  EXPECT_GE(*deadline, before + 30 - 1);
  EXPECT_LE(*deadline, after + 30 + 1);
  const auto md = header(w, "x-bouncer-metadata");
  ASSERT_FALSE(md.empty());
  EXPECT_EQ(json::parse(md), json::parse(metadata)) << md;
  // The model server enforces the secret (a session with a wrong one is refused: see
  // Refusal.UpstreamUnavailable) and shows it redacted.
  EXPECT_EQ(header(w, "x-bouncer-upstream-secret"), "[redacted]");
  EXPECT_EQ(header(w, "authorization"), "Bearer provider-key-for-upstream");
  EXPECT_EQ(header(w, "x-door-test"), "configured");
  // What the model server itself makes of them.
  const auto& session = w.raw.at("session").as_object();
  EXPECT_EQ(session.at("id").as_string(), header(w, "x-bouncer-session-id"));
  EXPECT_EQ(session.at("metadata"), json::parse(metadata));

  expect_no_credential(w, jwt_secrets(token));

  // Two sessions, two session ids.
  auto ws2 = connect(stream_target("up", "token=" + token.jwt));
  const auto w2 = whoami(*ws2);
  EXPECT_NE(header(w2, "x-bouncer-session-id"), header(w, "x-bouncer-session-id"));
  EXPECT_EQ(header(w2, "x-bouncer-token-id"), header(w, "x-bouncer-token-id"));
}

// Every way of presenting a credential; none reaches the upstream. No maxSessionDuration:
// no deadline header. No metadata: no metadata header (or an empty one).
TEST_F(UpstreamHeaders, NeverTheCredential) {
  start(StartOptions().args({"--log-level", "debug"}));
  const auto token = mint(R"({"expiresIn":120})");
  const auto secrets = [&] {
    auto s = jwt_secrets(token);
    s.push_back(key_.secret);
    return s;
  }();
  struct Case {
    std::string name, target;
    Headers headers;
    bool token = true;
  };
  const std::vector<Case> cases{
      {"query api_key=ek_", stream_target("up", "api_key=" + token.api_key), {}},
      {"query token=JWT", stream_target("up", "token=" + token.jwt), {}},
      {"query api_key=JWT", stream_target("up", "api_key=" + token.jwt), {}},
      {"subprotocol ek_ + realtime", stream_target("up"),
       {{"Sec-WebSocket-Protocol", "bouncer.key." + token.api_key + ", realtime"}}},
      {"subprotocol JWT only", stream_target("up"), {{"Sec-WebSocket-Protocol", "bouncer.key." + token.jwt}}},
      {"query api_key=sk_", stream_target("up", "api_key=" + key_.secret), {}, false},
      {"subprotocol sk_", stream_target("up"), {{"Sec-WebSocket-Protocol", "realtime, bouncer.key." + key_.secret}}, false},
      {"origin + query", stream_target("up", "api_key=" + token.api_key), {{"Origin", "https://app.example.com"}}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    auto ws = connect(c.target, c.headers);
    const auto w = whoami(*ws);
    expect_no_credential(w, secrets);
    EXPECT_EQ(w.target, kUpstreamPath);
    EXPECT_EQ(header(w, "x-bouncer-key-id"), key_.id);
    EXPECT_FALSE(header(w, "x-bouncer-session-id").empty());
    if (c.token) {
      EXPECT_EQ(header(w, "x-bouncer-token-id"), token.claims.at("jti").as_string());
    } else {
      EXPECT_EQ(header(w, "x-bouncer-token-id"), "") << "a permanent key has no token id";
    }
    EXPECT_FALSE(w.headers.contains("x-bouncer-session-deadline")) << "no maxSessionDuration, no deadline";
    EXPECT_EQ(header(w, "x-bouncer-metadata"), "");
  }
  // A refused attempt, for the log check below.
  expect_refused(stream_target("no-such-model", "api_key=" + token.api_key), {}, "Unknown model");

  // Nor is it written to a log, at debug level: not the server's, not the model server's.
  // (The "default" key's secret is printed once on stdout by design; stderr is the log.)
  const auto server_log = bouncer_->process().err();
  const auto model_log = upstream_->logs();
  for (const auto& s : secrets) {
    EXPECT_EQ(server_log.find(s), std::string::npos) << "bouncer's log carries a credential";
    EXPECT_EQ(model_log.find(s), std::string::npos) << "the model server's log carries a credential";
  }
}

}  // namespace
}  // namespace door_test
