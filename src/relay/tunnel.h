// The tunnel: relays an admitted WebSocket session's bytes between the client and the
// upstream, and keeps every promise the door makes about frames.
//
// Bytes, not messages: both hops run in the same direction, so a client's frames are already
// masked for the upstream and the upstream's frames already unmasked for the client. Each
// direction reads up to kRelayBufferBytes at a time and writes the same bytes to the other
// side, while a FrameTracker (relay/frames.h) reads the frame headers where they lie. That is
// enough to refuse an oversize message (1009) before its payload is read, to refuse a
// protocol error a header shows (1002), and to put Bouncer's own frames (a final text, a close)
// between messages — or a close between two fragments — never inside a frame.
//
// Back-pressure: per direction, one read's bytes are in flight at most; the next read starts
// when they are written. A peer that stops reading stalls the other's writes through TCP flow
// control, and the server holds at most one buffer per direction, whatever the message size.
//
// Memory while idle: none but the sockets, this object and a 128-byte peek buffer per
// direction. A plain socket is waited on with a read into the peek buffer, and only when bytes
// come is a relay buffer borrowed (relay/buffer_pool.h). A TLS side keeps a read pending with a
// relay buffer (OpenSSL may hold decrypted bytes the socket no longer shows).
//
// Liveness: a side silent for idle_timeout while the tunnel is listening to it (no byte, not
// even the pong to the ping Bouncer sends it after idle_timeout / 2) is dead; so is a side that
// has not taken a write for idle_timeout. Pongs answering Bouncer's pings reach the other side
// as unsolicited pongs, which RFC 6455 §5.5.3 allows. A close frame is passed on as it came; the
// session then waits at most close_timeout for the other side's close, and a frame of
// Bouncer's own waits at most close_timeout for its boundary before the connection is cut.
//
// Threading: everything runs on the client stream's executor, and the upstream must have been
// connected on that same executor; no strand is used. Only end() may be called from another
// thread.
#pragma once

#include "relay/byte_stream.h"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace bouncer::relay {

struct TunnelOptions {
  std::size_t max_message_bytes = 1 << 20;  // larger messages close the session with 1009
  std::chrono::seconds idle_timeout{60};    // a silent peer, or one that takes no write, is dead
  std::chrono::milliseconds close_timeout{5000};  // for a close answer, or a boundary to put a frame at
  bool permessage_deflate = false;          // negotiated end to end: RSV1 may be set
  // Offered each unfragmented, uncompressed text message from the client of at most
  // kInspectedTextBytes payload bytes that contains kBouncerMarker, unmasked, before it is
  // relayed: returning true takes it (it never reaches the upstream). Runs on the client's
  // executor. Empty: nothing is inspected.
  std::function<bool(std::string& text)> take_client_text;
  // Called once, when the session starts ending (a close frame either way, a side gone, end()):
  // before the client can see its close, so whatever the session held may be let go.
  std::function<void()> on_stop;
};

// The largest client text message take_client_text is offered (a renewal carries a token of at
// most 16 KiB).
inline constexpr std::uint32_t kInspectedTextBytes = 20 * 1024;
// What every message of Bouncer's own contains (its JSON type starts with it): a client message
// without it is relayed without being copied.
inline constexpr std::string_view kBouncerMarker = "bouncer.";

// Why a session ended, for logs and counters.
struct TunnelResult {
  enum class Ended { client_closed, upstream_closed, client_error, upstream_error, too_big, protocol_error, ended_by_server };
  Ended how = Ended::client_closed;
  std::uint16_t close_code = 1000;
  std::string reason;
  std::uint64_t messages_to_upstream = 0;  // data messages
  std::uint64_t messages_to_client = 0;
  std::uint64_t frames_to_upstream = 0;  // their frames
  std::uint64_t frames_to_client = 0;
  std::uint64_t bytes_to_upstream = 0;  // their payload bytes
  std::uint64_t bytes_to_client = 0;
};

class Tunnel : public std::enable_shared_from_this<Tunnel> {
 public:
  // `client` has been answered the upstream's 101; `upstream` has sent it. `upstream_early`:
  // bytes the upstream sent right after its 101, read with it (they are relayed first).
  Tunnel(ByteStream client, ByteStream upstream, TunnelOptions options, std::string upstream_early = {});
  ~Tunnel();

  // Starts relaying; `on_end` runs once, on the client's executor, when both sides are done.
  void start(std::function<void(const TunnelResult&)> on_end);

  // Ends the session from outside (thread-safe: posts to the client's executor): sends
  // `final_text` to the client as a text message when not empty, then a close with
  // `code`/`reason`, both between two of the upstream's messages; closes the upstream with 1000
  // (1001 when code is 1001). The first ending wins.
  void end(std::uint16_t code, std::string reason, std::string final_text = {});

  // Sends `text` to the client as a text message of Bouncer's own, between two of the upstream's
  // messages (thread-safe). Dropped once the session is ending.
  void send_to_client(std::string text);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace bouncer::relay
