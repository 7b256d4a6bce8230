// Host parsing for special schemes, step by step as in the URL Standard §3.5
// (https://url.spec.whatwg.org/#concept-host-parser), with the IPv4 and IPv6 parsers and
// serializers it relies on. Every "return failure" of the standard is a std::nullopt here.
#include "origin/host.h"

#include "origin/idna.h"
#include "text/utf8.h"

#include <cstddef>
#include <utility>
#include <vector>

namespace bouncer::origin::detail {
namespace {

bool is_ascii_digit(char c) { return c >= '0' && c <= '9'; }

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The standard's "strictly split" on '.': empty items are kept.
std::vector<std::string_view> split_on_dots(std::string_view s) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  for (;;) {
    const std::size_t dot = s.find('.', start);
    if (dot == std::string_view::npos) {
      parts.push_back(s.substr(start));
      return parts;
    }
    parts.push_back(s.substr(start, dot - start));
    start = dot + 1;
  }
}

// https://url.spec.whatwg.org/#ipv4-number-parser. Values saturate just above 2^32: anything
// that large fails the IPv4 parser anyway, and saturating keeps a 10,000-digit part from
// overflowing.
std::optional<std::uint64_t> parse_ipv4_number(std::string_view input) {
  if (input.empty()) return std::nullopt;
  unsigned radix = 10;
  if (input.size() >= 2 && input[0] == '0' && (input[1] == 'x' || input[1] == 'X')) {
    input.remove_prefix(2);
    radix = 16;
  } else if (input.size() >= 2 && input[0] == '0') {
    input.remove_prefix(1);
    radix = 8;
  }
  if (input.empty()) return 0;  // "0x" and "0" alone are zero
  constexpr std::uint64_t kSaturated = std::uint64_t{1} << 33;
  std::uint64_t value = 0;
  for (const char c : input) {
    const int digit = hex_value(c);
    if (digit < 0 || static_cast<unsigned>(digit) >= radix) return std::nullopt;
    value = value * radix + static_cast<unsigned>(digit);
    if (value > kSaturated) value = kSaturated;
  }
  return value;
}

// https://url.spec.whatwg.org/#forbidden-domain-code-point (a superset of the forbidden host
// code points). Applied to the ASCII result of domain to ASCII, so bytes suffice.
bool is_forbidden_domain_code_point(char c) {
  const auto u = static_cast<unsigned char>(c);
  if (u <= 0x20 || u == 0x7F) return true;  // C0 controls, space, DEL
  switch (c) {
    case '#': case '%': case '/': case ':': case '<': case '>': case '?':
    case '@': case '[': case '\\': case ']': case '^': case '|':
      return true;
    default:
      return false;
  }
}

// A domain that went through UTS #46 must be ASCII; a non-ASCII byte here would be a bug in
// the IDNA layer, and treating it as failure keeps the "canonical is ASCII" promise.
bool is_valid_ascii_domain(std::string_view s) {
  for (const char c : s) {
    if (static_cast<unsigned char>(c) >= 0x80 || is_forbidden_domain_code_point(c)) return false;
  }
  return true;
}

}  // namespace

bool is_valid_utf8(std::string_view s) { return text::is_valid_utf8(s); }

std::string percent_decode(std::string_view input) {
  std::string out;
  out.reserve(input.size());
  for (std::size_t i = 0; i < input.size(); ++i) {
    if (input[i] == '%' && i + 2 < input.size() && hex_value(input[i + 1]) >= 0 && hex_value(input[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex_value(input[i + 1]) * 16 + hex_value(input[i + 2])));
      i += 2;
    } else {
      out.push_back(input[i]);  // a '%' without two hex digits stays as it is
    }
  }
  return out;
}

