// Connecting to a model's upstream server (ws:// or wss://). Knows nothing of tokens: the
// door decides who may connect and hands over the headers to send.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ssl/context.hpp>

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
  std::chrono::milliseconds timeout{10000};  // resolve + connect + TLS + WebSocket handshake
  std::size_t max_message_bytes = 1 << 20;
  std::shared_ptr<boost::asio::ssl::context> tls;  // required for wss://; verifies the peer
};

class Upstream;  // an open WebSocket to the model server (relay/pump.h)

using ConnectHandler = std::function<void(std::error_code, std::shared_ptr<Upstream>)>;

// Resolves, connects and performs the WebSocket handshake sending `headers`; calls
// `done` on `executor` exactly once.
void async_connect(boost::asio::any_io_executor executor, const UpstreamUrl& url, Headers headers,
                   const ConnectOptions& options, ConnectHandler done);

// A TLS client context that verifies peers against the system's CAs (plus `ca_file`
// when not empty).
std::shared_ptr<boost::asio::ssl::context> make_client_tls_context(const std::string& ca_file = {});

}  // namespace bouncer::relay
