// What may be logged: credential shapes are redacted wherever they are, and a request target
// keeps only the values known to be harmless.
#include "log/log.h"
#include "log/redact.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace bouncer::log {
namespace {

// Shaped like the real ones: `sk_` + 43 base64url characters; a compact JWS.
const std::string kBody = "Q2x5ZGVfU2VjcmV0X0tleV8wMTIzNDU2Nzg5YWJjZGV";
const std::string kSk = "sk_" + kBody;
const std::string kJwt =
    "eyJhbGciOiJFZERTQSIsImtpZCI6IkFiQ2RFZkdoSWpLbE1uT3AiLCJ0eXAiOiJKV1QifQ"
    ".eyJhdWQiOiJodHRwOi8vMTI3LjAuMC4xOjgwODAiLCJleHAiOjE3MDAwMDA2MDAsImlhdCI6MTcwMDAwMDAwMH0"
    ".dGhpcy1pcy1ub3QtYS1yZWFsLXNpZ25hdHVyZS1idXQtaXQtaGFzLXRoZS1yaWdodC1sZW5ndGgtZm9yLWVkMjU1MTk";
const std::string kEk = "ek_" + kJwt;

void expect_no_secret(const std::string& out, const std::string& in) {
  EXPECT_EQ(out.find(kBody), std::string::npos) << in << " → " << out;
  for (const auto& part : {kJwt.substr(0, 40), kJwt.substr(kJwt.rfind('.') + 1, 40)}) {
    EXPECT_EQ(out.find(part), std::string::npos) << in << " → " << out;
  }
  EXPECT_FALSE(contains_secret(out)) << out;
}

TEST(RedactSecrets, EveryShapeWherever) {
  const std::vector<std::string> inputs{
      kSk,
      kEk,
      kJwt,
      "adm_" + kBody,
      "whsec_" + kBody,
      "key " + kSk + " in a sentence.",
      "'" + kSk + "' is not a valid origin",
      "Bearer " + kEk,
      "bouncer.key." + kEk,
      "xyz" + kSk,          // glued to letters in front
      "a_" + kSk,           // glued to an underscore
      "9" + kEk,
      kJwt + ".trailing",
      "api_key=" + kSk + "&model=echo",
      // header and payload without the signature (appended: `literal + std::string&&` trips GCC 12's
      // false -Wrestrict under -O3, PR 105329, and CI builds with -Werror)
      std::string("\"").append(kJwt.substr(0, kJwt.rfind('.'))).append("\""),
      kBody,                                         // the random part alone
      "[" + kSk + "," + kEk + "]",
  };
  for (const auto& in : inputs) {
    EXPECT_TRUE(contains_secret(in)) << in;
    expect_no_secret(redact_secrets(in), in);
  }
}

TEST(RedactSecrets, KeepsPrefixAndSurroundings) {
  EXPECT_EQ(redact_secrets("got " + kSk + ", expected"), "got sk_REDACTED, expected");
  EXPECT_EQ(redact_secrets("x=" + kEk + ";y"), "x=ek_REDACTED;y");
  EXPECT_EQ(redact_secrets(kJwt), "REDACTED");
  EXPECT_EQ(redact_secrets("a " + kSk + " b " + kJwt + " c"), "a sk_REDACTED b REDACTED c");
}

TEST(RedactSecrets, LeavesOrdinaryTextAlone) {
  for (const std::string s :
       {"", "listening", "127.0.0.1:8080", "2001:db8::1", "http://127.0.0.1:8080/v1/stream?model=echo",
        "key_c388a60bab541b89", "sess_gAP2lEF7Yac44FOV", "01a2094421a3dvHU1gBaV_i--slT", "task_manager",
        "risk_assessment", "disk_quota", "sk_", "ek_short", "www.example.com", "a.b.c", "Token revoked",
        "/tmp/bouncer-data/signing-keys/AbCdEfGh12345678.key", "gpt-4o-realtime-preview-2024-12-17",
        "BOUNCER_UPSTREAM_CONNECT_TIMEOUT_SECONDS", "Invalid API key", "Concurrent session limit reached",
        "models.up.headers", "'https://app.example.com' is not a canonical origin"}) {
    EXPECT_FALSE(contains_secret(s)) << s;
    EXPECT_EQ(redact_secrets(s), s);
  }
}

TEST(RedactUrl, OnlyHarmlessValuesSurvive) {
  EXPECT_EQ(redact_url("/v1/stream?model=echo&api_key=" + kEk), "/v1/stream?model=echo&api_key=REDACTED");
  EXPECT_EQ(redact_url("/v1/stream?token=" + kJwt + "&model=demo"), "/v1/stream?token=REDACTED&model=demo");
  EXPECT_EQ(redact_url("/x?key=a&access_token=b&keep=c"), "/x?key=REDACTED&access_token=REDACTED&keep=REDACTED");
  EXPECT_EQ(redact_url("/v1/stream?model=echo&resume=abcdefgh12345678"), "/v1/stream?model=echo&resume=abcdefgh12345678");
}

// The spellings a client may use by mistake: none of them shows the credential.
TEST(RedactUrl, EveryMisspelledCredentialParameter) {
  for (const auto& credential : {kSk, kEk, kJwt, kBody}) {
    for (const std::string name :
         {"api_key", "apiKey", "apikey", "API_KEY", "api%5Fkey", ";api_key", "api_key%00", "token", "Token",
          "access_token", "key", "model%00", "Model", "MODEL", "a", ""}) {
      const auto target = "/v1/stream?model=echo&" + name + "=" + credential;
      const auto out = redact_url(target);
      expect_no_secret(out, target);
      EXPECT_NE(out.find("model=echo"), std::string::npos) << out;
    }
    // Glued to the model's value, or as the model itself, plain or percent-encoded.
    for (const std::string& target :
         {"/v1/stream?model=echo;api_key=" + credential, "/v1/stream?model=" + credential,
          "/v1/stream?model=%73k_" + kBody, "/v1/stream?model=echo%26api_key%3D" + credential,
          "/v1/stream?" + credential, "/v1/stream?" + credential + "=1", "/v1/stream/" + credential + "?model=echo",
          "/v1/stream?model=echo&api_key=" + credential + "#frag", "/v1/stream?model=echo&&api_key=" + credential}) {
      expect_no_secret(redact_url(target), target);
    }
  }
}

TEST(RedactUrl, NamesStayVisibleForWhoeverDebugs) {
  EXPECT_EQ(redact_url("/v1/stream?model=echo&apiKey=" + kSk), "/v1/stream?model=echo&apiKey=REDACTED");
  EXPECT_EQ(redact_url("/v1/stream?api%5Fkey=" + kSk), "/v1/stream?api%5Fkey=REDACTED");
  EXPECT_EQ(redact_url("/v1/stream?" + kSk), "/v1/stream?REDACTED");
  EXPECT_EQ(redact_url("/v1/stream?;api_key=x"), "/v1/stream?REDACTED=REDACTED");
  EXPECT_EQ(redact_url("/v1/stream?model=" + std::string(200, 'a')), "/v1/stream?model=REDACTED");  // too long
  EXPECT_EQ(redact_url("/v1/stream?model=a%0Ab"), "/v1/stream?model=REDACTED");  // a control character
}

TEST(RedactUrl, LeavesOtherTargetsAlone) {
  EXPECT_EQ(redact_url("/healthz"), "/healthz");
  EXPECT_EQ(redact_url("/a?model=echo"), "/a?model=echo");
  EXPECT_EQ(redact_url("/a?api_key"), "/a?api_key");  // no value: nothing to hide
  EXPECT_EQ(redact_url("/a?api_key="), "/a?api_key=");
  EXPECT_EQ(redact_url("/a?"), "/a?");
}

// The log layer redacts every string field, whatever its name and format.
TEST(FormatLine, RedactsEveryStringField) {
  for (auto format : {Format::text, Format::json}) {
    const auto line = format_line(format, Level::info, "T", "e",
                                  {{"model", kSk}, {"error", "bad token " + kEk}, {"target", "/v1/stream?x=" + kJwt},
                                   {"n", 3}});
    expect_no_secret(line, "format_line");
    EXPECT_NE(line.find("sk_REDACTED"), std::string::npos) << line;
    EXPECT_NE(line.find("ek_REDACTED"), std::string::npos) << line;
  }
}

}  // namespace
}  // namespace bouncer::log
