// RFC 8037 Appendix A: the Ed25519 example key (A.1, A.2) and signed example (A.4).
#include "token/jwt.h"

#include "token_test_util.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace bouncer::token {
namespace {

constexpr std::string_view kD = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A";  // A.1 private key
constexpr std::string_view kX = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";  // A.2 public key
constexpr std::string_view kHeaderB64 = "eyJhbGciOiJFZERTQSJ9";                  // {"alg":"EdDSA"}
constexpr std::string_view kPayloadB64 = "RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc";  // "Example of Ed25519 signing"
constexpr std::string_view kSignatureB64 =
    "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";

crypto::SecretKey rfc_key() {
  const auto d = base64url_decode(kD);
  EXPECT_TRUE(d && d->size() == crypto::kSeedBytes);
  crypto::Seed seed{};
  std::copy(d->begin(), d->end(), seed.begin());
  return crypto::SecretKey(seed);
}

std::string rfc_token() { return std::string(kHeaderB64) + "." + std::string(kPayloadB64) + "." + std::string(kSignatureB64); }

TEST(Rfc8037, SegmentsDecodeToTheDocumentedText) {
  EXPECT_EQ(base64url_decode(kHeaderB64), std::string(R"({"alg":"EdDSA"})"));
  EXPECT_EQ(base64url_decode(kPayloadB64), std::string("Example of Ed25519 signing"));
  EXPECT_EQ(base64url_encode(std::string_view(R"({"alg":"EdDSA"})")), kHeaderB64);
}

TEST(Rfc8037, PrivateKeyDerivesThePublicKey) {
  const crypto::SecretKey key = rfc_key();
  EXPECT_EQ(base64url_encode(key.public_key()), kX);
}

TEST(Rfc8037, SigningReproducesTheExactSignature) {
  // Ed25519 is deterministic (RFC 8032 §5.1.6), so libsodium must produce A.4's bytes.
  const crypto::SecretKey key = rfc_key();
  const std::string input = std::string(kHeaderB64) + "." + std::string(kPayloadB64);
  EXPECT_EQ(base64url_encode(key.sign(input)), kSignatureB64);
}

TEST(Rfc8037, CryptoVerifyAcceptsTheExample) {
  const auto x = base64url_decode(kX);
  ASSERT_TRUE(x && x->size() == crypto::kPublicKeyBytes);
  crypto::PublicKey pk{};
  std::copy(x->begin(), x->end(), pk.begin());
  const auto sig = base64url_decode(kSignatureB64);
  ASSERT_TRUE(sig);
  const std::span<const std::uint8_t> sig_bytes(reinterpret_cast<const std::uint8_t*>(sig->data()), sig->size());
  const std::string input = std::string(kHeaderB64) + "." + std::string(kPayloadB64);
  EXPECT_TRUE(crypto::verify(pk, input, sig_bytes));
  EXPECT_FALSE(crypto::verify(pk, input + "x", sig_bytes));
}

TEST(Rfc8037, TokenVerifyRefusesTheExampleForLackOfTypAndKid) {
  // A valid JWS, but not a Bouncer client token: no typ (RFC 8725 §3.11), no kid, and its
  // payload is not a claims set. It must be refused before any key is looked up.
  const crypto::SecretKey key = rfc_key();
  int lookups = 0;
  const KeyLookup lookup = [&](std::string_view) -> const crypto::PublicKey* {
    ++lookups;
    return &key.public_key();
  };
  const Verified v = verify(rfc_token(), lookup, VerifyOptions{"https://bouncer.test", "bouncer"});
  EXPECT_EQ(v.status, Status::unsupported_algorithm) << v.detail;
  EXPECT_EQ(lookups, 0);
}

}  // namespace
}  // namespace bouncer::token
