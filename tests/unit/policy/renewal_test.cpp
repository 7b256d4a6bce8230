#include "policy/renewal.h"

#include <boost/json/parse.hpp>
#include <gtest/gtest.h>

#include <string>

namespace bouncer::policy {
namespace {

TEST(BouncerMessages, OnlyJsonObjectsWhoseTypeStartsWithBouncerAreBouncers) {
  const auto renew = parse_bouncer_message(R"({"type":"bouncer.renew","token":"ek_abc"})");
  ASSERT_TRUE(renew);
  EXPECT_EQ(renew->type, "bouncer.renew");
  EXPECT_EQ(renew->token, "ek_abc");
  // Whitespace, member order and other members change nothing.
  const auto spaced = parse_bouncer_message(" {\n \"token\" : \"eyJ.x.y\", \"extra\": 1, \"type\": \"bouncer.renew\" } ");
  ASSERT_TRUE(spaced);
  EXPECT_EQ(spaced->token, "eyJ.x.y");
  const auto other = parse_bouncer_message(R"({"type":"bouncer.something"})");
  ASSERT_TRUE(other);
  EXPECT_EQ(other->type, "bouncer.something");
  EXPECT_EQ(other->token, "");
  const auto token_not_string = parse_bouncer_message(R"({"type":"bouncer.renew","token":42})");
  ASSERT_TRUE(token_not_string);
  EXPECT_EQ(token_not_string->token, "");
  for (const char* upstreams : {"hello", R"({"type":"response.create"})", R"({"type":"response.create","text":"bouncer.renew"})",
                                R"(["bouncer.renew"])", R"({"type":"Bouncer.renew"})", R"({"type":["bouncer.renew"]})",
                                R"({"type":"bouncer.renew")", R"("bouncer.renew")", ""}) {
    EXPECT_FALSE(parse_bouncer_message(upstreams)) << upstreams;
  }
}

TEST(BouncerMessages, AnswersAreJson) {
  const auto renewed = boost::json::parse(renewed_message(std::string("2026-12-08T00:00:00Z"))).as_object();
  EXPECT_EQ(renewed.at("type").as_string(), "bouncer.renewed");
  EXPECT_EQ(renewed.at("deadline").as_string(), "2026-12-08T00:00:00Z");
  EXPECT_TRUE(boost::json::parse(renewed_message(std::nullopt)).as_object().at("deadline").is_null());
  const auto failed = boost::json::parse(renew_failed_message("a \"quoted\" error")).as_object();
  EXPECT_EQ(failed.at("type").as_string(), "bouncer.renew_failed");
  EXPECT_EQ(failed.at("error").as_string(), "a \"quoted\" error");
  EXPECT_EQ(session_expiring_message(5), R"({"type":"bouncer.session_expiring","secondsLeft":5})");
  EXPECT_EQ(boost::json::parse(unknown_message_error()).as_object().at("type").as_string(), "bouncer.error");
}

TEST(BouncerMessages, TheWarningLeadIsThirtySecondsOrHalfTheCap) {
  using std::chrono::seconds;
  EXPECT_EQ(expiry_warning_lead(seconds(10)), seconds(5));
  EXPECT_EQ(expiry_warning_lead(seconds(59)), seconds(29));
  EXPECT_EQ(expiry_warning_lead(seconds(60)), seconds(30));
  EXPECT_EQ(expiry_warning_lead(seconds(3600)), seconds(30));
}

AdmissionVerdict admitted(std::string key_id, std::string token_id) {
  AdmissionVerdict v;
  v.grant.key_id = std::move(key_id);
  v.grant.token_id = std::move(token_id);
  return v;
}

TEST(Renewal, TheDoorsRefusalsThenTheKeyThenAToken) {
  AdmissionVerdict refused;
  refused.refusal = Refusal::origin_not_allowed;
  EXPECT_EQ(renewal_refusal(refused, "key_a"), "Origin not allowed");
  refused.refusal = Refusal::token_expired;
  EXPECT_EQ(renewal_refusal(refused, "key_a"), "Token expired");
  EXPECT_EQ(renewal_refusal(admitted("key_b", "jti"), "key_a"), "Token of another key not allowed");
  EXPECT_EQ(renewal_refusal(admitted("key_a", ""), "key_a"), "Invalid API key") << "a permanent key renews nothing";
  EXPECT_EQ(renewal_refusal(admitted("key_a", "jti"), "key_a"), std::nullopt);
}

TEST(ResumeIds, SixteenToSixtyFourUrlSafeCharacters) {
  EXPECT_TRUE(valid_resume_id(std::string(16, 'a')));
  EXPECT_TRUE(valid_resume_id(std::string(64, 'Z')));
  EXPECT_TRUE(valid_resume_id("abc-DEF_0123456789"));
  EXPECT_FALSE(valid_resume_id(std::string(15, 'a')));
  EXPECT_FALSE(valid_resume_id(std::string(65, 'a')));
  EXPECT_FALSE(valid_resume_id("abcdefghijklmnop!"));
  EXPECT_FALSE(valid_resume_id("abcdefghijklmnop "));
  EXPECT_FALSE(valid_resume_id("abcdefghijklmnop\xc3\xa9"));
  EXPECT_FALSE(valid_resume_id(""));
}

}  // namespace
}  // namespace bouncer::policy
