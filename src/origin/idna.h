// The URL Standard's "domain to ASCII" with beStrict = false
// (https://url.spec.whatwg.org/#concept-domain-to-ascii): UTS #46 ToASCII with CheckHyphens,
// UseSTD3ASCIIRules and VerifyDnsLength off, CheckBidi and CheckJoiners on, nontransitional.
// Internal to bouncer_origin.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace bouncer::origin::detail {

struct AsciiDomain {
  std::optional<std::string> ascii;  // lower-case, non-ASCII labels as "xn--" punycode
  std::string error;                 // on failure, why: `invalid punycode label "xn--a"`
};

// `domain` must be valid UTF-8 (the caller has percent-decoded it). Fails (no `ascii`) when
// UTS #46 finds the domain invalid or its result is empty; the error names the first label
// at fault and what is wrong with it. An ASCII domain never fails: the URL Standard only
// lower-cases it. Does not check forbidden domain code points: the host parser does.
AsciiDomain domain_to_ascii(std::string_view domain);

// ASCII helpers shared by the host and origin code (the URL Standard lowercases ASCII
// only; anything else goes through IDNA).
bool is_ascii(std::string_view s);
std::string ascii_lowercase(std::string_view s);

}  // namespace bouncer::origin::detail
