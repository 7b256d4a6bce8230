#include "policy/admission.h"

#include <algorithm>

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
  }
  return "refused_other";
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

}  // namespace bouncer::policy
