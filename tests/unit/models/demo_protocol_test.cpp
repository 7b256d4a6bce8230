// The demo model's protocol without sockets: every kind of input and its one reply.
#include "models/demo_protocol.h"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <gtest/gtest.h>

#include <string>

namespace bouncer::models::demo {
namespace {

namespace json = boost::json;

json::value parsed(const Reply& r) { return json::parse(r.text); }

// A prompt is acknowledged with the same text, and restarts the ticks.
TEST(DemoProtocol, PromptIsAcknowledged) {
  const Reply r = handle(R"({"type":"prompt","prompt":"draw a \"cat\" 🐈"})", true);
  EXPECT_TRUE(r.restart_ticks);
  EXPECT_EQ(parsed(r), json::parse(R"({"type":"prompt_ack","prompt":"draw a \"cat\" 🐈"})"));
}

// Extra fields next to a valid prompt are ignored; an empty prompt is still a prompt.
TEST(DemoProtocol, PromptExtrasAndEmpty) {
  EXPECT_EQ(parsed(handle(R"({"prompt":"x","type":"prompt","seed":4})", true)),
            json::parse(R"({"type":"prompt_ack","prompt":"x"})"));
  EXPECT_TRUE(handle(R"({"type":"prompt","prompt":""})", true).restart_ticks);
}

// Everything else is an error message, which never restarts the ticks.
TEST(DemoProtocol, ErrorsForEverythingElse) {
  for (const char* bad : {
           "", "not json", "{", R"({"type":"prompt","prompt":"x"} trailing)", "[]", "42", "null",
           R"({})", R"({"type":7})", R"({"type":"dance"})", R"({"type":"prompt"})",
           R"({"type":"prompt","prompt":5})", R"({"type":"prompt","prompt":null})",
           R"({"type":"prompt","type":"prompt","prompt":"dup"})",  // duplicate keys: strict parser
       }) {
    const Reply r = handle(bad, true);
    EXPECT_FALSE(r.restart_ticks) << bad;
    const json::value v = parsed(r);
    EXPECT_EQ(v.at("type"), "error") << bad;
    EXPECT_FALSE(v.at("error").as_string().empty()) << bad;
  }
}

// Binary frames are refused even when they hold a valid prompt.
TEST(DemoProtocol, BinaryIsRefused) {
  const Reply r = handle(R"({"type":"prompt","prompt":"x"})", false);
  EXPECT_FALSE(r.restart_ticks);
  EXPECT_EQ(parsed(r).at("type"), "error");
}

// An unknown type is named in the error, cut short (on a UTF-8 boundary) when long.
TEST(DemoProtocol, UnknownTypeIsNamedButCut) {
  EXPECT_NE(parsed(handle(R"({"type":"dance"})", true)).at("error").as_string().find("dance"), json::string::npos);

  std::string type(63, 'a');
  type += "é";  // two bytes straddling the cut at 64
  type += std::string(100, 'b');
  const Reply r = handle(R"({"type":")" + type + R"("})", true);
  const std::string error(parsed(r).at("error").as_string());
  EXPECT_EQ(error.find("é"), std::string::npos);
  EXPECT_NE(error.find(std::string(63, 'a') + "…"), std::string::npos);
  boost::system::error_code ec;
  json::parse(r.text, ec);  // still valid UTF-8, or the parse would fail
  EXPECT_FALSE(ec);
}

// A prompt near the message size limit is accepted (the JSON limit is the frame limit).
TEST(DemoProtocol, LargePrompt) {
  const std::string prompt(kMaxMessageBytes - 64, 'p');
  const Reply r = handle(R"({"type":"prompt","prompt":")" + prompt + R"("})", true);
  ASSERT_TRUE(r.restart_ticks);
  EXPECT_EQ(parsed(r).at("prompt").as_string().size(), prompt.size());
}

TEST(DemoProtocol, Tick) {
  EXPECT_EQ(json::parse(tick(1)), json::parse(R"({"type":"generation_tick","seconds":1})"));
  EXPECT_EQ(json::parse(tick(3600)), json::parse(R"({"type":"generation_tick","seconds":3600})"));
}

}  // namespace
}  // namespace bouncer::models::demo
