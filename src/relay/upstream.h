// Connecting to a model's upstream server (ws:// or wss://) and forwarding the client's
// WebSocket upgrade to it. Knows nothing of tokens: the door decides who may connect and hands
// over what the client offered and the headers to add.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ssl/context.hpp>

#include <array>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace bouncer::relay {

namespace handshake {
struct Offer;
}

struct UpstreamUrl {
  bool tls = false;  // wss://
  std::string host;  // without brackets for IPv6
  std::uint16_t port = 0;
  std::string target = "/";  // path and query
};

// Parses ws://HOST[:PORT][/PATH][?QUERY] and wss://…; nullopt when it is anything else.
std::optional<UpstreamUrl> parse_upstream_url(std::string_view url);

using Headers = std::vector<std::pair<std::string, std::string>>;

struct ConnectOptions {
  std::chrono::milliseconds timeout{10000};  // resolve + connect + TLS + the upgrade's answer
  std::shared_ptr<boost::asio::ssl::context> tls;  // required for wss://; verifies the peer
};

// An upstream that has accepted the upgrade (relay/tunnel.h relays it).
struct UpstreamSession;

// `detail`: why it failed, for the log (the upstream's status, the header at fault, …).
using ConnectHandler = std::function<void(std::error_code, std::string detail, std::unique_ptr<UpstreamSession>)>;

// Resolves, connects, sends the upgrade request built from `offer` and `headers`
// (relay/handshake.h) and checks the upstream's 101 against the offer; calls `done` on
// `executor` exactly once. A handshake the upstream refuses or answers wrongly is
// error::upstream_refused.
void async_connect(boost::asio::any_io_executor executor, const UpstreamUrl& url, handshake::Offer offer,
                   Headers headers, const ConnectOptions& options, ConnectHandler done);

// The masking key of a frame of Bouncer's own to an upstream (Bouncer is its client). RFC 6455
// §5.3: from a strong source of entropy, so that no script can predict the bytes an
// intermediary sees; relayed frames keep the client's.
std::array<std::uint8_t, 4> masking_key();

// An upstream that accepted a session nobody will use (the client left before its 101): it gets
// a close frame (1001) before its connection is closed, rather than a bare reset.
void close_abandoned(std::unique_ptr<UpstreamSession> upstream);

// The error of an upstream that answered the upgrade with something other than a valid 101.
const std::error_category& upstream_category();
inline std::error_code upstream_refused() { return {1, upstream_category()}; }

// A TLS client context that verifies peers against the system's CAs (plus `ca_file`
// when not empty).
std::shared_ptr<boost::asio::ssl::context> make_client_tls_context(const std::string& ca_file = {});

}  // namespace bouncer::relay
