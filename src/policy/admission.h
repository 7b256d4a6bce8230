// May this credential open this session? Pure: the door (and `bouncer tokens inspect`)
// gathers the facts from one snapshot of the state and asks here, in the fixed order.
#pragma once

#include "policy/credential.h"
#include "token/jwt.h"

#include <cstddef>
#include <cstdint>
#include <functional>
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
  address_penalised,   // the client's address sent too many invalid credentials lately
  token_used_up,       // every admission the token's maxUses allows has been made
  resume_in_use,       // another connection with the same resume id is live
  resume_not_allowed,  // the resume id is malformed
};

struct CloseReason {
  std::uint16_t code;
  std::string_view message;
};

// 1008 for the permanent refusals (their messages say "not allowed", "Invalid API key" …
// so clients stop retrying), 1013 for every capacity cap, for a store out of reach past the
// staleness window and for an address serving a penalty (all: try again later), 1011 for upstream trouble, 1001 while the
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
  std::optional<std::int64_t> max_uses;                 // admissions the token allows in all
  std::int64_t expires_at = 0;                          // a token's exp (Unix seconds); 0 for a key
};

// The cap on one token's live sessions: the smaller of the token's own
// (constraints.realtime.maxConcurrentSessions) and the server's (--max-sessions-per-token),
// which is so both the default and the ceiling. 0 = no cap: a permanent key at the door (its
// key's cap covers it), or a token without its own cap on a server configured with none.
std::size_t token_session_cap(const Grant& grant, std::size_t server_cap);

// The scope checks, in order: model known → model allowed → Origin allowed.
// `origin` is the request's Origin header (absent when the request had none). Origins
// are compared exactly: browsers send the canonical serialisation that minting enforced.
Refusal check_scope(const Grant& grant, std::string_view model, bool model_known, std::optional<std::string_view> origin);

// ---- The verdict: every check that depends on the request and the state ----

// A permanent key as admission sees it in a state snapshot.
struct KeyStanding {
  std::string id;
  bool revoked = false;
};

// What a verdict reads besides the request: one snapshot of the state (keys and their
// revocations, the published signing keys, the models served) and the time. The door and
// `bouncer tokens inspect` fill it from the same kind of snapshot (server/verdict.h), so a
// credential gets one verdict whichever asks.
struct AdmissionFacts {
  bool state_fresh = true;  // the snapshot was confirmed current within the staleness window
  std::function<std::optional<KeyStanding>(std::string_view secret)> key_by_secret;
  std::function<std::optional<KeyStanding>(std::string_view key_id)> key_by_id;
  // Header, signature and claims against the published keys, the issuer and the audience.
  std::function<token::Verified(std::string_view jwt)> verify_token;
  std::function<bool(std::string_view model)> serves_model;
  std::int64_t now = 0;  // Unix seconds
  std::int64_t leeway_seconds = 0;
};

struct AdmissionRequest {
  std::string_view credential;
  // The model asked for ("" when the request named none); std::nullopt judges the credential
  // alone, without the scope checks.
  std::optional<std::string_view> model;
  std::optional<std::string_view> origin;  // the Origin header; absent when there was none
};

struct AdmissionVerdict {
  Refusal refusal = Refusal::none;
  Grant grant;                          // what the credential allows, as far as it was authenticated
  std::optional<token::Claims> claims;  // a client token's claims, once its signature held
  std::string reason;                   // why, for operators (logs, tokens inspect); never sent to a client
};

// A resume id (the door's `resume` query parameter): 16–64 characters of A–Z, a–z, 0–9, '-'
// and '_', so that it is unguessable enough to be the client's own and safe in logs and keys.
bool valid_resume_id(std::string_view id);

// A credential longer than this is refused before anything else looks at it.
inline constexpr std::size_t kMaxCredentialLength = token::kMaxTokenLength + kClientKeyPrefix.size();

// The checks in order, the first failure being the verdict: a credential is presented and
// not too long → the state is fresh → its form → a permanent key: known by its secret → not
// revoked; a client token: verifies → its parent key is known → not revoked → its time →
// the scope (check_scope). What only the door can know comes after it: capacity, shutdown,
// the upstream.
AdmissionVerdict judge_admission(const AdmissionRequest& request, const AdmissionFacts& facts);

}  // namespace bouncer::policy
