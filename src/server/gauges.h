// Counts of what is alive, read by shutdown and by the connection cap.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace bouncer::server {

struct Gauges {
  std::atomic<std::size_t> connections{0};  // HTTP connections and WebSocket sessions alike
  std::atomic<std::size_t> requests_in_flight{0};
  // Descriptors admitted sessions hold for their upstreams (two for a built-in model: both
  // ends are in this process); with `connections`, what client load holds of the open-file limit.
  std::atomic<std::size_t> upstream_descriptors{0};
};

}  // namespace bouncer::server
