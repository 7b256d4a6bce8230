#include "policy/admission.h"

#include <algorithm>
#include <utility>

namespace bouncer::policy {

CloseReason close_reason(Refusal refusal) {
  switch (refusal) {
    case Refusal::none: return {1000, ""};
    case Refusal::invalid_api_key: return {1008, "Invalid API key"};
    case Refusal::token_revoked: return {1008, "Token revoked"};
    case Refusal::token_expired: return {1008, "Token expired"};
    case Refusal::unknown_model: return {1008, "Unknown model"};
    case Refusal::model_not_allowed: return {1008, "Model not allowed"};
    case Refusal::origin_not_allowed: return {1008, "Origin not allowed"};
    case Refusal::capacity: return {1013, "Concurrent session limit reached"};
    case Refusal::token_capacity: return {1013, "Concurrent session limit reached for this token"};
    case Refusal::upstream_unavailable: return {1011, "Upstream unavailable"};
    case Refusal::shutting_down: return {1001, "Server shutting down"};
    case Refusal::store_unavailable: return {1013, "Service unavailable, try again later"};
    case Refusal::address_penalised: return {1013, "Too many invalid credentials, try again later"};
    case Refusal::token_used_up: return {1008, "Token already used"};
    case Refusal::resume_in_use: return {1008, "Resume id already in use"};
    case Refusal::resume_not_allowed: return {1008, "Resume id not allowed"};
  }
  return {1011, "Internal error"};
}

std::string_view counter_name(Refusal refusal) {
  switch (refusal) {
    case Refusal::none: return "admitted";
    case Refusal::invalid_api_key: return "refused_invalid_api_key";
    case Refusal::token_revoked: return "refused_token_revoked";
    case Refusal::token_expired: return "refused_token_expired";
    case Refusal::unknown_model: return "refused_unknown_model";
    case Refusal::model_not_allowed: return "refused_model_not_allowed";
    case Refusal::origin_not_allowed: return "refused_origin_not_allowed";
    case Refusal::capacity: return "refused_capacity";
    case Refusal::token_capacity: return "refused_token_capacity";
    case Refusal::upstream_unavailable: return "refused_upstream_unavailable";
    case Refusal::shutting_down: return "refused_shutting_down";
    case Refusal::store_unavailable: return "refused_store_unavailable";
    case Refusal::address_penalised: return "refused_address_penalised";
    case Refusal::token_used_up: return "refused_token_used_up";
    case Refusal::resume_in_use: return "refused_resume_in_use";
    case Refusal::resume_not_allowed: return "refused_resume_not_allowed";
  }
  return "refused_other";
}

bool valid_resume_id(std::string_view id) {
  if (id.size() < 16 || id.size() > 64) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
  });
}

std::string error_frame(Refusal refusal) {
  // The messages are fixed ASCII without quotes or backslashes: no escaping needed.
  return std::string(R"({"type":"error","error":")") + std::string(close_reason(refusal).message) + "\"}";
}

