// Reading the query string of a request target (RFC 3986 §3.4, form-style: '&'-separated
// name=value pairs, percent-decoded, '+' as space).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace bouncer::server {

// The decoded value of the first `name` parameter in `target`'s query; nullopt when absent
// or badly percent-encoded.
std::optional<std::string> query_param(std::string_view target, std::string_view name);

std::string percent_encode(std::string_view value);  // for building URLs: unreserved chars kept

}  // namespace bouncer::server
