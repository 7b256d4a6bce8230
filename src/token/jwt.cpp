// Compact JWS (RFC 7515 §7.1) JWTs (RFC 7519) signed with Ed25519 (RFC 8037), verified
// with the hardening of RFC 8725 ("JSON Web Token Best Current Practices").
//
// verify() runs its checks in a fixed order, cheapest and least trusting first:
//   1. length cap, before anything is parsed              -> malformed
//   2. exactly three non-empty segments, strict base64url -> malformed
//   3. header: strict JSON object (no duplicate names)    -> malformed
//   4. alg in {EdDSA, Ed25519}, typ == "JWT"              -> unsupported_algorithm
//   5. no crit / jwk / jku / x5u / x5c / b64              -> forbidden_header
//   6. kid: a short printable string, found by lookup     -> unknown_key
//   7. Ed25519 signature over "header.payload"            -> bad_signature
//   8. payload: strict JSON object                        -> malformed
//   9. claim types and ranges                             -> invalid_claims
//  10. iss, then aud                                      -> wrong_issuer, wrong_audience
// Only signed bytes reach the claims parser (step 8 after step 7).
#include "token/jwt.h"

#include "json/strict.h"
#include "json/write.h"
#include "token/base64url.h"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/string.hpp>

#include <algorithm>
#include <array>
#include <limits>
#include <stdexcept>

