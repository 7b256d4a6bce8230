#include "cli/ranges.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <stdexcept>

namespace bouncer::cli {
namespace {

// Whole numbers as such (16777216, not 1.67772e+07); CLI11's own Range prints the bounds with
// std::to_string, which writes the largest double as a 300-digit number.
std::string number(double v) {
  if (std::nearbyint(v) == v && std::fabs(v) < 9.0e15) return std::to_string(static_cast<std::int64_t>(v));
  std::string s = std::to_string(v);
  while (s.size() > 1 && s.back() == '0') s.pop_back();
  if (!s.empty() && s.back() == '.') s.pop_back();
  return s;
}

std::string violation(const Range& range, const std::string& got) {
  return "must be " + range.describe() + ", got " + got;
}

}  // namespace

std::string Range::describe() const {
  if (!max) return "≥ " + number(min);
  return "between " + number(min) + " and " + number(*max);
}

void Range::require(const std::string& flag, double value) const {
  if (!std::isfinite(value) || !contains(value)) throw std::runtime_error(flag + " " + violation(*this, number(value)));
}

CLI::Validator range_validator(const Range& range) {
  return CLI::Validator(
      [range](std::string& input) -> std::string {
        errno = 0;
        char* end = nullptr;
        const double value = std::strtod(input.c_str(), &end);
        // Not a number at all: the option's own conversion says so, naming the type.
        if (input.empty() || end != input.c_str() + input.size() || errno == ERANGE) return {};
        return std::isfinite(value) && range.contains(value) ? std::string() : violation(range, input);
      },
      "");  // the range goes in the option's help text, not after its type
}

}  // namespace bouncer::cli
