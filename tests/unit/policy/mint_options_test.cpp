// parse_mint_options: body handling, every field but allowedOrigins (see
// mint_options_origins_test.cpp), evaluation order, the urls endpoint.
#include "mint_test_util.h"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <variant>
#include <vector>

namespace bouncer::policy {
namespace {

using test::error_of;
using test::options_of;
using test::with_field;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

// Built by appending: `"k" + std::to_string(i)` trips GCC 12's false -Wrestrict at -O3 (GCC PR 105329).
std::string numbered(std::string_view prefix, std::size_t i) { return std::string(prefix).append(std::to_string(i)); }
std::string json_string(std::string_view s) { return std::string("\"").append(s).append("\""); }

// ---------------------------------------------------------------------------------------------
// The body as a whole

TEST(MintBody, EmptyMeansDefaults) {
  const MintOptions o = options_of("");
  EXPECT_EQ(o, MintOptions{});
  EXPECT_EQ(o.expires_in, 60);
  EXPECT_FALSE(o.allowed_models);
  EXPECT_FALSE(o.allowed_origins);
  EXPECT_FALSE(o.max_session_duration);
  EXPECT_FALSE(o.metadata);
  EXPECT_FALSE(o.model);
}

TEST(MintBody, WhitespaceOnlyMeansDefaults) {
  EXPECT_EQ(options_of(" \t\r\n  "), MintOptions{});
  EXPECT_EQ(options_of("\n"), MintOptions{});
}

TEST(MintBody, EmptyObjectMeansDefaults) {
  EXPECT_EQ(options_of("{}"), MintOptions{});
  EXPECT_EQ(options_of("  { }  \n"), MintOptions{});
}

TEST(MintBody, DefaultExpiryComesFromLimits) {
  MintLimits l;
  l.default_expires_in = 300;
  EXPECT_EQ(options_of("", MintEndpoint::tokens, l).expires_in, 300);
  EXPECT_EQ(options_of("{}", MintEndpoint::tokens, l).expires_in, 300);
  EXPECT_EQ(options_of(R"({"expiresIn":null})", MintEndpoint::tokens, l).expires_in, 300);
}

TEST(MintBody, NonObjectBodiesAreRefused) {
  for (const char* body : {"[]", "[{}]", R"("x")", "1", "1.5", "true", "false", "null", R"("")"}) {
    const ApiError e = error_of(body);
    EXPECT_EQ(e.code, "invalid_body") << body;
    EXPECT_EQ(e.http_status, 400) << body;
    EXPECT_THAT(e.message, HasSubstr("must be a JSON object")) << body;
    EXPECT_EQ(e.param, "") << body;
  }
}

TEST(MintBody, InvalidJsonIsRefused) {
  for (const char* body : {"{", "}", R"({"expiresIn":})", R"({"expiresIn":60,})", R"({"expiresIn" 60})", "{} {}", "{}x",
                           R"({/* c */})", R"({'expiresIn':60})", R"({expiresIn:60})", "nul", "\xEF\xBB\xBF{}",
                           "{\"metadata\":{\"a\":\"\xC3\x28\"}}", "{\"metadata\":{\"a\":\"tab\there\"}}"}) {
    const ApiError e = error_of(body);
    EXPECT_EQ(e.code, "invalid_json") << body;
    EXPECT_EQ(e.http_status, 400) << body;
    EXPECT_EQ(e.type, "invalid_request_error") << body;
    EXPECT_THAT(e.message, HasSubstr("not valid JSON")) << body;
  }
}

TEST(MintBody, DuplicateKeysAreRefused) {
  for (const char* body :
       {R"({"expiresIn":60,"expiresIn":120})", R"({"expiresIn":60,"expiresIn":60})", R"({"metadata":{"a":1,"a":2}})",
        R"({"metadata":{"x":[{"k":1,"k":1}]}})",
        R"({"constraints":{"realtime":{"maxSessionDuration":10,"maxSessionDuration":20}}})", R"({"foo":1,"foo":2})"}) {
    const ApiError e = error_of(body);
    EXPECT_EQ(e.code, "duplicate_key") << body;
    EXPECT_EQ(e.http_status, 400) << body;
    EXPECT_THAT(e.message, HasSubstr("duplicate")) << body;
  }
}

TEST(MintBody, TooLargeIsA413) {
  MintLimits l;
  l.max_body_bytes = 32;
  std::string body = "{}" + std::string(30, ' ');  // exactly 32 bytes
  ASSERT_EQ(body.size(), 32u);
  EXPECT_EQ(options_of(body, MintEndpoint::tokens, l), MintOptions{});
  body += ' ';
  const ApiError e = error_of(body, MintEndpoint::tokens, l);
  EXPECT_EQ(e.code, "body_too_large");
  EXPECT_EQ(e.http_status, 413);
  EXPECT_EQ(e.type, "invalid_request_error");
  EXPECT_THAT(e.message, AllOf(HasSubstr("33"), HasSubstr("32")));
}

TEST(MintBody, DefaultBodyLimitIs64KiB) {
  std::string body = "{}" + std::string(64 * 1024 - 2, ' ');
  EXPECT_EQ(options_of(body), MintOptions{});
  body += ' ';
  EXPECT_EQ(error_of(body).http_status, 413);
  // Whitespace-only bodies over the limit are refused too.
  EXPECT_EQ(error_of(std::string(64 * 1024 + 1, ' ')).code, "body_too_large");
}

// ---------------------------------------------------------------------------------------------
// Unknown fields

TEST(MintUnknownField, IsRefusedNamingTheAllowedOnes) {
  const ApiError e = error_of(R"({"foo":1})");
  EXPECT_EQ(e.code, "unknown_field");
  EXPECT_EQ(e.param, "foo");
  EXPECT_EQ(e.http_status, 400);
  EXPECT_EQ(e.type, "invalid_request_error");
  EXPECT_THAT(e.message, AllOf(HasSubstr("\"foo\""), HasSubstr("expiresIn"), HasSubstr("allowedModels"),
                               HasSubstr("allowedOrigins"), HasSubstr("constraints"), HasSubstr("metadata")));
  EXPECT_EQ(e.message,
            "unknown field \"foo\"; allowed fields are: expiresIn, allowedModels, allowedOrigins, constraints, "
            "metadata, maxUses");
}

TEST(MintUnknownField, EvenWhenNull) { EXPECT_EQ(error_of(R"({"foo":null})").code, "unknown_field"); }

TEST(MintUnknownField, NamesAreCaseSensitiveWithAHint) {
  for (const char* name : {"expires_in", "ExpiresIn", "expiresin", "EXPIRESIN", "expires-in"}) {
    const ApiError e = error_of(with_field(name, "60"));
    EXPECT_EQ(e.code, "unknown_field") << name;
    EXPECT_EQ(e.param, name);
    EXPECT_THAT(e.message, HasSubstr("did you mean \"expiresIn\"?")) << name;
  }
  EXPECT_THAT(error_of(R"({"allowed_origins":[]})").message, HasSubstr("did you mean \"allowedOrigins\"?"));
  EXPECT_THAT(error_of(R"({"Metadata":{}})").message, HasSubstr("did you mean \"metadata\"?"));
  EXPECT_THAT(error_of(R"({"ttl":60})").message, Not(HasSubstr("did you mean")));
}

TEST(MintUnknownField, SnakeCaseSdkNamesAreRefused) {
  for (const char* name : {"expires_in", "allowed_models", "allowed_origins", "max_session_duration", "permissions",
                           "maxSessionDuration", "realtime", "expiresAt", ""}) {
    const ApiError e = error_of(with_field(name, "1"));
    EXPECT_EQ(e.code, "unknown_field") << name;
    EXPECT_EQ(e.param, name);
  }
}

TEST(MintUnknownField, ReportedInBodyOrderBeforeAnyOtherProblem) {
  const ApiError e = error_of(R"({"expiresIn":"bad","zzz":1,"aaa":2})");
  EXPECT_EQ(e.code, "unknown_field");
  EXPECT_EQ(e.param, "zzz");
}

TEST(MintUnknownField, ModelOnTheTokensEndpoint) {
  const ApiError e = error_of(R"({"model":"echo"})");
  EXPECT_EQ(e.code, "unknown_field");
  EXPECT_EQ(e.param, "model");
  EXPECT_THAT(e.message, AllOf(HasSubstr("/v1/client/urls"), HasSubstr("allowedModels"), HasSubstr("expiresIn")));
  EXPECT_EQ(error_of(R"({"model":null})").code, "unknown_field");
}

TEST(MintUnknownField, LongAndOddNamesAreQuotedSafely) {
  const std::string name(1000, 'k');
  const ApiError e = error_of(with_field(name, "1"));
  EXPECT_EQ(e.param, name);
  EXPECT_LT(e.message.size(), 500u);
  EXPECT_THAT(e.message, HasSubstr("\xE2\x80\xA6"));  // …

  const ApiError ctl = error_of(R"({"a\u0000b\"c\n":1})");
  EXPECT_EQ(ctl.code, "unknown_field");
  EXPECT_EQ(ctl.param, std::string("a\0b\"c\n", 6));
  EXPECT_THAT(ctl.message, HasSubstr(R"("a\u0000b\"c\u000a")"));

  // A multi-byte character is never cut in half.
  std::string wide;
  for (int i = 0; i < 200; ++i) wide += "\xC3\xA9";  // é
  const ApiError w = error_of(with_field(wide, "1"));
  EXPECT_THAT(w.message, HasSubstr("\xC3\xA9\xE2\x80\xA6"));
}

// ---------------------------------------------------------------------------------------------
// expiresIn

TEST(MintExpiresIn, Bounds) {
  EXPECT_EQ(options_of(R"({"expiresIn":1})").expires_in, 1);
  EXPECT_EQ(options_of(R"({"expiresIn":60})").expires_in, 60);
  EXPECT_EQ(options_of(R"({"expiresIn":3600})").expires_in, 3600);
}

TEST(MintExpiresIn, OutOfRange) {
  for (const char* v : {"0", "-0", "-1", "3601", "7200", "-9223372036854775808", "9223372036854775807",
                        "9223372036854775808", "18446744073709551615", "99999999999999999999", "1e30", "-1e30"}) {
    const ApiError e = error_of(with_field("expiresIn", v));
    EXPECT_EQ(e.code, "out_of_range") << v;
    EXPECT_EQ(e.param, "expiresIn") << v;
    EXPECT_THAT(e.message, HasSubstr("expiresIn must be an integer between 1 and 3600 seconds, got ")) << v;
  }
  EXPECT_EQ(error_of(R"({"expiresIn":7200})").message,
            "expiresIn must be an integer between 1 and 3600 seconds, got 7200");
  EXPECT_EQ(error_of(R"({"expiresIn":0})").message, "expiresIn must be an integer between 1 and 3600 seconds, got 0");
  EXPECT_THAT(error_of(R"({"expiresIn":9223372036854775808})").message, HasSubstr("got 9223372036854775808"));
}

// Numbers beyond a double (1e400) are out of range like any number beyond 64 bits, quoted as
// written; the largest finite double is still just out of range.
TEST(MintExpiresIn, NumbersBeyondADoubleAreOutOfRange) {
  for (const char* v : {"1e400", "-1e400", "1E400", "123456789e99999", "1.7976931348623157e308", "1e309"}) {
    const ApiError e = error_of(with_field("expiresIn", v));
    EXPECT_EQ(e.code, "out_of_range") << v;
    EXPECT_EQ(e.param, "expiresIn") << v;
    EXPECT_EQ(e.message, std::string("expiresIn must be an integer between 1 and 3600 seconds, got ") + v);
  }
}

// An exponent past 2^31 stops the JSON parser itself; the answer is still out_of_range, naming
// the field and quoting the number.
TEST(MintExpiresIn, ExponentsThatDoNotFitTheParserAreOutOfRange) {
  const ApiError e = error_of(R"({"expiresIn":1e2147483648})");
  EXPECT_EQ(e.code, "out_of_range");
  EXPECT_EQ(e.param, "expiresIn");
  EXPECT_EQ(e.message, "expiresIn is 1e2147483648, a number too large to represent");
  const ApiError nested = error_of(R"({"constraints":{"realtime":{"maxSessionDuration":-5e99999999999}}})");
  EXPECT_EQ(nested.code, "out_of_range");
  EXPECT_EQ(nested.param, "constraints.realtime.maxSessionDuration");
  EXPECT_THAT(nested.message, HasSubstr("-5e99999999999"));
  const ApiError in_list = error_of(R"({"metadata":{"a b":[0,1e9999999999]}})");
  EXPECT_EQ(in_list.code, "out_of_range");
  EXPECT_EQ(in_list.param, R"(metadata["a b"][1])");
}

// Messages quote a number as the client wrote it: "6e1", not 60.0.
TEST(MintExpiresIn, MessagesQuoteNumbersAsWritten) {
  EXPECT_EQ(error_of(R"({"expiresIn":6e1})").message,
            "expiresIn must be an integer between 1 and 3600 seconds, got 6e1, a number written with a decimal point "
            "or exponent; write it as 60");
  EXPECT_EQ(error_of(R"({"expiresIn":60.000})").message,
            "expiresIn must be an integer between 1 and 3600 seconds, got 60.000, a number written with a decimal "
            "point or exponent; write it as 60");
  EXPECT_THAT(error_of(R"({"expiresIn":1.50E1})").message, HasSubstr("got 1.50E1, a number written with a decimal "
                                                                      "point or exponent; write it as 15"));
  EXPECT_THAT(error_of(R"({"expiresIn":-0})").message, HasSubstr("got -0"));
  EXPECT_THAT(error_of(R"({"expiresIn":36e2})").message, HasSubstr("got 36e2, a number written"));
  // Below a double's smallest value 1e-400 becomes 0.0, which is whole; the text is not.
  EXPECT_THAT(error_of(R"({"expiresIn":1e-400})").message, HasSubstr("got 1e-400, which is not a whole number"));
  EXPECT_THAT(error_of(R"({"expiresIn":99999999999999999999})").message, HasSubstr("got 99999999999999999999"));
  EXPECT_THAT(error_of(R"({"expiresIn":1e30})").message, HasSubstr("got 1e30"));
  // Cut when absurdly long.
  const std::string digits(5000, '9');
  const ApiError e = error_of(with_field("expiresIn", digits));
  EXPECT_EQ(e.code, "out_of_range");
  EXPECT_THAT(e.message, HasSubstr("got " + std::string(64, '9') + "\xE2\x80\xA6"));
  EXPECT_LT(e.message.size(), 200u);
  // Elsewhere too: a number where a string belongs, or as the whole body.
  EXPECT_THAT(error_of(R"({"allowedModels":[6e1]})").message, HasSubstr("got the number 6e1"));
  EXPECT_THAT(error_of("1e400").message, HasSubstr("got the number 1e400"));
}

TEST(MintExpiresIn, WrongTypes) {
  for (const char* v :
       {"1.5", "60.0", "6e1", "0.5", "3600.5", R"("60")", "true", "false", "[]", "[60]", "{}", R"({"seconds":60})"}) {
    const ApiError e = error_of(with_field("expiresIn", v));
    EXPECT_EQ(e.code, "invalid_type") << v;
    EXPECT_EQ(e.param, "expiresIn") << v;
    EXPECT_THAT(e.message, HasSubstr("expiresIn must be an integer between 1 and 3600 seconds, got ")) << v;
  }
  EXPECT_THAT(error_of(R"({"expiresIn":60.0})").message, AllOf(HasSubstr("got 60.0"), HasSubstr("write it as 60")));
  EXPECT_THAT(error_of(R"({"expiresIn":1.5})").message, HasSubstr("got 1.5, which is not a whole number"));
  EXPECT_THAT(error_of(R"({"expiresIn":"60"})").message, HasSubstr("got the string \"60\""));
  EXPECT_THAT(error_of(R"({"expiresIn":true})").message, HasSubstr("got the boolean true"));
  // A fraction outside the range is still a type problem (it is not an integer at all).
  EXPECT_EQ(error_of(R"({"expiresIn":7200.5})").code, "invalid_type");
}

TEST(MintExpiresIn, NullMeansDefault) {
  const MintOptions o = options_of(R"({"expiresIn":null})");
  EXPECT_EQ(o.expires_in, 60);
  EXPECT_EQ(o, MintOptions{});
}

TEST(MintExpiresIn, RangeComesFromLimits) {
  MintLimits l;
  l.min_expires_in = 30;
  l.max_expires_in = 120;
  EXPECT_EQ(options_of(R"({"expiresIn":30})", MintEndpoint::tokens, l).expires_in, 30);
  EXPECT_EQ(options_of(R"({"expiresIn":120})", MintEndpoint::tokens, l).expires_in, 120);
  EXPECT_EQ(error_of(R"({"expiresIn":29})", MintEndpoint::tokens, l).message,
            "expiresIn must be an integer between 30 and 120 seconds, got 29");
  EXPECT_EQ(error_of(R"({"expiresIn":121})", MintEndpoint::tokens, l).code, "out_of_range");
}

// ---------------------------------------------------------------------------------------------
// allowedModels

std::string model_list(std::size_t n, const std::string& first = "echo") {
  // n distinct names; the test server knows them all when `first` is one of its own.
  std::string s = "[\"" + first + "\"";
  for (std::size_t i = 1; i < n; ++i) s += ",\"m" + std::to_string(i) + "\"";
  return s + "]";
}

bool many_models(std::string_view name) {
  return test::known_model(name) || (name.size() > 1 && name[0] == 'm' &&
                                     name.substr(1).find_first_not_of("0123456789") == std::string_view::npos);
}

TEST(MintAllowedModels, Accepted) {
  const MintOptions o = options_of(R"({"allowedModels":["echo"]})");
  ASSERT_TRUE(o.allowed_models);
  EXPECT_EQ(*o.allowed_models, std::vector<std::string>{"echo"});
  const MintOptions three = options_of(R"({"allowedModels":["gpt-realtime","echo","demo"]})");
  EXPECT_EQ(*three.allowed_models, (std::vector<std::string>{"gpt-realtime", "echo", "demo"}));  // order kept
}

TEST(MintAllowedModels, EntryCountBounds) {
  auto run = [](std::size_t n) { return parse_mint_options(with_field("allowedModels", model_list(n)), many_models); };
  auto twenty = run(20);
  ASSERT_TRUE(std::holds_alternative<MintOptions>(twenty));
  EXPECT_EQ(std::get<MintOptions>(twenty).allowed_models->size(), 20u);
  auto one = run(1);
  ASSERT_TRUE(std::holds_alternative<MintOptions>(one));

  auto twenty_one = run(21);
  ASSERT_TRUE(std::holds_alternative<ApiError>(twenty_one));
  const ApiError& e = std::get<ApiError>(twenty_one);
  EXPECT_EQ(e.code, "too_many_entries");
  EXPECT_EQ(e.param, "allowedModels");
  EXPECT_EQ(e.message, "allowedModels has 21 entries; at most 20 are allowed");
}

TEST(MintAllowedModels, EmptyArrayIsRefused) {
  const ApiError e = error_of(R"({"allowedModels":[]})");
  EXPECT_EQ(e.code, "empty_array");
  EXPECT_EQ(e.param, "allowedModels");
  EXPECT_THAT(e.message, HasSubstr("omit the field to allow every model"));
}

TEST(MintAllowedModels, NullMeansEveryModel) { EXPECT_EQ(options_of(R"({"allowedModels":null})"), MintOptions{}); }

TEST(MintAllowedModels, UnknownModel) {
  const ApiError e = error_of(R"({"allowedModels":["echo","gpt-4"]})");
  EXPECT_EQ(e.code, "unknown_model");
  EXPECT_EQ(e.param, "allowedModels[1]");
  EXPECT_EQ(e.message, "allowedModels[1]: \"gpt-4\" is not a model this server serves");
  // Names are case-sensitive and not trimmed.
  EXPECT_EQ(error_of(R"({"allowedModels":["Echo"]})").code, "unknown_model");
  EXPECT_EQ(error_of(R"({"allowedModels":[" echo"]})").code, "unknown_model");
  EXPECT_EQ(error_of(R"({"allowedModels":["echo "]})").code, "unknown_model");
}

TEST(MintAllowedModels, EmptyName) {
  const ApiError e = error_of(R"({"allowedModels":["echo",""]})");
  EXPECT_EQ(e.code, "empty_value");
  EXPECT_EQ(e.param, "allowedModels[1]");
}

TEST(MintAllowedModels, NameLength) {
  const std::string n128(128, 'x');
  const std::string n129(129, 'x');
  auto exists = [&](std::string_view s) { return s == n128 || s == n129; };
  auto ok = parse_mint_options(with_field("allowedModels", "[\"" + n128 + "\"]"), exists);
  ASSERT_TRUE(std::holds_alternative<MintOptions>(ok));
  EXPECT_EQ(std::get<MintOptions>(ok).allowed_models->at(0), n128);

  auto bad = parse_mint_options(with_field("allowedModels", "[\"echo\",\"" + n129 + "\"]"),
                                [&](std::string_view s) { return s == "echo" || exists(s); });
  ASSERT_TRUE(std::holds_alternative<ApiError>(bad));
  const ApiError& e = std::get<ApiError>(bad);
  EXPECT_EQ(e.code, "model_name_too_long");
  EXPECT_EQ(e.param, "allowedModels[1]");
  EXPECT_EQ(e.message, "allowedModels[1] is 129 characters long; a model name has at most 128 characters");
}

TEST(MintAllowedModels, Duplicate) {
  const ApiError e = error_of(R"({"allowedModels":["echo","demo","echo"]})");
  EXPECT_EQ(e.code, "duplicate_entry");
  EXPECT_EQ(e.param, "allowedModels[2]");
  EXPECT_THAT(e.message, AllOf(HasSubstr("\"echo\""), HasSubstr("allowedModels[0]")));
}

TEST(MintAllowedModels, WrongTypes) {
  for (const char* v : {R"("echo")", "1", "true", "{}", R"({"0":"echo"})"}) {
    const ApiError e = error_of(with_field("allowedModels", v));
    EXPECT_EQ(e.code, "invalid_type") << v;
    EXPECT_EQ(e.param, "allowedModels") << v;
    EXPECT_THAT(e.message, HasSubstr("allowedModels must be an array of model names")) << v;
  }
  for (const char* v :
       {R"(["echo",1])", R"(["echo",null])", R"(["echo",["demo"]])", R"(["echo",{}])", R"(["echo",true])"}) {
    const ApiError e = error_of(with_field("allowedModels", v));
    EXPECT_EQ(e.code, "invalid_type") << v;
    EXPECT_EQ(e.param, "allowedModels[1]") << v;
    EXPECT_THAT(e.message, HasSubstr("allowedModels[1] must be a string")) << v;
  }
}

TEST(MintAllowedModels, FirstBadEntryWins) {
  EXPECT_EQ(error_of(R"({"allowedModels":["nope",1]})").param, "allowedModels[0]");
  EXPECT_EQ(error_of(R"({"allowedModels":[1,"nope"]})").code, "invalid_type");
  // The count is checked before the entries.
  std::string bad21 = "[1";
  for (int i = 2; i <= 21; ++i) bad21.append(",").append(std::to_string(i));
  EXPECT_EQ(error_of(with_field("allowedModels", bad21 + "]")).code, "too_many_entries");
}

TEST(MintAllowedModels, LimitsAreHonoured) {
  MintLimits l;
  l.max_models = 2;
  l.max_model_name_length = 4;
  EXPECT_TRUE(options_of(R"({"allowedModels":["echo","demo"]})", MintEndpoint::tokens, l).allowed_models);
  EXPECT_EQ(error_of(R"({"allowedModels":["echo","demo","gpt-realtime"]})", MintEndpoint::tokens, l).code,
            "too_many_entries");
  EXPECT_EQ(error_of(R"({"allowedModels":["gpt-realtime"]})", MintEndpoint::tokens, l).code, "model_name_too_long");
}

TEST(MintAllowedModels, MissingPredicateKnowsNoModel) {
  auto r = parse_mint_options(R"({"allowedModels":["echo"]})", ModelExists{});
  ASSERT_TRUE(std::holds_alternative<ApiError>(r));
  EXPECT_EQ(std::get<ApiError>(r).code, "unknown_model");
}

// ---------------------------------------------------------------------------------------------
// constraints

TEST(MintConstraints, MaxSessionDurationBounds) {
  EXPECT_EQ(options_of(R"({"constraints":{"realtime":{"maxSessionDuration":10}}})").max_session_duration, 10);
  EXPECT_EQ(options_of(R"({"constraints":{"realtime":{"maxSessionDuration":600}}})").max_session_duration, 600);
  EXPECT_EQ(options_of(R"({"constraints":{"realtime":{"maxSessionDuration":86400}}})").max_session_duration, 86400);
  for (const char* v : {"9", "0", "-1", "86401", "9223372036854775808", "-9223372036854775808"}) {
    const ApiError e = error_of(std::string(R"({"constraints":{"realtime":{"maxSessionDuration":)") + v + "}}}");
    EXPECT_EQ(e.code, "out_of_range") << v;
    EXPECT_EQ(e.param, "constraints.realtime.maxSessionDuration") << v;
  }
  EXPECT_EQ(error_of(R"({"constraints":{"realtime":{"maxSessionDuration":9}}})").message,
            "constraints.realtime.maxSessionDuration must be an integer between 10 and 86400 seconds, got 9");
  EXPECT_EQ(error_of(R"({"constraints":{"realtime":{"maxSessionDuration":86401}}})").message,
            "constraints.realtime.maxSessionDuration must be an integer between 10 and 86400 seconds, got 86401");
}

TEST(MintConstraints, MaxSessionDurationTypes) {
  for (const char* v : {"10.5", "600.0", R"("600")", "true", "[600]", "{}"}) {
    const ApiError e = error_of(std::string(R"({"constraints":{"realtime":{"maxSessionDuration":)") + v + "}}}");
    EXPECT_EQ(e.code, "invalid_type") << v;
    EXPECT_EQ(e.param, "constraints.realtime.maxSessionDuration") << v;
  }
}

TEST(MintConstraints, EmptyFormsMeanNoConstraint) {
  for (const char* v :
       {"{}", R"({"realtime":{}})", R"({"realtime":null})", R"({"realtime":{"maxSessionDuration":null}})", "null"}) {
    const MintOptions o = options_of(with_field("constraints", v));
    EXPECT_FALSE(o.max_session_duration) << v;
    EXPECT_EQ(o, MintOptions{}) << v;
  }
}

TEST(MintConstraints, UnknownKeysAtEachLevel) {
  const ApiError top = error_of(R"({"constraints":{"foo":1}})");
  EXPECT_EQ(top.code, "unknown_field");
  EXPECT_EQ(top.param, "constraints.foo");
  EXPECT_EQ(top.message, "unknown field \"constraints.foo\"; allowed fields in constraints are: realtime");

  const ApiError inner = error_of(R"({"constraints":{"realtime":{"maxSessionDuration":60,"foo":1}}})");
  EXPECT_EQ(inner.code, "unknown_field");
  EXPECT_EQ(inner.param, "constraints.realtime.foo");
  EXPECT_EQ(inner.message,
            "unknown field \"constraints.realtime.foo\"; allowed fields in constraints.realtime are: "
            "maxSessionDuration, maxConcurrentSessions");

  // The flattened / misplaced forms are refused too, with a hint where the name is close.
  const ApiError flat = error_of(R"({"constraints":{"maxSessionDuration":60}})");
  EXPECT_EQ(flat.param, "constraints.maxSessionDuration");
  const ApiError snake = error_of(R"({"constraints":{"realtime":{"max_session_duration":60}}})");
  EXPECT_EQ(snake.param, "constraints.realtime.max_session_duration");
  EXPECT_THAT(snake.message, HasSubstr("did you mean \"maxSessionDuration\"?"));
  // An unknown key is reported even if null, and before realtime's own problems.
  EXPECT_EQ(error_of(R"({"constraints":{"realtime":{"maxSessionDuration":1},"foo":null}})").param, "constraints.foo");
}

TEST(MintConstraints, WrongTypes) {
  for (const char* v : {"[]", "1", R"("realtime")", "true"}) {
    const ApiError e = error_of(with_field("constraints", v));
    EXPECT_EQ(e.code, "invalid_type") << v;
    EXPECT_EQ(e.param, "constraints") << v;
  }
  for (const char* v : {"[]", "600", R"("x")", "false"}) {
    const ApiError e = error_of(std::string(R"({"constraints":{"realtime":)") + v + "}}");
    EXPECT_EQ(e.code, "invalid_type") << v;
    EXPECT_EQ(e.param, "constraints.realtime") << v;
  }
}

TEST(MintConstraints, LimitsAreHonoured) {
  MintLimits l;
  l.min_session_duration = 60;
  l.max_session_duration = 120;
  EXPECT_EQ(options_of(R"({"constraints":{"realtime":{"maxSessionDuration":60}}})", MintEndpoint::tokens, l)
                .max_session_duration,
            60);
  EXPECT_EQ(error_of(R"({"constraints":{"realtime":{"maxSessionDuration":59}}})", MintEndpoint::tokens, l).code,
            "out_of_range");
  EXPECT_EQ(error_of(R"({"constraints":{"realtime":{"maxSessionDuration":121}}})", MintEndpoint::tokens, l).code,
            "out_of_range");
}

// constraints.realtime.maxConcurrentSessions: 1-1000, and at most the server's ceiling.

std::string concurrent(std::string_view json_value) {
  return std::string(R"({"constraints":{"realtime":{"maxConcurrentSessions":)") + std::string(json_value) + "}}}";
}

MintLimits with_ceiling(std::int64_t ceiling) {
  MintLimits l;
  l.concurrent_sessions_ceiling = ceiling;
  return l;
}

TEST(MintConcurrentSessions, Bounds) {
  EXPECT_EQ(options_of(concurrent("1")).max_concurrent_sessions, 1);
  EXPECT_EQ(options_of(concurrent("2")).max_concurrent_sessions, 2);
  EXPECT_EQ(options_of(concurrent("1000")).max_concurrent_sessions, 1000);
  for (const char* v : {"0", "-1", "1001", "9223372036854775807", "9223372036854775808", "-9223372036854775808"}) {
    const ApiError e = error_of(concurrent(v));
    EXPECT_EQ(e.code, "out_of_range") << v;
    EXPECT_EQ(e.param, "constraints.realtime.maxConcurrentSessions") << v;
    EXPECT_EQ(e.http_status, 400) << v;
  }
  EXPECT_EQ(error_of(concurrent("0")).message,
            "constraints.realtime.maxConcurrentSessions must be an integer between 1 and 1000 sessions, got 0");
  EXPECT_EQ(error_of(concurrent("1001")).message,
            "constraints.realtime.maxConcurrentSessions must be an integer between 1 and 1000 sessions, got 1001");
}

TEST(MintConcurrentSessions, Types) {
  for (const char* v : {"2.5", "2.0", "2e0", R"("2")", "true", "[2]", "{}"}) {
    const ApiError e = error_of(concurrent(v));
    EXPECT_EQ(e.code, "invalid_type") << v;
    EXPECT_EQ(e.param, "constraints.realtime.maxConcurrentSessions") << v;
  }
}

TEST(MintConcurrentSessions, NullMeansTheServersCap) {
  const MintOptions o = options_of(concurrent("null"));
  EXPECT_FALSE(o.max_concurrent_sessions);
  EXPECT_EQ(o, MintOptions{});
}

// The server's --max-sessions-per-token is the ceiling: up to it is fine, above it is refused
// with a message that names it (never silently lowered at the door).
TEST(MintConcurrentSessions, TheServersCeilingHolds) {
  const MintLimits ten = with_ceiling(10);
  EXPECT_EQ(options_of(concurrent("1"), MintEndpoint::tokens, ten).max_concurrent_sessions, 1);
  EXPECT_EQ(options_of(concurrent("10"), MintEndpoint::tokens, ten).max_concurrent_sessions, 10);
  const ApiError e = error_of(concurrent("11"), MintEndpoint::tokens, ten);
  EXPECT_EQ(e.code, "out_of_range");
  EXPECT_EQ(e.param, "constraints.realtime.maxConcurrentSessions");
  EXPECT_EQ(e.message,
            "constraints.realtime.maxConcurrentSessions is 11, above this server's ceiling of 10 live sessions per "
            "token (its --max-sessions-per-token): ask for at most 10, or omit it to get 10");
  // The contract's own range is reported first, whatever the ceiling.
  EXPECT_THAT(error_of(concurrent("1001"), MintEndpoint::tokens, ten).message,
              HasSubstr("between 1 and 1000 sessions"));
  EXPECT_THAT(error_of(concurrent("0"), MintEndpoint::tokens, ten).message, HasSubstr("between 1 and 1000 sessions"));
  // No ceiling (0): the range alone.
  EXPECT_EQ(options_of(concurrent("1000"), MintEndpoint::tokens, with_ceiling(0)).max_concurrent_sessions, 1000);
  EXPECT_EQ(options_of(concurrent("1000"), MintEndpoint::tokens, with_ceiling(1000)).max_concurrent_sessions, 1000);
  EXPECT_EQ(error_of(concurrent("1000"), MintEndpoint::tokens, with_ceiling(999)).code, "out_of_range");
}

TEST(MintConcurrentSessions, WithMaxSessionDurationInFixedOrder) {
  const MintOptions o =
      options_of(R"({"constraints":{"realtime":{"maxConcurrentSessions":3,"maxSessionDuration":60}}})");
  EXPECT_EQ(o.max_concurrent_sessions, 3);
  EXPECT_EQ(o.max_session_duration, 60);
  // maxSessionDuration's problem is reported first, whatever the body order.
  EXPECT_EQ(error_of(R"({"constraints":{"realtime":{"maxConcurrentSessions":0,"maxSessionDuration":1}}})").param,
            "constraints.realtime.maxSessionDuration");
  EXPECT_EQ(error_of(R"({"constraints":{"realtime":{"maxConcurrentSessions":0,"maxSessionDuration":60}}})").param,
            "constraints.realtime.maxConcurrentSessions");
}

TEST(MintConcurrentSessions, NearMissNamesAreRefusedWithAHint) {
  for (const char* name : {"max_concurrent_sessions", "MaxConcurrentSessions", "maxconcurrentsessions"}) {
    const ApiError e = error_of(std::string(R"({"constraints":{"realtime":{")") + name + "\":2}}}");
    EXPECT_EQ(e.code, "unknown_field") << name;
    EXPECT_EQ(e.param, std::string("constraints.realtime.") + name);
    EXPECT_THAT(e.message, HasSubstr("did you mean \"maxConcurrentSessions\"?")) << name;
  }
  // Not a top-level field, nor one of constraints itself.
  EXPECT_EQ(error_of(R"({"maxConcurrentSessions":2})").code, "unknown_field");
  EXPECT_EQ(error_of(R"({"constraints":{"maxConcurrentSessions":2}})").param, "constraints.maxConcurrentSessions");
}

TEST(MintConcurrentSessions, AcceptedOnSignedUrlsToo) {
  EXPECT_EQ(options_of(R"({"model":"echo","constraints":{"realtime":{"maxConcurrentSessions":1}}})",
                       MintEndpoint::urls)
                .max_concurrent_sessions,
            1);
}

// ---------------------------------------------------------------------------------------------
// metadata

std::string metadata_with_keys(std::size_t n) {
  boost::json::object m;
  for (std::size_t i = 0; i < n; ++i) m[numbered("k", i)] = i;
  return boost::json::serialize(m);
}

// A metadata object that serialises to exactly `bytes` bytes.
std::string metadata_of_size(std::size_t bytes) {
  std::string m = R"({"k":")" + std::string(bytes - 8, 'v') + "\"}";
  EXPECT_EQ(m.size(), bytes);
  return m;
}

TEST(MintMetadata, Accepted) {
  const MintOptions o =
      options_of(R"({"metadata":{"user":"u_123","plan":{"tier":"pro","seats":3},"tags":["a",1,null,true,1.5]}})");
  ASSERT_TRUE(o.metadata);
  EXPECT_EQ(boost::json::value(*o.metadata),
            boost::json::parse(R"({"user":"u_123","plan":{"tier":"pro","seats":3},"tags":["a",1,null,true,1.5]})"));
  // Order of keys is kept as sent.
  EXPECT_EQ(boost::json::serialize(*o.metadata),
            R"({"user":"u_123","plan":{"tier":"pro","seats":3},"tags":["a",1,null,true,1.5E0]})");
}

TEST(MintMetadata, EmptyObjectIsKept) {
  const MintOptions o = options_of(R"({"metadata":{}})");
  ASSERT_TRUE(o.metadata);
  EXPECT_TRUE(o.metadata->empty());
}

TEST(MintMaxUses, RangeTypeAndNull) {
  EXPECT_EQ(options_of(R"({"maxUses":1})").max_uses, 1);
  EXPECT_EQ(options_of(R"({"maxUses":1000})").max_uses, 1000);
  EXPECT_FALSE(options_of(R"({"maxUses":null})").max_uses);
  EXPECT_FALSE(options_of("{}").max_uses);
  for (const char* v : {"0", "1001", "-1"}) {
    const ApiError e = error_of(with_field("maxUses", v));
    EXPECT_EQ(e.code, "out_of_range") << v;
    EXPECT_EQ(e.param, "maxUses") << v;
    EXPECT_THAT(e.message, HasSubstr("maxUses must be an integer between 1 and 1000 admissions")) << v;
  }
  for (const char* v : {"1.5", R"("3")", "true", "[1]"}) {
    const ApiError e = error_of(with_field("maxUses", v));
    EXPECT_EQ(e.code, "invalid_type") << v;
    EXPECT_EQ(e.param, "maxUses") << v;
  }
}

TEST(MintMetadata, NullMeansAbsent) { EXPECT_FALSE(options_of(R"({"metadata":null})").metadata); }

TEST(MintMetadata, WrongTypes) {
  for (const char* v : {"[]", R"([{"a":1}])", R"("x")", R"("{\"a\":1}")", "1", "true"}) {
    const ApiError e = error_of(with_field("metadata", v));
    EXPECT_EQ(e.code, "invalid_type") << v;
    EXPECT_EQ(e.param, "metadata") << v;
    EXPECT_THAT(e.message, HasSubstr("metadata must be a JSON object")) << v;
  }
}

TEST(MintMetadata, KeyCount) {
  const MintOptions o = options_of(with_field("metadata", metadata_with_keys(64)));
  ASSERT_TRUE(o.metadata);
  EXPECT_EQ(o.metadata->size(), 64u);
  const ApiError e = error_of(with_field("metadata", metadata_with_keys(65)));
  EXPECT_EQ(e.code, "metadata_too_large");
  EXPECT_EQ(e.param, "metadata");
  EXPECT_THAT(e.message, AllOf(HasSubstr("64 top-level keys"), HasSubstr("4 levels"), HasSubstr("4096 bytes"),
                               HasSubstr("it has 65 keys")));
  // Nested keys do not count as top-level keys.
  boost::json::object inner;
  for (int i = 0; i < 100; ++i) inner[numbered("n", i)] = 0;
  EXPECT_TRUE(options_of(with_field("metadata", boost::json::serialize(boost::json::object{{"a", inner}}))).metadata);
}

TEST(MintMetadata, SerializedSize) {
  const MintOptions o = options_of(with_field("metadata", metadata_of_size(4096)));
  ASSERT_TRUE(o.metadata);
  EXPECT_EQ(boost::json::serialize(*o.metadata).size(), 4096u);
  const ApiError e = error_of(with_field("metadata", metadata_of_size(4097)));
  EXPECT_EQ(e.code, "metadata_too_large");
  EXPECT_EQ(e.param, "metadata");
  EXPECT_THAT(e.message, AllOf(HasSubstr("4096 bytes"), HasSubstr("it is 4097 bytes")));
}

TEST(MintMetadata, SizeIsOfTheSerializedFormNotTheInput) {
  // Whitespace in the body does not count; escapes count as serialised.
  const std::string spaced = R"({"metadata":  {  "k"  :  ")" + std::string(4088, 'v') + "\"   }   }";
  EXPECT_TRUE(options_of(spaced).metadata);
}

TEST(MintMetadata, Depth) {
  for (const char* v : {R"({"a":1})", R"({"a":{"b":{"c":{"d":1}}}})", R"({"a":[[[1]]]})", R"({"a":[{"b":[]}]})",
                        R"({"a":{"b":{"c":{}}}})"}) {
    EXPECT_TRUE(options_of(with_field("metadata", v)).metadata) << v;
  }
  for (const char* v : {R"({"a":{"b":{"c":{"d":{}}}}})", R"({"a":{"b":{"c":{"d":{"e":1}}}}})", R"({"a":[[[[1]]]]})",
                        R"({"a":[[[[]]]]})", R"({"x":1,"a":[{"b":[{"c":1}]}]})"}) {
    const ApiError e = error_of(with_field("metadata", v));
    EXPECT_EQ(e.code, "metadata_too_large") << v;
    EXPECT_EQ(e.param, "metadata") << v;
    EXPECT_THAT(e.message, HasSubstr("nested more than 4 levels deep")) << v;
  }
}

TEST(MintMetadata, VeryDeepIsRefusedOneWayOrAnother) {
  std::string v;
  for (int i = 0; i < 40; ++i) v += "{\"a\":";
  v += "1";
  for (int i = 0; i < 40; ++i) v += "}";
  const ApiError e = error_of(with_field("metadata", v));
  EXPECT_THAT(e.code, ::testing::AnyOf("metadata_too_large", "invalid_json"));
  EXPECT_EQ(e.http_status, 400);
}

TEST(MintMetadata, LimitsAreHonouredExactly) {
  MintLimits l;
  l.max_metadata_keys = 2;
  l.max_metadata_depth = 2;
  l.max_metadata_bytes = 16;
  EXPECT_TRUE(options_of(R"({"metadata":{"a":[1],"b":2}})", MintEndpoint::tokens, l).metadata);   // 15 bytes
  EXPECT_TRUE(options_of(R"({"metadata":{"a":[1],"b":22}})", MintEndpoint::tokens, l).metadata);  // 16 bytes
  EXPECT_EQ(error_of(R"({"metadata":{"a":[1],"b":222}})", MintEndpoint::tokens, l).code, "metadata_too_large");
  EXPECT_EQ(error_of(R"({"metadata":{"a":1,"b":2,"c":3}})", MintEndpoint::tokens, l).code, "metadata_too_large");
  EXPECT_EQ(error_of(R"({"metadata":{"a":[[1]]}})", MintEndpoint::tokens, l).code, "metadata_too_large");
}

TEST(MintMetadata, NumbersBeyondADoubleAreOutOfRange) {
  const ApiError e = error_of(R"({"metadata":{"a":1e400}})");
  EXPECT_EQ(e.code, "out_of_range");
  EXPECT_EQ(e.param, "metadata.a");
  EXPECT_EQ(e.message,
            "metadata.a is 1e400, a number too large to represent (beyond about 1.8e308): metadata may hold only "
            "finite numbers");
  const ApiError deep = error_of(R"({"metadata":{"ok":1,"list":[2,{"x y":-1E309}]}})");
  EXPECT_EQ(deep.code, "out_of_range");
  EXPECT_EQ(deep.param, R"(metadata.list[1]["x y"])");
  EXPECT_THAT(deep.message, HasSubstr(" is -1E309, a number too large"));
  // Both sides of the bound: the largest double is kept.
  EXPECT_TRUE(options_of(R"({"metadata":{"a":1.7976931348623157e308,"b":-1.7976931348623157e308}})").metadata);
  EXPECT_EQ(error_of(R"({"metadata":{"a":1.8e308}})").code, "out_of_range");
}

// A number too large is refused where the fixed order reaches it, as every other rule.
TEST(MintMetadata, NumbersBeyondADoubleTakeTheirTurn) {
  EXPECT_EQ(error_of(R"({"metadata":{"a":1e400},"other":1})").code, "unknown_field");
  EXPECT_EQ(error_of(R"({"metadata":{"a":1e400},"expiresIn":0})").param, "expiresIn");
  EXPECT_EQ(error_of(R"({"extra":1e400})").code, "unknown_field");
  EXPECT_EQ(error_of(R"({"allowedModels":[1e400]})").code, "invalid_type");
}

// ---------------------------------------------------------------------------------------------
// Everything together, evaluation order

TEST(MintAll, EveryFieldAtOnce) {
  const MintOptions o = options_of(R"({
    "expiresIn": 900,
    "allowedModels": ["echo", "demo"],
    "allowedOrigins": ["https://app.example.com", "http://localhost:3000"],
    "constraints": {"realtime": {"maxSessionDuration": 1800}},
    "metadata": {"user": "u_1"}
  })");
  EXPECT_EQ(o.expires_in, 900);
  EXPECT_EQ(*o.allowed_models, (std::vector<std::string>{"echo", "demo"}));
  EXPECT_EQ(*o.allowed_origins, (std::vector<std::string>{"https://app.example.com", "http://localhost:3000"}));
  EXPECT_EQ(o.max_session_duration, 1800);
  EXPECT_EQ(boost::json::serialize(*o.metadata), R"({"user":"u_1"})");
  EXPECT_FALSE(o.model);
}

