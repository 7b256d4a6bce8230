// Keeping secrets out of logs and error messages. Two rules, applied in two places:
//   - whatever looks like a credential is replaced, wherever it appears (every string field of
//     every log line goes through redact_secrets(), and so does every HTTP error message);
//   - a request target is logged with the value of every query parameter replaced, except the
//     few known to be harmless (redact_url()).
// Pure: no I/O, no state.
#pragma once

#include <string>
#include <string_view>

namespace bouncer::log {

inline constexpr std::string_view kRedacted = "REDACTED";

// True when `text` holds something shaped like a credential:
//   - `sk_`, `ek_`, `adm_` or `whsec_` followed by at least 12 base64url characters (at least 24
//     when the prefix is glued to a letter or digit before it, as in `tasks_…`);
//   - a base64url-encoded JSON object (`eyJ…`, 16 characters or more): a JWT or a piece of one;
//   - three dot-separated base64url segments of 16 characters or more each (a compact JWS);
//   - a run of 32 or more base64url characters mixing upper case, lower case and digits (a
//     random secret without its prefix).
bool contains_secret(std::string_view text);

// `text` with each such credential replaced: the prefix is kept (`sk_REDACTED`), so a reader
// still sees which kind of credential was there; the other shapes become `REDACTED`.
std::string redact_secrets(std::string_view text);

// The target with its query made safe to log: a parameter's value is kept only when its name
// is harmless (`model`, `resume`) and its decoded value is short, printable and holds no
// credential; every other value becomes `REDACTED`. A parameter name is kept when it is short
// and looks like a name (so `apiKey=` stays visible for whoever debugs a refusal), else it
// becomes `REDACTED` too. The path goes through redact_secrets().
std::string redact_url(std::string_view target);

}  // namespace bouncer::log
