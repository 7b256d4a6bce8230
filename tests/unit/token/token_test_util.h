// Helpers shared by the token tests: hand-built tokens with arbitrary header and payload JSON.
#pragma once

#include "crypto/crypto.h"
#include "token/base64url.h"
#include "token/jwt.h"

#include <string>
#include <string_view>

namespace bouncer::token::testing {

inline crypto::Seed seed_filled(std::uint8_t b) {
  crypto::Seed s{};
  s.fill(b);
  return s;
}

// base64url(header) "." base64url(payload) "." base64url(Ed25519 signature), with the JSON
// exactly as given (so tests can write duplicate keys, odd types, forbidden parameters...).
inline std::string make_token(std::string_view header_json, std::string_view payload_json,
                              const crypto::SecretKey& key) {
  std::string input = base64url_encode(header_json) + "." + base64url_encode(payload_json);
  const crypto::Signature sig = key.sign(input);
  return input + "." + base64url_encode(sig);
}

inline constexpr std::string_view kIssuer = "https://bouncer.test";
inline constexpr std::string_view kAudience = "bouncer";
inline constexpr std::string_view kKid = "k1";
inline constexpr std::string_view kHeader = R"({"alg":"EdDSA","typ":"JWT","kid":"k1"})";
inline constexpr std::string_view kPayload =
    R"({"iss":"https://bouncer.test","aud":"bouncer","sub":"key_1","jti":"tok_1","iat":1700000000,"exp":1700000060})";

}  // namespace bouncer::token::testing
