// The WebSocket opening handshake (RFC 6455 §4), forwarded rather than re-made: the client's
// upgrade request is checked whole before any upstream is contacted, its key, subprotocols and
// extensions go to the upstream, and the upstream's 101 is checked against what was offered
// before it goes back to the client. The frames then flow end to end (relay/tunnel.h), so
// whatever the two ends negotiate (a subprotocol, permessage-deflate) holds between them.
//
// Pure: builds and checks HTTP headers, no I/O.
#pragma once

#include "relay/upstream.h"

#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/message.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace bouncer::relay::handshake {

namespace http = boost::beast::http;

// Bouncer's own subprotocol: a client that sends its credential as `bouncer.key.<credential>`
// offers it beside, and gets it back when the upstream picks no protocol of its own (a
// browser fails a connection whose offered protocols get no answer).
inline constexpr std::string_view kBouncerProtocol = "bouncer.v1";

// Why a client's upgrade request cannot be a WebSocket handshake: answered with `status` (400,
// or 426 with `Sec-WebSocket-Version: 13` for another version) before anything else is done.
struct Defect {
  unsigned status = 400;
  std::string message;  // for the error body and the log: names the header at fault
};

// Checks everything RFC 6455 §4.2.1 asks of the client's request: GET, HTTP/1.1 or later, a
// Host, `Upgrade: websocket`, `Connection` listing `upgrade` (case-insensitive tokens),
// `Sec-WebSocket-Version: 13` (426 for any other version; a missing one is 400, as any other
// missing header), and a `Sec-WebSocket-Key` that is base64 of exactly 16 bytes. Repeated
// Host, Sec-WebSocket-Key or Sec-WebSocket-Version headers are defects too.
std::optional<Defect> find_defect(const http::request_header<>& request);

// The values of every `name` line in `fields`, trimmed, joined with ", " (RFC 9110 §5.3), empty
// ones left out: how Offer::protocols (through split_protocols) and Offer::extensions are read
// from a client's request that may repeat those headers.
std::string joined_values(const http::fields& fields, http::field name);

// The subprotocols of a `Sec-WebSocket-Protocol` value (comma-separated tokens, spaces and
// tabs around each ignored), in order; empty items dropped.
std::vector<std::string> split_protocols(std::string_view header);

// What the client offered that goes upstream.
struct Offer {
  std::string key;                      // its Sec-WebSocket-Key, as sent
  std::vector<std::string> protocols;   // offered subprotocols to forward (not the credential,
                                        // not kBouncerProtocol): the door decides which
  bool wants_bouncer_protocol = false;  // the client offered kBouncerProtocol
  std::string extensions;               // its Sec-WebSocket-Extensions values, joined with ", "
};

// The upgrade request to send upstream: GET `url.target`, Host from `url` (default ports left
// out, IPv6 bracketed), Upgrade/Connection, Sec-WebSocket-Version 13, the offer's key,
// protocols and extensions (each header only when not empty), `User-Agent: bouncer`, then
// `extra` (the X-Bouncer-* headers, the model's own) except names the handshake owns (Host,
// Upgrade, Connection, Sec-WebSocket-*, Content-Length, Transfer-Encoding). Callers check
// `extra` with headers_are_safe first (relay/upstream.cpp does).
http::request<http::empty_body> upstream_request(const UpstreamUrl& url, const Offer& offer, const Headers& extra);

// No header splitting: every name is a token (RFC 9110 §5.6.2), no value holds CR, LF or NUL.
bool headers_are_safe(const Headers& headers);

// What the upstream chose, from its valid 101.
struct Answer {
  std::string protocol;    // empty: none
  std::string extensions;  // its Sec-WebSocket-Extensions, as sent (joined with ", "); empty: none
  bool permessage_deflate = false;  // RSV1 may be set on messages (both ways)
};

// Checks the upstream's answer (RFC 6455 §4.1, "the client MUST _Fail the WebSocket
// Connection_" list): status 101, `Upgrade: websocket`, `Connection: upgrade`,
// `Sec-WebSocket-Accept` matching the offer's key, a subprotocol only if it is one of the
// offer's protocols (and one value), extensions only those the offer named (by extension
// name; each at most once). On failure: what was wrong, for the log.
std::variant<Answer, std::string> check_answer(const http::response_header<>& response, const Offer& offer);

// The 101 for the client: Upgrade/Connection, Sec-WebSocket-Accept for the offer's key, the
// upstream's protocol (or kBouncerProtocol when it chose none and the client offered it), the
// upstream's extensions, `Server: bouncer`.
http::response<http::empty_body> client_answer(const Offer& offer, const Answer& answer);

// base64(SHA-1(key + the RFC 6455 GUID)).
std::string accept_value(std::string_view key);

}  // namespace bouncer::relay::handshake
