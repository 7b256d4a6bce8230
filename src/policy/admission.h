// May this credential open this session? (DESIGN §3). Pure: the door gathers the facts
// (verified claims, revocation state, capacity) and asks here, in the fixed order.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bouncer::policy {

// Every reason the door refuses or ends a session. One mapping (close_reason) turns each
// into the wire's close code and message; the server counts each under counter_name.
enum class Refusal {
  none,
  invalid_api_key,     // malformed, bad signature, unknown kid or key, wrong iss/aud
  token_revoked,       // the token or its parent key is revoked
  token_expired,       // exp passed (leeway included) before this session started
  unknown_model,       // the server does not serve the requested model
  model_not_allowed,   // the token's models do not include it
  origin_not_allowed,  // the token is origin-scoped and Origin is missing or not listed
  capacity,            // the key's or the model's concurrent-session cap is reached
  token_capacity,      // the token's own concurrent-session cap is reached
  upstream_unavailable,
  shutting_down,
  store_unavailable,   // the store has not been read for longer than the staleness window
};

struct CloseReason {
  std::uint16_t code;
  std::string_view message;
};

// 1008 for the permanent refusals (their messages say "not allowed", "Invalid API key" …
// so clients stop retrying), 1013 for every capacity cap and for a store out of reach past the
// staleness window (both: try again later), 1011 for upstream trouble, 1001 while the
// server shuts down.
CloseReason close_reason(Refusal refusal);
std::string_view counter_name(Refusal refusal);

// The JSON text frame sent before a refusal close: {"type":"error","error":"<message>"}.
std::string error_frame(Refusal refusal);

// What a verified credential allows.
struct Grant {
  std::string key_id;
  std::string token_id;  // jti; empty for a permanent key used server-to-server
  std::optional<std::vector<std::string>> models;   // absent: any model
  std::optional<std::vector<std::string>> origins;  // absent: any origin, or none
  std::optional<std::int64_t> max_session_duration;  // seconds
  std::optional<std::int64_t> max_concurrent_sessions;  // the token's own cap on its live sessions
};

// The cap on one token's live sessions: the smaller of the token's own
// (constraints.realtime.maxConcurrentSessions) and the server's (--max-sessions-per-token),
// which is so both the default and the ceiling. 0 = no cap: a permanent key at the door (its
// key's cap covers it), or a token without its own cap on a server configured with none.
std::size_t token_session_cap(const Grant& grant, std::size_t server_cap);

// The scope checks, in DESIGN §3 order: model known → model allowed → Origin allowed.
// `origin` is the request's Origin header (absent when the request had none). Origins
// are compared exactly: browsers send the canonical serialisation that minting enforced.
Refusal check_scope(const Grant& grant, std::string_view model, bool model_known, std::optional<std::string_view> origin);

}  // namespace bouncer::policy
