// Writing JSON text without a DOM, for the fixed-shape documents on hot paths (token headers
// and payloads, API answers, log lines).
#pragma once

#include <string>
#include <string_view>

namespace bouncer::json {

// Appends `s` as a JSON string literal, quotes included (RFC 8259 §7): `"` and `\` escaped,
// control characters as \n, \r, \t or \u00XX; every other byte (UTF-8 included) as it is.
void append_string(std::string& out, std::string_view s);

}  // namespace bouncer::json
