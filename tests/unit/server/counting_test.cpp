// The server's events in the metric catalog's terms.
#include "server/counting.h"

#include <gtest/gtest.h>

#include <set>

namespace bouncer::server {
namespace {

using policy::Refusal;

// Every refusal the door can give (a new one gets a counter_name, or -Wswitch fails the build)
// has its `reason` label in the catalog, and no two share one: a missing label would lose its
// refusals from /metrics.
TEST(Counting, EveryRefusalHasItsOwnLabel) {
  std::set<std::string_view> labels;
  int refusals = 0;
  for (int i = 0; i < 256; ++i) {
    const auto refusal = static_cast<Refusal>(i);
    if (refusal == Refusal::none || policy::counter_name(refusal) == "refused_other") continue;
    ++refusals;
    const auto label = refusal_label(refusal);
    SCOPED_TRACE(std::string(policy::counter_name(refusal)));
    EXPECT_NE(metrics::catalog().sessions_refused.find(label), nullptr) << "no label " << label << " in the catalog";
    EXPECT_TRUE(labels.insert(label).second);
  }
  EXPECT_EQ(static_cast<std::size_t>(refusals), metrics::kRefusalReasons.size());
}

TEST(Counting, RefusalLabelIsTheLogReasonWithoutPrefix) {
  EXPECT_EQ(refusal_label(Refusal::invalid_api_key), "invalid_api_key");
  EXPECT_EQ(refusal_label(Refusal::capacity), "capacity");
  EXPECT_EQ(refusal_label(Refusal::store_unavailable), "store_unavailable");
}

TEST(Counting, CountRefusalBumpsExactlyItsCounter) {
  auto& refused = metrics::catalog().sessions_refused;
  const auto origin_before = refused.find("origin_not_allowed")->value();
  const auto capacity_before = refused.find("capacity")->value();
  count_refusal(Refusal::origin_not_allowed);
  count_refusal(Refusal::origin_not_allowed);
  EXPECT_EQ(refused.find("origin_not_allowed")->value(), origin_before + 2);
  EXPECT_EQ(refused.find("capacity")->value(), capacity_before);
}

TEST(Counting, MintOutcomes) {
  using metrics::MintOutcome;
  auto outcome = [](int status, std::string code) {
    return mint_outcome({status, "t", std::move(code), "m", {}});
  };
  EXPECT_EQ(outcome(400, "origin_not_canonical"), MintOutcome::invalid_request);
  EXPECT_EQ(outcome(400, "invalid_json"), MintOutcome::invalid_request);
  EXPECT_EQ(outcome(401, "missing_api_key"), MintOutcome::missing_api_key);
  EXPECT_EQ(outcome(401, "invalid_api_key"), MintOutcome::invalid_api_key);
  EXPECT_EQ(outcome(403, "client_token_cannot_mint"), MintOutcome::client_token_cannot_mint);
  EXPECT_EQ(outcome(403, "api_key_revoked"), MintOutcome::api_key_revoked);
  EXPECT_EQ(outcome(415, "unsupported_media_type"), MintOutcome::unsupported_media_type);
  EXPECT_EQ(outcome(503, "no_signing_key"), MintOutcome::no_signing_key);
  EXPECT_EQ(outcome(503, "store_unavailable"), MintOutcome::store_unavailable);
  EXPECT_EQ(outcome(500, "something_new"), MintOutcome::other);
}

TEST(Counting, EndCauses) {
  using Ended = relay::TunnelResult::Ended;
  using metrics::EndCause;
  auto cause = [](Ended how, std::uint16_t code, std::string reason = {}) {
    relay::TunnelResult r;
    r.how = how;
    r.close_code = code;
    r.reason = std::move(reason);
    return end_cause(r);
  };
  EXPECT_EQ(cause(Ended::client_closed, 1000), EndCause::client_closed);
  EXPECT_EQ(cause(Ended::upstream_closed, 1011), EndCause::upstream_closed);
  EXPECT_EQ(cause(Ended::client_error, 1001), EndCause::client_error);
  EXPECT_EQ(cause(Ended::upstream_error, 1011), EndCause::upstream_error);
  EXPECT_EQ(cause(Ended::too_big, 1009), EndCause::message_too_big);
  EXPECT_EQ(cause(Ended::protocol_error, 1002), EndCause::protocol_error);
  EXPECT_EQ(cause(Ended::ended_by_server, 1001, "Server shutting down"), EndCause::shutdown);
  EXPECT_EQ(cause(Ended::ended_by_server, 1008, "Token revoked"), EndCause::revoked);
  EXPECT_EQ(cause(Ended::ended_by_server, 1000, std::string(kMaxSessionDurationReason)), EndCause::max_session_duration);
  EXPECT_EQ(cause(Ended::ended_by_server, 1000, "something else"), EndCause::ended_by_server);
}

}  // namespace
}  // namespace bouncer::server
