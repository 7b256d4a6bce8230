// judge_admission: the one verdict the door and `bouncer tokens inspect` share, on facts
// written by hand (the snapshot the server would hold), checked refusal by refusal and in order.
#include "policy/admission.h"

#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <string>

namespace bouncer::policy {
namespace {

constexpr std::int64_t kNow = 1'800'000'000;

// A state snapshot: two keys, one revoked; tokens "verify" when the facts say so.
struct World {
  std::map<std::string, KeyStanding> by_secret{{"sk_live", {"key_live", false}}, {"sk_gone", {"key_gone", true}}};
  std::map<std::string, token::Verified> tokens;  // jwt -> what verification gives
  bool fresh = true;
  std::int64_t leeway = 0;

  AdmissionFacts facts() const {
    AdmissionFacts f;
    f.state_fresh = fresh;
    f.key_by_secret = [this](std::string_view secret) -> std::optional<KeyStanding> {
      const auto it = by_secret.find(std::string(secret));
      if (it == by_secret.end()) return std::nullopt;
      return it->second;
    };
    f.key_by_id = [this](std::string_view id) -> std::optional<KeyStanding> {
      for (const auto& [secret, key] : by_secret) {
        if (key.id == id) return key;
      }
      return std::nullopt;
    };
    f.verify_token = [this](std::string_view jwt) {
      const auto it = tokens.find(std::string(jwt));
      if (it != tokens.end()) return it->second;
      token::Verified v;
      v.status = token::Status::bad_signature;
      v.detail = "signature does not verify";
      return v;
    };
    f.serves_model = [](std::string_view model) { return model == "echo" || model == "demo"; };
    f.now = kNow;
    f.leeway_seconds = leeway;
    return f;
  }