TEST(MintAll, AllNullIsAllDefaults) {
  EXPECT_EQ(
      options_of(R"({"expiresIn":null,"allowedModels":null,"allowedOrigins":null,"constraints":null,"metadata":null})"),
      MintOptions{});
}

TEST(MintAll, FixedFieldOrderNotBodyOrder) {
  // expiresIn → allowedModels → allowedOrigins → constraints → metadata, whatever the body order.
  const std::string all_bad = R"({"metadata":[],"constraints":1,"allowedOrigins":[],"allowedModels":[],"expiresIn":0})";
  EXPECT_EQ(error_of(all_bad).param, "expiresIn");
  EXPECT_EQ(error_of(R"({"metadata":[],"constraints":1,"allowedOrigins":[],"allowedModels":[]})").param,
            "allowedModels");
  EXPECT_EQ(error_of(R"({"metadata":[],"constraints":1,"allowedOrigins":[]})").param, "allowedOrigins");
  EXPECT_EQ(error_of(R"({"metadata":[],"constraints":1})").param, "constraints");
  EXPECT_EQ(error_of(R"({"metadata":[]})").param, "metadata");
}

TEST(MintAll, ErrorsAreInvalidRequest400) {
  for (const char* body : {"[]", "{", R"({"a":1})", R"({"expiresIn":0})", R"({"allowedModels":["x"]})",
                           R"({"allowedOrigins":["x"]})", R"({"metadata":1})", R"({"constraints":1})"}) {
    const ApiError e = error_of(body);
    EXPECT_EQ(e.http_status, 400) << body;
    EXPECT_EQ(e.type, "invalid_request_error") << body;
    EXPECT_FALSE(e.code.empty()) << body;
    EXPECT_FALSE(e.message.empty()) << body;
  }
}

