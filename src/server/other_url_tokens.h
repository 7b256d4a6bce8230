// A token signed by a node of this store that announced another public URL
// (admin/public_url.h) fails the iss/aud check here and is refused as "Invalid API key", which
// tells its client nothing. The operator gets an error naming both URLs instead, at most once
// every kOtherUrlLogIntervalSeconds, so that a flood of such tokens cannot flood the log.
#pragma once

#include <cstdint>
#include <string_view>

namespace bouncer::server {

inline constexpr std::int64_t kOtherUrlLogIntervalSeconds = 10;

// `token_url`: the URL the node that signed the token (with `kid`) announced; empty when unknown.
void log_token_from_other_url(std::string_view token_url, std::string_view public_url, std::string_view kid);

}  // namespace bouncer::server
