// Helpers shared by the parse_mint_options tests.
#pragma once

#include "policy/mint_options.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <variant>

namespace bouncer::policy::test {

// The models this test server serves.
inline bool known_model(std::string_view name) { return name == "echo" || name == "demo" || name == "gpt-realtime"; }

inline std::variant<MintOptions, ApiError> parse(std::string_view body, MintEndpoint ep = MintEndpoint::tokens,
                                                 const MintLimits& limits = {}) {
  return parse_mint_options(body, known_model, limits, ep);
}

// The options, or a failure (naming the error) and default options.
inline MintOptions options_of(std::string_view body, MintEndpoint ep = MintEndpoint::tokens,
                              const MintLimits& limits = {}) {
  auto r = parse(body, ep, limits);
  if (auto* e = std::get_if<ApiError>(&r)) {
    ADD_FAILURE() << "expected " << body << " to be accepted, got " << e->code << " (" << e->param
                  << "): " << e->message;
    return {};
  }
  return std::get<MintOptions>(r);
}

// The error, or a failure and an error whose code is "<accepted>".
inline ApiError error_of(std::string_view body, MintEndpoint ep = MintEndpoint::tokens, const MintLimits& limits = {}) {
  auto r = parse(body, ep, limits);
  if (auto* e = std::get_if<ApiError>(&r)) return *e;
  ADD_FAILURE() << "expected " << body << " to be refused";
  return ApiError{0, "", "<accepted>", "", ""};
}

inline std::string with_field(std::string_view name, std::string_view json_value) {
  return "{\"" + std::string(name) + "\":" + std::string(json_value) + "}";
}

}  // namespace bouncer::policy::test
