#include "json/strict.h"

#include <boost/json/serialize.hpp>
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

namespace bouncer::json {
namespace {

bool accepts(std::string_view text, const Limits& limits = {}) { return parse_strict(text, limits).value.has_value(); }

std::string error_of(std::string_view text, const Limits& limits = {}) {
  ParseResult r = parse_strict(text, limits);
  EXPECT_FALSE(r.value.has_value()) << text;
  return r.error;
}

std::string nested_arrays(std::size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); }

TEST(JsonStrict, ParsesOrdinaryDocuments) {
  ParseResult r = parse_strict(R"({"a":[1,2.5,"x",true,false,null,{"b":{}}],"c":-3})");
  ASSERT_TRUE(r.value) << r.error;
  EXPECT_TRUE(r.error.empty());
  EXPECT_EQ(boost::json::serialize(*r.value), R"({"a":[1,2.5E0,"x",true,false,null,{"b":{}}],"c":-3})");
  EXPECT_TRUE(accepts("0"));
  EXPECT_TRUE(accepts("\"s\""));
  EXPECT_TRUE(accepts("[]"));
  EXPECT_TRUE(accepts(" \t\r\n{} \n"));  // whitespace around the value is JSON
}

TEST(JsonStrict, KeepsValuesOfDistinctKeys) {
  ParseResult r = parse_strict(R"({"alg":"EdDSA","algo":"x","":1})");
  ASSERT_TRUE(r.value) << r.error;
  const auto& o = r.value->as_object();
  EXPECT_EQ(o.size(), 3U);
  EXPECT_EQ(o.at("alg").as_string(), "EdDSA");
  EXPECT_EQ(o.at("").as_int64(), 1);
}

TEST(JsonStrict, DuplicateKeyAtTopLevel) {
  EXPECT_NE(error_of(R"({"alg":"EdDSA","alg":"none"})").find("duplicate key \"alg\""), std::string::npos);
  EXPECT_FALSE(accepts(R"({"a":1,"b":2,"a":1})"));  // even with the same value
  EXPECT_FALSE(accepts(R"({"":1,"":2})"));
}

TEST(JsonStrict, DuplicateKeyNested) {
  EXPECT_FALSE(accepts(R"({"a":{"x":1,"x":2}})"));
  EXPECT_FALSE(accepts(R"([{"ok":1},{"x":1,"y":2,"x":3}])"));
  EXPECT_FALSE(accepts(R"({"a":[[{"k":{"deep":1,"deep":1}}]]})"));
  // The same name in sibling or nested objects is not a duplicate.
  EXPECT_TRUE(accepts(R"({"x":{"x":{"x":1}},"y":{"x":2}})"));
  EXPECT_TRUE(accepts(R"([{"x":1},{"x":2}])"));
}

TEST(JsonStrict, DuplicateKeyThroughEscapes) {
  // "\u0061lg" is "alg": the comparison is on decoded names, not on their spelling.
  EXPECT_FALSE(accepts(R"({"alg":"EdDSA","\u0061lg":"none"})"));
  EXPECT_FALSE(accepts(R"({"a\/b":1,"a/b":2})"));
}

TEST(JsonStrict, DuplicateKeyInLargeObject) {
  // Past the pairwise threshold the check sorts; duplicates must still be found wherever they are.
  std::string doc = "{";
  for (int i = 0; i < 200; ++i) doc += "\"k" + std::to_string(i) + "\":" + std::to_string(i) + ",";
  std::string unique = doc + "\"last\":0}";
  EXPECT_TRUE(accepts(unique));
  EXPECT_FALSE(accepts(doc + "\"k0\":0}"));
  EXPECT_FALSE(accepts(doc + "\"k199\":0}"));
  EXPECT_FALSE(accepts(doc + "\"k100\":{\"a\":1}}"));
}

TEST(JsonStrict, DuplicateKeyMessageDoesNotEchoOddNames) {
  const std::string e = error_of("{\"\\u0001x\":1,\"\\u0001x\":2}");
  EXPECT_EQ(e, "invalid JSON: duplicate key in object");
}

TEST(JsonStrict, DepthLimit) {
  // max_depth counts nested arrays/objects.
  Limits limits;
  limits.max_depth = 4;
  EXPECT_TRUE(accepts(nested_arrays(4), limits));
  EXPECT_NE(error_of(nested_arrays(5), limits).find("nested deeper than 4"), std::string::npos);
  EXPECT_TRUE(accepts(R"({"a":{"b":{"c":{"d":1}}}})", limits));
  EXPECT_FALSE(accepts(R"({"a":{"b":{"c":{"d":{}}}}})", limits));
  // The default is 16.
  EXPECT_TRUE(accepts(nested_arrays(16)));
  EXPECT_FALSE(accepts(nested_arrays(17)));
  EXPECT_FALSE(accepts(nested_arrays(100000)));  // no stack overflow either
}

TEST(JsonStrict, SizeLimit) {
  Limits limits;
  limits.max_bytes = 10;
  EXPECT_TRUE(accepts("[1,2,3,45]", limits));  // exactly 10 bytes
  EXPECT_NE(error_of("[1,2,3,456]", limits).find("11 bytes"), std::string::npos);
  EXPECT_FALSE(accepts("[1,2,3,4]  ", limits));  // whitespace counts too
  const std::string big = "\"" + std::string(64 * 1024, 'a') + "\"";
  EXPECT_FALSE(accepts(big));  // default 64 KiB
}

TEST(JsonStrict, TrailingContent) {
  EXPECT_NE(error_of("{} x").find("trailing"), std::string::npos);
  EXPECT_FALSE(accepts("{}{}"));
  EXPECT_FALSE(accepts("1 2"));
  EXPECT_FALSE(accepts("[1]]"));
  EXPECT_FALSE(accepts(std::string_view("{}\0", 3)));
}

TEST(JsonStrict, IncompleteOrEmpty) {
  EXPECT_FALSE(accepts(""));
  EXPECT_FALSE(accepts("   "));
  EXPECT_FALSE(accepts("{"));
  EXPECT_FALSE(accepts(R"({"a":)"));
  EXPECT_FALSE(accepts(R"("abc)"));
}

TEST(JsonStrict, NoExtensions) {
  EXPECT_FALSE(accepts("[1,]"));
  EXPECT_FALSE(accepts(R"({"a":1,})"));
  EXPECT_FALSE(accepts("// c\n{}"));
  EXPECT_FALSE(accepts("{/* c */}"));
  EXPECT_FALSE(accepts("{'a':1}"));
  EXPECT_FALSE(accepts("{a:1}"));
  EXPECT_FALSE(accepts("[NaN]"));
  EXPECT_FALSE(accepts("[Infinity]"));
  EXPECT_FALSE(accepts("[-Infinity]"));
  EXPECT_FALSE(accepts("[01]"));
  EXPECT_FALSE(accepts("[+1]"));
  EXPECT_FALSE(accepts("[.5]"));
  EXPECT_FALSE(accepts("[0x10]"));
  EXPECT_FALSE(accepts("\xEF\xBB\xBF{}"));  // a byte order mark is not JSON (RFC 8259 §8.1)
}

TEST(JsonStrict, NumbersThatOverflowToInfinityAreRefused) {
  EXPECT_NE(error_of("[1e999]").find("number out of range"), std::string::npos);
  EXPECT_FALSE(accepts("[-1e999]"));
  EXPECT_TRUE(accepts("[1e308]"));
  // Integers beyond 64 bits become doubles (finite), which a caller can still refuse by type.
  ParseResult r = parse_strict("[184467440737095516160]");
  ASSERT_TRUE(r.value);
  EXPECT_TRUE(r.value->as_array()[0].is_double());
}

// keep_number_text: every number's text as written, found again from its value; numbers beyond
// a double are let through (as infinity) for the caller to refuse.
TEST(JsonStrict, KeepsNumberTextsAsWritten) {
  Limits limits;
  limits.keep_number_text = true;
  ParseResult r = parse_strict(R"({"a":6e1,"b":[1,-0,1.50E1,{"c":1e400}],"d":"7","e":18446744073709551616})", limits);
  ASSERT_TRUE(r.value) << r.error;
  EXPECT_EQ(r.number_texts,
            (std::vector<std::string>{"6e1", "1", "-0", "1.50E1", "1e400", "18446744073709551616"}));
  const boost::json::value root = std::move(*r.value);
  const NumberTexts texts(root, std::move(r.number_texts));
  const auto& o = root.as_object();
  ASSERT_NE(texts.find(o.at("a")), nullptr);
  EXPECT_EQ(*texts.find(o.at("a")), "6e1");
  EXPECT_EQ(*texts.find(o.at("b").as_array()[2]), "1.50E1");
  const boost::json::value& huge = o.at("b").as_array()[3].as_object().at("c");
  EXPECT_TRUE(std::isinf(huge.as_double()));
  EXPECT_EQ(*texts.find(huge), "1e400");
  EXPECT_EQ(*texts.find(o.at("e")), "18446744073709551616");
  EXPECT_EQ(texts.find(o.at("d")), nullptr);  // not a number
  const boost::json::value other = 6;
  EXPECT_EQ(texts.find(other), nullptr);  // not of this document
}

TEST(JsonStrict, WithoutKeepNumberTextNothingIsKept) {
  ParseResult r = parse_strict(R"([6e1])");
  ASSERT_TRUE(r.value);
  EXPECT_TRUE(r.number_texts.empty());
}

// An exponent past 2^31 stops Boost.JSON's parser: the result says where and what it was.
TEST(JsonStrict, UnreadableNumberIsLocated) {
  Limits limits;
  limits.keep_number_text = true;
  ParseResult r = parse_strict(R"({"a":[true,{"b":-12.5e99999999999}]})", limits);
  EXPECT_FALSE(r.value);
  EXPECT_NE(r.error.find("number out of range"), std::string::npos) << r.error;
  ASSERT_TRUE(r.unreadable_number);
  EXPECT_EQ(r.unreadable_number->text, "-12.5e99999999999");
  EXPECT_EQ(r.unreadable_number->path, (Path{std::string("a"), std::size_t{1}, std::string("b")}));
  ParseResult bare = parse_strict("1e2147483648", limits);
  ASSERT_TRUE(bare.unreadable_number);
  EXPECT_TRUE(bare.unreadable_number->path.empty());
  EXPECT_EQ(bare.unreadable_number->text, "1e2147483648");
  EXPECT_FALSE(parse_strict("[1e2147483648]").unreadable_number);  // only when asked
}

TEST(JsonStrict, InvalidUtf8IsRefused) {
  EXPECT_FALSE(accepts("\"\xFF\""));
  EXPECT_FALSE(accepts("\"\xC0\xAF\""));          // overlong '/'
  EXPECT_FALSE(accepts("\"\xE0\x80\xAF\""));      // overlong, 3 bytes
  EXPECT_FALSE(accepts("\"\xED\xA0\x80\""));      // UTF-8-encoded surrogate U+D800
  EXPECT_FALSE(accepts("\"\xF4\x90\x80\x80\""));  // above U+10FFFF
  EXPECT_FALSE(accepts("\"\xC3\""));              // truncated sequence
  EXPECT_FALSE(accepts("{\"\xFF\":1}"));          // in a key too
  EXPECT_FALSE(accepts("[\"ok\",\"\x80\"]"));
  EXPECT_TRUE(accepts("\"caf\xC3\xA9 \xF0\x9F\x98\x80\""));  // valid 2- and 4-byte sequences
}

TEST(JsonStrict, ControlCharactersMustBeEscaped) {
  EXPECT_FALSE(accepts(std::string_view("\"a\x01\"", 4)));
  EXPECT_FALSE(accepts("\"a\nb\""));
  EXPECT_TRUE(accepts(R"("a\u0001\n")"));
}

// Boost.JSON 1.81 refuses escaped lone surrogates (it would otherwise have to produce invalid
// UTF-8); a well-formed surrogate pair decodes to one code point. This test pins the behaviour.
TEST(JsonStrict, LoneSurrogateEscapesAreRefused) {
  EXPECT_FALSE(accepts(R"(["\ud800"])"));
  EXPECT_FALSE(accepts(R"(["\udc00"])"));
  EXPECT_FALSE(accepts(R"(["\ud800x"])"));
  EXPECT_FALSE(accepts(R"(["\ud800\u0041"])"));
  EXPECT_FALSE(accepts(R"(["\udc00\ud800"])"));
  EXPECT_FALSE(accepts(R"({"\ud800":1})"));
  ParseResult r = parse_strict(R"(["\ud83d\ude00"])");
  ASSERT_TRUE(r.value) << r.error;
  EXPECT_EQ(r.value->as_array()[0].as_string(), "\xF0\x9F\x98\x80");
}

TEST(JsonStrict, LongKeysAndStringsSplitAcrossParts) {
  // Long names reach the handler in pieces; duplicates must still be seen whole.
  const std::string name(5000, 'k');
  EXPECT_TRUE(accepts("{\"" + name + "\":1,\"" + name + "x\":2}"));
  EXPECT_FALSE(accepts("{\"" + name + "\":1,\"" + name + "\":2}"));
  EXPECT_TRUE(accepts("{\"" + name + "\\n\":1,\"" + name + "\":2}"));
  EXPECT_FALSE(accepts("{\"" + name + "\\n\":1,\"" + name + "\\u000a\":2}"));
}

}  // namespace
}  // namespace bouncer::json
