// One verdict, one implementation: every refusal case of the door's suite (refusal_test.cpp),
// and a few admitted ones, run through the door of a real server and through
// `bouncer tokens inspect --model M [--origin O]` on the same data dir; both must say the same.
// Refusals that only come after admission (the upstream) are the door's alone: inspect calls
// such a credential valid.
#include "door_fixture.h"

#include "admin/data_dir.h"
#include "admin/signing_keys.h"
#include "token/base64url.h"
#include "token/jwt.h"

#include <algorithm>
#include <chrono>
#include <functional>
#include <future>
#include <optional>
#include <set>
#include <vector>

namespace door_test {
namespace {

using Verdicts = Door;

constexpr std::string_view kValid = "valid";  // the verdict of an admitted session

// How a credential reaches the door.
enum class Via { api_key, token, protocol, none };

struct Row {
  std::string name;
  std::optional<std::string> model;  // ?model=…; nullopt: none in the request
  std::string credential;
  Via via = Via::api_key;
  std::optional<std::string> origin;  // the Origin header
  std::string expected;               // the door's message, or kValid
};

// What the door makes of it: the refusal frame's message, or kValid when it echoes.
std::string door_verdict(const Row& row, std::uint16_t port) {
  std::string target = "/v1/stream";
  std::string sep = "?";
  if (row.model) {
    target += "?model=" + url_encode(*row.model);
    sep = "&";
  }
  Headers headers;
  switch (row.via) {
    case Via::api_key: target += sep + "api_key=" + url_encode(row.credential); break;
    case Via::token: target += sep + "token=" + url_encode(row.credential); break;
    case Via::protocol: headers.emplace_back("Sec-WebSocket-Protocol", "bouncer.key." + row.credential); break;
    case Via::none: break;
  }
  if (row.origin) headers.emplace_back("Origin", *row.origin);
  WsClient ws(10s);
  if (const auto ec = ws.connect(port, target, headers)) return "handshake failed: " + ec.message();
  (void)ws.write("verdict-probe");  // a refused session may be closing already: its frame still comes first
  const auto first = ws.read();
  if (first.ec) return "no reply: " + first.ec.message();
  if (first.data == "verdict-probe") return std::string(kValid);
  const auto frame = json::parse(first.data).as_object();
  const std::string message(frame.at("error").as_string());
  const auto end = ws.read();
  if (end.ec != websocket::error::closed || ws.close_text() != message) {
    return message + " (but closed with '" + ws.close_text() + "')";
  }
  return message;
}

// What `tokens inspect` says: the door's message after "verdict: refused: ", or kValid.
std::string inspect_verdict(const CliResult& r) {
  const std::string valid = "verdict: valid";
  const std::string refused = "verdict: refused: ";
  std::size_t at = r.out.find("verdict: ");
  if (at == std::string::npos) return "no verdict line: " + r.out + r.err;
  const std::string line = r.out.substr(at, r.out.find('\n', at) - at);
  if (line.starts_with(valid)) {
    return r.status == 0 ? std::string(kValid) : "valid, but exit status " + std::to_string(r.status);
  }
  if (!line.starts_with(refused)) return "unreadable verdict: " + line;
  if (r.status != 1) return line + " (exit status " + std::to_string(r.status) + ")";
  const std::string rest = line.substr(refused.size());
  return rest.substr(0, rest.find(" ("));
}

std::string decoded_header(const std::string& jwt) {
  const auto bytes = bouncer::token::base64url_decode(jwt.substr(0, jwt.find('.')));
  if (!bytes) throw std::runtime_error("not a JWT header: " + jwt);
  return *bytes;
}

// A token signed with the server's own signing key whose parent key the server never had (as
// after a key was deleted from the store): its signature holds, its parent is unknown.
std::string token_of_unknown_key(const fs::path& data_dir, const Minted& genuine, std::int64_t now) {
  const auto header = json::parse(decoded_header(genuine.jwt)).as_object();
  const std::string kid(header.at("kid").as_string());
  const auto key = bouncer::admin::load_signing_key(bouncer::admin::DataDir{data_dir}, kid);
  bouncer::token::Claims claims;
  claims.iss = std::string(genuine.claims.at("iss").as_string());
  claims.aud = claims.iss;
  claims.sub = "key_00000000deadbeef";
  claims.jti = "unknown-parent-token";
  claims.iat = now;
  claims.exp = now + 600;
  return bouncer::token::sign(claims, kid, key);
}

std::string with_char_flipped(std::string s, std::size_t at) {
  s[at] = s[at] == 'A' ? 'B' : 'A';
  return s;
}

TEST_F(Verdicts, DoorAndInspectAgreeOnEveryRefusal) {
  start(StartOptions()
            .args({"--leeway-seconds", "0"})
            .keys({"main", "victim"})
            .toml("[models.down]\nupstream = \"ws://127.0.0.1:1/nothing-listens-here\"\n"));
  const ApiKey& victim = extra_keys_[1];
  const auto minted_at = std::chrono::steady_clock::now();
  const auto expiring = mint(R"({"expiresIn":1})");
  const auto plain = mint(R"({"expiresIn":600})");
  const auto echo_only = mint(R"({"expiresIn":600,"allowedModels":["echo"]})");
  const auto origin_scoped =
      mint(R"({"expiresIn":600,"allowedOrigins":["https://app.example.com","http://localhost:3000"]})");
  const auto of_victim = mint_with(victim, R"({"expiresIn":600})");
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch()).count();
  const std::string unknown_parent = token_of_unknown_key(data_dir(), plain, now);

  // A valid token and key of another server (its own data dir and signing key).
  TempDir other_dir;
  std::optional<Minted> foreign;
  std::string foreign_key;
  {
    Bouncer other(other_dir.path() / "data", other_dir.path(), {});
    const auto k = other.default_key();
    ASSERT_TRUE(k) << other.logs();
    foreign = door_test::mint(other, k->secret);
    foreign_key = k->secret;
  }

  const auto dot1 = plain.jwt.find('.');
  const auto dot2 = plain.jwt.find('.', dot1 + 1);
  const std::string payload_changed = with_char_flipped(plain.jwt, dot1 + 5);
  const std::string signature_changed = with_char_flipped(plain.jwt, dot2 + 10);
  const std::string unknown_sk = "sk_" + std::string(43, 'A');
  const std::string off_by_one_sk = with_char_flipped(key_.secret, key_.secret.size() - 1);

  const auto revoked = bouncer_cli(data_dir(), tmp_.path(), {"keys", "revoke", victim.id});
  ASSERT_EQ(revoked.status, 0) << revoked.err;
  ASSERT_TRUE(seconds_until_first_reply(stream_target("echo", "api_key=" + of_victim.api_key),
                                        error_frame("Token revoked"), 5s));
  std::this_thread::sleep_for(std::chrono::milliseconds(2500) - (std::chrono::steady_clock::now() - minted_at));

  const std::vector<Row> rows = {
      // GarbageCredentialIsInvalidApiKey
      {"garbage", "echo", "garbage", Via::api_key, {}, "Invalid API key"},
      {"no credential", "echo", "", Via::none, {}, "Invalid API key"},
      {"ek_ without a JWT", "echo", "ek_not-a-jwt", Via::api_key, {}, "Invalid API key"},
      {"a.b.c", "echo", "a.b.c", Via::token, {}, "Invalid API key"},
      {"garbage subprotocol", "echo", "garbage", Via::protocol, {}, "Invalid API key"},
      // TamperedJwtIsInvalidApiKey
      {"payload changed (ek_)", "echo", "ek_" + payload_changed, Via::api_key, {}, "Invalid API key"},
      {"payload changed (token)", "echo", payload_changed, Via::token, {}, "Invalid API key"},
      {"signature changed", "echo", "ek_" + signature_changed, Via::api_key, {}, "Invalid API key"},
      // UnknownPermanentKeyIsInvalidApiKey
      {"unknown sk_", "echo", unknown_sk, Via::api_key, {}, "Invalid API key"},
      {"sk_ one character off", "echo", off_by_one_sk, Via::api_key, {}, "Invalid API key"},
      // TokenOfAnotherServerIsInvalidApiKey
      {"foreign ek_", "echo", foreign->api_key, Via::api_key, {}, "Invalid API key"},
      {"foreign JWT", "echo", foreign->jwt, Via::token, {}, "Invalid API key"},
      {"foreign sk_", "echo", foreign_key, Via::api_key, {}, "Invalid API key"},
      // A token whose parent key this server does not know: not a credential here.
      {"unknown parent key (ek_)", "echo", "ek_" + unknown_parent, Via::api_key, {}, "Invalid API key"},
      {"unknown parent key (token)", "echo", unknown_parent, Via::token, {}, "Invalid API key"},
      // ExpiredToken
      {"expired (ek_)", "echo", expiring.api_key, Via::api_key, {}, "Token expired"},
      {"expired (token)", "echo", expiring.jwt, Via::token, {}, "Token expired"},
      // TokenOfRevokedKey
      {"revoked parent (ek_)", "echo", of_victim.api_key, Via::api_key, {}, "Token revoked"},
      {"revoked parent (token)", "echo", of_victim.jwt, Via::token, {}, "Token revoked"},
      {"revoked sk_", "echo", victim.secret, Via::api_key, {}, "Token revoked"},
      // UnknownModel
      {"unknown model", "no-such-model", plain.api_key, Via::api_key, {}, "Unknown model"},
      {"no model", std::nullopt, plain.api_key, Via::api_key, {}, "Unknown model"},
      {"unknown model, sk_", "no-such-model", key_.secret, Via::api_key, {}, "Unknown model"},
      // ModelNotAllowed
      {"model not allowed", "demo", echo_only.api_key, Via::api_key, {}, "Model not allowed"},
      {"model not allowed (token)", "up", echo_only.jwt, Via::token, {}, "Model not allowed"},
      // OriginNotAllowed
      {"wrong Origin", "up", origin_scoped.api_key, Via::api_key, "https://evil.example.com", "Origin not allowed"},
      {"no Origin", "up", origin_scoped.api_key, Via::api_key, {}, "Origin not allowed"},
      {"default port", "up", origin_scoped.api_key, Via::api_key, "https://app.example.com:443", "Origin not allowed"},
      {"other port", "up", origin_scoped.api_key, Via::api_key, "http://localhost:3001", "Origin not allowed"},
      {"Origin null", "up", origin_scoped.jwt, Via::token, "null", "Origin not allowed"},
      // UpstreamUnavailable: the door refuses after admission; inspect judges admission only.
      {"wrong upstream secret", "badsecret", plain.api_key, Via::api_key, {}, "Upstream unavailable"},
      {"no upstream", "down", plain.api_key, Via::api_key, {}, "Upstream unavailable"},
      // Admitted.
      {"valid ek_", "echo", plain.api_key, Via::api_key, {}, std::string(kValid)},
      {"valid sk_", "up", key_.secret, Via::api_key, {}, std::string(kValid)},
      {"allowed model", "echo", echo_only.jwt, Via::token, {}, std::string(kValid)},
      {"listed Origin", "up", origin_scoped.api_key, Via::protocol, "http://localhost:3000", std::string(kValid)},
  };
  // Refusals that come after admission: what inspect cannot know (capacity, the upstream).
  const std::set<std::string> after_admission{"Upstream unavailable", "Concurrent session limit reached"};

  const std::string config = (tmp_.path() / "bouncer.toml").string();
  const std::string listen = "127.0.0.1:" + std::to_string(bouncer_->port());
  const auto inspect = [&](const Row& row) {
    std::vector<std::string> args{"tokens", "inspect", row.credential, "--config", config, "--listen", listen,
                                  "--leeway-seconds", "0", "--model", row.model.value_or("")};
    if (row.origin) {
      args.push_back("--origin");
      args.push_back(*row.origin);
    }
    return bouncer_cli(data_dir(), tmp_.path(), args);
  };
  // One CLI process per row, a few at a time: each is a whole (sanitized) program start.
  constexpr std::size_t kParallel = 4;
  std::vector<CliResult> inspected;
  for (std::size_t first = 0; first < rows.size(); first += kParallel) {
    std::vector<std::future<CliResult>> batch;
    for (std::size_t i = first; i < std::min(rows.size(), first + kParallel); ++i) {
      batch.push_back(std::async(std::launch::async, inspect, std::cref(rows[i])));
    }
    for (auto& f : batch) inspected.push_back(f.get());
  }

  for (std::size_t i = 0; i < rows.size(); ++i) {
    const Row& row = rows[i];
    SCOPED_TRACE(row.name);
    const std::string door = door_verdict(row, bouncer_->port());
    EXPECT_EQ(door, row.expected) << "the door";
    const std::string verdict = inspect_verdict(inspected[i]);
    const std::string expected_inspect = after_admission.count(row.expected) ? std::string(kValid) : row.expected;
    EXPECT_EQ(verdict, expected_inspect) << "tokens inspect said:\n" << inspected[i].out << inspected[i].err;
    if (!after_admission.count(door)) {
      EXPECT_EQ(verdict, door) << "the door and tokens inspect disagree";
    }
  }
}

}  // namespace
}  // namespace door_test
