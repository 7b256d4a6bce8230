#include "crypto/crypto.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

namespace bouncer::crypto {
namespace {

std::string hex(std::span<const std::uint8_t> bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (const std::uint8_t b : bytes) {
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 15]);
  }
  return out;
}

Seed seed_filled(std::uint8_t b) {
  Seed s{};
  s.fill(b);
  return s;
}

TEST(Crypto, InitIsIdempotent) {
  EXPECT_NO_THROW(init());
  EXPECT_NO_THROW(init());
}

TEST(Crypto, SignVerifyRoundTrip) {
  const SecretKey key = generate_key();
  const Signature sig = key.sign("hello");
  EXPECT_TRUE(verify(key.public_key(), "hello", sig));
}

TEST(Crypto, SeedDerivesTheSameKeyAndSeedRoundTrips) {
  const SecretKey a(seed_filled(7));
  const SecretKey b(seed_filled(7));
  EXPECT_EQ(a.public_key(), b.public_key());
  EXPECT_EQ(a.seed(), seed_filled(7));
  // Ed25519 is deterministic (RFC 8032 §5.1.6): same key, same message, same signature.
  EXPECT_EQ(a.sign("m"), b.sign("m"));
  EXPECT_NE(SecretKey(seed_filled(8)).public_key(), a.public_key());
}

TEST(Crypto, CopiedKeySignsTheSame) {
  const SecretKey a(seed_filled(3));
  SecretKey b;
  b = a;
  const SecretKey c(a);
  EXPECT_EQ(b.sign("x"), a.sign("x"));
  EXPECT_EQ(c.public_key(), a.public_key());
}

TEST(Crypto, WrongKeyIsRefused) {
  const SecretKey key = generate_key();
  const SecretKey other = generate_key();
  EXPECT_FALSE(verify(other.public_key(), "hello", key.sign("hello")));
}

TEST(Crypto, WrongMessageIsRefused) {
  const SecretKey key = generate_key();
  const Signature sig = key.sign("hello");
  EXPECT_FALSE(verify(key.public_key(), "hellp", sig));
  EXPECT_FALSE(verify(key.public_key(), "hello ", sig));
  EXPECT_FALSE(verify(key.public_key(), "", sig));
}

TEST(Crypto, EveryFlippedSignatureBitIsRefused) {
  const SecretKey key(seed_filled(1));
  const Signature good = key.sign("message");
  for (std::size_t i = 0; i < good.size() * 8; ++i) {
    Signature bad = good;
    bad[i / 8] ^= static_cast<std::uint8_t>(1U << (i % 8));
    EXPECT_FALSE(verify(key.public_key(), "message", bad)) << "bit " << i;
  }
}

TEST(Crypto, ShortAndLongSignaturesAreRefused) {
  const SecretKey key = generate_key();
  const Signature sig = key.sign("hello");
  std::vector<std::uint8_t> v(sig.begin(), sig.end());
  ASSERT_TRUE(verify(key.public_key(), "hello", v));

  std::vector<std::uint8_t> shorter(v.begin(), v.end() - 1);
  EXPECT_FALSE(verify(key.public_key(), "hello", shorter));
  std::vector<std::uint8_t> longer = v;
  longer.push_back(0);
  EXPECT_FALSE(verify(key.public_key(), "hello", longer));
  EXPECT_FALSE(verify(key.public_key(), "hello", std::span<const std::uint8_t>{}));
}

TEST(Crypto, AllZeroSignatureAndKeyAreRefused) {
  const PublicKey zero_key{};
  const Signature zero_sig{};
  EXPECT_FALSE(verify(zero_key, "", zero_sig));
  EXPECT_FALSE(verify(generate_key().public_key(), "", zero_sig));
}

TEST(Crypto, EqualConstantTime) {
  EXPECT_TRUE(equal_constant_time(std::string_view("abc"), std::string_view("abc")));
  EXPECT_FALSE(equal_constant_time(std::string_view("abc"), std::string_view("abd")));
  EXPECT_FALSE(equal_constant_time(std::string_view("abc"), std::string_view("xbc")));
  EXPECT_FALSE(equal_constant_time(std::string_view("abc"), std::string_view("abcd")));
  EXPECT_FALSE(equal_constant_time(std::string_view("abcd"), std::string_view("abc")));
  EXPECT_FALSE(equal_constant_time(std::string_view(""), std::string_view("a")));
  EXPECT_TRUE(equal_constant_time(std::string_view(""), std::string_view("")));
  // A prefix is not equal, whichever side is shorter.
  EXPECT_FALSE(equal_constant_time(std::string_view("sk_abc"), std::string_view("sk_")));

  const Digest a = hash("x");
  Digest b = a;
  EXPECT_TRUE(equal_constant_time(a, b));
  b[31] ^= 0x80;
  EXPECT_FALSE(equal_constant_time(a, b));
  b = a;
  b[0] ^= 0x01;
  EXPECT_FALSE(equal_constant_time(a, b));
  // Embedded NULs are compared, not treated as terminators.
  EXPECT_FALSE(equal_constant_time(std::string_view("a\0b", 3), std::string_view("a\0c", 3)));
}

TEST(Crypto, HashIsBlake2b256) {
  // BLAKE2b with a 32-byte digest, no key (RFC 7693); vectors from the reference implementation.
  EXPECT_EQ(hex(hash("")), "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8");
  EXPECT_EQ(hex(hash("abc")), "bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319");
  EXPECT_NE(hash("a"), hash("b"));
}

TEST(Crypto, RandomBytesFillAndDiffer) {
  std::array<std::uint8_t, 32> a{};
  std::array<std::uint8_t, 32> b{};
  random_bytes(a);
  random_bytes(b);
  EXPECT_NE(a, b);  // 2^-256 chance of a false failure
  random_bytes(std::span<std::uint8_t>{});  // empty is fine
}

TEST(Crypto, RandomBase64urlLengthAndAlphabet) {
  const auto in_alphabet = [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
  };
  for (const std::size_t n : {0U, 1U, 2U, 3U, 4U, 16U, 31U, 32U, 33U, 64U}) {
    const std::string s = random_base64url(n);
    EXPECT_EQ(s.size(), (n * 4 + 2) / 3) << n;  // unpadded length: ceil(4n/3)
    EXPECT_TRUE(std::all_of(s.begin(), s.end(), in_alphabet)) << s;
  }
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) seen.insert(random_base64url(32));
  EXPECT_EQ(seen.size(), 100U);
}

TEST(Crypto, WipeZeroes) {
  std::array<std::uint8_t, 17> buf{};
  buf.fill(0xAB);
  wipe(buf);
  EXPECT_TRUE(std::all_of(buf.begin(), buf.end(), [](std::uint8_t b) { return b == 0; }));
  wipe(std::span<std::uint8_t>{});
}

}  // namespace
}  // namespace bouncer::crypto