bool ends_in_a_number(std::string_view input) {
  std::vector<std::string_view> parts = split_on_dots(input);
  if (parts.back().empty()) {
    if (parts.size() == 1) return false;
    parts.pop_back();  // one trailing dot is allowed: "127.0.0.1."
  }
  const std::string_view last = parts.back();
  if (!last.empty()) {
    bool all_digits = true;
    for (const char c : last) all_digits = all_digits && is_ascii_digit(c);
    if (all_digits) return true;
  }
  return parse_ipv4_number(last).has_value();  // "0x", "0x7f" and friends
}

std::optional<std::uint32_t> parse_ipv4(std::string_view input) {
  std::vector<std::string_view> parts = split_on_dots(input);
  if (parts.back().empty() && parts.size() > 1) parts.pop_back();
  if (parts.size() > 4) return std::nullopt;
  std::vector<std::uint64_t> numbers;
  for (const std::string_view part : parts) {
    const std::optional<std::uint64_t> n = parse_ipv4_number(part);
    if (!n) return std::nullopt;
    numbers.push_back(*n);
  }
  for (std::size_t i = 0; i + 1 < numbers.size(); ++i) {
    if (numbers[i] > 255) return std::nullopt;
  }
  // The last number fills the bytes the earlier ones left: "127.1" is 127.0.0.1.
  const std::uint64_t limit = std::uint64_t{1} << (8 * (5 - numbers.size()));
  if (numbers.back() >= limit) return std::nullopt;
  std::uint64_t address = numbers.back();
  for (std::size_t i = 0; i + 1 < numbers.size(); ++i) address += numbers[i] << (8 * (3 - i));
  return static_cast<std::uint32_t>(address);
}

std::string serialize_ipv4(std::uint32_t address) {
  std::string out;
  for (int shift = 24; shift >= 0; shift -= 8) {
    out += std::to_string((address >> shift) & 0xFF);
    if (shift != 0) out += '.';
  }
  return out;
}

// https://url.spec.whatwg.org/#concept-ipv6-parser, transcribed with an index for "pointer".
std::optional<Ipv6Address> parse_ipv6(std::string_view input) {
  Ipv6Address address{};
  std::size_t piece = 0;
  std::optional<std::size_t> compress;
  std::size_t p = 0;
  const auto at = [&](std::size_t i) -> char { return i < input.size() ? input[i] : '\0'; };
  const auto eof = [&] { return p >= input.size(); };

  if (at(p) == ':') {
    if (at(p + 1) != ':') return std::nullopt;
    p += 2;
    ++piece;
    compress = piece;
  }
  while (!eof()) {
    if (piece == 8) return std::nullopt;
    if (input[p] == ':') {
      if (compress) return std::nullopt;  // a second "::"
      ++p;
      ++piece;
      compress = piece;
      continue;
    }
    unsigned value = 0;
    std::size_t length = 0;
    while (length < 4 && !eof() && hex_value(input[p]) >= 0) {
      value = value * 0x10 + static_cast<unsigned>(hex_value(input[p]));
      ++p;
      ++length;
    }
    if (!eof() && input[p] == '.') {
      // An embedded IPv4 address fills the last two pieces: "::ffff:1.2.3.4".
      if (length == 0) return std::nullopt;
      p -= length;
      if (piece > 6) return std::nullopt;
      int numbers_seen = 0;
      while (!eof()) {
        std::optional<unsigned> ipv4_piece;
        if (numbers_seen > 0) {
          if (input[p] == '.' && numbers_seen < 4) {
            ++p;
          } else {
            return std::nullopt;
          }
        }
        if (eof() || !is_ascii_digit(input[p])) return std::nullopt;
        while (!eof() && is_ascii_digit(input[p])) {
          const auto number = static_cast<unsigned>(input[p] - '0');
          if (!ipv4_piece) {
            ipv4_piece = number;
          } else if (*ipv4_piece == 0) {
            return std::nullopt;  // no leading zeros
          } else {
            ipv4_piece = *ipv4_piece * 10 + number;
          }
          if (*ipv4_piece > 255) return std::nullopt;
          ++p;
        }
        address[piece] = static_cast<std::uint16_t>(address[piece] * 0x100 + *ipv4_piece);
        ++numbers_seen;
        if (numbers_seen == 2 || numbers_seen == 4) ++piece;
      }
      if (numbers_seen != 4) return std::nullopt;
      break;
    }
    if (!eof() && input[p] == ':') {
      ++p;
      if (eof()) return std::nullopt;  // a trailing single ':'
    } else if (!eof()) {
      return std::nullopt;
    }
    address[piece] = static_cast<std::uint16_t>(value);
    ++piece;
  }
  if (compress) {
    // Move the pieces after "::" to the end.
    std::size_t swaps = piece - *compress;
    piece = 7;
    while (piece != 0 && swaps > 0) {
      std::swap(address[piece], address[*compress + swaps - 1]);
      --piece;
      --swaps;
    }
  } else if (piece != 8) {
    return std::nullopt;
  }
  return address;
}

