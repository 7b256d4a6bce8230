#include "metrics/exposition.h"

#include <charconv>
#include <cmath>

namespace bouncer::metrics {
namespace {

bool name_char(char c, bool first, bool colon_allowed) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_') return true;
  if (colon_allowed && c == ':') return true;
  return !first && c >= '0' && c <= '9';
}

bool valid_name(std::string_view name, bool colon_allowed) {
  if (name.empty()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    if (!name_char(name[i], i == 0, colon_allowed)) return false;
  }
  return true;
}

}  // namespace

std::string_view to_string(Type type) {
  switch (type) {
    case Type::counter: return "counter";
    case Type::gauge: return "gauge";
    case Type::histogram: return "histogram";
  }
  return "untyped";
}

bool valid_metric_name(std::string_view name) { return valid_name(name, true); }

bool valid_label_name(std::string_view name) { return valid_name(name, false) && !name.starts_with("__"); }

void append_help(std::string& out, std::string_view help) {
  for (const char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
}

void append_label_value(std::string& out, std::string_view value) {
  for (const char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
}

void append_value(std::string& out, std::uint64_t value) {
  char buf[24];
  const auto end = std::to_chars(buf, buf + sizeof buf, value).ptr;
  out.append(buf, end);
}

void append_value(std::string& out, double value) {
  if (std::isnan(value)) {
    out += "NaN";
  } else if (std::isinf(value)) {
    out += value > 0 ? "+Inf" : "-Inf";
  } else {
    // The shortest digits that read back the same, in plain notation for everyday magnitudes
    // (le="0.0005", as other Prometheus clients write it, not "5e-04"), else in the shorter.
    char buf[64];
    const double magnitude = std::fabs(value);
    const bool plain = magnitude == 0 || (magnitude >= 1e-4 && magnitude < 1e15);
    const auto end = plain ? std::to_chars(buf, buf + sizeof buf, value, std::chars_format::fixed).ptr
                           : std::to_chars(buf, buf + sizeof buf, value).ptr;
    out.append(buf, end);
  }
}

void Exposition::family(std::string_view name, Type type, std::string_view help) {
  out_ += "# HELP ";
  out_ += name;
  out_ += ' ';
  append_help(out_, help);
  out_ += "\n# TYPE ";
  out_ += name;
  out_ += ' ';
  out_ += to_string(type);
  out_ += '\n';
}

void Exposition::series(std::string_view name, std::string_view suffix, std::initializer_list<Label> labels,
                        const Label* extra) {
  out_ += name;
  out_ += suffix;
  if (labels.size() == 0 && !extra) {
    out_ += ' ';
    return;
  }
  out_ += '{';
  bool first = true;
  auto add = [&](const Label& label) {
    if (!first) out_ += ',';
    first = false;
    out_ += label.name;
    out_ += "=\"";
    append_label_value(out_, label.value);
    out_ += '"';
  };
  for (const auto& label : labels) add(label);
  if (extra) add(*extra);
  out_ += "} ";
}

void Exposition::sample(std::string_view name, std::initializer_list<Label> labels, std::uint64_t value) {
  series(name, {}, labels);
  append_value(out_, value);
  out_ += '\n';
}

void Exposition::sample(std::string_view name, std::initializer_list<Label> labels, double value) {
  series(name, {}, labels);
  append_value(out_, value);
  out_ += '\n';
}

void Exposition::histogram(std::string_view name, std::initializer_list<Label> labels, const Histogram& histogram) {
  const auto snapshot = histogram.snapshot();
  const auto& bounds = histogram.upper_bounds();
  std::string le;
  for (std::size_t i = 0; i <= bounds.size(); ++i) {
    le.clear();
    if (i < bounds.size()) {
      // A quotient of two exact integers is correctly rounded: 500000 / 1e9 prints "0.0005".
      append_value(le, static_cast<double>(bounds[i]) / histogram.divisor());
    } else {
      le = "+Inf";
    }
    const Label bucket{"le", le};
    series(name, "_bucket", labels, &bucket);
    append_value(out_, snapshot.cumulative[i]);
    out_ += '\n';
  }
  series(name, "_sum", labels);
  append_value(out_, static_cast<double>(snapshot.sum) / histogram.divisor());
  out_ += '\n';
  series(name, "_count", labels);
  append_value(out_, snapshot.cumulative.back());
  out_ += '\n';
}

}  // namespace bouncer::metrics
