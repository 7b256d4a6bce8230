#include "server/counting.h"

namespace bouncer::server {

metrics::MintOutcome mint_outcome(const policy::ApiError& error) {
  if (error.http_status == 400) return metrics::MintOutcome::invalid_request;
  for (std::size_t i = 0; i < metrics::kMintOutcomes.size(); ++i) {
    if (metrics::kMintOutcomes[i] == error.code) return static_cast<metrics::MintOutcome>(i);
  }
  return metrics::MintOutcome::other;
}

std::string_view refusal_label(policy::Refusal refusal) {
  constexpr std::string_view kPrefix = "refused_";
  auto name = policy::counter_name(refusal);
  if (name.starts_with(kPrefix)) name.remove_prefix(kPrefix.size());
  return name;
}

void count_refusal(policy::Refusal refusal) {
  // Every refusal has its label in the catalog (tests/unit/server/counting_test.cpp checks).
  if (auto* counter = metrics::catalog().sessions_refused.find(refusal_label(refusal))) counter->add();
}

metrics::EndCause end_cause(const relay::TunnelResult& result) {
  using Ended = relay::TunnelResult::Ended;
  using metrics::EndCause;
  switch (result.how) {
    case Ended::client_closed: return EndCause::client_closed;
    case Ended::upstream_closed: return EndCause::upstream_closed;
    case Ended::client_error: return EndCause::client_error;
    case Ended::upstream_error: return EndCause::upstream_error;
    case Ended::too_big: return EndCause::message_too_big;
    case Ended::protocol_error: return EndCause::protocol_error;
    case Ended::ended_by_server: break;
  }
  if (result.close_code == 1001) return EndCause::shutdown;
  if (result.close_code == 1008) return EndCause::revoked;
  if (result.reason == kMaxSessionDurationReason) return EndCause::max_session_duration;
  return EndCause::ended_by_server;
}

}  // namespace bouncer::server
