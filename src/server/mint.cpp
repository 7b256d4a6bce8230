#include "server/mint.h"

#include "admin/api_keys.h"
#include "json/strict.h"
#include "json/write.h"
#include "log/log.h"
#include "server/counting.h"
#include "server/query.h"
#include "token/jwt.h"

#include <boost/asio/post.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>
#include <chrono>
#include <variant>

namespace bouncer::server {

namespace net = boost::asio;

namespace {

using policy::ApiError;

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// Token ids start with the mint time in milliseconds as 12 hex digits (hex sorts like the
// number), then 96 random bits. Records are keyed by jti, so time-ordered ids append at the
// right edge of the store's B-tree instead of dirtying a random page per mint. The time is
// no secret: the token's iat says it already.
std::string new_token_id() {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
  char prefix[16];
  std::snprintf(prefix, sizeof prefix, "%012llx", static_cast<unsigned long long>(ms) & 0xffffffffffffULL);
  return prefix + crypto::random_base64url(12);
}

ApiError authentication_error(std::string code, std::string message) {
  return {401, "authentication_error", std::move(code), std::move(message), {}};
}

ApiError permission_error(std::string code, std::string message) {
  return {403, "permission_error", std::move(code), std::move(message), {}};
}

// The credential from `X-API-KEY: sk_…` or `Authorization: Bearer sk_…`.
std::string_view presented_key(const Request& request) {
  if (const auto it = request.find("X-API-KEY"); it != request.end()) return it->value();
  if (const auto it = request.find(http::field::authorization); it != request.end()) {
    std::string_view value = it->value();
    constexpr std::string_view bearer = "Bearer ";
    if (value.size() > bearer.size() &&
        std::equal(bearer.begin(), bearer.end(), value.begin(),
                   [](char a, char b) { return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b)); })) {
      return value.substr(bearer.size());
    }
  }
  return {};
}

std::variant<store::KeyRecord, ApiError> authenticate(const Request& request, const State& state) {
  const auto credential = presented_key(request);
  if (credential.empty()) {
    return authentication_error("missing_api_key",
                                "Missing API key: send your permanent key in the X-API-KEY header (or Authorization: Bearer)");
  }
  switch (admin::classify_credential(credential)) {
    case admin::CredentialKind::client_token:
      return permission_error("client_token_cannot_mint",
                              "Client tokens (ek_…) have limited scope and cannot mint tokens: use a permanent sk_ key");
    case admin::CredentialKind::unknown:
      return authentication_error("invalid_api_key", "Invalid API key");
    case admin::CredentialKind::permanent_key:
      break;
  }
  const auto* key = state.find_key_by_secret(credential);
  if (!key) return authentication_error("invalid_api_key", "Invalid API key");
  if (key->revoked_at) return permission_error("api_key_revoked", "This API key has been revoked");
  return *key;
}

bool is_json_content_type(std::string_view value) {
  const auto semi = value.find(';');
  auto type = value.substr(0, semi);
  while (!type.empty() && type.back() == ' ') type.remove_suffix(1);
  return std::equal(type.begin(), type.end(), std::string_view("application/json").begin(),
                    std::string_view("application/json").end(),
                    [](char a, char b) { return std::tolower(static_cast<unsigned char>(a)) == b; });
}

bool body_is_blank(std::string_view body) {
  return body.find_first_not_of(" \t\r\n") == std::string_view::npos;
}

void append_string_array(std::string& out, const std::vector<std::string>& items) {
  out += '[';
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i) out += ',';
    json::append_string(out, items[i]);
  }
  out += ']';
}

// {"models":[…],"origins":[…]} or null — the shape the response and the token record share.
std::string permissions_json(const policy::MintOptions& o) {
  if (!o.allowed_models && !o.allowed_origins) return "null";
  std::string out = "{";
  if (o.allowed_models) {
    out += "\"models\":";
    append_string_array(out, *o.allowed_models);
  }
  if (o.allowed_origins) {
    if (o.allowed_models) out += ',';
    out += "\"origins\":";
    append_string_array(out, *o.allowed_origins);
  }
  return out + "}";
}

// The echo of constraints.realtime: only what the request set (null when nothing), so an
// answer without the options stays what the SDK expects.
std::string constraints_json(const policy::MintOptions& o) {
  if (!o.max_session_duration && !o.max_concurrent_sessions) return "null";
  std::string realtime;
  if (o.max_session_duration) realtime += "\"maxSessionDuration\":" + std::to_string(*o.max_session_duration);
  if (o.max_concurrent_sessions) {
    if (!realtime.empty()) realtime += ',';
    realtime += "\"maxConcurrentSessions\":" + std::to_string(*o.max_concurrent_sessions);
  }
  return "{\"realtime\":{" + realtime + "}}";
}

