// parse_mint_options: allowedOrigins, including the origin table of docs/API.md, which must hold exactly.
#include "mint_test_util.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace bouncer::policy {
namespace {

using test::error_of;
using test::options_of;
using test::with_field;
using ::testing::AllOf;
using ::testing::AnyOf;
using ::testing::HasSubstr;

std::string origins(const std::vector<std::string>& list) {
  std::string s = "[";
  for (std::size_t i = 0; i < list.size(); ++i) s += (i ? ",\"" : "\"") + list[i] + "\"";
  return with_field("allowedOrigins", s + "]");
}

std::string one_origin(const std::string& o) { return origins({o}); }

// A canonical https origin of exactly `n` characters: "https://" + labels of at most 63
// characters + ".com".
std::string origin_of_length(std::size_t n) {
  const std::size_t host = n - 8;
  const std::string label(60, 'a');
  std::string h = label + "." + std::string(60, 'b') + "." + std::string(60, 'c') + "." +
                  std::string(host - 3 * 61 - 4, 'd') + ".com";
  std::string o = "https://" + h;
  EXPECT_EQ(o.size(), n);
  return o;
}

// ---------------------------------------------------------------------------------------------
// The origin table of docs/API.md

TEST(MintOriginsTable, AcceptedAsIs) {
  for (const std::string o : {"https://app.example.com", "http://localhost:3000"}) {
    const MintOptions opts = options_of(one_origin(o));
    ASSERT_TRUE(opts.allowed_origins) << o;
    EXPECT_EQ(*opts.allowed_origins, std::vector<std::string>{o});
  }
}

TEST(MintOriginsTable, TrailingSlash) {
  const ApiError e = error_of(one_origin("https://app.example.com/"));
  EXPECT_EQ(e.code, "origin_not_canonical");
  EXPECT_EQ(e.param, "allowedOrigins[0]");
  EXPECT_EQ(e.http_status, 400);
  EXPECT_EQ(e.message,
            R"("https://app.example.com/" is not a canonical origin (trailing slash): use "https://app.example.com")");
}

TEST(MintOriginsTable, DefaultPort) {
  const ApiError e = error_of(one_origin("https://app.example.com:443"));
  EXPECT_EQ(e.code, "origin_not_canonical");
  EXPECT_EQ(e.param, "allowedOrigins[0]");
  EXPECT_THAT(e.message, AllOf(HasSubstr(R"("https://app.example.com:443" is not a canonical origin)"),
                               HasSubstr("(default port)"), HasSubstr(R"(: use "https://app.example.com")")));
}

TEST(MintOriginsTable, MixedCase) {
  const ApiError e = error_of(one_origin("https://EXAMPLE.com"));
  EXPECT_EQ(e.code, "origin_not_canonical");
  EXPECT_EQ(e.param, "allowedOrigins[0]");
  EXPECT_THAT(e.message, AllOf(HasSubstr("(upper-case letters)"), HasSubstr(R"(: use "https://example.com")")));
}

TEST(MintOriginsTable, Credentials) {
  const ApiError e = error_of(one_origin("https://user@example.com"));
  EXPECT_EQ(e.code, "origin_not_canonical");
  EXPECT_EQ(e.param, "allowedOrigins[0]");
  EXPECT_THAT(e.message, AllOf(HasSubstr("(credentials)"), HasSubstr(R"(: use "https://example.com")")));
}

TEST(MintOriginsTable, MissingScheme) {
  const ApiError e = error_of(one_origin("example.com"));
  EXPECT_EQ(e.code, "invalid_origin");
  EXPECT_EQ(e.param, "allowedOrigins[0]");
  EXPECT_THAT(e.message, AllOf(HasSubstr(R"("example.com" is not a valid origin)"), HasSubstr("missing scheme"),
                               HasSubstr(R"("https://app.example.com")")));
}

// ---------------------------------------------------------------------------------------------
// More forms

TEST(MintOrigins, MoreCanonicalForms) {
  for (const std::string o : {"http://example.com", "https://example.com:8443", "http://127.0.0.1:8080",
                              "http://[::1]:3000", "https://xn--bcher-kva.example", "http://localhost"}) {
    const MintOptions opts = options_of(one_origin(o));
    ASSERT_TRUE(opts.allowed_origins) << o;
    EXPECT_EQ(opts.allowed_origins->at(0), o);
  }
}

TEST(MintOrigins, MoreNotCanonicalForms) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"http://example.com:80", "http://example.com"},
      {"HTTPS://example.com", "https://example.com"},
      {"https://example.com/path", "https://example.com"},
      {"https://example.com?q=1", "https://example.com"},
      {"https://example.com#frag", "https://example.com"},
      {"https://user:pass@example.com:8443", "https://example.com:8443"},
      {" https://app.example.com", "https://app.example.com"},
      {"https://app.example.com ", "https://app.example.com"},
      {"https://b\xC3\xBC"
       "cher.example",
       "https://xn--bcher-kva.example"},
      {"http://[0:0:0:0:0:0:0:1]", "http://[::1]"},
  };
  for (const auto& [in, canonical] : cases) {
    const ApiError e = error_of(one_origin(in));
    EXPECT_EQ(e.code, "origin_not_canonical") << in;
    EXPECT_EQ(e.param, "allowedOrigins[0]") << in;
    EXPECT_THAT(e.message, HasSubstr(": use \"" + canonical + "\"")) << in;
  }
}

TEST(MintOrigins, InvalidForms) {
  for (const std::string o : {"", "null", " ", "   ", "ftp://example.com", "ws://example.com", "file:///etc/passwd",
                              "https://", "//example.com", "*", "https://*.example.com:99999", "localhost:3000"}) {
    const ApiError e = error_of(one_origin(o));
    EXPECT_THAT(e.code, AnyOf("invalid_origin", "origin_not_canonical")) << o;
    EXPECT_EQ(e.param, "allowedOrigins[0]") << o;
  }
  for (const std::string o : {"", "null", " ", "ftp://example.com", "https://", "https://exa mple.com"}) {
    const ApiError e = error_of(one_origin(o));
    EXPECT_EQ(e.code, "invalid_origin") << o;
    EXPECT_THAT(e.message, AllOf(HasSubstr("is not a valid origin"), HasSubstr(R"("https://app.example.com")"))) << o;
  }
}

// A host with a non-ASCII character goes through UTS #46; when that fails, the 400 says which
// label and why.
TEST(MintOrigins, IdnaFailureNamesTheLabel) {
  const ApiError e = error_of(one_origin("https://xn--a.b\xC3\xBC"
                                         "cher.example"));
  EXPECT_EQ(e.code, "invalid_origin");
  EXPECT_EQ(e.param, "allowedOrigins[0]");
  EXPECT_THAT(e.message, HasSubstr("\"https://xn--a.b\xC3\xBC"
                                   "cher.example\" is not a valid origin (punycode label \"xn--a\" does not decode to a "
                                   "valid label)"));
  const ApiError bad = error_of(one_origin("https://xn--ls8h=.b\xC3\xBC"
                                           "cher.example"));
  EXPECT_THAT(bad.message, HasSubstr("(invalid punycode label \"xn--ls8h=\")"));
}

// An all-ASCII host is kept as written, "xn--" labels that are not punycode included: the URL
// Standard's origin for it, and the Origin a browser sends from such a host.
TEST(MintOrigins, AsciiHostWithBogusPunycodeIsAnOrigin) {
  for (const std::string o : {"https://xn--a.com", "https://xn--8i7caa.example", "http://xn--a.localhost:3000"}) {
    const MintOptions opts = options_of(one_origin(o));
    ASSERT_TRUE(opts.allowed_origins) << o;
    EXPECT_EQ(opts.allowed_origins->at(0), o);
  }
}

TEST(MintOrigins, InvalidMessageQuotesControlCharacters) {
  const ApiError e = error_of(with_field("allowedOrigins", R"(["https://exa\u0000mple.com"])"));
  EXPECT_THAT(e.code, AnyOf("invalid_origin", "origin_not_canonical"));
  EXPECT_THAT(e.message, HasSubstr(R"("https://exa\u0000mple.com")"));
}

// ---------------------------------------------------------------------------------------------
// Length, count, duplicates, types

TEST(MintOrigins, Length253Accepted254Refused) {
  const std::string o253 = origin_of_length(253);
  const MintOptions opts = options_of(one_origin(o253));
  ASSERT_TRUE(opts.allowed_origins);
  EXPECT_EQ(opts.allowed_origins->at(0), o253);

  const std::string o254 = origin_of_length(254);
  const ApiError e = error_of(origins({"https://app.example.com", o254}));
  EXPECT_EQ(e.code, "origin_too_long");
  EXPECT_EQ(e.param, "allowedOrigins[1]");
  EXPECT_EQ(e.message, "allowedOrigins[1] is 254 characters long; an origin has at most 253 characters");
}

TEST(MintOrigins, LengthIsCheckedBeforeTheForm) {
  // 254 characters with a trailing slash: too long, whatever its canonical form.
  const ApiError e = error_of(one_origin(origin_of_length(253) + "/"));
  EXPECT_EQ(e.code, "origin_too_long");
  const ApiError junk = error_of(one_origin(std::string(300, 'x')));
  EXPECT_EQ(junk.code, "origin_too_long");
  EXPECT_EQ(junk.message, "allowedOrigins[0] is 300 characters long; an origin has at most 253 characters");
}

TEST(MintOrigins, EntryCount) {
  auto list = [](std::size_t n) {
    std::vector<std::string> v;
    for (std::size_t i = 0; i < n; ++i) v.push_back("https://app" + std::to_string(i) + ".example.com");
    return v;
  };
  const MintOptions twenty = options_of(origins(list(20)));
  ASSERT_TRUE(twenty.allowed_origins);
  EXPECT_EQ(twenty.allowed_origins->size(), 20u);
  EXPECT_EQ(*twenty.allowed_origins, list(20));
  EXPECT_EQ(options_of(origins(list(1))).allowed_origins->size(), 1u);

  const ApiError e = error_of(origins(list(21)));
  EXPECT_EQ(e.code, "too_many_entries");
  EXPECT_EQ(e.param, "allowedOrigins");
  EXPECT_EQ(e.message, "allowedOrigins has 21 entries; at most 20 are allowed");
}

TEST(MintOrigins, EmptyArrayIsRefused) {
  const ApiError e = error_of(R"({"allowedOrigins":[]})");
  EXPECT_EQ(e.code, "empty_array");
  EXPECT_EQ(e.param, "allowedOrigins");
  EXPECT_THAT(e.message, HasSubstr("omit the field to allow every origin"));
}

TEST(MintOrigins, NullMeansEveryOrigin) { EXPECT_EQ(options_of(R"({"allowedOrigins":null})"), MintOptions{}); }

TEST(MintOrigins, Duplicates) {
  const ApiError e = error_of(origins({"https://app.example.com", "http://localhost:3000", "https://app.example.com"}));
  EXPECT_EQ(e.code, "duplicate_entry");
  EXPECT_EQ(e.param, "allowedOrigins[2]");
  EXPECT_THAT(e.message, AllOf(HasSubstr("\"https://app.example.com\""), HasSubstr("allowedOrigins[0]")));
  // Same host, different scheme or port: different origins.
  EXPECT_EQ(options_of(origins({"https://app.example.com", "http://app.example.com", "https://app.example.com:8443"}))
                .allowed_origins->size(),
            3u);
  // A non-canonical spelling of an earlier entry is reported as not canonical (it comes first).
  EXPECT_EQ(error_of(origins({"https://app.example.com", "https://app.example.com/"})).code, "origin_not_canonical");
}

TEST(MintOrigins, WrongTypes) {
  for (const char* v : {R"("https://app.example.com")", "1", "true", "{}"}) {
    const ApiError e = error_of(with_field("allowedOrigins", v));
    EXPECT_EQ(e.code, "invalid_type") << v;
    EXPECT_EQ(e.param, "allowedOrigins") << v;
    EXPECT_THAT(e.message, HasSubstr("allowedOrigins must be an array of origins")) << v;
  }
  for (const char* v : {R"(["https://app.example.com",null])", R"(["https://app.example.com",1])",
                        R"(["https://app.example.com",["x"]])", R"(["https://app.example.com",{}])"}) {
    const ApiError e = error_of(with_field("allowedOrigins", v));
    EXPECT_EQ(e.code, "invalid_type") << v;
    EXPECT_EQ(e.param, "allowedOrigins[1]") << v;
  }
}

TEST(MintOrigins, FirstBadEntryWins) {
  EXPECT_EQ(error_of(origins({"https://ok.example.com", "example.com", "https://a.example.com/"})).param,
            "allowedOrigins[1]");
}

TEST(MintOrigins, LimitsAreHonoured) {
  MintLimits l;
  l.max_origins = 1;
  l.max_origin_length = 23;
  EXPECT_TRUE(options_of(one_origin("https://app.example.com"), MintEndpoint::tokens, l).allowed_origins);
  EXPECT_EQ(error_of(origins({"https://a.example.com", "https://b.example.com"}), MintEndpoint::tokens, l).code,
            "too_many_entries");
  EXPECT_EQ(error_of(one_origin("https://app.example.comm"), MintEndpoint::tokens, l).code, "origin_too_long");
}

}  // namespace
}  // namespace bouncer::policy
