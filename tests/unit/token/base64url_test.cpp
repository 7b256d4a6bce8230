#include "token/base64url.h"

#include "crypto/crypto.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace bouncer::token {
namespace {

bool in_alphabet(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

unsigned value_of(unsigned char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  return c == '-' ? 62 : 63;
}

// RFC 4648 §10, without the padding RFC 7515 §2 removes.
TEST(Base64url, Rfc4648Vectors) {
  const std::pair<std::string_view, std::string_view> vectors[] = {
      {"", ""},         {"f", "Zg"},         {"fo", "Zm8"},         {"foo", "Zm9v"},
      {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"},
  };
  for (const auto& [plain, encoded] : vectors) {
    EXPECT_EQ(base64url_encode(plain), encoded);
    const auto decoded = base64url_decode(encoded);
    ASSERT_TRUE(decoded) << encoded;
    EXPECT_EQ(*decoded, plain);
  }
}

TEST(Base64url, UsesTheUrlSafeAlphabet) {
  // 0xFB 0xFF is "+/8=" in standard base64 (RFC 4648 §4) and "-_8" here (§5).
  const std::vector<std::uint8_t> bytes = {0xFB, 0xFF};
  EXPECT_EQ(base64url_encode(bytes), "-_8");
  EXPECT_EQ(base64url_decode("-_8"), std::string("\xFB\xFF"));
  const std::vector<std::uint8_t> all_ones = {0xFF, 0xFF, 0xFF};
  EXPECT_EQ(base64url_encode(all_ones), "____");
  const std::vector<std::uint8_t> zeros = {0, 0, 0};
  EXPECT_EQ(base64url_encode(zeros), "AAAA");
}

TEST(Base64url, RefusesPadding) {
  EXPECT_FALSE(base64url_decode("Zg=="));
  EXPECT_FALSE(base64url_decode("Zg="));
  EXPECT_FALSE(base64url_decode("Zm8="));
  EXPECT_FALSE(base64url_decode("===="));
  EXPECT_FALSE(base64url_decode("Zm9v===="));
}

TEST(Base64url, RefusesWhitespace) {
  EXPECT_FALSE(base64url_decode(" Zm9v"));
  EXPECT_FALSE(base64url_decode("Zm9v "));
  EXPECT_FALSE(base64url_decode("Zm 9v"));
  EXPECT_FALSE(base64url_decode("Zm9v\n"));
  EXPECT_FALSE(base64url_decode("Zm\r\n9v"));
  EXPECT_FALSE(base64url_decode("Zm\t9v"));
}

TEST(Base64url, RefusesCharactersOutsideTheAlphabet) {
  EXPECT_FALSE(base64url_decode("Zm+v"));  // standard alphabet
  EXPECT_FALSE(base64url_decode("Zm/v"));
  EXPECT_FALSE(base64url_decode("Zm.v"));
  EXPECT_FALSE(base64url_decode(std::string_view("Zm\0v", 4)));
  EXPECT_FALSE(base64url_decode("Zm9\xC3\xA9"));
  EXPECT_FALSE(base64url_decode("Zm9\xFF"));
}

TEST(Base64url, RefusesLengthOneModFour) {
  EXPECT_FALSE(base64url_decode("Z"));
  EXPECT_FALSE(base64url_decode("A"));
  EXPECT_FALSE(base64url_decode("Zm9vY"));
  EXPECT_FALSE(base64url_decode("AAAAA"));
}

TEST(Base64url, RefusesNonZeroTrailingBits) {
  // "Zg" is 'f'; "Zh".."Zv" carry the same byte plus non-zero leftover bits.
  EXPECT_TRUE(base64url_decode("Zg"));
  EXPECT_FALSE(base64url_decode("Zh"));
  EXPECT_FALSE(base64url_decode("Zv"));
  EXPECT_TRUE(base64url_decode("Zw"));   // "g": w = 110000, leftover bits zero
  EXPECT_FALSE(base64url_decode("Zx"));
  // "Zm8" is "fo"; "Zm9" has leftover bits 01.
  EXPECT_TRUE(base64url_decode("Zm8"));
  EXPECT_FALSE(base64url_decode("Zm9"));
  EXPECT_FALSE(base64url_decode("Zm-"));
  EXPECT_FALSE(base64url_decode("Zm_"));
}

TEST(Base64url, EveryTwoByteStringIsAcceptedExactlyWhenCanonical) {
  for (unsigned a = 0; a < 256; ++a) {
    for (unsigned b = 0; b < 256; ++b) {
      const std::string text = {static_cast<char>(a), static_cast<char>(b)};
      const bool canonical = in_alphabet(static_cast<unsigned char>(a)) && in_alphabet(static_cast<unsigned char>(b)) &&
                             (value_of(static_cast<unsigned char>(b)) & 0x0F) == 0;
      const auto decoded = base64url_decode(text);
      ASSERT_EQ(decoded.has_value(), canonical) << a << "," << b;
      if (decoded) {
        ASSERT_EQ(decoded->size(), 1U);
        EXPECT_EQ(base64url_encode(*decoded), text);
      }
    }
  }
}

TEST(Base64url, EveryThreeCharacterStringRoundTripsWhenAccepted) {
  const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::size_t accepted = 0;
  for (const char a : alphabet) {
    for (const char b : alphabet) {
      for (const char c : alphabet) {
        const std::string text = {a, b, c};
        const auto decoded = base64url_decode(text);
        const bool canonical = (value_of(static_cast<unsigned char>(c)) & 0x03) == 0;
        ASSERT_EQ(decoded.has_value(), canonical) << text;
        if (decoded) {
          ++accepted;
          ASSERT_EQ(decoded->size(), 2U);
          ASSERT_EQ(base64url_encode(*decoded), text);
        }
      }
    }
  }
  EXPECT_EQ(accepted, 65536U);  // one accepted spelling per 2-byte string
}

TEST(Base64url, RandomBytesRoundTrip) {
  for (std::size_t n = 0; n <= 200; ++n) {
    std::vector<std::uint8_t> bytes(n);
    crypto::random_bytes(bytes);
    const std::string encoded = base64url_encode(bytes);
    EXPECT_EQ(encoded.size(), (n * 4 + 2) / 3);
    EXPECT_EQ(encoded.find_first_of("=+/"), std::string::npos);
    const auto decoded = base64url_decode(encoded);
    ASSERT_TRUE(decoded) << n;
    EXPECT_EQ(*decoded, std::string(bytes.begin(), bytes.end()));
  }
}

}  // namespace
}  // namespace bouncer::token
