// The frame pump: relays a client WebSocket and an upstream WebSocket to each other until
// one side ends, then ends the other the same way.
//
// Back-pressure: each direction has at most one message in flight. A message read from
// one side is written to the other before the next read starts, so a slow reader slows
// its writer through TCP flow control, and memory per session stays within about
// 2 × max_message_bytes plus Beast's buffers, whatever the peers do.
//
// Threading: the pump runs on the client stream's executor, and the upstream must have been
// connected on that same executor (async_connect(client.get_executor(), …)); no strand is
// used. Only end() may be called from another thread.
#pragma once

#include "relay/client_stream.h"
#include "relay/upstream.h"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace bouncer::relay {

struct PumpOptions {
  std::size_t max_message_bytes = 1 << 20;        // larger messages close the session with 1009
  std::chrono::seconds idle_timeout{60};          // a peer silent this long (no pong), or that
                                                  // takes this long to take one message, is dead
};

// Why a session ended, for logs and counters.
struct PumpResult {
  enum class Ended { client_closed, upstream_closed, client_error, upstream_error, too_big, ended_by_server };
  Ended how = Ended::client_closed;
  std::uint16_t close_code = 1000;
  std::string reason;
  std::uint64_t frames_to_upstream = 0;
  std::uint64_t frames_to_client = 0;
  std::uint64_t bytes_to_upstream = 0;
  std::uint64_t bytes_to_client = 0;
};

class Pump : public std::enable_shared_from_this<Pump> {
 public:
  // `client` (ws:// or wss://) has completed its WebSocket accept; `upstream` its handshake.
  Pump(ClientWebSocket client, std::shared_ptr<Upstream> upstream, PumpOptions options);
  ~Pump();

  // Starts relaying; `on_end` runs once, on the client's executor, when both sides are done.
  void start(std::function<void(const PumpResult&)> on_end);

  // Ends the session from outside (thread-safe: posts to the client's executor): sends
  // `final_text` to the client as a text frame when not empty, then closes the client with
  // `code`/`reason` and the upstream with 1000 (or 1001 when code is 1001).
  void end(std::uint16_t code, std::string reason, std::string final_text = {});

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace bouncer::relay
