// N-use tokens and resume ids at the door (docs/API.md, "N-use tokens and resume"): a token
// minted with maxUses admits that many sessions in all; a reconnect naming the resume id of a
// connection that ended within 30 s uses nothing; one connection per resume id is live.
#include "door_fixture.h"

namespace door_test {
namespace {

class Uses : public Door {
 protected:
  static std::string with(const Minted& token, const std::string& resume = {}) {
    std::string query = "api_key=" + token.api_key;
    if (!resume.empty()) query += "&resume=" + resume;
    return stream_target("echo", query);
  }
};

TEST_F(Uses, MaxUsesIsEchoedSignedAndValidated) {
  start();
  const auto token = mint(R"({"maxUses":3})");
  EXPECT_EQ(token.answer.as_object().at("maxUses").as_int64(), 3);
  EXPECT_EQ(token.claims.at("max_uses").as_int64(), 3);
  for (const char* bad : {R"({"maxUses":0})", R"({"maxUses":1001})", R"({"maxUses":1.5})", R"({"maxUses":"2"})"}) {
    const auto res = bouncer_->post("/v1/client/tokens", key_.secret, bad);
    EXPECT_EQ(res.status, 400) << bad << " → " << res.body;
    EXPECT_NE(res.body.find(R"("param":"maxUses")"), std::string::npos) << res.body;
  }
  // Without maxUses, nothing is counted and the answer has no such member.
  const auto unlimited = mint();
  EXPECT_FALSE(unlimited.answer.as_object().contains("maxUses"));
  EXPECT_FALSE(unlimited.claims.contains("max_uses"));
}

TEST_F(Uses, EachAdmissionUsesOneAndTheNextIsRefused) {
  start();
  const auto token = mint(R"({"maxUses":2})");
  for (int i = 0; i < 2; ++i) {
    auto ws = connect(with(token));
    expect_echo(*ws, "use " + std::to_string(i + 1));
  }
  expect_refused(with(token), {}, "Token already used");
  expect_refused(stream_target("echo", "token=" + token.jwt), {}, "Token already used");
  // Another token of the same key is not affected.
  auto other = connect(with(mint(R"({"maxUses":1})")));
  expect_echo(*other, "unaffected");
}

// A refusal after the caps (here: the upstream cannot be reached) gives its use back.
TEST_F(Uses, ASessionNeverRelayedGivesItsUseBack) {
  start(StartOptions().toml("[models.down]\nupstream = \"ws://127.0.0.1:9/\"\n"));
  const auto token = mint(R"({"maxUses":1})");
  expect_refused(stream_target("down", "api_key=" + token.api_key), {}, "Upstream unavailable", 1011);
  auto ws = connect(with(token));
  expect_echo(*ws, "the use was given back");
}

TEST_F(Uses, TheCountSurvivesARestart) {
  const std::vector<std::string> args{"--public-url", "http://uses.door.test"};
  start(StartOptions().args(args));
  const auto token = mint(R"({"maxUses":1})");
  {
    auto ws = connect(with(token));
    expect_echo(*ws, "first");
  }
  bouncer_.reset();
  std::vector<std::string> again{"--config", (tmp_.path() / "bouncer.toml").string()};
  again.insert(again.end(), args.begin(), args.end());
  bouncer_ = std::make_unique<Bouncer>(data_dir(), tmp_.path(), again);
  expect_refused(with(token), {}, "Token already used");
}

TEST_F(Uses, MalformedResumeIdsAreRefused) {
  start();
  const auto token = mint();
  for (const std::string& bad : {std::string("short"), std::string(65, 'a'), std::string("abcdefghijklmnop%21")}) {
    expect_refused(with(token, bad), {}, "Resume id not allowed");
  }
  auto ws = connect(with(token, std::string(16, 'a') + "-_" + std::string(46, 'Z')));
  expect_echo(*ws, "64 characters");
  // An empty value is no resume id, as an empty api_key is no credential.
  auto plain = connect(with(token) + "&resume=");
  expect_echo(*plain, "no resume id");
}

TEST_F(Uses, OneLiveConnectionPerResumeIdAndAFreeReconnect) {
  start();
  const auto token = mint(R"({"maxUses":1})");
  const std::string id = "tab-7f3c9a2e41b5d6";
  auto first = connect(with(token, id));
  expect_echo(*first, "first");
  expect_refused(with(token, id), {}, "Resume id already in use");
  ASSERT_FALSE(first->close());
  // The reconnect with the same id takes the ended connection's place: no use is taken.
  auto resumed = connect(with(token, id));
  expect_echo(*resumed, "resumed");
  (void)resumed->close();
  // A new id is a new connection: the token's one use is gone.
  expect_refused(with(token, "another-id-0123456789"), {}, "Token already used");
  // The same id under another token is another id.
  auto other = connect(with(mint(R"({"maxUses":1})"), id));
  expect_echo(*other, "another token");
}

// Past the window, a reconnect is a new admission; the test waits the 30 s out.
TEST_F(Uses, AResumeAfterTheWindowUsesOne) {
  start();
  const auto token = mint(R"({"maxUses":1})");
  const std::string id = "window-0123456789abcdef";
  {
    auto ws = connect(with(token, id));
    expect_echo(*ws, "first");
    ASSERT_FALSE(ws->close());
  }
  std::this_thread::sleep_for(31s);
  expect_refused(with(token, id), {}, "Token already used");
}

}  // namespace
}  // namespace door_test
