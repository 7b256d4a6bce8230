// RFC 9112's rules on the request head that Beast's parser lets through: each one is checked
// here on what Beast itself makes of the bytes, so the rule and the parser are seen together.
#include "edge/http_strictness.h"

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include <gtest/gtest.h>

#include <string>

namespace bouncer::edge {
namespace {

namespace http = boost::beast::http;

struct Parsed {
  boost::system::error_code ec;  // Beast's own verdict
  http::request<http::string_body> request;
};

Parsed parse(const std::string& bytes) {
  http::request_parser<http::string_body> parser;
  parser.eager(true);
  Parsed out;
  std::string_view rest = bytes;
  while (!out.ec && !parser.is_done() && !rest.empty()) {
    const auto used = parser.put(boost::asio::buffer(rest.data(), rest.size()), out.ec);
    if (out.ec == http::error::need_more) {
      out.ec = {};
      break;
    }
    rest.remove_prefix(used);
  }
  if (!out.ec && !parser.is_done()) parser.put_eof(out.ec);
  if (!out.ec) out.request = parser.release();
  return out;
}

// Beast accepts it, and the rule refuses it.
void expect_refused(const std::string& head_and_body, const std::string& why) {
  SCOPED_TRACE(head_and_body);
  const auto end = end_of_head(head_and_body);
  ASSERT_NE(end, std::string::npos);
  const auto raw = check_raw_head(std::string_view(head_and_body).substr(0, end));
  const auto parsed = parse(head_and_body);
  ASSERT_FALSE(parsed.ec) << "Beast refuses it already (" << parsed.ec.message() << "): no rule of ours needed";
  const auto fields = check_header_fields(parsed.request, parsed.request.version());
  ASSERT_TRUE(raw || fields) << "accepted";
  EXPECT_EQ(std::string(raw ? *raw : *fields), why);
}

void expect_accepted(const std::string& bytes) {
  SCOPED_TRACE(bytes);
  const auto end = end_of_head(bytes);
  ASSERT_NE(end, std::string::npos);
  EXPECT_FALSE(check_raw_head(std::string_view(bytes).substr(0, end)));
  const auto parsed = parse(bytes);
  ASSERT_FALSE(parsed.ec) << parsed.ec.message();
  const auto v = check_header_fields(parsed.request, parsed.request.version());
  EXPECT_FALSE(v) << *v;
}

TEST(HttpStrictness, OrdinaryRequestsPass) {
  expect_accepted("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n");
  expect_accepted("POST /v1/client/tokens HTTP/1.1\r\nHost: bouncer.example.com\r\nContent-Length: 2\r\n\r\n{}");
  expect_accepted("POST /v1/client/tokens HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n");
  expect_accepted("POST /v1/client/tokens HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\n\r\n0\r\n\r\n");
  expect_accepted("GET / HTTP/1.0\r\n\r\n");  // HTTP/1.0 needs no Host
  expect_accepted("GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n");
  expect_accepted("GET / HTTP/1.1\r\nHost: \r\n\r\n");  // empty: allowed when the target has no authority
  expect_accepted("GET / HTTP/1.1\r\nHost: x\r\nX-Long: a b\tc\r\n\r\n");  // spaces inside a value are no fold
}

TEST(HttpStrictness, Host) {
  expect_refused("GET / HTTP/1.1\r\n\r\n", "Missing Host header");
  expect_refused("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", "More than one Host header");
  expect_refused("GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", "More than one Host header");
  expect_refused("GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", "More than one Host header");
  for (const char* bad : {"a b", "a/b", "a@b", "[::1", "[::1]x", "[zz::1]", "a:80x", "a:b:c", "%zz", "a\"b"}) {
    expect_refused(std::string("GET / HTTP/1.1\r\nHost: ") + bad + "\r\n\r\n", "Invalid Host header");
  }
}

TEST(HttpStrictness, TransferEncodingOtherThanChunked) {
  const std::string head = "POST /v1/client/tokens HTTP/1.1\r\nHost: x\r\n";
  for (const char* coding : {"chunked, identity", "xchunked", "gzip", "identity", "gzip, chunked", "chunked;a=b", "chunkedx"}) {
    expect_refused(head + "Transfer-Encoding: " + coding + "\r\n\r\n0\r\n\r\n", "Transfer-Encoding other than chunked");
  }
  expect_refused(head + "Transfer-Encoding: identity\r\nContent-Length: 2\r\n\r\n{}",
                 "Transfer-Encoding together with Content-Length");
  expect_refused(head + "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                 "More than one Transfer-Encoding header");
  expect_refused("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                 "Transfer-Encoding in an HTTP/1.0 request");
}

// What Beast refuses on its own (these need no rule of ours, and must stay refused).
TEST(HttpStrictness, BeastRefusesTheRest) {
  const std::string head = "POST / HTTP/1.1\r\nHost: x\r\n";
  EXPECT_TRUE(parse(head + "Content-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n{}").ec);
  EXPECT_TRUE(parse(head + "Transfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n{}").ec);
  EXPECT_TRUE(parse(head + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n").ec);
  EXPECT_TRUE(parse(head + "Content-Length: 1\r\nContent-Length: 2\r\n\r\n{}").ec);
  EXPECT_TRUE(parse("GET / HTTP/1.1\r\n Host: x\r\n\r\n").ec);  // whitespace before the first field
  EXPECT_TRUE(parse("GET / HTTP/1.1\r\nHost : x\r\n\r\n").ec);  // whitespace before the colon
  EXPECT_TRUE(parse("GET / HTTP/1.1\nHost: x\n\n").ec);         // bare LF
}

TEST(HttpStrictness, ObsoleteLineFolding) {
  const std::string why = "Obsolete line folding (a header line starting with a space or tab)";
  expect_refused("GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n", why);
  expect_refused("GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n\tb\r\n\r\n", why);
  expect_refused("GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n , identity\r\n\r\n0\r\n\r\n", why);
  // The folded line is the head's last: still seen.
  expect_refused("GET / HTTP/1.1\r\nHost: x\r\n y\r\n\r\n", why);
}

TEST(HttpStrictness, EndOfHead) {
  EXPECT_EQ(end_of_head("GET / HTTP/1.1\r\nHost: x\r\n\r\nbody"), 27u);
  EXPECT_EQ(end_of_head("GET / HTTP/1.1\r\nHost: x\r\n\r"), std::string::npos);
  EXPECT_EQ(end_of_head("GET / HTTP/1.1\r\nHost: x\r\n"), std::string::npos);
  EXPECT_EQ(end_of_head("GET / HTTP/1.1\nHost: x\n\n"), 24u);
  EXPECT_EQ(end_of_head(""), std::string::npos);
}

TEST(HttpStrictness, HostValues) {
  for (const char* good : {"", "a", "a.example.com", "127.0.0.1", "127.0.0.1:0", "x:", "[::1]", "[2001:db8::1]:443",
                           "[v1.fe80::a+en1]", "xn--bcher-kva.example", "a%20b", "a!$&'()*+,;=b"}) {
    EXPECT_TRUE(is_valid_host_value(good)) << good;
  }
  for (const char* bad : {" a", "a b", "[::1", "[::1]:x", "[fe80::1%25en0]", "a:1:2", "a/b", "a?b", "a#b", "a@b", "<a>"}) {
    EXPECT_FALSE(is_valid_host_value(bad)) << bad;
  }
}

}  // namespace
}  // namespace bouncer::edge
