// The server's slice of the configuration, validated by cli/config before it gets here.
#pragma once

#include "admin/data_dir.h"
#include "edge/client_address.h"
#include "log/log.h"
#include "policy/mint_options.h"
#include "relay/upstream.h"

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace bouncer::server {

// A model this server serves, and how to reach its upstream.
struct ModelRoute {
  std::string name;
  std::string upstream;        // ws:// or wss:// URL; filled at start for the built-in models
  relay::Headers headers;      // extra headers sent upstream (e.g. the upstream's own API key)
  std::string shared_secret;   // sent as X-Bouncer-Upstream-Secret when not empty
  std::string ca_file;         // extra CA for wss:// upstreams
  std::size_t max_sessions = 0;  // concurrent sessions on this model; 0 = no cap
  bool builtin = false;

  bool operator==(const ModelRoute&) const = default;  // what a reload calls "changed"
};

struct Options {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8080;
  std::string public_url;  // iss and aud of every token; "http://HOST:PORT" when not set
  admin::DataDir data_dir;
  unsigned threads = 0;  // io_contexts; 0 = one per core
  // TLS on the listener (both set, or neither): PEM chain and key, re-read on SIGHUP.
  std::string tls_cert_file;
  std::string tls_key_file;
  bool tls() const { return !tls_cert_file.empty(); }

  // The admin listener (/metrics, /healthz, /readyz): none when admin_host is empty. Never the
  // public address; port 0 picks a free one.
  std::string admin_host;
  std::uint16_t admin_port = 0;

  std::int64_t leeway_seconds = 30;  // clock skew allowed on exp / iat
  policy::MintLimits mint_limits;
  std::size_t max_header_bytes = 8 * 1024;
  std::size_t max_connections = 10000;  // lowered at start to what the open-file limit allows
  std::chrono::seconds read_timeout{30};  // one whole request, from its first byte; keep-alive idle
  std::chrono::seconds first_byte_timeout{10};  // a new connection's first byte
  std::chrono::seconds header_timeout{10};      // a request's headers, from its first byte

  // Per client address (0 = no cap / never penalised).
  std::size_t max_connections_per_ip = 256;
  std::size_t max_handshakes_per_ip = 32;  // connections whose request headers or admission are not done
  std::size_t max_invalid_credentials_per_ip = 30;  // within the window, then a penalty
  std::chrono::seconds invalid_credentials_window{10};
  std::chrono::seconds invalid_credentials_penalty{30};
  // Peers believed about the client address they forward (X-Forwarded-For, Forwarded).
  edge::TrustedProxies trusted_proxies;

  double mint_rate_per_key = 0;  // mints per second per permanent key; 0 = unlimited
  double mint_burst = 0;         // bucket size; 0 = same as the rate (at least 1)

  // The models at start. The running server serves them from a ModelCatalog
  // (server/model_table.h), which a reload replaces: look models up there, not here.
  std::vector<ModelRoute> models;

  // Sessions (the door).
  std::size_t max_sessions_per_key = 1000;  // concurrent sessions per permanent key; 0 = no cap
  // Concurrent sessions per client token, unless the token asks for fewer
  // (constraints.realtime.maxConcurrentSessions, refused at mint time above this); 0 = no cap.
  std::size_t max_sessions_per_token = 10;
  std::size_t max_message_bytes = 1 << 20;  // larger WebSocket messages close with 1009
  std::chrono::seconds session_idle_timeout{60};
  std::chrono::seconds upstream_connect_timeout{10};
  std::chrono::seconds handshake_timeout{10};  // the TLS handshake and the WebSocket upgrade, each

  // Among the models at start (configuration checks and tests; see `models`).
  const ModelRoute* find_model(std::string_view name) const {
    for (const auto& m : models) {
      if (m.name == name) return &m;
    }
    return nullptr;
  }

  std::chrono::milliseconds state_poll_interval{200};  // revocations reach us within this
  // While the store cannot be read (Redis down), admissions go on from the last state read
  // for this long, then are refused until the store answers again (fail closed).
  std::chrono::seconds store_staleness{60};
  std::chrono::seconds shutdown_grace{10};

  // How long a retired signing key stays published: the longest token lifetime plus the
  // largest leeway any server may run with, so the CLI (which does not know the servers'
  // leeway) can never retire a key that a server still needs.
  static constexpr std::int64_t kMaxLeewaySeconds = 600;
  std::int64_t publish_grace_seconds() const { return mint_limits.max_expires_in + kMaxLeewaySeconds + 60; }
};

}  // namespace bouncer::server
