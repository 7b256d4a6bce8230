// Hand-written cases for origin::check(): the origin table of docs/API.md exactly, then the corners of the
// URL Standard an allowedOrigins entry can hit (IDN, IPv4/IPv6, ports, whitespace, userinfo...).
// The WPT data is in wpt_origin_test.cpp.
#include <gtest/gtest.h>

#include <cctype>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "origin/host.h"
#include "origin/origin.h"

namespace bouncer::origin {
namespace {

struct Case {
  std::string input;
  Verdict verdict;
  std::string canonical;  // expected origin when verdict != invalid
  std::string problem;    // a substring of Check::problem ("" for canonical)
};

const char* verdict_name(Verdict v) {
  switch (v) {
    case Verdict::canonical: return "canonical";
    case Verdict::not_canonical: return "not_canonical";
    case Verdict::invalid: return "invalid";
  }
  return "?";
}

// Printable ASCII only, and short: gtest lists this next to each test's name, and test
// discovery must not see raw control bytes or 8 KiB lines.
void PrintTo(const Case& c, std::ostream* os) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string shown;
  for (const char ch : c.input) {
    if (shown.size() >= 64) {
      shown += "...";
      break;
    }
    const auto u = static_cast<unsigned char>(ch);
    if (u >= 0x20 && u < 0x7F && ch != '\\') {
      shown += ch;
    } else {
      shown += "\\x";
      shown += kHex[u >> 4];
      shown += kHex[u & 0xF];
    }
  }
  *os << '"' << shown << "\" -> " << verdict_name(c.verdict);
}

// gtest parameter names: index plus the input's alphanumerics, so a failure names the input.
std::string case_name(const testing::TestParamInfo<Case>& info) {
  std::string name = std::to_string(info.index) + "_";
  for (const char c : info.param.input) {
    if (name.size() >= 48) break;
    name += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  }
  return name;
}

void expect_case(const Case& c) {
  const Check got = check(c.input);
  EXPECT_EQ(verdict_name(got.verdict), std::string(verdict_name(c.verdict))) << "problem: " << got.problem;
  if (c.verdict == Verdict::invalid) {
    EXPECT_EQ(got.canonical, "");
  } else {
    EXPECT_EQ(got.canonical, c.canonical);
  }
  if (c.verdict == Verdict::canonical) {
    EXPECT_EQ(got.problem, "");
  } else {
    EXPECT_NE(got.problem, "");
    EXPECT_NE(got.problem.find(c.problem), std::string::npos) << "problem: " << got.problem;
  }
}

// ---- The origin table of docs/API.md, which must hold exactly ----

class OriginDesignTable : public testing::TestWithParam<Case> {};

TEST_P(OriginDesignTable, Holds) {
  const Case& c = GetParam();
  const Check got = check(c.input);
  EXPECT_EQ(verdict_name(got.verdict), std::string(verdict_name(c.verdict)));
  EXPECT_EQ(got.canonical, c.canonical);
  EXPECT_EQ(got.problem, c.problem);  // exact: these are the words the 400 message uses
}

INSTANTIATE_TEST_SUITE_P(
    Design, OriginDesignTable,
    testing::Values(
        Case{"https://app.example.com", Verdict::canonical, "https://app.example.com", ""},
        Case{"http://localhost:3000", Verdict::canonical, "http://localhost:3000", ""},
        Case{"https://app.example.com/", Verdict::not_canonical, "https://app.example.com", "trailing slash"},
        Case{"https://app.example.com:443", Verdict::not_canonical, "https://app.example.com", "default port"},
        Case{"https://EXAMPLE.com", Verdict::not_canonical, "https://example.com", "upper-case letters"},
        Case{"https://user@example.com", Verdict::not_canonical, "https://example.com", "credentials"},
        Case{"example.com", Verdict::invalid, "", "missing scheme"}),
    case_name);

// ---- Hand-written cases ----

class OriginCases : public testing::TestWithParam<Case> {};

TEST_P(OriginCases, Classifies) { expect_case(GetParam()); }

constexpr auto C = Verdict::canonical;
constexpr auto N = Verdict::not_canonical;
constexpr auto I = Verdict::invalid;

// An origin of 254 characters, one past the 253 that minting allows: check() has no length policy of its own
// (policy/ applies kMaxOriginLength), it only refuses input past kMaxInputLength.
std::string long_origin() {
  const std::string label(63, 'a');
  return "https://" + label + "." + label + "." + label + "." + std::string(54, 'b');
}

INSTANTIATE_TEST_SUITE_P(
    Accepted, OriginCases,
    testing::Values(
        Case{"https://example.com", C, "https://example.com", ""},
        Case{"http://example.com", C, "http://example.com", ""},
        Case{"http://a", C, "http://a", ""},
        Case{"http://example.com:443", C, "http://example.com:443", ""},  // 443 is not http's default
        Case{"https://example.com:80", C, "https://example.com:80", ""},
        Case{"http://example.com:0", C, "http://example.com:0", ""},
        Case{"https://example.com:1", C, "https://example.com:1", ""},
        Case{"https://example.com:65535", C, "https://example.com:65535", ""},
        Case{"https://xn--bcher-kva.example", C, "https://xn--bcher-kva.example", ""},
        Case{"https://example.com.", C, "https://example.com.", ""},  // the URL Standard keeps the dot
        Case{"https://-foo.example", C, "https://-foo.example", ""},  // CheckHyphens=false
        Case{"https://ab--cd.example", C, "https://ab--cd.example", ""},
        Case{"http://123.example", C, "http://123.example", ""},  // not "ends in a number"
        Case{"http://127.0.0.1:8080", C, "http://127.0.0.1:8080", ""},
        Case{"http://[::1]:8080", C, "http://[::1]:8080", ""},
        Case{"https://[2001:db8::1]", C, "https://[2001:db8::1]", ""},
        Case{"http://[::ffff:102:304]", C, "http://[::ffff:102:304]", ""},
        Case{"http://[1:0:1:0:1:0:1:0]", C, "http://[1:0:1:0:1:0:1:0]", ""},  // lone zeros stay
        Case{long_origin(), C, long_origin(), ""},
        // An all-ASCII host is only lower-cased, whatever UTS #46 says of its "xn--" labels: the
        // URL Standard's domain to ASCII (whatwg/url#914, WPT toascii.json), and what Chromium
        // does, so these are origins a browser sends.
        Case{"https://xn--a.com", C, "https://xn--a.com", ""},                          // not valid punycode
        Case{"https://xn--zn7c.com", C, "https://xn--zn7c.com", ""},                    // decodes to U+FFFD
        Case{"https://xn--1ug.example", C, "https://xn--1ug.example", ""},              // decodes to a lone ZWJ
        Case{"https://xn--8i7caa.example", C, "https://xn--8i7caa.example", ""},        // decodes to fullwidth www
        Case{"http://a.b.c.xn--pokxncvks", C, "http://a.b.c.xn--pokxncvks", ""}),
    case_name);

INSTANTIATE_TEST_SUITE_P(
    AsciiHostsAreOnlyLowerCased, OriginCases,
    testing::Values(Case{"https://XN--A.com", N, "https://xn--a.com", "upper-case letters"},
                    Case{"https://xn--/", N, "https://xn--", "trailing slash"}),
    case_name);

INSTANTIATE_TEST_SUITE_P(
    Repairable, OriginCases,
    testing::Values(
        // IDN hosts become punycode (UTS #46, nontransitional: ß stays ß).
        Case{"https://bücher.example", N, "https://xn--bcher-kva.example", "non-ASCII host"},
        Case{"https://BÜCHER.example", N, "https://xn--bcher-kva.example", "non-ASCII host"},
        Case{"https://faß.example", N, "https://xn--fa-hia.example", "non-ASCII host"},
        Case{"https://☃.net", N, "https://xn--n3h.net", "non-ASCII host"},
        Case{"https://例え.テスト", N, "https://xn--r8jz45g.xn--zckzah", "non-ASCII host"},
        Case{"https://example\xE3\x80\x82" "com", N, "https://example.com", "non-ASCII host"},  // U+3002 dot
        Case{"https://\xEF\xBC\xA5xample.com", N, "https://example.com", "non-ASCII host"},   // fullwidth E
        Case{"https://a\xC2\xAD" "b.example", N, "https://ab.example", "non-ASCII host"},  // soft hyphen ignored
        Case{"https://%E2%98%83", N, "https://xn--n3h", "percent-encoded host"},
        // IPv6: compressed and lower-cased per the URL Standard's serializer.
        Case{"http://[0:0::1]", N, "http://[::1]", "non-canonical IPv6 address"},
        Case{"http://[0:0:0:0:0:0:0:1]:8080", N, "http://[::1]:8080", "non-canonical IPv6 address"},
        Case{"http://[::FFFF:1.2.3.4]", N, "http://[::ffff:102:304]", "non-canonical IPv6 address"},
        Case{"http://[1:0:0:2:0:0:0:3]", N, "http://[1:0:0:2::3]", "non-canonical IPv6 address"},  // longest run
        Case{"http://[1:0:0:2:0:0:3:4]", N, "http://[1::2:0:0:3:4]", "non-canonical IPv6 address"},  // first run
        Case{"http://[2001:DB8::]", N, "http://[2001:db8::]", "non-canonical IPv6 address"},
        // IPv4: hex, octal and short forms become dotted decimal.
        Case{"http://0x7f.1", N, "http://127.0.0.1", "non-canonical IPv4 address"},
        Case{"http://127.1", N, "http://127.0.0.1", "non-canonical IPv4 address"},
        Case{"http://2130706433", N, "http://127.0.0.1", "non-canonical IPv4 address"},
        Case{"http://0177.0.0.1", N, "http://127.0.0.1", "non-canonical IPv4 address"},
        Case{"http://127.0.0.1.", N, "http://127.0.0.1", "non-canonical IPv4 address"},
        Case{"http://0X7F.0.0.1:8080", N, "http://127.0.0.1:8080", "non-canonical IPv4 address"},
        // Case.
        Case{"HTTPS://example.com", N, "https://example.com", "upper-case letters"},
        Case{"HtTp://Example.COM:8080", N, "http://example.com:8080", "upper-case letters"},
        // Whitespace and control characters the parser strips or removes.
        Case{" https://example.com", N, "https://example.com", "surrounding whitespace"},
        Case{"https://example.com\n", N, "https://example.com", "surrounding whitespace"},
        Case{std::string("\x01https://example.com\x00", 21), N, "https://example.com", "surrounding whitespace"},
        Case{"https://exa\tmple.com", N, "https://example.com", "tab or newline"},
        Case{"ht\r\ntps://example.com", N, "https://example.com", "tab or newline"},
        // Ports.
        Case{"http://example.com:80", N, "http://example.com", "default port"},
        Case{"https://example.com:0443", N, "https://example.com", "default port"},
        Case{"https://example.com:08080", N, "https://example.com:8080", "leading zeros in port"},
        Case{"https://example.com:", N, "https://example.com", "empty port"},
        // Percent-encoded hosts are decoded.
        Case{"http://%65xample.com", N, "http://example.com", "percent-encoded host"},
        Case{"http://ex%41mple.com", N, "http://example.com", "percent-encoded host"},
        // Userinfo, with and without a password; the last '@' ends it.
        Case{"https://user:pass@example.com", N, "https://example.com", "credentials"},
        Case{"https://:pass@example.com", N, "https://example.com", "credentials"},
        Case{"https://@example.com", N, "https://example.com", "credentials"},
        Case{"https://a@b@example.com:8443", N, "https://example.com:8443", "credentials"},
        // Slashes: any run of '/' and '\' introduces the authority of a special URL.
        Case{"https:example.com", N, "https://example.com", "missing slashes"},
        Case{"http:/example.com", N, "http://example.com", "missing slashes"},
        Case{"https:///example.com", N, "https://example.com", "extra slashes"},
        Case{"https:\\\\example.com", N, "https://example.com", "backslash"},
        // Path, query, fragment.
        Case{"https://example.com/path", N, "https://example.com", "path"},
        Case{"https://example.com\\", N, "https://example.com", "trailing backslash"},
        Case{"https://example.com?x=1", N, "https://example.com", "query"},
        Case{"https://example.com#top", N, "https://example.com", "fragment"},
        Case{"https://example.com/?#", N, "https://example.com", "trailing slash, query, fragment"},
        Case{"https://example.com./", N, "https://example.com.", "trailing slash"},
        Case{"http://example.com:8080/a?b#c", N, "http://example.com:8080", "path, query, fragment"}),
    case_name);

INSTANTIATE_TEST_SUITE_P(
    Refused, OriginCases,
    testing::Values(
        // Not a URL with a scheme at all.
        Case{"", I, "", "empty"},
        Case{" \t\n", I, "", "empty"},
        Case{"null", I, "", "null"},
        Case{"example.com:443", I, "", "missing scheme"},
        Case{"localhost:3000", I, "", "missing scheme"},
        Case{"//example.com", I, "", "missing scheme"},
        Case{"1http://example.com", I, "", "missing scheme"},
        // Schemes other than http and https.
        Case{"ftp://example.com", I, "", "unsupported scheme"},
        Case{"ws://example.com", I, "", "unsupported scheme"},
        Case{"wss://example.com", I, "", "unsupported scheme"},
        Case{"file:", I, "", "unsupported scheme"},
        Case{"file:///etc/passwd", I, "", "unsupported scheme"},
        Case{"javascript:alert(1)", I, "", "unsupported scheme"},
        Case{"httpx://example.com", I, "", "unsupported scheme"},
        // Empty or missing hosts.
        Case{"http://", I, "", "missing host"},
        Case{"https:///", I, "", "missing host"},
        Case{"http://:80", I, "", "missing host"},
        Case{"https://user@", I, "", "no host"},
        Case{"https://user@/path", I, "", "no host"},
        // Ports.
        Case{"https://example.com:65536", I, "", "port out of range"},
        Case{"https://example.com:99999999999999999999999", I, "", "port out of range"},
        Case{"https://example.com:-1", I, "", "invalid port"},
        Case{"https://example.com:80a", I, "", "invalid port"},
        Case{"https://example.com:8080:80", I, "", "invalid port"},
        Case{"http://[::1]:80:80", I, "", "invalid port"},
        // IPv4 and IPv6.
        Case{"http://256.0.0.1", I, "", "invalid IPv4 address"},
        Case{"http://1.2.3.4.5", I, "", "invalid IPv4 address"},
        Case{"http://foo.0x", I, "", "invalid IPv4 address"},
        Case{"http://foo.123", I, "", "invalid IPv4 address"},
        Case{"http://0x100000000", I, "", "invalid IPv4 address"},
        Case{"http://1..2", I, "", "invalid IPv4 address"},
        Case{"http://[::1", I, "", "unclosed IPv6 address"},
        Case{"http://[::1::2]", I, "", "invalid IPv6 address"},
        Case{"http://[1:2:3:4:5:6:7:8:9]", I, "", "invalid IPv6 address"},
        Case{"http://[::1.2.3.256]", I, "", "invalid IPv6 address"},
        Case{"http://[::1.2.3.04]", I, "", "invalid IPv6 address"},
        Case{"http://[::1]x", I, "", "unclosed IPv6 address"},
        // Forbidden code points and failing IDNA.
        Case{"http://exa mple.com", I, "", "forbidden character in host"},
        Case{"http://exa<mple.com", I, "", "forbidden character in host"},
        Case{"http://exa%00mple.com", I, "", "forbidden character in host"},
        Case{"http://%zz.com", I, "", "forbidden character in host"},
        Case{"http://exa%25mple.com", I, "", "forbidden character in host"},
        Case{"https://www.lookout.net\xE2\xA9\xB4" "80", I, "", "forbidden character in host"},  // ⩴ maps to ::=
        // A host with a non-ASCII character goes through UTS #46 whole: the reason names the label.
        // ("xn--a" is Punycode for U+0080, a control character.)
        Case{"https://xn--a.\xC3\x9F", I, "", "punycode label \"xn--a\" does not decode to a valid label"},
        Case{"https://XN--A.b\xC3\xBC" "cher.example", I, "", "punycode label \"XN--A\" does not decode to a valid"},
        Case{"https://xn--zn7c.b\xC3\xBC" "cher", I, "", "punycode label \"xn--zn7c\" decodes to a label with a disallowed"},
        Case{"https://xn--1ug.\xC3\x9F", I, "", "punycode label \"xn--1ug\" decodes to a label with a misplaced zero width"},
        Case{"https://xn--ls8h=.\xC3\x9F", I, "", "invalid punycode label \"xn--ls8h=\""},
        Case{"https://xn--te\xC5\xA1la", I, "", "punycode label \"xn--te\xC5\xA1la\""},  // not ASCII: not punycode
        Case{"https://\xE2\x80\x8D.example", I, "", "label \"\xE2\x80\x8D\" has a misplaced zero width joiner or non-joiner"},
        Case{"https://\xD9\x8A" "a", I, "", "label \"\xD9\x8A" "a\" has a break of the bidi rule"},
        Case{"https://\xD9\x8A.1", I, "", "host breaks the bidi rule"},  // each label alone is fine
        Case{"https://a\xCD\xB8.net", I, "", "label \"a\xCD\xB8\" has a disallowed character"},  // unassigned U+0378
        Case{"https://\xCC\x81x.example", I, "", "label \"\xCC\x81x\" has a combining mark first"},
        Case{"https://\xC2\xAD", I, "", "host is empty after IDNA mapping"},
        Case{"https://%C0%80", I, "", "not valid UTF-8"},                                       // overlong NUL
        // Not text, or too much of it.
        Case{"https://example.com/\xFF", I, "", "not valid UTF-8"},
        Case{"https://" + std::string(kMaxInputLength, 'a'), I, "", "too long"}),
    case_name);

// ---- Properties ----

TEST(OriginProperties, CanonicalFormIsAFixedPoint) {
  for (const std::string input : {"https://BÜCHER.example/", "http://[0:0::1]:80", "http://0x7f.1:08080?q",
                                  " HTTPS://user:pw@Example.COM.:443/#f", "https:\\\\%65xample.com"}) {
    SCOPED_TRACE(input);
    const Check first = check(input);
    ASSERT_EQ(first.verdict, Verdict::not_canonical);
    const Check second = check(first.canonical);
    EXPECT_EQ(second.verdict, Verdict::canonical) << second.problem;
    EXPECT_EQ(second.canonical, first.canonical);
  }
}

TEST(OriginProperties, StatelessSoDuplicatesAreTheCallersJob) {
  // check() keeps no memory of earlier inputs: refusing a list with the same origin twice (or
  // two spellings of one origin) is policy/'s job, comparing the `canonical` strings.
  const Check a = check("https://example.com");
  const Check b = check("https://example.com");
  const Check c = check("https://EXAMPLE.com/");
  EXPECT_EQ(a.verdict, b.verdict);
  EXPECT_EQ(a.canonical, b.canonical);
  EXPECT_EQ(a.canonical, c.canonical);
}

TEST(OriginProperties, LengthCapIsTheCallers) {
  const std::string origin = long_origin();
  ASSERT_EQ(origin.size(), kMaxOriginLength + 1);
  EXPECT_EQ(check(origin).verdict, Verdict::canonical);
  // Exactly at the input limit is still parsed; one byte more is refused unread.
  const std::string at_limit = "https://" + std::string(kMaxInputLength - 8, 'a');
  EXPECT_EQ(check(at_limit).verdict, Verdict::canonical);
  EXPECT_EQ(check(at_limit + "a").problem, "too long");
}

// ---- Internals with exact answers worth pinning ----

TEST(OriginHost, Ipv6SerializerCompressesTheFirstLongestZeroRun) {
  using detail::Ipv6Address;
  EXPECT_EQ(detail::serialize_ipv6(Ipv6Address{}), "::");
  EXPECT_EQ(detail::serialize_ipv6(Ipv6Address{1, 0, 0, 0, 0, 0, 0, 0}), "1::");
  EXPECT_EQ(detail::serialize_ipv6(Ipv6Address{0, 0, 1, 0, 0, 1, 0, 0}), "::1:0:0:1:0:0");
  EXPECT_EQ(detail::serialize_ipv6(Ipv6Address{0xabcd, 0, 1, 0, 1, 0, 1, 0}), "abcd:0:1:0:1:0:1:0");
}

TEST(OriginHost, Ipv4NumbersInEveryRadix) {
  EXPECT_EQ(detail::parse_ipv4("0x7f.0.0.1"), 0x7f000001u);
  EXPECT_EQ(detail::parse_ipv4("017700000001"), 0x7f000001u);
  EXPECT_EQ(detail::parse_ipv4("0x"), 0u);
  EXPECT_EQ(detail::parse_ipv4("4294967295"), 0xffffffffu);
  EXPECT_EQ(detail::parse_ipv4("4294967296"), std::nullopt);
  EXPECT_EQ(detail::parse_ipv4("1.2.3.08"), std::nullopt);  // 8 is not an octal digit
  EXPECT_TRUE(detail::ends_in_a_number("foo.0x"));
  EXPECT_TRUE(detail::ends_in_a_number("1.2.3."));
  EXPECT_FALSE(detail::ends_in_a_number("foo.0xg"));
  EXPECT_FALSE(detail::ends_in_a_number("."));
}

}  // namespace
}  // namespace bouncer::origin
