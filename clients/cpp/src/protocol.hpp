// The frames of Bouncer's own within a session, told apart from the application's:
//   {"type":"error","error":R}                     then close (code, R): a refusal
//   {"type":"session_ended","reason":…,"seconds":N} then close 1000 max_session_duration
//   {"type":"bouncer.…", …}                         always Bouncer's (renewal, expiry warning)
// The first two shapes could also be a model's own message; they are Bouncer's only when the
// close that follows confirms them.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace bouncer::client::detail {

struct Notice {
  enum class Kind {
    none,              // application data
    error,             // a refusal, if the close that follows has `text` as its reason
    session_ended,     // the cap passed, if close 1000 "max_session_duration" follows
    renewed,           // bouncer.renewed: `deadline`
    renew_failed,      // bouncer.renew_failed: `text`
    session_expiring,  // bouncer.session_expiring: `seconds`
    bouncer_error,     // bouncer.error: `text`, Bouncer did not know a bouncer.* message we sent
    other_bouncer,     // a bouncer.* message this client does not know: not the application's
  };
  Kind kind = Kind::none;
  std::string text;
  int seconds = 0;
  std::optional<std::string> deadline;
};

Notice read_notice(std::string_view text);

// Whether a close confirms the held notice as Bouncer's.
bool close_confirms(const Notice& notice, int close_code, std::string_view close_reason);

inline constexpr std::string_view kMaxSessionDurationReason = "max_session_duration";

// {"type":"bouncer.renew","token":…}
std::string renew_request(std::string_view token);

// Resume ids: 16–64 characters of [A-Za-z0-9_-].
bool is_valid_resume_id(std::string_view id);

}  // namespace bouncer::client::detail