std::string scopes_json(const policy::MintOptions& o) {
  std::string out = "{";
  auto add = [&](std::string_view name, const std::string& value) {
    if (out.size() > 1) out += ',';
    out += '"';
    out += name;
    out += "\":";
    out += value;
  };
  if (o.allowed_models) {
    std::string v;
    append_string_array(v, *o.allowed_models);
    add("models", v);
  }
  if (o.allowed_origins) {
    std::string v;
    append_string_array(v, *o.allowed_origins);
    add("origins", v);
  }
  if (o.max_session_duration) add("maxSessionDuration", std::to_string(*o.max_session_duration));
  if (o.max_concurrent_sessions) add("maxConcurrentSessions", std::to_string(*o.max_concurrent_sessions));
  if (o.max_uses) add("maxUses", std::to_string(*o.max_uses));
  return out + "}";
}

// ws(s):// form of the public URL: where clients open /v1/stream.
std::string websocket_base(const std::string& public_url) {
  if (public_url.starts_with("https://")) return "wss://" + public_url.substr(8);
  if (public_url.starts_with("http://")) return "ws://" + public_url.substr(7);
  return public_url;
}

std::string url_answer(const std::string& public_url, const std::string& model, const std::string& jwt,
                       std::int64_t expires_at, std::optional<std::int64_t> max_uses) {
  std::string out = "{\"kind\":\"url\",\"url\":";
  json::append_string(out, websocket_base(public_url) + "/v1/stream?model=" + percent_encode(model) + "&token=" + jwt);
  out += ",\"expiresAt\":\"" + rfc3339(expires_at) + '"';
  if (max_uses) out += ",\"maxUses\":" + std::to_string(*max_uses);
  return out + '}';
}

// Written without a JSON DOM: this is the hot path of minting.
std::string mint_answer(const std::string& jwt, std::int64_t expires_at, const policy::MintOptions& o) {
  std::string out;
  out.reserve(jwt.size() * 2 + 256);
  out += "{\"kind\":\"token\",\"apiKey\":\"";
  out += admin::kClientKeyPrefix;
  out += jwt;  // base64url and dots: nothing to escape
  out += "\",\"token\":\"";
  out += jwt;
  out += "\",\"expiresAt\":\"";
  out += rfc3339(expires_at);
  out += "\",\"permissions\":";
  out += permissions_json(o);
  out += ",\"constraints\":";
  out += constraints_json(o);
  if (o.max_uses) out += ",\"maxUses\":" + std::to_string(*o.max_uses);
  out += '}';
  return out;
}

}  // namespace

Minter::Minter(const Options& options, StateCache& cache, store::Store& store, const ModelCatalog& models)
    : options_(options),
      cache_(cache),
      store_(store),
      limiter_(options.mint_rate_per_key, options.mint_burst),
      model_exists_([&models](std::string_view name) { return models.current()->find(name) != nullptr; }),
      limits_(options.mint_limits) {
  limits_.concurrent_sessions_ceiling = static_cast<std::int64_t>(options.max_sessions_per_token);
}

