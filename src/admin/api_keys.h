// Permanent API keys (`sk_…`): creation and recognising which kind a credential is.
#pragma once

#include "store/store.h"

#include <cstdint>
#include <string>
#include <string_view>

namespace bouncer::admin {

inline constexpr std::string_view kPermanentKeyPrefix = "sk_";
inline constexpr std::string_view kClientKeyPrefix = "ek_";
inline constexpr std::size_t kMaxKeyNameLength = 64;

struct NewApiKey {
  store::KeyRecord record;
  std::string secret;  // "sk_" + 256 random bits; shown once, never stored
};

// Validates `name` (1..64 printable characters) and stores a new key; throws
// std::invalid_argument for a bad name.
NewApiKey create_api_key(store::Store& store, std::string_view name, std::int64_t now);

enum class CredentialKind { permanent_key, client_token, unknown };

// `sk_…` → permanent_key; `ek_…` or a bare compact JWT → client_token.
CredentialKind classify_credential(std::string_view credential);

// Strips the `ek_` prefix when present.
std::string_view jwt_of(std::string_view credential);

}  // namespace bouncer::admin
