// base64url without padding (RFC 7515 §2, RFC 4648 §5), strict on decode.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace bouncer::token {

std::string base64url_encode(std::span<const std::uint8_t> data);
std::string base64url_encode(std::string_view data);
// The same, appended to `out` (no temporary string).
void base64url_append(std::string& out, std::span<const std::uint8_t> data);
void base64url_append(std::string& out, std::string_view data);

// Refuses padding, whitespace, characters outside [A-Za-z0-9_-], a length of 1 mod 4 and
// non-zero trailing bits (so every byte string has exactly one accepted encoding).
std::optional<std::string> base64url_decode(std::string_view text);

}  // namespace bouncer::token
