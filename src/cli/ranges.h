// The values each numeric option accepts, in one place. The command line checks a flag or a
// BOUNCER_* variable against its range while it parses, and `--help` shows the range at the end
// of the option's text ("[between 0 and 600]"); to_server_options checks every final value (the configuration file's included)
// against the same range, so the three sources give the same message.
#pragma once

#include "server/options.h"

#include <CLI/CLI.hpp>

#include <cstdint>
#include <optional>
#include <string>

namespace bouncer::cli {

struct Range {
  double min = 0;
  std::optional<double> max;  // none: no upper bound

  // "between 0 and 600", or "≥ 0" with no upper bound.
  std::string describe() const;
  bool contains(double value) const { return value >= min && (!max || value <= *max); }
  // Throws std::runtime_error "FLAG must be between 0 and 600, got 900" unless it contains `value`.
  void require(const std::string& flag, double value) const;
};

// A CLI11 validator for `range`: its error says "must be ≥ 0, got -1" (CLI11 puts the option's
// name in front), never CLI11's own Range message with its 300-digit bounds.
CLI::Validator range_validator(const Range& range);

namespace ranges {
inline constexpr std::int64_t kMiB = 1024 * 1024;
inline const Range threads{0, std::nullopt};
inline const Range leeway_seconds{0, server::Options::kMaxLeewaySeconds};
inline const Range mint_rate_per_key{0, std::nullopt};
inline const Range mint_burst{0, std::nullopt};
inline const Range max_body_bytes{1024, 16 * kMiB};
inline const Range max_header_bytes{1024, kMiB};
inline const Range max_connections{1, std::nullopt};
inline const Range first_byte_timeout_seconds{1, 300};
// A whole request has server::Options::read_timeout from its first byte: its headers cannot have longer.
inline const Range header_timeout_seconds{1, static_cast<double>(server::Options{}.read_timeout.count())};
inline const Range invalid_credentials_window_seconds{1, 3600};
inline const Range invalid_credentials_penalty_seconds{1, 3600};
inline const Range max_sessions_per_key{0, std::nullopt};
inline const Range max_sessions_per_token{0, 1000};
inline const Range max_message_bytes{1024, 64 * kMiB};
inline const Range session_idle_timeout_seconds{5, 3600};
inline const Range upstream_connect_timeout_seconds{1, 120};
inline const Range store_staleness_seconds{1, 3600};
inline const Range session_lease_seconds{3, 600};
}  // namespace ranges

}  // namespace bouncer::cli