  // A token that verifies, with these claims.
  std::string token(const std::string& name, const std::string& sub, std::int64_t iat, std::int64_t exp,
                    std::optional<std::vector<std::string>> models = {},
                    std::optional<std::vector<std::string>> origins = {}) {
    const std::string jwt = "eyJ" + name + ".payload.signature";
    token::Verified v;
    v.status = token::Status::ok;
    v.claims.sub = sub;
    v.claims.jti = "jti_" + name;
    v.claims.iat = iat;
    v.claims.exp = exp;
    v.claims.models = std::move(models);
    v.claims.origins = std::move(origins);
    v.claims.max_session_duration = 600;
    tokens[jwt] = v;
    return jwt;
  }
};

AdmissionVerdict judge(const World& w, std::string_view credential, std::optional<std::string_view> model = "echo",
                       std::optional<std::string_view> origin = std::nullopt) {
  return judge_admission({credential, model, origin}, w.facts());
}

TEST(Verdict, PermanentKeys) {
  World w;
  const auto live = judge(w, "sk_live");
  EXPECT_EQ(live.refusal, Refusal::none);
  EXPECT_EQ(live.grant.key_id, "key_live");
  EXPECT_TRUE(live.grant.token_id.empty());
  EXPECT_FALSE(live.grant.models);
  EXPECT_FALSE(live.claims);
  const auto gone = judge(w, "sk_gone");
  EXPECT_EQ(gone.refusal, Refusal::token_revoked);
  EXPECT_EQ(gone.grant.key_id, "key_gone");
  EXPECT_EQ(judge(w, "sk_unknown").refusal, Refusal::invalid_api_key);
  EXPECT_EQ(judge(w, "sk_live", "gpt").refusal, Refusal::unknown_model);
}

TEST(Verdict, CredentialShape) {
  World w;
  EXPECT_EQ(judge(w, "").refusal, Refusal::invalid_api_key);
  EXPECT_EQ(judge(w, "").reason, "no credential");
  EXPECT_EQ(judge(w, "garbage").refusal, Refusal::invalid_api_key);
  EXPECT_EQ(judge(w, "garbage").reason, "neither an sk_ key, an ek_ key nor a JWT");
  const std::string longest(kMaxCredentialLength, 'x');
  EXPECT_EQ(judge(w, "sk_" + longest.substr(3)).reason, "no permanent key has this secret");
  EXPECT_EQ(judge(w, longest + "x").refusal, Refusal::invalid_api_key);
  EXPECT_NE(judge(w, longest + "x").reason.find("longer than"), std::string::npos);
}

TEST(Verdict, TokensThatDoNotVerify) {
  World w;
  const auto v = judge(w, "ek_eyJforged.x.y");
  EXPECT_EQ(v.refusal, Refusal::invalid_api_key);
  EXPECT_EQ(v.reason, "bad_signature: signature does not verify");
  EXPECT_FALSE(v.claims);
}

// The disagreement this verdict ended: a token whose parent key is unknown is no credential
// here (Invalid API key), not a revoked one.
TEST(Verdict, TokenOfUnknownParentKeyIsInvalidNotRevoked) {
  World w;
  const auto jwt = w.token("orphan", "key_deleted", kNow - 10, kNow + 600);
  const auto v = judge(w, "ek_" + jwt);
  EXPECT_EQ(v.refusal, Refusal::invalid_api_key);
  EXPECT_EQ(v.reason, "its parent key key_deleted is unknown");
  ASSERT_TRUE(v.claims);  // it verified: inspect can still show what it claims
  EXPECT_TRUE(v.grant.key_id.empty());
  // Even when it has also expired: the parent is checked first.
  const auto expired = w.token("orphan-old", "key_deleted", kNow - 100, kNow - 50);
  EXPECT_EQ(judge(w, expired).refusal, Refusal::invalid_api_key);
}

TEST(Verdict, TokenOfRevokedKeyIsRevokedBeforeItsTime) {
  World w;
  EXPECT_EQ(judge(w, w.token("r", "key_gone", kNow - 10, kNow + 600)).refusal, Refusal::token_revoked);
  EXPECT_EQ(judge(w, w.token("r-old", "key_gone", kNow - 100, kNow - 50)).refusal, Refusal::token_revoked);
}

TEST(Verdict, TimeWithLeeway) {
  World w;
  EXPECT_EQ(judge(w, w.token("just-valid", "key_live", kNow - 10, kNow + 1)).refusal, Refusal::none);
  EXPECT_EQ(judge(w, w.token("just-expired", "key_live", kNow - 10, kNow)).refusal, Refusal::token_expired);
  EXPECT_EQ(judge(w, w.token("future", "key_live", kNow + 1, kNow + 60)).refusal, Refusal::invalid_api_key);
  EXPECT_EQ(judge(w, w.token("now", "key_live", kNow, kNow + 60)).refusal, Refusal::none);
  w.leeway = 30;
  EXPECT_EQ(judge(w, w.token("in-leeway", "key_live", kNow - 100, kNow - 29)).refusal, Refusal::none);
  EXPECT_EQ(judge(w, w.token("past-leeway", "key_live", kNow - 100, kNow - 30)).refusal, Refusal::token_expired);
  EXPECT_EQ(judge(w, w.token("skew", "key_live", kNow + 30, kNow + 90)).refusal, Refusal::none);
}

TEST(Verdict, ScopeAfterTheCredential) {
  World w;
  const auto jwt = w.token("scoped", "key_live", kNow - 10, kNow + 600, std::vector<std::string>{"echo"},
                           std::vector<std::string>{"https://app.example.com"});
  const auto ok = judge(w, jwt, "echo", "https://app.example.com");
  EXPECT_EQ(ok.refusal, Refusal::none);
  EXPECT_EQ(ok.grant.key_id, "key_live");
  EXPECT_EQ(ok.grant.token_id, "jti_scoped");
  EXPECT_EQ(ok.grant.max_session_duration, 600);
  EXPECT_EQ(judge(w, jwt, "gpt", "https://app.example.com").refusal, Refusal::unknown_model);
  EXPECT_EQ(judge(w, jwt, "", "https://app.example.com").refusal, Refusal::unknown_model);
  EXPECT_EQ(judge(w, jwt, "demo", "https://app.example.com").refusal, Refusal::model_not_allowed);
  EXPECT_EQ(judge(w, jwt, "echo", "https://evil.example").refusal, Refusal::origin_not_allowed);
  EXPECT_EQ(judge(w, jwt, "echo", std::nullopt).refusal, Refusal::origin_not_allowed);
  // Without a model, the credential alone is judged.
  EXPECT_EQ(judge(w, jwt, std::nullopt, std::nullopt).refusal, Refusal::none);
}

// A stale state refuses everything but a missing or oversized credential, which is refused
// as invalid before the state is looked at.
TEST(Verdict, StaleStateFailsClosed) {
  World w;
  w.fresh = false;
  EXPECT_EQ(judge(w, "sk_live").refusal, Refusal::store_unavailable);
  EXPECT_EQ(judge(w, "garbage").refusal, Refusal::store_unavailable);
  EXPECT_EQ(judge(w, "").refusal, Refusal::invalid_api_key);
}

}  // namespace
}  // namespace bouncer::policy
