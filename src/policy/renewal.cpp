#include "policy/renewal.h"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/string.hpp>
#include <boost/json/value.hpp>

#include <algorithm>

namespace bouncer::policy {
namespace {

constexpr std::string_view kBouncerPrefix = "bouncer.";

}  // namespace

std::optional<BouncerMessage> parse_bouncer_message(std::string_view text) {
  // Most client messages are the upstream's: skip the parse unless the prefix appears at all.
  if (text.find(kBouncerPrefix) == std::string_view::npos) return std::nullopt;
  boost::system::error_code ec;
  const boost::json::value v = boost::json::parse(text, ec);
  if (ec || !v.is_object()) return std::nullopt;
  const auto& object = v.get_object();
  const auto* type = object.if_contains("type");
  if (!type || !type->is_string() || !type->get_string().starts_with(kBouncerPrefix)) return std::nullopt;
  BouncerMessage message;
  message.type = std::string(type->get_string());
  if (const auto* token = object.if_contains("token"); token && token->is_string()) {
    message.token = std::string(token->get_string());
  }
  return message;
}

std::optional<std::string> renewal_refusal(const AdmissionVerdict& verdict, std::string_view session_key_id) {
  if (verdict.refusal != Refusal::none) return std::string(close_reason(verdict.refusal).message);
  // A permanent key is no client token: it renews nothing (and belongs in no browser).
  if (verdict.grant.token_id.empty()) return std::string(close_reason(Refusal::invalid_api_key).message);
  if (verdict.grant.key_id != session_key_id) return std::string("Token of another key not allowed");
  return std::nullopt;
}

std::string renewed_message(const std::optional<std::string>& deadline_rfc3339) {
  std::string out = R"({"type":"bouncer.renewed","deadline":)";
  out += deadline_rfc3339 ? boost::json::serialize(boost::json::string(*deadline_rfc3339)) : "null";
  return out + '}';
}

std::string renew_failed_message(std::string_view error) {
  return R"({"type":"bouncer.renew_failed","error":)" + boost::json::serialize(boost::json::string(error)) + '}';
}

std::string session_expiring_message(std::int64_t seconds_left) {
  return R"({"type":"bouncer.session_expiring","secondsLeft":)" + std::to_string(seconds_left) + '}';
}

std::string unknown_message_error() { return R"({"type":"bouncer.error","error":"Unknown message type"})"; }

std::chrono::seconds expiry_warning_lead(std::chrono::seconds cap) {
  return std::min(std::chrono::seconds(30), cap / 2);
}

}  // namespace bouncer::policy
