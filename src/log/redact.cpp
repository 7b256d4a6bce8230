#include "log/redact.h"

#include <array>
#include <optional>

namespace bouncer::log {
namespace {

constexpr std::array<std::string_view, 4> kCredentialPrefixes{"sk_", "ek_", "adm_", "whsec_"};
constexpr std::size_t kMinBodyAtBoundary = 12;  // `sk_REDACTED` (8) is no secret
// Glued to a letter or digit (`risk_assessment`, `week_…`), a prefix is more often part of a
// word: only a long body (every real secret's is 43+ characters) counts then.
constexpr std::size_t kMinBodyGlued = 24;
constexpr std::string_view kJsonObjectBase64 = "eyJ";  // base64url of `{"`: every JWT starts so
constexpr std::size_t kMinEncodedJson = 16;
constexpr std::size_t kMinJwsSegment = 16;
constexpr std::size_t kMinRandomRun = 32;

bool is_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }
bool is_base64url(char c) { return is_alnum(c) || c == '_' || c == '-'; }
// A "word" is a maximal run of these: base64url, and the dots of a JWT.
bool is_word_char(char c) { return is_base64url(c) || c == '.'; }

std::size_t base64url_run(std::string_view s, std::size_t from) {
  std::size_t end = from;
  while (end < s.size() && is_base64url(s[end])) ++end;
  return end - from;
}

bool looks_random(std::string_view run) {
  bool upper = false, lower = false, digit = false;
  for (char c : run) {
    upper |= c >= 'A' && c <= 'Z';
    lower |= c >= 'a' && c <= 'z';
    digit |= c >= '0' && c <= '9';
  }
  return upper && lower && digit;
}

// Three consecutive dot-separated segments, each long: header.payload.signature.
bool has_jws_shape(std::string_view word) {
  int long_in_a_row = 0;
  std::size_t start = 0;
  while (start <= word.size()) {
    const auto dot = word.find('.', start);
    const auto len = (dot == std::string_view::npos ? word.size() : dot) - start;
    long_in_a_row = len >= kMinJwsSegment ? long_in_a_row + 1 : 0;
    if (long_in_a_row >= 3) return true;
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return false;
}

struct Match {
  std::size_t start;            // within the word; the secret runs from here to the word's end
  std::string_view kept_prefix;  // `sk_`… kept in front of REDACTED; empty for the other shapes
};

// Where, in one word, the first credential-shaped part begins.
std::optional<Match> find_in_word(std::string_view word) {
  if (has_jws_shape(word)) {
    for (auto prefix : kCredentialPrefixes) {
      if (word.starts_with(prefix)) return Match{0, prefix};
    }
    return Match{0, {}};
  }
  for (std::size_t i = 0; i < word.size(); ++i) {
    const bool glued = i > 0 && is_alnum(word[i - 1]);
    for (auto prefix : kCredentialPrefixes) {
      if (word.substr(i).starts_with(prefix) &&
          word.size() - i - prefix.size() >= (glued ? kMinBodyGlued : kMinBodyAtBoundary)) {
        return Match{i, prefix};
      }
    }
    if (word.substr(i).starts_with(kJsonObjectBase64) && base64url_run(word, i) >= kMinEncodedJson) {
      return Match{i, {}};
    }
    const bool segment_start = i == 0 || word[i - 1] == '.';
    if (segment_start) {
      const auto len = base64url_run(word, i);
      if (len >= kMinRandomRun && looks_random(word.substr(i, len))) return Match{i, {}};
    }
  }
  return std::nullopt;
}

// Calls `on_word(begin, end)` for every word of `text`.
template <typename F>
void for_each_word(std::string_view text, F&& on_word) {
  std::size_t i = 0;
  while (i < text.size()) {
    if (!is_word_char(text[i])) {
      ++i;
      continue;
    }
    const auto begin = i;
    while (i < text.size() && is_word_char(text[i])) ++i;
    if (!on_word(begin, i)) return;
  }
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-decoding as the door reads queries ('+' is a space); a malformed escape is kept as
// written, since this only decides what may be shown.
std::string percent_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out.push_back(' ');
    } else if (s[i] == '%' && i + 2 < s.size() && hex_value(s[i + 1]) >= 0 && hex_value(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2])));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

bool is_printable_ascii(std::string_view s) {
  for (unsigned char c : s) {
    if (c < 0x20 || c >= 0x7f) return false;
  }
  return true;
}

// Parameters whose values say nothing secret: the model's name, a client-chosen resume id.
bool is_harmless_param(std::string_view decoded_name) { return decoded_name == "model" || decoded_name == "resume"; }

constexpr std::size_t kMaxShownName = 24;
constexpr std::size_t kMaxShownValue = 128;

bool name_is_showable(std::string_view raw) {
  if (raw.size() > kMaxShownName * 3) return false;
  for (char c : raw) {
    if (!is_base64url(c) && c != '.' && c != '%') return false;
  }
  const auto decoded = percent_decode(raw);
  return decoded.size() <= kMaxShownName && is_printable_ascii(decoded) && !contains_secret(raw) &&
         !contains_secret(decoded);
}

bool value_is_showable(std::string_view raw_name, std::string_view raw_value) {
  if (!is_harmless_param(percent_decode(raw_name))) return false;
  if (raw_value.size() > kMaxShownValue || !is_printable_ascii(raw_value) || contains_secret(raw_value)) return false;
  const auto decoded = percent_decode(raw_value);
  return is_printable_ascii(decoded) && !contains_secret(decoded);
}

}  // namespace

bool contains_secret(std::string_view text) {
  bool found = false;
  for_each_word(text, [&](std::size_t begin, std::size_t end) {
    found = find_in_word(text.substr(begin, end - begin)).has_value();
    return !found;
  });
  return found;
}

std::string redact_secrets(std::string_view text) {
  std::string out;
  std::size_t copied = 0;
  for_each_word(text, [&](std::size_t begin, std::size_t end) {
    const auto match = find_in_word(text.substr(begin, end - begin));
    if (match) {
      if (out.empty()) out.reserve(text.size());
      out.append(text, copied, begin + match->start - copied);
      out += match->kept_prefix;
      out += kRedacted;
      copied = end;
    }
    return true;
  });
  if (copied == 0) return std::string(text);
  out.append(text, copied);
  return out;
}

std::string redact_url(std::string_view target) {
  const auto q = target.find('?');
  std::string out = redact_secrets(target.substr(0, q));
  if (q == std::string_view::npos) return out;
  out.push_back('?');
  std::string_view query = target.substr(q + 1);
  while (true) {
    const auto amp = query.find('&');
    const auto part = query.substr(0, amp);
    const auto eq = part.find('=');
    const auto name = part.substr(0, eq);
    out += name_is_showable(name) ? name : kRedacted;
    if (eq != std::string_view::npos) {
      const auto value = part.substr(eq + 1);
      out.push_back('=');
      // An empty value hides nothing.
      if (!value.empty()) out += value_is_showable(name, value) ? value : kRedacted;
    }
    if (amp == std::string_view::npos) break;
    out.push_back('&');
    query = query.substr(amp + 1);
  }
  return out;
}

}  // namespace bouncer::log
