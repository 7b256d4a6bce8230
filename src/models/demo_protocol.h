// The `demo` model's protocol, without sockets: one incoming message in, one reply out.
// The session (session.cpp) does the I/O and the one-second ticks; this file decides what
// each message means, so it can be tested exhaustively on its own.
//
//   {"type":"prompt","prompt":P}  →  {"type":"prompt_ack","prompt":P}, then ticks restart
//   anything else                 →  {"type":"error","error":"…"} (the session goes on)
//   every second after a prompt   →  {"type":"generation_tick","seconds":N}, N = 1, 2, …
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace bouncer::models::demo {

// Messages longer than this are refused by the WebSocket layer before they get here.
inline constexpr std::size_t kMaxMessageBytes = 1 << 20;

struct Reply {
  std::string text;            // one JSON text frame to send back
  bool restart_ticks = false;  // true for an accepted prompt: the tick count starts again at 1
};

// `is_text` is false for a binary frame, which the demo refuses.
Reply handle(std::string_view message, bool is_text);

// {"type":"generation_tick","seconds":N}
std::string tick(std::uint64_t seconds);

}  // namespace bouncer::models::demo
