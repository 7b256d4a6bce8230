// base64url without padding (RFC 4648 §5, as RFC 7515 §2 uses it), strict on decode so that
// every byte string has exactly one accepted encoding (RFC 4648 §3.5 "canonical encoding").
//
// The character mapping is branch-free (same technique as libsodium's sodium_base642bin):
// this code also decodes key material, so no table lookup or branch depends on secret bytes.
#include "token/base64url.h"

namespace bouncer::token {
namespace {

// Masks: 0xFF when the relation holds, 0x00 otherwise; valid for operands < 256.
constexpr unsigned gt(unsigned x, unsigned y) { return ((y - x) >> 8) & 0xFFU; }
constexpr unsigned ge(unsigned x, unsigned y) { return gt(y, x) ^ 0xFFU; }
constexpr unsigned lt(unsigned x, unsigned y) { return gt(y, x); }
constexpr unsigned le(unsigned x, unsigned y) { return ge(y, x); }
constexpr unsigned eq(unsigned x, unsigned y) { return (((0U - (x ^ y)) >> 8) & 0xFFU) ^ 0xFFU; }

// 6-bit value -> one of [A-Za-z0-9-_].
constexpr char to_char(unsigned x) {
  return static_cast<char>((lt(x, 26) & (x + 'A')) | (ge(x, 26) & lt(x, 52) & (x + ('a' - 26))) |
                           (ge(x, 52) & lt(x, 62) & (x + ('0' - 52))) | (eq(x, 62) & '-') |
                           (eq(x, 63) & '_'));
}

// Character -> 6-bit value, or 0xFF when it is outside the base64url alphabet (this includes
// '=', '+', '/', whitespace and every non-ASCII byte).
constexpr unsigned from_char(unsigned c) {
  const unsigned x = (ge(c, 'A') & le(c, 'Z') & (c - 'A')) | (ge(c, 'a') & le(c, 'z') & (c - ('a' - 26))) |
                     (ge(c, '0') & le(c, '9') & (c - ('0' - 52))) | (eq(c, '-') & 62U) | (eq(c, '_') & 63U);
  return x | (eq(x, 0) & (eq(c, 'A') ^ 0xFFU));
}

static_assert(to_char(0) == 'A' && to_char(25) == 'Z' && to_char(26) == 'a' && to_char(51) == 'z' &&
              to_char(52) == '0' && to_char(61) == '9' && to_char(62) == '-' && to_char(63) == '_');
static_assert(from_char('A') == 0 && from_char('_') == 63 && from_char('-') == 62 && from_char('=') == 0xFF &&
              from_char('+') == 0xFF && from_char('/') == 0xFF && from_char(' ') == 0xFF && from_char(0x80) == 0xFF);

}  // namespace

void base64url_append(std::string& out, std::span<const std::uint8_t> data) {
  // Sized once and written through a pointer: the hot path of signing a token.
  const std::size_t full = data.size() / 3;
  const std::size_t rest = data.size() % 3;
  const std::size_t at = out.size();
  out.resize(at + full * 4 + (rest ? rest + 1 : 0));
  char* p = out.data() + at;
  const std::uint8_t* in = data.data();
  for (std::size_t i = 0; i < full; ++i, in += 3) {
    const unsigned v = (unsigned{in[0]} << 16) | (unsigned{in[1]} << 8) | in[2];
    *p++ = to_char((v >> 18) & 63);
    *p++ = to_char((v >> 12) & 63);
    *p++ = to_char((v >> 6) & 63);
    *p++ = to_char(v & 63);
  }
  if (rest) {
    const unsigned v = (unsigned{in[0]} << 16) | (rest == 2 ? unsigned{in[1]} << 8 : 0U);
    *p++ = to_char((v >> 18) & 63);
    *p++ = to_char((v >> 12) & 63);
    if (rest == 2) *p++ = to_char((v >> 6) & 63);
  }
}

void base64url_append(std::string& out, std::string_view data) {
  base64url_append(out, std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(data.data()), data.size()));
}

std::string base64url_encode(std::span<const std::uint8_t> data) {
  std::string out;
  base64url_append(out, data);
  return out;
}

std::string base64url_encode(std::string_view data) {
  std::string out;
  base64url_append(out, data);
  return out;
}

std::optional<std::string> base64url_decode(std::string_view text) {
  // One leftover character carries only 6 bits: no byte can end there.
  if (text.size() % 4 == 1) return std::nullopt;
  std::string out;
  out.reserve(text.size() / 4 * 3 + 2);
  unsigned acc = 0;   // pending bits, most recent in the low end
  unsigned bits = 0;  // how many of them
  unsigned bad = 0;   // non-zero once any character was outside the alphabet
  for (const char ch : text) {
    const unsigned v = from_char(static_cast<unsigned char>(ch));
    bad |= v >> 6;
    acc = ((acc << 6) | (v & 63U)) & 0xFFFU;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xFFU));
    }
  }
  // The bits left over (4 after 2 final chars, 2 after 3) must be zero, or several
  // encodings would decode to the same bytes (RFC 4648 §3.5).
  bad |= acc & ((1U << bits) - 1U);
  if (bad != 0) return std::nullopt;
  return out;
}

}  // namespace bouncer::token