TEST(MintAll, SameBodySameAnswer) {
  const std::string body = R"({"allowedModels":["x","y"],"allowedOrigins":["example.com"]})";
  const ApiError a = error_of(body);
  const ApiError b = error_of(body);
  EXPECT_EQ(a.code, b.code);
  EXPECT_EQ(a.message, b.message);
  EXPECT_EQ(a.param, b.param);
}

// ---------------------------------------------------------------------------------------------
// POST /v1/client/urls: `model` is required

constexpr MintEndpoint kUrls = MintEndpoint::urls;

TEST(MintUrls, ModelRequired) {
  for (const char* body : {"", "  ", "{}", R"({"model":null})", R"({"expiresIn":60})"}) {
    const ApiError e = error_of(body, kUrls);
    EXPECT_EQ(e.code, "missing_field") << body;
    EXPECT_EQ(e.param, "model") << body;
    EXPECT_THAT(e.message, HasSubstr("model is required")) << body;
  }
}

TEST(MintUrls, ModelAccepted) {
  const MintOptions o = options_of(R"({"model":"gpt-realtime"})", kUrls);
  EXPECT_EQ(o.model, "gpt-realtime");
  EXPECT_EQ(o.expires_in, 60);
  EXPECT_FALSE(o.allowed_models);
}

