// Permanent API keys (`sk_…`): creation and recognising which kind a credential is.
#pragma once

#include "policy/credential.h"
#include "store/store.h"

#include <cstdint>
#include <string>
#include <string_view>

namespace bouncer::admin {

// Recognising a credential's form is the door's as much as ours: it lives in policy/.
using policy::classify_credential;
using policy::CredentialKind;
using policy::jwt_of;
using policy::kClientKeyPrefix;
using policy::kPermanentKeyPrefix;

inline constexpr std::size_t kMaxKeyNameLength = 64;

struct NewApiKey {
  store::KeyRecord record;
  std::string secret;  // "sk_" + 256 random bits; shown once, never stored
};

// Validates `name` (1..64 printable characters) and stores a new key; throws
// std::invalid_argument for a bad name.
NewApiKey create_api_key(store::Store& store, std::string_view name, std::int64_t now);

}  // namespace bouncer::admin
