#include "log/log.h"

#include <gtest/gtest.h>

namespace bouncer::log {
namespace {

TEST(FormatLine, TextQuotesOnlyWhenNeeded) {
  const auto line = format_line(Format::text, Level::info, "T", "mint", {{"key_id", "key_1"}, {"status", 200}, {"msg", "two words"}, {"ok", true}});
  EXPECT_EQ(line, "T info mint key_id=key_1 status=200 msg=\"two words\" ok=true");
}

TEST(FormatLine, JsonIsOneObjectWithEscapes) {
  const auto line = format_line(Format::json, Level::warn, "T", "e", {{"s", "a\"b\n"}, {"n", -3}});
  EXPECT_EQ(line, R"({"ts":"T","level":"warn","event":"e","s":"a\"b\n","n":-3})");
}

TEST(FormatLine, ControlCharactersCannotBreakALine) {
  const auto line = format_line(Format::text, Level::info, "T", "e", {{"s", std::string_view("a\x01\nb", 4)}});
  EXPECT_EQ(line.find('\n'), std::string::npos);
  EXPECT_NE(line.find("\\u0001"), std::string::npos);
}

TEST(Parse, LevelsAndFormats) {
  Level l{};
  EXPECT_TRUE(parse_level("warn", l));
  EXPECT_EQ(l, Level::warn);
  EXPECT_FALSE(parse_level("verbose", l));
  Format f{};
  EXPECT_TRUE(parse_format("json", f));
  EXPECT_EQ(f, Format::json);
  EXPECT_FALSE(parse_format("xml", f));
}

}  // namespace
}  // namespace bouncer::log