TEST(MintUrls, ModelMustBeKnown) {
  const ApiError e = error_of(R"({"model":"gpt-4"})", kUrls);
  EXPECT_EQ(e.code, "unknown_model");
  EXPECT_EQ(e.param, "model");
  EXPECT_EQ(e.message, "model: \"gpt-4\" is not a model this server serves");
  EXPECT_EQ(error_of(R"({"model":""})", kUrls).code, "empty_value");
  EXPECT_EQ(error_of(with_field("model", json_string(std::string(129, 'm'))), kUrls).code, "model_name_too_long");
  for (const char* v : {"1", "true", R"(["echo"])", "{}"}) {
    const ApiError t = error_of(with_field("model", v), kUrls);
    EXPECT_EQ(t.code, "invalid_type") << v;
    EXPECT_EQ(t.param, "model") << v;
  }
}

TEST(MintUrls, ModelMustBeInAllowedModels) {
  const MintOptions o = options_of(R"({"model":"echo","allowedModels":["demo","echo"]})", kUrls);
  EXPECT_EQ(o.model, "echo");
  EXPECT_EQ(*o.allowed_models, (std::vector<std::string>{"demo", "echo"}));

  const ApiError e = error_of(R"({"model":"echo","allowedModels":["demo"]})", kUrls);
  EXPECT_EQ(e.code, "model_not_allowed");
  EXPECT_EQ(e.param, "model");
  EXPECT_THAT(e.message, AllOf(HasSubstr("\"echo\""), HasSubstr("allowedModels")));
  // allowedModels: null means every model.
  EXPECT_EQ(options_of(R"({"model":"echo","allowedModels":null})", kUrls).model, "echo");
}

