// The URL Standard's "domain to ASCII" with beStrict = false
// (https://url.spec.whatwg.org/#concept-domain-to-ascii): UTS #46 ToASCII with CheckHyphens,
// UseSTD3ASCIIRules and VerifyDnsLength off, CheckBidi and CheckJoiners on, nontransitional.
// Internal to bouncer_origin.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace bouncer::origin::detail {

// `domain` must be valid UTF-8 (the caller has percent-decoded it). Returns the ASCII form
// (lower-case, non-ASCII labels as "xn--" punycode) or std::nullopt for failure, including
// an empty result. Does not check forbidden domain code points: the host parser does.
std::optional<std::string> domain_to_ascii(std::string_view domain);

// ASCII helpers shared by the host and origin code (the URL Standard lowercases ASCII
// only; anything else goes through IDNA).
bool is_ascii(std::string_view s);
std::string ascii_lowercase(std::string_view s);

}  // namespace bouncer::origin::detail
