// Minting: a backend trades its permanent key (sk_…) for a short-lived client credential,
// POST /v1/client/tokens or POST /v1/client/urls (docs/API.md).
#pragma once

#include <bouncer/client/credential.hpp>
#include <bouncer/client/tls.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace bouncer::client {

struct MintRequest {
  // Bouncer's address: http://, https://, ws:// or wss:// HOST[:PORT] (a path is ignored).
  std::string base_url;
  // The permanent key, sent as X-API-KEY.
  std::string api_key;

  // The options of the mint body; an unset (or empty) option is left out and Bouncer's
  // default applies.
  std::optional<int> expires_in;             // seconds, 1–3600 (window for starting sessions)
  std::vector<std::string> allowed_models;   // at most 20
  std::vector<std::string> allowed_origins;  // canonical origins, at most 20
  std::optional<int> max_session_duration;   // seconds, 10–86400 (constraints.realtime)
  std::optional<int> max_concurrent_sessions;  // 1–1000 (constraints.realtime)
  std::optional<int> max_uses;               // 1–1000 admissions of the token
  std::string metadata_json;                 // a JSON object, stored server-side; empty: none

  TlsOptions tls;
  // The whole exchange: resolve, connect, TLS, request and answer.
  std::chrono::milliseconds timeout{10000};
};

// POST /v1/client/tokens: a credential of kind token (the answer's apiKey, ek_…).
// Throws MintError for an HTTP error, ConnectionError (TimeoutError) when Bouncer cannot be
// reached, std::invalid_argument for a bad base_url or metadata_json.
ClientCredential mint_token(const MintRequest& request);

// POST /v1/client/urls: a credential of kind url, a signed URL that opens `model`.
ClientCredential mint_url(const MintRequest& request, const std::string& model);

}  // namespace bouncer::client
