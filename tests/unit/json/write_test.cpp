#include "json/strict.h"
#include "json/write.h"

#include <gtest/gtest.h>

namespace bouncer::json {
namespace {

std::string literal(std::string_view s) {
  std::string out = "prefix:";
  append_string(out, s);
  return out;
}

TEST(AppendString, PlainTextIsCopiedBetweenQuotes) {
  EXPECT_EQ(literal(""), R"(prefix:"")");
  EXPECT_EQ(literal("https://app.example.com"), R"(prefix:"https://app.example.com")");
  EXPECT_EQ(literal("bücher ✓ 😀"), "prefix:\"bücher ✓ 😀\"") << "UTF-8 passes as it is";
}

TEST(AppendString, QuotesBackslashesAndControlCharactersAreEscaped) {
  EXPECT_EQ(literal("a\"b\\c"), R"(prefix:"a\"b\\c")");
  EXPECT_EQ(literal("\n\r\t"), R"(prefix:"\n\r\t")");
  EXPECT_EQ(literal(std::string("\x00\x01\x1f\x7f", 4)), "prefix:\"\\u0000\\u0001\\u001f\x7f\"");
  EXPECT_EQ(literal("\"\""), R"(prefix:"\"\"")");
}

// Whatever goes in, the strict parser reads the same string back.
TEST(AppendString, RoundTripsThroughTheStrictParser) {
  std::string every_byte_below_0x80;
  for (int c = 0; c < 0x80; ++c) every_byte_below_0x80.push_back(static_cast<char>(c));
  for (const std::string& s : {every_byte_below_0x80, std::string("mixed \"q\" \\ \x02 é end")}) {
    std::string text;
    append_string(text, s);
    const auto parsed = parse_strict(text);
    ASSERT_TRUE(parsed.value) << parsed.error;
    EXPECT_EQ(parsed.value->as_string(), s);
  }
}

}  // namespace
}  // namespace bouncer::json