namespace bouncer::token {
namespace {

namespace bj = boost::json;

constexpr std::size_t kMaxClaimString = 256;   // iss, aud, sub, jti, each models/origins entry
constexpr std::size_t kMaxListEntries = 20;    // models, origins, aud as an array (docs/API.md)
constexpr std::int64_t kMaxNumeric = std::int64_t{1} << 40;  // ~ year 36812; excludes overflow games

// The signing algorithm names we accept: RFC 8037 §3.1 "EdDSA" with an Ed25519 key, and its
// fully specified RFC 9864 §2.2 name "Ed25519". Compared case-sensitively (RFC 7515 §4.1.1:
// alg is a case-sensitive string). Everything else, "none" included, is refused: the
// algorithm is fixed by the verifier, never chosen by the token (RFC 8725 §3.1).
constexpr std::array<std::string_view, 2> kAcceptedAlgs = {"EdDSA", "Ed25519"};

// Header parameters that would let the token pick its own key or change how it is processed.
// jwk / jku / x5u / x5c: a key or key URL supplied by the attacker (RFC 7515 §4.1.2–4.1.6,
// RFC 8725 §3.10); we only trust keys we hold. crit: extensions we do not implement must be
// refused (RFC 7515 §4.1.11). b64: RFC 7797 unencoded payloads change the signing input.
constexpr std::array<std::string_view, 6> kForbiddenHeaders = {"crit", "jwk", "jku", "x5u", "x5c", "b64"};

constexpr json::Limits kJsonLimits{.max_depth = 16, .max_bytes = kMaxTokenLength};

struct Segments {
  std::string_view header;
  std::string_view payload;
  std::string_view signature;
  std::string_view signing_input;  // "header.payload", the bytes the signature covers
};

// RFC 7515 §7.1: BASE64URL(header) '.' BASE64URL(payload) '.' BASE64URL(signature).
// Exactly two dots; the JSON serialization (RFC 7515 §7.2) and JWE (five segments) are not
// client tokens and are refused here. An empty segment is refused too: we never issue an
// empty payload or signature (and "detached content", RFC 7515 App. F, is not supported).
std::optional<Segments> split_compact(std::string_view compact) {
  const std::size_t first = compact.find('.');
  if (first == std::string_view::npos) return std::nullopt;
  const std::size_t second = compact.find('.', first + 1);
  if (second == std::string_view::npos) return std::nullopt;
  if (compact.find('.', second + 1) != std::string_view::npos) return std::nullopt;
  Segments s;
  s.header = compact.substr(0, first);
  s.payload = compact.substr(first + 1, second - first - 1);
  s.signature = compact.substr(second + 1);
  s.signing_input = compact.substr(0, second);
  if (s.header.empty() || s.payload.empty() || s.signature.empty()) return std::nullopt;
  return s;
}

bool is_printable_ascii(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

// A key id: 1..kMaxKidLength visible ASCII characters. It is only ever a lookup key (never a
// path, URL or query, RFC 8725 §3.10), and keeping it printable keeps log lines clean.
bool is_valid_kid(std::string_view kid) {
  return !kid.empty() && kid.size() <= kMaxKidLength && is_printable_ascii(kid);
}

// Attacker-chosen text going into a log detail: short, printable, quoted.
std::string quoted(std::string_view s) {
  std::string out = "\"";
  for (const char c : s.substr(0, 32)) out.push_back(c >= 0x20 && c < 0x7f && c != '"' ? c : '?');
  if (s.size() > 32) out += "...";
  out += '"';
  return out;
}

std::string_view kind_name(const bj::value& v) {
  switch (v.kind()) {
    case bj::kind::null: return "null";
    case bj::kind::bool_: return "a boolean";
    case bj::kind::int64:
    case bj::kind::uint64: return "an integer";
    case bj::kind::double_: return "a non-integer number";
    case bj::kind::string: return "a string";
    case bj::kind::array: return "an array";
    case bj::kind::object: return "an object";
  }
  return "unknown";
}

// Well-formed UTF-8 (RFC 3629 §4): no overlongs, no surrogates, nothing above U+10FFFF.
bool is_valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = 0;
    unsigned lo = 0x80, hi = 0xBF;
    if (c < 0x80) { ++i; continue; }
    if (c >= 0xC2 && c <= 0xDF) n = 1;
    else if (c == 0xE0) { n = 2; lo = 0xA0; }
    else if (c == 0xED) { n = 2; hi = 0x9F; }
    else if (c >= 0xE1 && c <= 0xEF) n = 2;
    else if (c == 0xF0) { n = 3; lo = 0x90; }
    else if (c >= 0xF1 && c <= 0xF3) n = 3;
    else if (c == 0xF4) { n = 3; hi = 0x8F; }
    else return false;
    if (s.size() - i <= n) return false;
    for (std::size_t k = 1; k <= n; ++k) {
      const auto d = static_cast<unsigned char>(s[i + k]);
      if (d < (k == 1 ? lo : 0x80) || d > (k == 1 ? hi : 0xBF)) return false;
    }
    i += n + 1;
  }
  return true;
}

bool is_valid_claim_string(std::string_view s) {
  return !s.empty() && s.size() <= kMaxClaimString && is_valid_utf8(s);
}

bool is_valid_numeric(std::int64_t v) { return v > 0 && v < kMaxNumeric; }

bool is_valid_list(const std::vector<std::string>& list) {
  return list.size() <= kMaxListEntries && std::all_of(list.begin(), list.end(), is_valid_claim_string);
}

// Range rules shared by sign() and verify(), so that sign() never emits a token that
// verify() would refuse for its claims. Empty string = fine.
std::string claims_problem(const Claims& c) {
  if (!is_valid_claim_string(c.iss)) return "iss must be a non-empty string of at most 256 bytes";
  if (!is_valid_claim_string(c.aud)) return "aud must be a non-empty string of at most 256 bytes";
  if (!is_valid_claim_string(c.sub)) return "sub must be a non-empty string of at most 256 bytes";
  if (!is_valid_claim_string(c.jti)) return "jti must be a non-empty string of at most 256 bytes";
  if (!is_valid_numeric(c.iat)) return "iat out of range";
  if (!is_valid_numeric(c.exp)) return "exp out of range";
  // RFC 7519 §4.1.4 only says exp is a NumericDate; a token that expires before (or when) it
  // is issued is a minting bug, never something to admit.
  if (c.exp <= c.iat) return "exp must be after iat";
  if (c.models && !is_valid_list(*c.models)) return "models must hold at most 20 non-empty strings";
  if (c.origins && !is_valid_list(*c.origins)) return "origins must hold at most 20 non-empty strings";
  if (c.max_session_duration && !is_valid_numeric(*c.max_session_duration)) {
    return "max_session_duration must be a positive integer";
  }
  if (c.max_concurrent_sessions && !is_valid_numeric(*c.max_concurrent_sessions)) {
    return "max_concurrent_sessions must be a positive integer";
  }
  if (c.max_uses && !is_valid_numeric(*c.max_uses)) return "max_uses must be a positive integer";
  return {};
}

// ---- verification steps: each returns ok or fills `out` with the failure --------------

bool fail(Verified& out, Status status, std::string detail) {
  out.status = status;
  out.detail = std::move(detail);
  return false;
}

// Steps 3 to 5. Also records the kid as soon as the header has parsed, for the logs.
bool check_header(const bj::object& header, Verified& out) {
  if (const bj::value* kid = header.if_contains("kid"); kid && kid->is_string() && is_valid_kid(kid->get_string())) {
    out.kid = kid->get_string();
  }

  const bj::value* alg = header.if_contains("alg");
  if (alg == nullptr) return fail(out, Status::unsupported_algorithm, "header has no alg");
  if (!alg->is_string()) return fail(out, Status::unsupported_algorithm, "header alg is not a string");
  const std::string_view alg_name = alg->get_string();
  if (std::find(kAcceptedAlgs.begin(), kAcceptedAlgs.end(), alg_name) == kAcceptedAlgs.end()) {
    return fail(out, Status::unsupported_algorithm, "alg " + quoted(alg_name) + " is not EdDSA or Ed25519");
  }

  // Explicit typing (RFC 8725 §3.11): we always write typ "JWT", and require it, so another
  // kind of JWS signed by the same key can never pass for a client token. Absent typ is
  // refused. Compared exactly (RFC 7515 §4.1.9 allows case-insensitive media types, but we
  // accept only the one spelling we emit).
  const bj::value* typ = header.if_contains("typ");
  if (typ == nullptr) return fail(out, Status::unsupported_algorithm, "header has no typ (JWT required)");
  if (!typ->is_string() || typ->get_string() != "JWT") {
    return fail(out, Status::unsupported_algorithm,
                "typ " + (typ->is_string() ? quoted(typ->get_string()) : std::string(kind_name(*typ))) +
                    " is not \"JWT\"");
  }

  for (const std::string_view name : kForbiddenHeaders) {
    if (header.contains(name)) {
      return fail(out, Status::forbidden_header, "header parameter \"" + std::string(name) + "\" is not allowed");
    }
  }
  return true;
}

// Step 6. The kid only selects among keys we hold; it is never interpreted.
const crypto::PublicKey* find_key(const bj::object& header, const KeyLookup& lookup, Verified& out) {
  const bj::value* kid = header.if_contains("kid");
  if (kid == nullptr) {
    fail(out, Status::unknown_key, "header has no kid");
    return nullptr;
  }
  if (!kid->is_string()) {
    fail(out, Status::unknown_key, "kid is " + std::string(kind_name(*kid)) + ", not a string");
    return nullptr;
  }
  const std::string_view kid_value = kid->get_string();
  if (!is_valid_kid(kid_value)) {
    fail(out, Status::unknown_key,
         "kid must be 1.." + std::to_string(kMaxKidLength) + " printable ASCII characters (got " +
             std::to_string(kid_value.size()) + " bytes)");
    return nullptr;
  }
  const crypto::PublicKey* key = lookup ? lookup(kid_value) : nullptr;
  if (key == nullptr) fail(out, Status::unknown_key, "no key with kid " + quoted(kid_value));
  return key;
}

// A required string claim.
bool read_string(const bj::object& payload, std::string_view name, std::string& dest, Verified& out) {
  const bj::value* v = payload.if_contains(name);
  if (v == nullptr) return fail(out, Status::invalid_claims, std::string(name) + " is missing");
  if (!v->is_string()) {
    return fail(out, Status::invalid_claims, std::string(name) + " is " + std::string(kind_name(*v)) + ", not a string");
  }
  if (!is_valid_claim_string(v->get_string())) {
    return fail(out, Status::invalid_claims, std::string(name) + " must be 1..256 bytes");
  }
  dest = v->get_string();
  return true;
}

// A NumericDate or a duration: a JSON integer (not 1.0, not 1e3, not "1"), 0 < v < 2^40.
bool read_integer(const bj::value& v, std::string_view name, std::int64_t& dest, Verified& out) {
  if (!v.is_int64()) {
    if (v.is_uint64()) return fail(out, Status::invalid_claims, std::string(name) + " out of range");
    return fail(out, Status::invalid_claims, std::string(name) + " is " + std::string(kind_name(v)) + ", not an integer");
  }
  if (!is_valid_numeric(v.get_int64())) return fail(out, Status::invalid_claims, std::string(name) + " out of range");
  dest = v.get_int64();
  return true;
}

bool read_required_integer(const bj::object& payload, std::string_view name, std::int64_t& dest, Verified& out) {
  const bj::value* v = payload.if_contains(name);
  if (v == nullptr) return fail(out, Status::invalid_claims, std::string(name) + " is missing");
  return read_integer(*v, name, dest, out);
}

// An array of 0..20 strings, each 1..256 bytes.
bool read_string_list(const bj::value& v, std::string_view name, std::vector<std::string>& dest, Verified& out) {
  if (!v.is_array()) return fail(out, Status::invalid_claims, std::string(name) + " is not an array");
  const bj::array& items = v.get_array();
  if (items.size() > kMaxListEntries) {
    return fail(out, Status::invalid_claims, std::string(name) + " has more than 20 entries");
  }
  dest.clear();
  dest.reserve(items.size());
  for (const bj::value& item : items) {
    if (!item.is_string() || !is_valid_claim_string(item.get_string())) {
      return fail(out, Status::invalid_claims, std::string(name) + " entries must be strings of 1..256 bytes");
    }
    dest.emplace_back(item.get_string());
  }
  return true;
}

bool read_optional_list(const bj::object& payload, std::string_view name,
                        std::optional<std::vector<std::string>>& dest, Verified& out) {
  const bj::value* v = payload.if_contains(name);
  if (v == nullptr) return true;
  dest.emplace();
  return read_string_list(*v, name, *dest, out);
}

// aud: RFC 7519 §4.1.3 allows a string or an array of strings. Claims.aud receives the
// expected audience when the array holds it, else its first entry (for the detail only).
bool read_audience(const bj::object& payload, const VerifyOptions& options, Claims& claims,
                   bool& matches, Verified& out) {
  const bj::value* v = payload.if_contains("aud");
  if (v == nullptr) return fail(out, Status::invalid_claims, "aud is missing");
  if (v->is_string()) {
    if (!read_string(payload, "aud", claims.aud, out)) return false;
    matches = claims.aud == options.audience;
    return true;
  }
  std::vector<std::string> list;
  if (!v->is_array()) return fail(out, Status::invalid_claims, "aud is neither a string nor an array");
  if (!read_string_list(*v, "aud", list, out)) return false;
  if (list.empty()) return fail(out, Status::invalid_claims, "aud is an empty array");
  matches = std::find(list.begin(), list.end(), options.audience) != list.end();
  claims.aud = matches ? options.audience : list.front();
  return true;
}

// Steps 9 and 10. Unknown claims are ignored (RFC 7519 §4).
bool read_claims(const bj::object& payload, const VerifyOptions& options, Claims& claims, Verified& out) {
  bool audience_matches = false;
  if (!read_string(payload, "iss", claims.iss, out)) return false;
  if (!read_audience(payload, options, claims, audience_matches, out)) return false;
  if (!read_string(payload, "sub", claims.sub, out)) return false;
  if (!read_string(payload, "jti", claims.jti, out)) return false;
  if (!read_required_integer(payload, "iat", claims.iat, out)) return false;
  if (!read_required_integer(payload, "exp", claims.exp, out)) return false;
  if (!read_optional_list(payload, "models", claims.models, out)) return false;
  if (!read_optional_list(payload, "origins", claims.origins, out)) return false;
  if (const bj::value* v = payload.if_contains("max_session_duration")) {
    std::int64_t seconds = 0;
    if (!read_integer(*v, "max_session_duration", seconds, out)) return false;
    claims.max_session_duration = seconds;
  }
  if (const bj::value* v = payload.if_contains("max_concurrent_sessions")) {
    std::int64_t sessions = 0;
    if (!read_integer(*v, "max_concurrent_sessions", sessions, out)) return false;
    claims.max_concurrent_sessions = sessions;
  }
  if (const bj::value* v = payload.if_contains("max_uses")) {
    std::int64_t uses = 0;
    if (!read_integer(*v, "max_uses", uses, out)) return false;
    claims.max_uses = uses;
  }
  if (std::string problem = claims_problem(claims); !problem.empty()) {
    return fail(out, Status::invalid_claims, std::move(problem));
  }
  // RFC 7519 §4.1.1 / §4.1.3, RFC 8725 §3.8 and §3.9: the issuer and audience are checked
  // against what this verifier expects, so a token for another service never admits here.
  if (claims.iss != options.issuer) {
    return fail(out, Status::wrong_issuer, "iss " + quoted(claims.iss) + " is not " + quoted(options.issuer));
  }
  if (!audience_matches) {
    return fail(out, Status::wrong_audience, "aud does not name " + quoted(options.audience));
  }
  return true;
}

// Strict JSON (no duplicate names, RFC 8725 §3.2 / RFC 7515 §5.2 step 4) that must be an object.
std::optional<bj::object> parse_object(std::string_view text, std::string_view what, Verified& out) {
  json::ParseResult parsed = json::parse_strict(text, kJsonLimits);
  if (!parsed.value) {
    fail(out, Status::malformed, std::string(what) + ": " + parsed.error);
    return std::nullopt;
  }
  if (!parsed.value->is_object()) {
    fail(out, Status::malformed, std::string(what) + " is not a JSON object");
    return std::nullopt;
  }
  return std::move(parsed.value->get_object());
}

std::int64_t saturating_add(std::int64_t a, std::int64_t b) {
  std::int64_t r = 0;
  if (__builtin_add_overflow(a, b, &r)) return b > 0 ? std::numeric_limits<std::int64_t>::max() : std::numeric_limits<std::int64_t>::min();
  return r;
}

std::int64_t saturating_sub(std::int64_t a, std::int64_t b) {
  std::int64_t r = 0;
  if (__builtin_sub_overflow(a, b, &r)) return b > 0 ? std::numeric_limits<std::int64_t>::min() : std::numeric_limits<std::int64_t>::max();
  return r;
}

}  // namespace

