// HTTP/1.1 message rules (RFC 9112) that Beast's parser does not enforce, checked on every
// request of the public listener. A gateway must not be lenient where a proxy in front of it
// may read the same bytes differently (request smuggling), so each of these is a 400 and the
// connection is closed:
//   - obs-fold: a header line that continues the previous one (starts with SP or HTAB)
//     (RFC 9112 §5.2; Beast joins it to the previous value);
//   - no Host in an HTTP/1.1 request, more than one Host, or a Host that is not
//     `uri-host [":" port]` (§3.2);
//   - Transfer-Encoding other than exactly `chunked`, more than one Transfer-Encoding line, or
//     Transfer-Encoding together with Content-Length (§6.1, §6.3; Beast accepts
//     `chunked, identity`, `xchunked`, `gzip` and `identity` + Content-Length).
// Pure: no I/O.
#pragma once

#include <boost/beast/http/fields.hpp>

#include <optional>
#include <string_view>

namespace bouncer::edge {

// Why a request breaks one of the rules above, for the 400's message; nullopt when it is fine.
using Violation = std::optional<std::string_view>;

// Where the request head (start line and header lines, ending with the empty line) ends in
// `bytes`: the offset just past "\r\n\r\n" (or "\n\n", which the parser then refuses); npos when
// `bytes` does not hold a whole head yet.
std::size_t end_of_head(std::string_view bytes);

// On the raw head, before parsing (the parser hides what it folded).
Violation check_raw_head(std::string_view head);

// On the parsed header fields. `version` is 10 or 11 (HTTP/1.0 needs no Host).
Violation check_header_fields(const boost::beast::http::fields& fields, unsigned version);

// `uri-host [":" port]` (RFC 3986): a reg-name, an IPv4 address or a bracketed IP literal,
// then an optional decimal port. The empty value is valid (RFC 9112 §3.2).
bool is_valid_host_value(std::string_view value);

}  // namespace bouncer::edge
