// Counts of what is alive, read by shutdown and by the connection cap.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace bouncer::server {

struct Gauges {
  std::atomic<std::size_t> connections{0};  // HTTP connections and WebSocket sessions alike
  std::atomic<std::size_t> requests_in_flight{0};
};

}  // namespace bouncer::server