namespace {

bool contains(const std::vector<std::string>& list, std::string_view value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

}  // namespace

std::size_t token_session_cap(const Grant& grant, std::size_t server_cap) {
  if (grant.token_id.empty()) return 0;
  if (!grant.max_concurrent_sessions || *grant.max_concurrent_sessions <= 0) return server_cap;
  const auto own = static_cast<std::size_t>(*grant.max_concurrent_sessions);
  return server_cap == 0 ? own : std::min(own, server_cap);
}

Refusal check_scope(const Grant& grant, std::string_view model, bool model_known, std::optional<std::string_view> origin) {
  if (!model_known) return Refusal::unknown_model;
  if (grant.models && !contains(*grant.models, model)) return Refusal::model_not_allowed;
  // An origin-scoped token needs an Origin header from the list. Without origins in the
  // token there is nothing to check: server-to-server clients send no Origin at all.
  if (grant.origins && (!origin || !contains(*grant.origins, *origin))) return Refusal::origin_not_allowed;
  return Refusal::none;
}

namespace {

AdmissionVerdict refused(Refusal refusal, std::string reason) {
  AdmissionVerdict verdict;
  verdict.refusal = refusal;
  verdict.reason = std::move(reason);
  return verdict;
}

// Refuses what was judged so far (the grant and claims found stay, for logs and inspect).
AdmissionVerdict& refuse(AdmissionVerdict& verdict, Refusal refusal, std::string reason) {
  verdict.refusal = refusal;
  verdict.reason = std::move(reason);
  return verdict;
}

// A permanent key opens any model, from no particular origin: it is for servers.
AdmissionVerdict judge_permanent_key(std::string_view secret, const AdmissionFacts& facts) {
  const std::optional<KeyStanding> key = facts.key_by_secret(secret);
  if (!key) return refused(Refusal::invalid_api_key, "no permanent key has this secret");
  AdmissionVerdict verdict;
  verdict.grant.key_id = key->id;
  if (key->revoked) refuse(verdict, Refusal::token_revoked, "the key " + key->id + " is revoked");
  return verdict;
}

AdmissionVerdict judge_client_token(std::string_view jwt, const AdmissionFacts& facts) {
  token::Verified verified = facts.verify_token(jwt);
  if (verified.status != token::Status::ok) {
    std::string reason(token::to_string(verified.status));
    if (!verified.detail.empty()) reason += ": " + verified.detail;
    return refused(Refusal::invalid_api_key, std::move(reason));
  }
  AdmissionVerdict verdict;
  const token::Claims& claims = verdict.claims.emplace(std::move(verified.claims));
  // The token names its parent key; one this state does not know cannot vouch for it (a
  // deleted key, another deployment's): the token is no credential here, not a revoked one.
  const std::optional<KeyStanding> parent = facts.key_by_id(claims.sub);
  if (!parent) return refuse(verdict, Refusal::invalid_api_key, "its parent key " + claims.sub + " is unknown");
  verdict.grant.key_id = claims.sub;
  verdict.grant.token_id = claims.jti;
  if (parent->revoked) return refuse(verdict, Refusal::token_revoked, "its parent key " + claims.sub + " is revoked");
  switch (token::check_time(claims, facts.now, facts.leeway_seconds)) {
    case token::TimeStatus::expired:
      return refuse(verdict, Refusal::token_expired,
                    "exp " + std::to_string(claims.exp) + " has passed: no new session may start with it");
    case token::TimeStatus::not_yet_valid:
      return refuse(verdict, Refusal::invalid_api_key,
                    "issued in the future (iat " + std::to_string(claims.iat) + "): check the clocks");
    case token::TimeStatus::valid: break;
  }
  verdict.grant.models = claims.models;
  verdict.grant.origins = claims.origins;
  verdict.grant.max_session_duration = claims.max_session_duration;
  verdict.grant.max_concurrent_sessions = claims.max_concurrent_sessions;
  verdict.grant.max_uses = claims.max_uses;
  verdict.grant.expires_at = claims.exp;
  return verdict;
}

}  // namespace

AdmissionVerdict judge_admission(const AdmissionRequest& request, const AdmissionFacts& facts) {
  if (request.credential.empty()) return refused(Refusal::invalid_api_key, "no credential");
  if (request.credential.size() > kMaxCredentialLength) {
    return refused(Refusal::invalid_api_key, "longer than " + std::to_string(kMaxCredentialLength) + " bytes");
  }
  // Revocations made while the store is out of reach cannot be seen: past the staleness
  // window nothing is admitted (fail closed) until the store answers again.
  if (!facts.state_fresh) return refused(Refusal::store_unavailable, "the state is stale: the store is out of reach");

  AdmissionVerdict verdict;
  switch (classify_credential(request.credential)) {
    case CredentialKind::unknown:
      return refused(Refusal::invalid_api_key, "neither an sk_ key, an ek_ key nor a JWT");
    case CredentialKind::permanent_key:
      verdict = judge_permanent_key(request.credential, facts);
      break;
    case CredentialKind::client_token:
      verdict = judge_client_token(jwt_of(request.credential), facts);
      break;
  }
  if (verdict.refusal != Refusal::none || !request.model) return verdict;

  const std::string_view model = *request.model;
  verdict.refusal = check_scope(verdict.grant, model, facts.serves_model(model), request.origin);
  switch (verdict.refusal) {
    case Refusal::unknown_model: verdict.reason = "this server serves no model of that name"; break;
    case Refusal::model_not_allowed: verdict.reason = "the token's models do not include it"; break;
    case Refusal::origin_not_allowed:
      verdict.reason = request.origin ? "the token's origins do not include it"
                                      : "the token is origin-scoped and the request has no Origin";
      break;
    default: break;
  }
  return verdict;
}

}  // namespace bouncer::policy
