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

std::optional<std::string> domain_to_ascii(std::string_view domain) {
  // The URL Standard's ASCII fast path (which WPT's toascii.json pins down): an ASCII domain
  // is only lower-cased, even with "xn--" labels that would not survive a round trip.
  if (is_ascii(domain)) {
    if (domain.empty()) return std::nullopt;
    return ascii_lowercase(domain);
  }
  const UIDNA* idna = uts46();
  if (idna == nullptr || domain.size() > INT32_MAX / 8) return std::nullopt;

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
    if (U_FAILURE(err) || n < 0 || (info.errors & ~kIgnoredErrors) != 0) return std::nullopt;
    out.resize(static_cast<std::size_t>(n));
    if (out.empty()) return std::nullopt;  // e.g. a host made only of ignored code points
    return out;
  }
  return std::nullopt;
}

}  // namespace bouncer::origin::detail
