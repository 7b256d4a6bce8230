// Typical inputs shared by the micro-benchmarks: what one mint of bench/mint.lua produces.
#pragma once

#include "crypto/crypto.h"
#include "token/jwt.h"

#include <string>
#include <string_view>

namespace bouncer::bench {

// The body bench/mint.lua sends (keep the two in step).
inline constexpr std::string_view kMintBody =
    R"({"expiresIn":60,"allowedModels":["demo"],"allowedOrigins":["https://app.example.com"]})";

inline constexpr std::string_view kKid = "Zk3q9xWv1bT2mR8s";  // random_base64url(12): 16 chars

// A fixed key (the seed is not secret: benchmark only).
inline const crypto::SecretKey& signing_key() {
  static const crypto::SecretKey key = [] {
    crypto::Seed seed{};
    for (std::size_t i = 0; i < seed.size(); ++i) seed[i] = static_cast<std::uint8_t>(i * 7 + 1);
    return crypto::SecretKey(seed);
  }();
  return key;
}

// The claims the server signs for kMintBody (server/mint.cpp).
inline token::Claims typical_claims() {
  token::Claims c;
  c.iss = "http://127.0.0.1:8080";
  c.aud = "http://127.0.0.1:8080";
  c.sub = "key_0123456789abcdef";          // "key_" + 16 hex
  c.jti = "q1w2e3r4t5y6u7i8o9p0aA";        // random_base64url(16): 22 chars
  c.iat = 1763900000;
  c.exp = c.iat + 60;
  c.models = std::vector<std::string>{"demo"};
  c.origins = std::vector<std::string>{"https://app.example.com"};
  return c;
}

inline const std::string& typical_token() {
  static const std::string jwt = token::sign(typical_claims(), kKid, signing_key());
  return jwt;
}

// "header.payload": the bytes Ed25519 signs for a typical token.
inline std::string_view typical_signing_input() {
  const std::string& jwt = typical_token();
  return std::string_view(jwt).substr(0, jwt.rfind('.'));
}

}  // namespace bouncer::bench
