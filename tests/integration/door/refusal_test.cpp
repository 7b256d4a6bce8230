// Every refusal of the door (docs/API.md, "Admission"), over a real WebSocket on 127.0.0.1: the upgrade is
// accepted, one text frame {"type":"error","error":"<message>"} is sent, then the close code.
#include "door_fixture.h"

namespace door_test {
namespace {

using Refusal = Door;

// Garbage, a missing credential and malformed ek_/sk_ keys are all "Invalid API key".
TEST_F(Refusal, GarbageCredentialIsInvalidApiKey) {
  start();
  expect_refused(stream_target("echo", "api_key=garbage"), {}, "Invalid API key");
  expect_refused(stream_target("echo"), {}, "Invalid API key");                          // no credential at all
  expect_refused(stream_target("echo", "api_key=ek_not-a-jwt"), {}, "Invalid API key");  // ek_ prefix, no JWT
  expect_refused(stream_target("echo", "token=a.b.c"), {}, "Invalid API key");
  expect_refused(stream_target("echo"), {{"Sec-WebSocket-Protocol", "bouncer.key.garbage"}}, "Invalid API key");
}

// A JWT whose payload or signature was changed fails its signature check.
TEST_F(Refusal, TamperedJwtIsInvalidApiKey) {
  start();
  const auto token = mint();
  const auto dot1 = token.jwt.find('.');
  const auto dot2 = token.jwt.find('.', dot1 + 1);

  std::string payload_changed = token.jwt;
  char& p = payload_changed[dot1 + 5];
  p = p == 'A' ? 'B' : 'A';
  std::string signature_changed = token.jwt;
  char& s = signature_changed[dot2 + 10];
  s = s == 'A' ? 'B' : 'A';
  // A forged payload (longer lifetime, say) under the original signature.
  auto claims = token.claims;
  claims["exp"] = claims.at("exp").as_int64() + 3600;
  const auto forged_json = json::serialize(claims);
  static constexpr char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string forged_payload;
  for (std::size_t i = 0; i < forged_json.size(); i += 3) {
    const unsigned n = (static_cast<unsigned char>(forged_json[i]) << 16) |
                       (i + 1 < forged_json.size() ? static_cast<unsigned char>(forged_json[i + 1]) << 8 : 0) |
                       (i + 2 < forged_json.size() ? static_cast<unsigned char>(forged_json[i + 2]) : 0);
    forged_payload += b64[(n >> 18) & 63];
    forged_payload += b64[(n >> 12) & 63];
    if (i + 1 < forged_json.size()) forged_payload += b64[(n >> 6) & 63];
    if (i + 2 < forged_json.size()) forged_payload += b64[n & 63];
  }
  const std::string forged = token.jwt.substr(0, dot1 + 1) + forged_payload + token.jwt.substr(dot2);
  ASSERT_EQ(jwt_claims(forged).at("exp").as_int64(), claims.at("exp").as_int64());

  for (const auto& bad : {payload_changed, signature_changed, forged}) {
    expect_refused(stream_target("echo", "api_key=ek_" + bad), {}, "Invalid API key");
    expect_refused(stream_target("echo", "token=" + bad), {}, "Invalid API key");
  }
  // The untouched token is fine: the refusals above were about the changes.
  auto ws = connect(stream_target("echo", "api_key=" + token.api_key));
  expect_echo(*ws, "untampered");
}

// An sk_ key of the right shape that this server does not know.
TEST_F(Refusal, UnknownPermanentKeyIsInvalidApiKey) {
  start();
  const std::string unknown = "sk_" + std::string(43, 'A');
  expect_refused(stream_target("echo", "api_key=" + unknown), {}, "Invalid API key");
  // One character off the real key.
  std::string off_by_one = key_.secret;
  off_by_one.back() = off_by_one.back() == 'A' ? 'B' : 'A';
  expect_refused(stream_target("echo", "api_key=" + off_by_one), {}, "Invalid API key");
}

// A perfectly valid token, signed by another Bouncer (another data dir, another signing key).
TEST_F(Refusal, TokenOfAnotherServerIsInvalidApiKey) {
  start();
  TempDir other_dir;
  Bouncer other(other_dir.path() / "data", other_dir.path(), {});
  const auto other_key = other.default_key();
  ASSERT_TRUE(other_key) << other.logs();
  const auto foreign = door_test::mint(other, other_key->secret);
  expect_refused(stream_target("echo", "api_key=" + foreign.api_key), {}, "Invalid API key");
  expect_refused(stream_target("echo", "token=" + foreign.jwt), {}, "Invalid API key");
  // …and the other server's permanent key is unknown here.
  expect_refused(stream_target("echo", "api_key=" + other_key->secret), {}, "Invalid API key");
}

// expiresIn 1 with no leeway: 2.5 s later the token starts no session.
TEST_F(Refusal, ExpiredToken) {
  start(StartOptions().args({"--leeway-seconds", "0"}));
  const auto token = mint(R"({"expiresIn":1})");
  std::this_thread::sleep_for(2500ms);
  expect_refused(stream_target("echo", "api_key=" + token.api_key), {}, "Token expired");
  expect_refused(stream_target("echo", "token=" + token.jwt), {}, "Token expired");
}

// Tokens of a revoked permanent key start no session; the key itself neither.
TEST_F(Refusal, TokenOfRevokedKey) {
  start(StartOptions().keys({"victim", "bystander"}));
  const auto& victim = extra_keys_[0];
  const auto& bystander = extra_keys_[1];
  const auto token = mint_with(victim);
  const auto other = mint_with(bystander);
  {
    auto ws = connect(stream_target("echo", "api_key=" + token.api_key));
    expect_echo(*ws, "before the revocation");
  }
  const auto revoked = bouncer_cli(data_dir(), tmp_.path(), {"keys", "revoke", victim.id});
  ASSERT_EQ(revoked.status, 0) << revoked.err;
  // Within ~1 s (the server polls the store; allow for a loaded machine).
  ASSERT_TRUE(seconds_until_first_reply(stream_target("echo", "api_key=" + token.api_key), error_frame("Token revoked"), 2s));
  expect_refused(stream_target("echo", "api_key=" + token.api_key), {}, "Token revoked");
  expect_refused(stream_target("echo", "token=" + token.jwt), {}, "Token revoked");
  expect_refused(stream_target("echo", "api_key=" + victim.secret), {}, "Token revoked");
  // Another key's tokens are not affected.
  auto ws = connect(stream_target("echo", "api_key=" + other.api_key));
  expect_echo(*ws, "unaffected");
}

TEST_F(Refusal, UnknownModel) {
  start();
  const auto token = mint();
  expect_refused(stream_target("no-such-model", "api_key=" + token.api_key), {}, "Unknown model");
  expect_refused("/v1/stream?api_key=" + token.api_key, {}, "Unknown model");  // no model at all
  expect_refused(stream_target("no-such-model", "api_key=" + key_.secret), {}, "Unknown model");
}

TEST_F(Refusal, ModelNotAllowed) {
  start();
  const auto token = mint(R"({"allowedModels":["echo"]})");
  expect_refused(stream_target("demo", "api_key=" + token.api_key), {}, "Model not allowed");
  expect_refused(stream_target("up", "token=" + token.jwt), {}, "Model not allowed");
  auto ws = connect(stream_target("echo", "api_key=" + token.api_key));
  expect_echo(*ws, "allowed");
}

// An origin-scoped token: a wrong Origin and no Origin are both refused, exactly so, and the
// upstream is never contacted; the listed Origin is admitted.
TEST_F(Refusal, OriginNotAllowed) {
  start();
  const auto token = mint(R"({"allowedOrigins":["https://app.example.com","http://localhost:3000"]})");
  const auto target = stream_target("up", "api_key=" + token.api_key);
  expect_refused(target, {{"Origin", "https://evil.example.com"}}, "Origin not allowed");
  expect_refused(target, {}, "Origin not allowed");
  expect_refused(target, {{"Origin", "https://app.example.com:443"}}, "Origin not allowed");
  expect_refused(target, {{"Origin", "http://localhost:3001"}}, "Origin not allowed");
  expect_refused(stream_target("up", "token=" + token.jwt), {{"Origin", "null"}}, "Origin not allowed");
  // Until every check has passed, no upstream is contacted.
  EXPECT_EQ(upstream_->err().find("session peer="), std::string::npos) << upstream_->err();

  auto ws = connect(target, {{"Origin", "https://app.example.com"}});
  expect_echo(*ws, "from the right origin");
  auto ws2 = connect(target, {{"Origin", "http://localhost:3000"}});
  expect_echo(*ws2, "from localhost");
}

// Upstream trouble is 1011: a model server that refuses us (wrong shared secret), one that is
// not there at all.
TEST_F(Refusal, UpstreamUnavailable) {
  start(StartOptions().toml("[models.down]\nupstream = \"ws://127.0.0.1:1/nothing-listens-here\"\n"));
  const auto token = mint();
  expect_refused(stream_target("badsecret", "api_key=" + token.api_key), {}, "Upstream unavailable", 1011);
  expect_refused(stream_target("down", "api_key=" + token.api_key), {}, "Upstream unavailable", 1011);
  EXPECT_NE(upstream_->err().find("refused peer="), std::string::npos) << upstream_->err();
}

}  // namespace
}  // namespace door_test
