#include "policy/credential.h"

namespace bouncer::policy {

CredentialKind classify_credential(std::string_view credential) {
  if (credential.starts_with(kPermanentKeyPrefix)) return CredentialKind::permanent_key;
  if (credential.starts_with(kClientKeyPrefix)) return CredentialKind::client_token;
  // A compact JWS whose header is a JSON object starts with base64url("{\"") = "eyJ".
  if (credential.starts_with("eyJ") && credential.find('.') != std::string_view::npos) {
    return CredentialKind::client_token;
  }
  return CredentialKind::unknown;
}

std::string_view jwt_of(std::string_view credential) {
  if (credential.starts_with(kClientKeyPrefix)) credential.remove_prefix(kClientKeyPrefix.size());
  return credential;
}

}  // namespace bouncer::policy
