// Strict JSON parsing (RFC 8259 + RFC 8725 §3.2 hygiene): Boost.JSON silently keeps one of
// two duplicate keys, which lets "alg" or "exp" be smuggled past one reader and not another,
// so every untrusted JSON document goes through this parser instead.
#pragma once

#include <boost/json/value.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace bouncer::json {

struct Limits {
  std::size_t max_depth = 16;
  std::size_t max_bytes = 64 * 1024;
};

struct ParseResult {
  std::optional<boost::json::value> value;  // set on success
  std::string error;                        // human-readable reason otherwise
};

// Parses `text` as one JSON value. Refuses: invalid UTF-8, duplicate keys in any object at
// any depth, comments, trailing commas or trailing content, nesting deeper than
// limits.max_depth, input longer than limits.max_bytes.
ParseResult parse_strict(std::string_view text, const Limits& limits = {});

}  // namespace bouncer::json
