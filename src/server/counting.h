// What the server counts, in the metric catalog's terms (metrics/catalog.h): each event of a
// mint or a session maps to one label of one counter here, and nowhere else.
#pragma once

#include "metrics/catalog.h"
#include "policy/admission.h"
#include "policy/api_error.h"
#include "relay/tunnel.h"

#include <string_view>

namespace bouncer::server {

// `issued` is counted by the caller; a refusal by its error code, every 400 of the mint
// options as `invalid_request`, a code the catalog does not list as `other`.
metrics::MintOutcome mint_outcome(const policy::ApiError& error);
inline void count_mint(metrics::MintOutcome outcome) { metrics::catalog().mints[outcome].add(); }

// A refusal's `reason` label: its name in the log (`refused_capacity`) without `refused_`.
std::string_view refusal_label(policy::Refusal refusal);
void count_refusal(policy::Refusal refusal);

// The close reason the door sends when a token's maxSessionDuration ends its session.
inline constexpr std::string_view kMaxSessionDurationReason = "max_session_duration";

// Why a relayed session ended. The server's own endings are told apart by the close they sent:
// 1001 at shutdown, 1008 on revocation, the max_session_duration reason at the deadline.
metrics::EndCause end_cause(const relay::TunnelResult& result);

}  // namespace bouncer::server
