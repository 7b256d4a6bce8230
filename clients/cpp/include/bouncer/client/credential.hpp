// A client credential: what a backend mints with its permanent key and hands to a client, in
// either of Bouncer's two forms (the kernl SDK's ClientCredential):
//   {kind: "token", token, expiresAt} — a client token (ek_…) the client sends with a model;
//   {kind: "url",   url,   expiresAt} — a signed WebSocket URL bound to one model.
// Both hold a secret: never log them or put them in an error message.
#pragma once

#include <string>

namespace bouncer::client {

enum class CredentialKind { token, url };

struct ClientCredential {
  CredentialKind kind = CredentialKind::token;
  // kind token: the mint answer's apiKey (ek_…); a bare JWT or, server to server, a permanent
  // key (sk_…) work as well.
  std::string token;
  // kind url: the signed ws:// or wss:// URL, to be opened as it is.
  std::string url;
  // RFC 3339 UTC (whole seconds): the end of the window for starting sessions with it. Empty
  // when unknown (a credential built by hand).
  std::string expires_at;

  static ClientCredential from_token(std::string token, std::string expires_at = {});
  static ClientCredential from_url(std::string url, std::string expires_at = {});

  // The credential Bouncer verifies: `token`, or the `token=` query parameter of `url`. Empty
  // when there is none.
  std::string secret() const;
};

}  // namespace bouncer::client
