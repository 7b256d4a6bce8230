#include <bouncer/client/credential.hpp>

#include "endpoint.hpp"

#include <utility>

namespace bouncer::client {

ClientCredential ClientCredential::from_token(std::string token, std::string expires_at) {
  ClientCredential c;
  c.kind = CredentialKind::token;
  c.token = std::move(token);
  c.expires_at = std::move(expires_at);
  return c;
}

ClientCredential ClientCredential::from_url(std::string url, std::string expires_at) {
  ClientCredential c;
  c.kind = CredentialKind::url;
  c.url = std::move(url);
  c.expires_at = std::move(expires_at);
  return c;
}

std::string ClientCredential::secret() const {
  if (kind == CredentialKind::token) return token;
  return detail::query_parameter(url, "token").value_or(std::string{});
}

}  // namespace bouncer::client
