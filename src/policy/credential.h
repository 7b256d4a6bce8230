// The forms a client presents a credential in, told apart by shape alone: a permanent key
// (`sk_…`) or a client token (`ek_…`, or the bare compact JWT). Pure.
#pragma once

#include <string_view>

namespace bouncer::policy {

inline constexpr std::string_view kPermanentKeyPrefix = "sk_";
inline constexpr std::string_view kClientKeyPrefix = "ek_";

enum class CredentialKind { permanent_key, client_token, unknown };

// `sk_…` → permanent_key; `ek_…` or a bare compact JWT → client_token.
CredentialKind classify_credential(std::string_view credential);

// Strips the `ek_` prefix when present.
std::string_view jwt_of(std::string_view credential);

}  // namespace bouncer::policy