std::string sign(const Claims& claims, std::string_view kid, const crypto::SecretKey& key) {
  if (!is_valid_kid(kid)) {
    throw std::invalid_argument("token::sign: kid must be 1..64 printable ASCII characters");
  }
  if (std::string problem = claims_problem(claims); !problem.empty()) {
    throw std::invalid_argument("token::sign: " + problem);
  }

  // Written as text, not through a JSON DOM: minting is a hot path and the shape is fixed.
  std::string header = R"({"alg":"EdDSA","typ":"JWT","kid":)";
  json::append_string(header, kid);
  header += '}';

  std::string payload;
  payload.reserve(256);
  const auto add_string = [&payload](std::string_view name, std::string_view value) {
    payload += payload.empty() ? '{' : ',';
    json::append_string(payload, name);
    payload += ':';
    json::append_string(payload, value);
  };
  const auto add_integer = [&payload](std::string_view name, std::int64_t value) {
    payload += ',';
    json::append_string(payload, name);
    payload += ':';
    payload += std::to_string(value);
  };
  const auto add_list = [&payload](std::string_view name, const std::vector<std::string>& list) {
    payload += ',';
    json::append_string(payload, name);
    payload += ":[";
    for (std::size_t i = 0; i < list.size(); ++i) {
      if (i) payload += ',';
      json::append_string(payload, list[i]);
    }
    payload += ']';
  };
  add_string("iss", claims.iss);
  add_string("aud", claims.aud);
  add_string("sub", claims.sub);
  add_string("jti", claims.jti);
  add_integer("iat", claims.iat);
  add_integer("exp", claims.exp);
  if (claims.models) add_list("models", *claims.models);
  if (claims.origins) add_list("origins", *claims.origins);
  if (claims.max_session_duration) add_integer("max_session_duration", *claims.max_session_duration);
  if (claims.max_concurrent_sessions) add_integer("max_concurrent_sessions", *claims.max_concurrent_sessions);
  if (claims.max_uses) add_integer("max_uses", *claims.max_uses);
  payload += '}';

  std::string token;
  token.reserve((header.size() + payload.size() + crypto::kSignatureBytes) * 4 / 3 + 8);
  base64url_append(token, header);
  token += '.';
  base64url_append(token, payload);
  const crypto::Signature signature = key.sign(token);
  token += '.';
  base64url_append(token, signature);
  return token;
}