// https://url.spec.whatwg.org/#concept-ipv6-serializer: lower-case hex without leading
// zeros, the first longest run of two or more zero pieces written "::".
std::string serialize_ipv6(const Ipv6Address& address) {
  std::optional<std::size_t> compress;
  std::size_t best_length = 1;
  for (std::size_t i = 0; i < 8;) {
    if (address[i] != 0) {
      ++i;
      continue;
    }
    std::size_t j = i;
    while (j < 8 && address[j] == 0) ++j;
    if (j - i > best_length) {
      best_length = j - i;
      compress = i;
    }
    i = j;
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  bool ignore_zero = false;
  for (std::size_t i = 0; i < 8; ++i) {
    if (ignore_zero && address[i] == 0) continue;
    ignore_zero = false;
    if (compress == i) {
      out += (i == 0) ? "::" : ":";
      ignore_zero = true;
      continue;
    }
    std::string piece;
    unsigned v = address[i];
    do {
      piece.insert(piece.begin(), kHex[v & 0xF]);
      v >>= 4;
    } while (v != 0);
    out += piece;
    if (i != 7) out += ':';
  }
  return out;
}

HostParse parse_host(std::string_view input) {
  if (!input.empty() && input.front() == '[') {
    if (input.size() < 2 || input.back() != ']') return {std::nullopt, "unclosed IPv6 address"};
    const std::optional<Ipv6Address> address = parse_ipv6(input.substr(1, input.size() - 2));
    if (!address) return {std::nullopt, "invalid IPv6 address"};
    // Appended, not `"[" + string&&`: GCC 12 -O3 reports a false -Wrestrict there (GCC PR 105329).
    std::string bracketed = "[";
    bracketed.append(serialize_ipv6(*address)).append("]");
    return {Host{HostKind::ipv6, std::move(bracketed)}, {}};
  }
  if (input.empty()) return {std::nullopt, "missing host"};

  const std::string domain = percent_decode(input);
  // The standard decodes with "UTF-8 decode without BOM", turning bad sequences into U+FFFD,
  // which UTS #46 disallows: a bad sequence always ends in failure, so stop at the first.
  if (!is_valid_utf8(domain)) return {std::nullopt, "host is not valid UTF-8"};
  AsciiDomain converted = domain_to_ascii(domain);
  if (!converted.ascii) return {std::nullopt, std::move(converted.error)};
  std::optional<std::string>& ascii = converted.ascii;
  if (!is_valid_ascii_domain(*ascii)) return {std::nullopt, "forbidden character in host"};
  // A last label that looks numeric makes the whole host an IPv4 address, or a failure:
  // "0x7f.1" is 127.0.0.1 and "foo.0x" is nothing.
  if (ends_in_a_number(*ascii)) {
    const std::optional<std::uint32_t> address = parse_ipv4(*ascii);
    if (!address) return {std::nullopt, "invalid IPv4 address"};
    return {Host{HostKind::ipv4, serialize_ipv4(*address)}, {}};
  }
  return {Host{HostKind::domain, std::move(*ascii)}, {}};
}

}  // namespace bouncer::origin::detail
