// Building HTTP responses: the one place that turns an ApiError into the wire shape.
#pragma once

#include "policy/api_error.h"

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <string>
#include <string_view>

namespace bouncer::server {

namespace http = boost::beast::http;
using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

Response json_response(http::status status, std::string body, unsigned version, bool keep_alive);

// {"error":{"type":…,"code":…,"message":…,"param":…}} with the error's status.
Response error_response(const policy::ApiError& error, unsigned version, bool keep_alive);

// Unix seconds → "2026-11-23T15:40:00Z".
std::string rfc3339(std::int64_t unix_seconds);

}  // namespace bouncer::server
