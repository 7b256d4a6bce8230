// The verification cache: what it remembers, and every way a remembered outcome stops counting.
#include "server/token_cache.h"

#include <gtest/gtest.h>

#include <string>

namespace bouncer::server {
namespace {

State state_with(std::uint64_t version, std::vector<std::string> kids) {
  State s;
  s.version = version;
  for (auto& kid : kids) s.public_keys.emplace(std::move(kid), crypto::PublicKey{});
  return s;
}

token::Verified ok(const std::string& kid, const std::string& jti) {
  token::Verified v;
  v.status = token::Status::ok;
  v.kid = kid;
  v.claims.sub = "key_a";
  v.claims.jti = jti;
  v.claims.models = std::vector<std::string>{"demo"};
  return v;
}

token::Verified refused(token::Status status) {
  token::Verified v;
  v.status = status;
  v.kid = "k1";
  return v;
}

TEST(TokenCache, RemembersAcceptedTokensWithTheirClaims) {
  TokenCache cache;
  const State s = state_with(7, {"k1"});
  const auto key = TokenCache::key_of("header.payload.sig");
  EXPECT_FALSE(cache.find(key, s));
  cache.remember(key, s, ok("k1", "jti-1"));
  const auto hit = cache.find(key, s);
  ASSERT_TRUE(hit);
  EXPECT_TRUE(hit->valid);
  EXPECT_EQ(hit->claims.jti, "jti-1");
  EXPECT_EQ(hit->claims.models, std::vector<std::string>{"demo"});
  EXPECT_FALSE(cache.find(TokenCache::key_of("header.payload.sig2"), s)) << "another token is another entry";
}

TEST(TokenCache, RemembersRefusals) {
  TokenCache cache;
  const State s = state_with(7, {"k1"});
  for (const auto status : {token::Status::bad_signature, token::Status::malformed, token::Status::wrong_issuer,
                            token::Status::unknown_key}) {
    const auto key = TokenCache::key_of("forged-" + std::string(token::to_string(status)));
    cache.remember(key, s, refused(status));
    const auto hit = cache.find(key, s);
    ASSERT_TRUE(hit) << token::to_string(status);
    EXPECT_FALSE(hit->valid);
  }
}

// A change of keys or signing keys (a revocation, a rotation, a node's new key) forgets all.
TEST(TokenCache, ANewStateVersionForgetsEverything) {
  TokenCache cache;
  const auto good = TokenCache::key_of("good");
  const auto bad = TokenCache::key_of("bad");
  cache.remember(good, state_with(7, {"k1"}), ok("k1", "j"));
  cache.remember(bad, state_with(7, {"k1"}), refused(token::Status::unknown_key));
  const State next = state_with(8, {"k1", "k2"});
  EXPECT_FALSE(cache.find(good, next));
  EXPECT_FALSE(cache.find(bad, next));
}

// Within one version the JWKS is rebuilt once a minute and drops retired keys whose window
// ended: an accepted token signed by such a key is verified again (and refused).
TEST(TokenCache, AnUnpublishedSigningKeyMakesAMiss) {
  TokenCache cache;
  const auto key = TokenCache::key_of("t");
  cache.remember(key, state_with(7, {"k1"}), ok("k1", "j"));
  EXPECT_FALSE(cache.find(key, state_with(7, {"k2"})));
}

TEST(TokenCache, StaysWithinItsCapacity) {
  TokenCache cache(32);
  const State s = state_with(1, {"k1"});
  const auto token = [](int i) {
    std::string t = "t";  // appended, not "t" + …: GCC 12 -O3 false warning (PR 105329)
    t += std::to_string(i);
    return TokenCache::key_of(t);
  };
  for (int i = 0; i < 5000; ++i) cache.remember(token(i), s, ok("k1", "j"));
  int remembered = 0;
  for (int i = 0; i < 5000; ++i) remembered += cache.find(token(i), s) ? 1 : 0;
  EXPECT_GT(remembered, 0);
  EXPECT_LE(remembered, 32);
}

TEST(TokenCache, CapacityZeroIsOff) {
  TokenCache cache(0);
  const State s = state_with(1, {"k1"});
  const auto key = TokenCache::key_of("t");
  cache.remember(key, s, ok("k1", "j"));
  EXPECT_FALSE(cache.find(key, s));
}

}  // namespace
}  // namespace bouncer::server
