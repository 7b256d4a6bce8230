// Domain to ASCII via ICU's UTS #46 implementation, the one browsers use.
//
// Why ICU and not libidn2: libidn2 2.3 applies IDNA2008's rules on top of UTS #46 (it refuses
// "♥.net", "-foo.example", "ab--cd.com" and maps "ẞ" to "ss"), so it disagrees with the URL
// Standard on 38 of the 87 cases of WPT's toascii.json; ICU 72 disagrees on 7, all of them
// code points whose UTS #46 status changed after Unicode 15.0 (the WPT test lists them), and
// on none of urltestdata.json's.
#include "origin/idna.h"

#include <unicode/uidna.h>

#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

namespace bouncer::origin::detail {
namespace {


struct UidnaCloser {
  void operator()(UIDNA* p) const { uidna_close(p); }
};

// The URL Standard's UTS #46 options. A UIDNA object is immutable once opened and ICU allows
// concurrent use from several threads, so one instance serves every caller; it is built on
// first use (thread-safe static initialisation) and never changes: no mutable global state.
const UIDNA* uts46() {
  static const std::unique_ptr<UIDNA, UidnaCloser> instance = [] {
    UErrorCode err = U_ZERO_ERROR;
    UIDNA* p = uidna_openUTS46(UIDNA_NONTRANSITIONAL_TO_ASCII | UIDNA_CHECK_BIDI | UIDNA_CHECK_CONTEXTJ, &err);
    return std::unique_ptr<UIDNA, UidnaCloser>(U_SUCCESS(err) ? p : nullptr);
  }();
  return instance.get();
}

// UTS #46 errors the URL Standard does not treat as failures: CheckHyphens = false (the
// hyphen errors) and VerifyDnsLength = false (empty labels, label and domain lengths).
constexpr std::uint32_t kIgnoredErrors = UIDNA_ERROR_EMPTY_LABEL | UIDNA_ERROR_LABEL_TOO_LONG |
                                         UIDNA_ERROR_DOMAIN_NAME_TOO_LONG | UIDNA_ERROR_LEADING_HYPHEN |
                                         UIDNA_ERROR_TRAILING_HYPHEN | UIDNA_ERROR_HYPHEN_3_4;

// A label for a message: escaped like a JSON string, cut on a code point boundary.
std::string quote_label(std::string_view label) {
  constexpr std::size_t kMaxShown = 64;
  bool cut = false;
  if (label.size() > kMaxShown) {
    std::size_t n = kMaxShown;
    while (n > 0 && (static_cast<unsigned char>(label[n]) & 0xC0) == 0x80) --n;
    label = label.substr(0, n);
    cut = true;
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "\"";
  for (const char c : label) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20 || u == 0x7F) {
      out += "\\u00";
      out += kHex[u >> 4];
      out += kHex[u & 0xF];
    } else {
      out += c;
    }
  }
  if (cut) out += "\xE2\x80\xA6";  // …
  out += '"';
  return out;
}

bool is_ace_label(std::string_view label) {
  return label.size() >= 4 && (label[0] == 'x' || label[0] == 'X') && (label[1] == 'n' || label[1] == 'N') &&
         label[2] == '-' && label[3] == '-';
}

// What is wrong with a label, from ICU's error bits for it.
std::string_view what_is_wrong(std::uint32_t errors) {
  if (errors & UIDNA_ERROR_DISALLOWED) return "a disallowed character";
  if (errors & UIDNA_ERROR_CONTEXTJ) return "a misplaced zero width joiner or non-joiner";
  if (errors & UIDNA_ERROR_BIDI) return "a break of the bidi rule (RFC 5893)";
  if (errors & UIDNA_ERROR_LEADING_COMBINING_MARK) return "a combining mark first";
  return "a form UTS #46 refuses";
}

std::string describe_label_errors(std::string_view label, std::uint32_t errors) {
  const std::string quoted = quote_label(label);
  // "xn--a" is Punycode, for U+0080: it decodes, to a label UTS #46 refuses (ICU then says
  // only that, with INVALID_ACE_LABEL).
  if (is_ace_label(label)) {
    if (errors & UIDNA_ERROR_PUNYCODE) return "invalid punycode label " + quoted;
    const std::uint32_t decoded_errors = errors & ~static_cast<std::uint32_t>(UIDNA_ERROR_INVALID_ACE_LABEL);
    if (decoded_errors == 0) return "punycode label " + quoted + " does not decode to a valid label";
    return "punycode label " + quoted + " decodes to a label with " + std::string(what_is_wrong(decoded_errors));
  }
  return "label " + quoted + " has " + std::string(what_is_wrong(errors));
}

// UTS #46 splits a domain on the full stop and its three look-alikes, all mapped to '.'.
std::vector<std::string_view> split_labels(std::string_view domain) {
  static constexpr std::string_view kStops[] = {".", "\xE3\x80\x82", "\xEF\xBC\x8E", "\xEF\xBD\xA1"};
  std::vector<std::string_view> labels;
  std::size_t start = 0;
  std::size_t i = 0;
  while (i < domain.size()) {
    std::size_t stop_length = 0;
    for (const std::string_view stop : kStops) {
      if (domain.substr(i, stop.size()) == stop) stop_length = stop.size();
    }
    if (stop_length == 0) {
      ++i;
      continue;
    }
    labels.push_back(domain.substr(start, i - start));
    i += stop_length;
    start = i;
  }
  labels.push_back(domain.substr(start));
  return labels;
}

// Why ICU refused the domain: the first label that fails on its own, or (the bidi rule
// applies to a whole domain, so each label may pass alone) what the domain broke.
std::string describe_failure(const UIDNA* idna, std::string_view domain, std::uint32_t domain_errors) {
  std::string scratch(256, '\0');
  for (const std::string_view label : split_labels(domain)) {
    if (label.empty() || label.size() > INT32_MAX / 8) continue;
    UErrorCode err = U_ZERO_ERROR;
    UIDNAInfo info = UIDNA_INFO_INITIALIZER;
    // Only the error bits matter: a result too long for the scratch buffer still reports them.
    uidna_labelToASCII_UTF8(idna, label.data(), static_cast<std::int32_t>(label.size()), scratch.data(),
                            static_cast<std::int32_t>(scratch.size()), &info, &err);
    const std::uint32_t errors = info.errors & ~kIgnoredErrors;
    if (errors != 0) return describe_label_errors(label, errors);
  }
  if (domain_errors & UIDNA_ERROR_BIDI) return "host breaks the bidi rule (RFC 5893)";
  return "invalid host name (IDNA)";
}

}  // namespace