Verified verify(std::string_view compact, const KeyLookup& lookup, const VerifyOptions& options) {
  Verified out;

  // Step 1: bound the work an unauthenticated input can cause, before any parsing.
  if (compact.size() > kMaxTokenLength) {
    fail(out, Status::malformed, "token is " + std::to_string(compact.size()) + " bytes; the limit is " +
                                     std::to_string(kMaxTokenLength));
    return out;
  }

  // Step 2.
  const std::optional<Segments> segments = split_compact(compact);
  if (!segments) {
    fail(out, Status::malformed, "not a compact JWS: expected three non-empty segments separated by two dots");
    return out;
  }
  const std::optional<std::string> header_json = base64url_decode(segments->header);
  if (!header_json) {
    fail(out, Status::malformed, "header is not strict base64url");
    return out;
  }
  const std::optional<std::string> payload_json = base64url_decode(segments->payload);
  if (!payload_json) {
    fail(out, Status::malformed, "payload is not strict base64url");
    return out;
  }
  const std::optional<std::string> signature = base64url_decode(segments->signature);
  if (!signature) {
    fail(out, Status::malformed, "signature is not strict base64url");
    return out;
  }

  // Steps 3 to 6.
  const std::optional<bj::object> header = parse_object(*header_json, "header", out);
  if (!header) return out;
  if (!check_header(*header, out)) return out;
  const crypto::PublicKey* key = find_key(*header, lookup, out);
  if (key == nullptr) return out;

  // Step 7: the signature covers the ASCII bytes of the first two segments as received
  // (RFC 7515 §5.2 step 8). RFC 8037 §3.1: an Ed25519 signature is exactly 64 bytes.
  if (signature->size() != crypto::kSignatureBytes) {
    fail(out, Status::bad_signature, "signature is " + std::to_string(signature->size()) + " bytes, not 64");
    return out;
  }
  const std::span<const std::uint8_t> signature_bytes(reinterpret_cast<const std::uint8_t*>(signature->data()),
                                                      signature->size());
  if (!crypto::verify(*key, segments->signing_input, signature_bytes)) {
    fail(out, Status::bad_signature, "signature does not verify under kid " + quoted(out.kid));
    return out;
  }

  // Steps 8 to 10.
  const std::optional<bj::object> payload = parse_object(*payload_json, "payload", out);
  if (!payload) return out;
  Claims claims;
  if (!read_claims(*payload, options, claims, out)) return out;

  out.status = Status::ok;
  out.claims = std::move(claims);
  out.detail = "ok";
  return out;
}

TimeStatus check_time(const Claims& claims, std::int64_t now, std::int64_t leeway_seconds) {
  const std::int64_t leeway = std::max<std::int64_t>(leeway_seconds, 0);
  // RFC 7519 §4.1.4: not accepted on or after exp (minus a small leeway for clock skew).
  if (claims.exp <= saturating_sub(now, leeway)) return TimeStatus::expired;
  // An iat in the future means the minting clock is ahead of ours by more than the leeway.
  if (claims.iat > saturating_add(now, leeway)) return TimeStatus::not_yet_valid;
  return TimeStatus::valid;
}

std::string_view to_string(Status status) {
  switch (status) {
    case Status::ok: return "ok";
    case Status::malformed: return "malformed";
    case Status::unsupported_algorithm: return "unsupported_algorithm";
    case Status::forbidden_header: return "forbidden_header";
    case Status::unknown_key: return "unknown_key";
    case Status::bad_signature: return "bad_signature";
    case Status::invalid_claims: return "invalid_claims";
    case Status::wrong_issuer: return "wrong_issuer";
    case Status::wrong_audience: return "wrong_audience";
  }
  return "unknown";
}

}  // namespace bouncer::token
