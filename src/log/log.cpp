#include "log/log.h"

#include "json/write.h"
#include "log/line_limiter.h"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <memory>

namespace bouncer::log {
namespace {

std::atomic<Format> g_format{Format::text};
std::atomic<Level> g_min_level{Level::info};

LineLimiter& limiter() {
  static LineLimiter instance(kDefaultMaxLinesPerSecond, std::chrono::seconds(1));
  return instance;
}

std::shared_ptr<spdlog::logger> logger() {
  // stderr, no pattern of spdlog's own: every line is formatted here so text and JSON
  // share one code path. The mutex sink keeps lines from different threads whole.
  static const auto instance = [] {
    auto l = std::make_shared<spdlog::logger>("bouncer", std::make_shared<spdlog::sinks::stderr_sink_mt>());
    l->set_pattern("%v");
    l->set_level(spdlog::level::trace);
    l->flush_on(spdlog::level::trace);
    return l;
  }();
  return instance;
}

std::string_view level_name(Level level) {
  switch (level) {
    case Level::debug: return "debug";
    case Level::info: return "info";
    case Level::warn: return "warn";
    case Level::error: return "error";
  }
  return "info";
}

// Text values are quoted only when they would otherwise be ambiguous.
void append_text_value(std::string& out, std::string_view s) {
  bool plain = !s.empty();
  for (unsigned char c : s) {
    if (c <= ' ' || c == '"' || c == '=' || c == '\\' || c >= 0x7f) plain = false;
  }
  if (plain) {
    out += s;
  } else {
    json::append_string(out, s);
  }
}

void append_value(std::string& out, Format format, const Field::Value& value) {
  std::visit(
      [&](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::string_view>) {
          // Every string field, whatever its name: a secret can hide in an error message,
          // a model name or a peer's close reason as well as in a URL.
          std::string redacted;
          std::string_view safe = v;
          if (contains_secret(v)) {
            redacted = redact_secrets(v);
            safe = redacted;
          }
          format == Format::json ? json::append_string(out, safe) : append_text_value(out, safe);
        } else if constexpr (std::is_same_v<T, bool>) {
          out += v ? "true" : "false";
        } else {
          out += std::to_string(v);
        }
      },
      value);
}

std::string now_rfc3339_millis() {
  const auto now = std::chrono::system_clock::now();
  const auto secs = std::chrono::system_clock::to_time_t(now);
  const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  std::array<char, 40> buf{};
  const auto n = std::strftime(buf.data(), buf.size(), "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(buf.data() + n, buf.size() - n, ".%03dZ", static_cast<int>(millis));
  return buf.data();
}

void write_line(Level level, std::string_view name, std::initializer_list<Field> fields) {
  const auto line = format_line(g_format.load(std::memory_order_relaxed), level, now_rfc3339_millis(), name, fields);
  logger()->info(line);
}

void write_suppressed(const LineLimiter::Suppressed& s) {
  const auto interval = std::chrono::duration_cast<std::chrono::milliseconds>(limiter().interval()).count();
  write_line(s.level, "lines_suppressed",
             {{"event", s.event}, {"count", s.count}, {"limit", limiter().max_lines()}, {"interval_ms", interval}});
}

}  // namespace

void init(Format format, Level min_level, std::size_t max_lines_per_second) {
  g_format = format;
  g_min_level = min_level;
  limiter().set_max_lines(max_lines_per_second);
  logger();
}

void flush_suppressed() {
  for (const auto& s : limiter().take_all()) write_suppressed(s);
}

bool parse_level(std::string_view text, Level& out) {
  for (Level l : {Level::debug, Level::info, Level::warn, Level::error}) {
    if (text == level_name(l)) {
      out = l;
      return true;
    }
  }
  return false;
}

bool parse_format(std::string_view text, Format& out) {
  if (text == "text") out = Format::text;
  else if (text == "json") out = Format::json;
  else return false;
  return true;
}

std::string format_line(Format format, Level level, std::string_view timestamp, std::string_view name,
                        std::initializer_list<Field> fields) {
  std::string line;
  line.reserve(128);
  if (format == Format::json) {
    line += "{\"ts\":";
    json::append_string(line, timestamp);
    line += ",\"level\":";
    json::append_string(line, level_name(level));
    line += ",\"event\":";
    json::append_string(line, name);
    for (const auto& f : fields) {
      line.push_back(',');
      json::append_string(line, f.key);
      line.push_back(':');
      append_value(line, format, f.value);
    }
    line.push_back('}');
  } else {
    line += timestamp;
    line.push_back(' ');
    line += level_name(level);
    line.push_back(' ');
    line += name;
    for (const auto& f : fields) {
      line.push_back(' ');
      line += f.key;
      line.push_back('=');
      append_value(line, format, f.value);
    }
  }
  return line;
}

void event(Level level, std::string_view name, std::initializer_list<Field> fields) {
  if (level < g_min_level.load(std::memory_order_relaxed)) return;
  auto& lim = limiter();
  const auto now = LineLimiter::Clock::now();
  // Counts of other events whose interval has ended are told now, not at their next line.
  for (const auto& s : lim.take_ended(now)) write_suppressed(s);
  std::uint64_t ended_suppressed = 0;
  const bool admitted = lim.admit(name, level, now, ended_suppressed);
  if (ended_suppressed > 0) write_suppressed({std::string(name), level, ended_suppressed});
  if (admitted) write_line(level, name, fields);
}

}  // namespace bouncer::log
