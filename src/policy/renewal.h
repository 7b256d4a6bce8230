// Bouncer's own messages inside a session (docs/API.md, "Renewing a session in place"): a text
// message from the client whose JSON `type` starts with "bouncer." is Bouncer's, never the
// upstream's. Today one is understood, {"type":"bouncer.renew","token":"<ek_… or JWT>"}: the
// session's deadline moves to now + the new token's maxSessionDuration (no cap without one),
// once the token passes the door's checks for this session (same parent key, its model and
// Origin allowed, not revoked, not expired). Pure: parsing, the rules and the answers' text.
#pragma once

#include "policy/admission.h"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace bouncer::policy {

inline constexpr std::string_view kRenewType = "bouncer.renew";

struct BouncerMessage {
  std::string type;   // starts with "bouncer."
  std::string token;  // bouncer.renew: the credential; empty when missing or not a string
};

// The message when `text` is one of Bouncer's (a JSON object whose "type" is a string starting
// with "bouncer."), else nullopt: the text is the upstream's. Cheap for the others: only a text
// that mentions "bouncer." is parsed.
std::optional<BouncerMessage> parse_bouncer_message(std::string_view text);

// Why a renewal is refused (its bouncer.renew_failed error), or nullopt when the token may
// renew this session. `verdict` is judge_admission's for the token with the session's model
// and Origin; `session_key_id` the permanent key the session was admitted under.
std::optional<std::string> renewal_refusal(const AdmissionVerdict& verdict, std::string_view session_key_id);

// The answers, each a JSON text message.
// {"type":"bouncer.renewed","deadline":"<RFC 3339>"} (null: the session has no deadline now).
std::string renewed_message(const std::optional<std::string>& deadline_rfc3339);
// {"type":"bouncer.renew_failed","error":"<error>"}
std::string renew_failed_message(std::string_view error);
// {"type":"bouncer.session_expiring","secondsLeft":N}
std::string session_expiring_message(std::int64_t seconds_left);
// {"type":"bouncer.error","error":"Unknown message type"}: a bouncer.* type this server does not know.
std::string unknown_message_error();

// How long before a deadline the session_expiring warning goes: 30 s, or half the session's
// cap when that is shorter (a 10 s session is warned 5 s before its end).
std::chrono::seconds expiry_warning_lead(std::chrono::seconds cap);

}  // namespace bouncer::policy
