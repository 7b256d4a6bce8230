// Canonical web origins (docs/API.md): parse a string the way the WHATWG URL Standard parses
// an http(s) URL and serialise its origin. Pure: no I/O.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace bouncer::origin {

inline constexpr std::size_t kMaxOriginLength = 253;

// check() refuses longer input as invalid ("too long") before parsing it, so that untrusted
// text costs bounded work. Far above kMaxOriginLength: the caller's cap is the policy.
inline constexpr std::size_t kMaxInputLength = 8 * 1024;

enum class Verdict {
  canonical,      // the input is exactly a canonical origin
  not_canonical,  // the input parses as an http(s) URL; `canonical` holds its origin
  invalid,        // the input is not an http(s) URL at all
};

struct Check {
  Verdict verdict = Verdict::invalid;
  std::string canonical;  // the origin's serialisation when verdict != invalid
  std::string problem;    // why it is not canonical / invalid, e.g. "trailing slash",
                          // "default port", "upper-case letters", "credentials",
                          // "missing scheme", "unsupported scheme", "invalid host"
};

// Classifies `input` (no origin length cap here; callers apply kMaxOriginLength, and refuse
// duplicates by comparing `canonical`). `null`, the empty string, non-http(s) schemes, input
// that is not UTF-8 or is longer than kMaxInputLength, and every URL-Standard parse failure
// are `invalid`; input the URL Standard would repair (surrounding whitespace, tabs,
// backslashes, a path...) is `not_canonical` with the origin it repairs to, and `problem`
// lists the repairs, comma-separated ("upper-case letters, trailing slash").
Check check(std::string_view input);

}  // namespace bouncer::origin