TEST(MintUrls, ModelComesFirstThenTheRest) {
  EXPECT_EQ(error_of(R"({"expiresIn":0,"model":"nope"})", kUrls).param, "model");
  EXPECT_EQ(error_of(R"({"expiresIn":0,"model":"echo"})", kUrls).param, "expiresIn");
  // The cross-field rule comes after every field's own rules.
  EXPECT_EQ(error_of(R"({"model":"echo","allowedModels":["demo"],"metadata":1})", kUrls).param, "metadata");
  // Unknown fields still come first.
  EXPECT_EQ(error_of(R"({"x":1})", kUrls).code, "unknown_field");
}

TEST(MintUrls, UnknownFieldListsModel) {
  const ApiError e = error_of(R"({"foo":1,"model":"echo"})", kUrls);
  EXPECT_EQ(e.code, "unknown_field");
  EXPECT_EQ(e.message,
            "unknown field \"foo\"; allowed fields are: model, expiresIn, allowedModels, allowedOrigins, constraints, "
            "metadata, maxUses");
}

TEST(MintUrls, EveryFieldAtOnce) {
  const MintOptions o = options_of(R"({"model":"demo","expiresIn":3600,"allowedModels":["demo"],
    "allowedOrigins":["https://app.example.com"],"constraints":{"realtime":{"maxSessionDuration":10}},
    "metadata":{"k":"v"}})",
                                   kUrls);
  EXPECT_EQ(o.model, "demo");
  EXPECT_EQ(o.expires_in, 3600);
  EXPECT_EQ(o.max_session_duration, 10);
  EXPECT_EQ(o.allowed_origins->size(), 1u);
}

}  // namespace
}  // namespace bouncer::policy
