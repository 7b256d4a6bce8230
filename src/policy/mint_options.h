// Validation of the options of POST /v1/client/tokens (docs/API.md). Pure: no I/O.
#pragma once

#include "policy/api_error.h"

#include <boost/json/object.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace bouncer::policy {

struct MintLimits {
  std::int64_t min_expires_in = 1;
  std::int64_t max_expires_in = 3600;
  std::int64_t default_expires_in = 60;
  std::size_t max_models = 20;
  std::size_t max_model_name_length = 128;
  std::size_t max_origins = 20;
  std::size_t max_origin_length = 253;
  std::int64_t min_session_duration = 10;
  std::int64_t max_session_duration = 86400;  // one day; the API fixes only the lower bound
  std::int64_t min_concurrent_sessions = 1;
  std::int64_t max_concurrent_sessions = 1000;
  // The server's own cap on a token's live sessions (--max-sessions-per-token), its default
  // and its ceiling: an option above it is refused, naming it. 0 = none (the range above only).
  std::int64_t concurrent_sessions_ceiling = 0;
  std::int64_t min_uses = 1;
  std::int64_t max_uses = 1000;
  std::size_t max_metadata_bytes = 4096;      // serialized
  std::size_t max_metadata_keys = 64;         // top-level keys
  std::size_t max_metadata_depth = 4;
  std::size_t max_body_bytes = 64 * 1024;
};

struct MintOptions {
  std::int64_t expires_in = 60;
  std::optional<std::vector<std::string>> allowed_models;
  std::optional<std::vector<std::string>> allowed_origins;
  std::optional<std::int64_t> max_session_duration;
  std::optional<std::int64_t> max_concurrent_sessions;  // live sessions of this one token at a time
  std::optional<boost::json::object> metadata;
  std::optional<std::int64_t> max_uses;  // admissions this token allows in all; absent: no limit
  std::optional<std::string> model;  // only for POST /v1/client/urls, where it is required

  bool operator==(const MintOptions&) const = default;
};

enum class MintEndpoint { tokens, urls };

// Answers whether this server serves a model of that name.
using ModelExists = std::function<bool(std::string_view name)>;

// Parses and validates a request body. An empty body (or only whitespace) means `{}`.
// Unknown fields are refused, naming the allowed ones. Duplicate keys are refused.
std::variant<MintOptions, ApiError> parse_mint_options(std::string_view body, const ModelExists& model_exists,
                                                       const MintLimits& limits = {},
                                                       MintEndpoint endpoint = MintEndpoint::tokens);

}  // namespace bouncer::policy
