#include "log/log.h"

#include <gtest/gtest.h>

namespace bouncer::log {
namespace {

// A credential in a logged URL is replaced, whatever its position in the query.
TEST(RedactUrl, ReplacesEveryCredentialParameter) {
  EXPECT_EQ(redact_url("/v1/stream?model=echo&api_key=ek_secret"), "/v1/stream?model=echo&api_key=REDACTED");
  EXPECT_EQ(redact_url("/v1/stream?token=eyJ.x.y&model=demo"), "/v1/stream?token=REDACTED&model=demo");
  EXPECT_EQ(redact_url("/x?key=a&access_token=b&keep=c"), "/x?key=REDACTED&access_token=REDACTED&keep=c");
}

TEST(RedactUrl, LeavesOtherTargetsAlone) {
  EXPECT_EQ(redact_url("/healthz"), "/healthz");
  EXPECT_EQ(redact_url("/a?model=echo"), "/a?model=echo");
  EXPECT_EQ(redact_url("/a?api_key"), "/a?api_key");  // no value: nothing to hide
  EXPECT_EQ(redact_url("/a?"), "/a?");
}

TEST(RedactUrl, NameMustMatchExactly) {
  EXPECT_EQ(redact_url("/a?my_token=x"), "/a?my_token=x");
}

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