bool is_ascii(std::string_view s) {
  for (const char c : s) {
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  }
  return true;
}

std::string ascii_lowercase(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

AsciiDomain domain_to_ascii(std::string_view domain) {
  // The URL Standard returns an ASCII domain lower-cased whatever UTS #46 says of it (its
  // "domain to ASCII" since mid-2026, for web compatibility: sites live at hosts such as
  // "xn--8i7caa.…" whose punycode decodes to code points UTS #46 maps), and browsers send
  // such origins: an "xn--" label that is not valid punycode is kept as written. WPT's
  // toascii.json and urltestdata.json pin this down.
  if (is_ascii(domain)) {
    if (domain.empty()) return {std::nullopt, "missing host"};
    return {ascii_lowercase(domain), {}};
  }
  const UIDNA* idna = uts46();
  if (idna == nullptr) return {std::nullopt, "IDNA is unavailable (ICU)"};
  if (domain.size() > INT32_MAX / 8) return {std::nullopt, "host too long"};

  // Mapping can lengthen a label (U+FDFA becomes 18 letters), so size the buffer from ICU's
  // answer when the first guess is short.
  std::string out(domain.size() * 4 + 64, '\0');
  for (int attempt = 0; attempt < 2; ++attempt) {
    UErrorCode err = U_ZERO_ERROR;
    UIDNAInfo info = UIDNA_INFO_INITIALIZER;
    const std::int32_t n = uidna_nameToASCII_UTF8(idna, domain.data(), static_cast<std::int32_t>(domain.size()),
                                                  out.data(), static_cast<std::int32_t>(out.size()), &info, &err);
    if (err == U_BUFFER_OVERFLOW_ERROR && attempt == 0 && n > 0) {
      out.assign(static_cast<std::size_t>(n), '\0');
      continue;
    }
    if (U_FAILURE(err) || n < 0) return {std::nullopt, "invalid host name (IDNA)"};
    if ((info.errors & ~kIgnoredErrors) != 0) return {std::nullopt, describe_failure(idna, domain, info.errors)};
    out.resize(static_cast<std::size_t>(n));
    // e.g. a host made only of ignored code points (a soft hyphen)
    if (out.empty()) return {std::nullopt, "host is empty after IDNA mapping"};
    return {std::move(out), {}};
  }
  return {std::nullopt, "invalid host name (IDNA)"};
}

}  // namespace bouncer::origin::detail
