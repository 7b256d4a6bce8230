// Well-formed UTF-8 (RFC 3629 §4): no overlong forms, no surrogates, nothing past U+10FFFF.
// Pure and header-only: origins (IDNA input) and close frames' reasons are checked with it.
#pragma once

#include <cstddef>
#include <string_view>

namespace bouncer::text {

// Length of the well-formed sequence at the start of s[0..n), or 0 when there is none (an
// invalid byte, or a sequence cut short by the end).
inline std::size_t utf8_sequence_length(const unsigned char* s, std::size_t n) {
  if (n == 0) return 0;
  const unsigned char b0 = s[0];
  if (b0 < 0x80) return 1;
  std::size_t len = 0;
  unsigned char lo = 0x80;  // the second byte's range
  unsigned char hi = 0xBF;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    len = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    len = 3;
    if (b0 == 0xE0) lo = 0xA0;  // overlong
    if (b0 == 0xED) hi = 0x9F;  // surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    len = 4;
    if (b0 == 0xF0) lo = 0x90;  // overlong
    if (b0 == 0xF4) hi = 0x8F;  // past U+10FFFF
  } else {
    return 0;
  }
  if (n < len) return 0;
  if (s[1] < lo || s[1] > hi) return 0;
  for (std::size_t i = 2; i < len; ++i) {
    if (s[i] < 0x80 || s[i] > 0xBF) return 0;
  }
  return len;
}

inline bool is_valid_utf8(const unsigned char* s, std::size_t n) {
  for (std::size_t i = 0; i < n;) {
    const std::size_t len = utf8_sequence_length(s + i, n - i);
    if (len == 0) return false;
    i += len;
  }
  return true;
}

inline bool is_valid_utf8(std::string_view s) {
  return is_valid_utf8(reinterpret_cast<const unsigned char*>(s.data()), s.size());
}

}  // namespace bouncer::text
