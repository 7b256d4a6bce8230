#include "log/log.h"

#include "json/write.h"

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
          format == Format::json ? json::append_string(out, v) : append_text_value(out, v);
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

bool is_credential_param(std::string_view name) {
  return name == "api_key" || name == "token" || name == "key" || name == "access_token";
}

}  // namespace

void init(Format format, Level min_level) {
  g_format = format;
  g_min_level = min_level;
  logger();
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
  const auto line = format_line(g_format.load(std::memory_order_relaxed), level, now_rfc3339_millis(), name, fields);
  logger()->info(line);
}

std::string redact_url(std::string_view target) {
  const auto q = target.find('?');
  if (q == std::string_view::npos) return std::string(target);
  std::string out(target.substr(0, q + 1));
  std::string_view query = target.substr(q + 1);
  bool first = true;
  while (true) {
    const auto amp = query.find('&');
    const auto part = query.substr(0, amp);
    if (!first) out.push_back('&');
    first = false;
    const auto eq = part.find('=');
    const auto name = part.substr(0, eq);
    if (eq != std::string_view::npos && is_credential_param(name)) {
      out += name;
      out += "=REDACTED";
    } else {
      out += part;
    }
    if (amp == std::string_view::npos) break;
    query = query.substr(amp + 1);
  }
  return out;
}

}  // namespace bouncer::log