void Minter::handle(const Request& request, const std::string& client, policy::MintEndpoint endpoint,
                    std::function<void(Response)> respond) {
  const auto started = std::chrono::steady_clock::now();
  const auto version = request.version();
  const bool keep_alive = request.keep_alive();
  auto refuse = [&](const ApiError& error, std::string_view key_id = {}) {
    log::debug("mint_refused",
               {{"status", error.http_status}, {"code", error.code}, {"key_id", key_id}, {"client", client}});
    count_mint(mint_outcome(error));
    respond(error_response(error, version, keep_alive));
  };

  const auto state = cache_.current();
  auto auth = authenticate(request, *state);
  if (auto* error = std::get_if<ApiError>(&auth)) return refuse(*error);
  const auto key = std::get<store::KeyRecord>(std::move(auth));

  if (const auto wait = limiter_.acquire(key.id); wait > 0) {
    auto response = error_response({429, "rate_limit_error", "rate_limited",
                                    "Too many tokens minted with this key: retry after " + std::to_string(wait) + " s", {}},
                                   version, keep_alive);
    response.set(http::field::retry_after, std::to_string(wait));
    log::debug("mint_refused", {{"status", 429}, {"code", "rate_limited"}, {"key_id", key.id}, {"client", client}});
    count_mint(metrics::MintOutcome::rate_limited);
    return respond(std::move(response));
  }

  const std::string_view body = request.body();
  if (!body_is_blank(body)) {
    const auto ct = request.find(http::field::content_type);
    if (ct == request.end() || !is_json_content_type(ct->value())) {
      return refuse({415, "invalid_request_error", "unsupported_media_type",
                     "The request body must be JSON: send Content-Type: application/json", {}},
                    key.id);
    }
  }

  auto parsed = policy::parse_mint_options(body, model_exists_, limits_, endpoint);
  if (auto* error = std::get_if<ApiError>(&parsed)) return refuse(*error, key.id);
  const auto opts = std::get<policy::MintOptions>(std::move(parsed));

  if (!state->active_key) {
    return refuse({503, "api_error", "no_signing_key", "The server has no active signing key", {}}, key.id);
  }

  const auto now = unix_now();
  token::Claims claims;
  claims.iss = options_.public_url;
  claims.aud = options_.public_url;
  claims.sub = key.id;
  claims.jti = new_token_id();
  claims.iat = now;
  claims.exp = now + opts.expires_in;
  // A signed URL is bound to its one model.
  claims.models = endpoint == policy::MintEndpoint::urls ? std::optional(std::vector{*opts.model}) : opts.allowed_models;
  claims.origins = opts.allowed_origins;
  claims.max_session_duration = opts.max_session_duration;
  claims.max_concurrent_sessions = opts.max_concurrent_sessions;
  claims.max_uses = opts.max_uses;
  auto jwt = token::sign(claims, state->active_kid, *state->active_key);

  store::TokenRecord record;
  record.jti = claims.jti;
  record.key_id = key.id;
  record.kid = state->active_kid;
  record.issued_at = claims.iat;
  record.expires_at = claims.exp;
  record.scopes_json = scopes_json(opts);
  if (opts.metadata) record.metadata_json = boost::json::serialize(*opts.metadata);

  cache_.touch(key.id, now);
  auto answer = endpoint == policy::MintEndpoint::urls ? url_answer(options_.public_url, *opts.model, jwt, claims.exp, opts.max_uses)
                                                       : mint_answer(jwt, claims.exp, opts);
  // Nothing is answered before the record is durable (docs/ARCHITECTURE.md).
  store_.record_token(std::move(record), [respond = std::move(respond), answer = std::move(answer), version, keep_alive,
                                          key_id = key.id, jti = claims.jti, started, client](std::error_code ec) mutable {
    if (ec) {
      log::error("mint_not_recorded", {{"key_id", key_id}, {"jti", jti}, {"error", ec.message()}});
      count_mint(metrics::MintOutcome::store_unavailable);
      respond(error_response({503, "api_error", "store_unavailable",
                              "The token could not be stored; nothing was issued. Retry shortly", {}},
                             version, keep_alive));
      return;
    }
    log::debug("minted", {{"key_id", key_id}, {"jti", jti}, {"client", client}});
    count_mint(metrics::MintOutcome::issued);
    metrics::catalog().mint_duration.observe(std::chrono::steady_clock::now() - started);
    respond(json_response(http::status::ok, std::move(answer), version, keep_alive));
  });
}

void Minter::revoke_self(const Request& request, const std::string& client, std::function<void(Response)> respond) {
  const auto version = request.version();
  const bool keep_alive = request.keep_alive();
  auto auth = authenticate(request, *cache_.current());
  if (auto* error = std::get_if<ApiError>(&auth)) return respond(error_response(*error, version, keep_alive));
  const auto key = std::get<store::KeyRecord>(std::move(auth));

  bool end_sessions = false;
  if (!body_is_blank(request.body())) {
    const auto parsed = json::parse_strict(request.body());
    const auto* object = parsed.value ? parsed.value->if_object() : nullptr;
    if (!object) {
      return respond(error_response(ApiError::invalid_request("invalid_body", "The body must be a JSON object"), version,
                                    keep_alive));
    }
    for (const auto& [name, value] : *object) {
      if (name != "endSessions" || !value.is_bool()) {
        return respond(error_response(
            ApiError::invalid_request("unknown_field", "The only field is endSessions (a boolean)", std::string(name)),
            version, keep_alive));
      }
      end_sessions = value.as_bool();
    }
  }
  net::post(admin_pool_, [this, id = key.id, end_sessions, version, keep_alive, client, respond = std::move(respond)] {
    const auto now = unix_now();
    try {
      store_.revoke_key(id, now, end_sessions);
      cache_.refresh();  // this node applies it at once; others when the store tells them
    } catch (const std::exception& e) {
      log::error("key_revoke_failed", {{"key_id", id}, {"error", e.what()}});
      return respond(error_response({503, "api_error", "store_unavailable", "The revocation could not be stored", {}},
                                    version, keep_alive));
    }
    log::info("key_revoked", {{"key_id", id}, {"end_sessions", end_sessions}, {"by", "api"}, {"client", client}});
    respond(json_response(http::status::ok,
                          "{\"id\":\"" + id + "\",\"revokedAt\":\"" + rfc3339(now) +
                              "\",\"endSessions\":" + (end_sessions ? "true" : "false") + "}",
                          version, keep_alive));
  });
}

}  // namespace bouncer::server
