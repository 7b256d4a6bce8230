// Counts of what is alive, read by shutdown and by the connection cap, and counters that
// only grow, for the metrics.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace bouncer::server {

struct Gauges {
  std::atomic<std::size_t> connections{0};  // HTTP connections and WebSocket sessions alike
  std::atomic<std::size_t> requests_in_flight{0};
  std::atomic<std::uint64_t> tls_handshake_failures{0};  // on the TLS listener: timeouts included
};

}  // namespace bouncer::server
