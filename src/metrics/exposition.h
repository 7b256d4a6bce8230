// The Prometheus text exposition format, version 0.0.4
// (https://prometheus.io/docs/instrumenting/exposition_formats/): written by hand, since no
// C++ client library is packaged by Debian, and small enough to check line by line.
//
//   # HELP bouncer_mints_total Mint requests by outcome
//   # TYPE bouncer_mints_total counter
//   bouncer_mints_total{outcome="issued"} 42
#pragma once

#include "metrics/counter.h"

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

namespace bouncer::metrics {

inline constexpr std::string_view kContentType = "text/plain; version=0.0.4; charset=utf-8";

enum class Type { counter, gauge, histogram };
std::string_view to_string(Type type);

struct Label {
  std::string_view name;
  std::string_view value;
};

// [a-zA-Z_:][a-zA-Z0-9_:]* for metric names; the same without ':' for label names, and no
// leading "__" (reserved).
bool valid_metric_name(std::string_view name);
bool valid_label_name(std::string_view name);

// Escapes as the format requires: in HELP text \ and newline; in label values also ".
void append_help(std::string& out, std::string_view help);
void append_label_value(std::string& out, std::string_view value);

// Integers exactly; other numbers in the shortest form that reads back the same; NaN, +Inf, -Inf.
void append_value(std::string& out, double value);
void append_value(std::string& out, std::uint64_t value);

class Exposition {
 public:
  // "# HELP" and "# TYPE" of a family; its samples follow, none of another family in between.
  void family(std::string_view name, Type type, std::string_view help);

  void sample(std::string_view name, std::initializer_list<Label> labels, std::uint64_t value);
  void sample(std::string_view name, std::initializer_list<Label> labels, double value);

  // NAME_bucket{…,le="…"} for each bound and +Inf, then NAME_sum and NAME_count.
  void histogram(std::string_view name, std::initializer_list<Label> labels, const Histogram& histogram);

  const std::string& text() const { return out_; }
  std::string take() { return std::move(out_); }

 private:
  void series(std::string_view name, std::string_view suffix, std::initializer_list<Label> labels,
              const Label* extra = nullptr);

  std::string out_;
};

}  // namespace bouncer::metrics
