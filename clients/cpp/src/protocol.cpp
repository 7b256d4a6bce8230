#include "protocol.hpp"

#include <boost/json.hpp>

#include <cctype>
#include <limits>

namespace bouncer::client::detail {

namespace json = boost::json;

namespace {

// Bouncer's notices are small; a large message is the application's, and is not parsed.
constexpr std::size_t kLargestNotice = 64 * 1024;

const json::string* string_member(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v ? v->if_string() : nullptr;
}

std::optional<int> int_member(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  if (!v) return std::nullopt;
  if (const auto* i = v->if_int64(); i && *i >= 0 && *i <= std::numeric_limits<int>::max()) return static_cast<int>(*i);
  if (const auto* u = v->if_uint64(); u && *u <= static_cast<std::uint64_t>(std::numeric_limits<int>::max())) {
    return static_cast<int>(*u);
  }
  return std::nullopt;
}

Notice bouncer_notice(std::string_view type, const json::object& o) {
  Notice n;
  n.kind = Notice::Kind::other_bouncer;
  if (type == "bouncer.renewed") {
    n.kind = Notice::Kind::renewed;
    if (const auto* d = string_member(o, "deadline")) n.deadline = std::string(*d);
  } else if (type == "bouncer.renew_failed") {
    n.kind = Notice::Kind::renew_failed;
    if (const auto* e = string_member(o, "error")) n.text = std::string(*e);
  } else if (type == "bouncer.error") {
    n.kind = Notice::Kind::bouncer_error;
    if (const auto* e = string_member(o, "error")) n.text = std::string(*e);
  } else if (type == "bouncer.session_expiring") {
    n.kind = Notice::Kind::session_expiring;
    n.seconds = int_member(o, "secondsLeft").value_or(0);
  }
  return n;
}

Notice legacy_notice(std::string_view type, const json::object& o) {
  Notice n;
  if (type == "error" && o.size() == 2) {
    if (const auto* e = string_member(o, "error")) {
      n.kind = Notice::Kind::error;
      n.text = std::string(*e);
    }
  } else if (type == "session_ended") {
    const auto* reason = string_member(o, "reason");
    const auto seconds = int_member(o, "seconds");
    if (reason && seconds) {
      n.kind = Notice::Kind::session_ended;
      n.text = std::string(*reason);
      n.seconds = *seconds;
    }
  }
  return n;
}

}  // namespace

Notice read_notice(std::string_view text) {
  if (text.size() > kLargestNotice || text.find("\"type\"") == std::string_view::npos) return {};
  boost::system::error_code ec;
  const auto value = json::parse(text, ec);
  if (ec || !value.is_object()) return {};
  const auto& o = value.get_object();
  const auto* type = string_member(o, "type");
  if (!type) return {};
  const std::string_view t(*type);
  if (t.starts_with("bouncer.")) return bouncer_notice(t, o);
  return legacy_notice(t, o);
}

bool close_confirms(const Notice& notice, int close_code, std::string_view close_reason) {
  switch (notice.kind) {
    case Notice::Kind::error: return close_reason == notice.text;
    case Notice::Kind::session_ended: return close_code == 1000 && close_reason == kMaxSessionDurationReason;
    default: return false;
  }
}

std::string renew_request(std::string_view token) {
  return json::serialize(json::object{{"type", "bouncer.renew"}, {"token", token}});
}

bool is_valid_resume_id(std::string_view id) {
  if (id.size() < 16 || id.size() > 64) return false;
  for (const char c : id) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') return false;
  }
  return true;
}

}  // namespace bouncer::client::detail
