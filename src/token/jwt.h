// Client tokens: compact JWS (RFC 7515) JWTs (RFC 7519) signed with Ed25519 (RFC 8037).
// Pure: no I/O, no clock (the caller passes `now`).
#pragma once

#include "crypto/crypto.h"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bouncer::token {

inline constexpr std::size_t kMaxTokenLength = 16 * 1024;  // checked before any parsing
inline constexpr std::size_t kMaxKidLength = 64;

// The claims Bouncer puts in a client token. Metadata is deliberately absent: the browser
// can read a JWT, so metadata lives server-side under `jti`.
struct Claims {
  std::string iss;
  std::string aud;
  std::string sub;  // id of the permanent key that minted the token
  std::string jti;
  std::int64_t iat = 0;
  std::int64_t exp = 0;
  std::optional<std::vector<std::string>> models;   // claim "models"; absent = any model
  std::optional<std::vector<std::string>> origins;  // claim "origins"; absent = any origin
  std::optional<std::int64_t> max_session_duration;  // claim "max_session_duration", seconds
  // Claim "max_concurrent_sessions": live sessions of this token at a time. Absent: the
  // server's own per-token cap applies.
  std::optional<std::int64_t> max_concurrent_sessions;
  // Claim "max_uses": admissions this token allows in all, counted in the store. Absent: no limit.
  std::optional<std::int64_t> max_uses;

  bool operator==(const Claims&) const = default;
};

// Header {"alg":"EdDSA","typ":"JWT","kid":kid}; returns header.payload.signature.
// Throws std::invalid_argument when `kid` is not 1..kMaxKidLength printable ASCII characters
// (0x21-0x7E) or when `claims` break the rules verify() enforces (non-empty strings of at most
// 256 bytes, 0 < iat < exp < 2^40, at most 20 list entries), so it never emits a token that
// verify() would refuse.
std::string sign(const Claims& claims, std::string_view kid, const crypto::SecretKey& key);

enum class Status {
  ok,
  malformed,              // length, segments, base64url, UTF-8, JSON, duplicate keys, types
  unsupported_algorithm,  // alg other than EdDSA / Ed25519, or typ other than JWT
  forbidden_header,       // crit, jwk, jku, x5u, x5c or b64 present
  unknown_key,            // kid missing, not a printable-ASCII string of 1..64, or not found
  bad_signature,
  invalid_claims,         // a required claim missing or out of range
  wrong_issuer,
  wrong_audience,
};

// Returns the public key for `kid`, or nullptr when unknown. Called at most once.
using KeyLookup = std::function<const crypto::PublicKey*(std::string_view kid)>;

struct VerifyOptions {
  std::string issuer;    // required value of "iss"
  std::string audience;  // required value of "aud" (a string, or an array containing it)
};

struct Verified {
  Status status = Status::malformed;
  Claims claims;      // filled when status == ok (default-constructed otherwise)
  std::string kid;    // filled once the header has parsed (if it holds a well-formed kid)
  std::string detail; // for logs and `tokens inspect`; never sent to a client
};

// Verifies structure, header, signature and claim types. Does NOT check time: expiry is a
// separate step in admission order (docs/API.md, "Admission"), see check_time().
// The header must carry typ "JWT" exactly (absent typ is refused: RFC 8725 §3.11 explicit
// typing) and alg "EdDSA" or "Ed25519". The payload is parsed only after the signature holds.
Verified verify(std::string_view compact, const KeyLookup& lookup, const VerifyOptions& options);

enum class TimeStatus { valid, expired, not_yet_valid };

// exp must be > now - leeway; iat must be <= now + leeway.
TimeStatus check_time(const Claims& claims, std::int64_t now, std::int64_t leeway_seconds);

std::string_view to_string(Status status);

}  // namespace bouncer::token
