// Structured logs: one line per event, as `key=value` text or as JSON (--log-format json).
// Callers pass fields, never whole requests; URLs go through redact_url() first, and every
// string field goes through redact_secrets() on its way out, whatever its name. Each event
// (name and level) writes at most --log-rate-limit lines per second; the rest are counted
// into one `lines_suppressed` line (see line_limiter.h).
#pragma once

#include "log/redact.h"

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <variant>

namespace bouncer::log {

enum class Format { text, json };
enum class Level { debug, info, warn, error };

struct Field {
  using Value = std::variant<std::string_view, std::int64_t, double, bool>;
  std::string_view key;
  Value value;

  Field(std::string_view k, std::string_view v) : key(k), value(v) {}
  Field(std::string_view k, const std::string& v) : key(k), value(std::string_view(v)) {}
  Field(std::string_view k, const char* v) : key(k), value(std::string_view(v)) {}
  template <typename Int>
    requires std::is_integral_v<Int> && (!std::is_same_v<Int, bool>)
  Field(std::string_view k, Int v) : key(k), value(static_cast<std::int64_t>(v)) {}
  Field(std::string_view k, double v) : key(k), value(v) {}
  Field(std::string_view k, bool v) : key(k), value(v) {}
};

inline constexpr std::size_t kDefaultMaxLinesPerSecond = 10;

// Sets the format, the lowest level written (to stderr) and the most lines one event may write
// per second (0 = no limit). Call once at start, before other threads log.
void init(Format format, Level min_level, std::size_t max_lines_per_second = kDefaultMaxLinesPerSecond);
bool parse_level(std::string_view text, Level& out);
bool parse_format(std::string_view text, Format& out);

// Writes one event line, e.g. `2026-11-23T15:40:00.123Z info mint key_id=key_1 status=200`
// or `{"ts":"…","level":"info","event":"mint","key_id":"key_1","status":200}`.
void event(Level level, std::string_view name, std::initializer_list<Field> fields = {});

inline void info(std::string_view name, std::initializer_list<Field> fields = {}) { event(Level::info, name, fields); }
inline void warn(std::string_view name, std::initializer_list<Field> fields = {}) { event(Level::warn, name, fields); }
inline void error(std::string_view name, std::initializer_list<Field> fields = {}) { event(Level::error, name, fields); }
inline void debug(std::string_view name, std::initializer_list<Field> fields = {}) { event(Level::debug, name, fields); }

// Writes the `lines_suppressed` line of every event that has dropped lines and not said so
// yet, its interval ended or not (at shutdown, so that no count is lost).
void flush_suppressed();

// The formatting, exposed for tests. String values are redacted here (redact_secrets).
std::string format_line(Format format, Level level, std::string_view timestamp, std::string_view name,
                        std::initializer_list<Field> fields);

}  // namespace bouncer::log
