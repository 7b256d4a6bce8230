// WebSocket frames (RFC 6455 §5) read in place: the tunnel relays a session's bytes as they
// come and asks a FrameTracker, one per direction, what those bytes are. The tracker parses
// frame headers where they lie in the read buffer, never copies or unmasks a payload it does
// not need (a close frame's, at most 125 bytes, is the only one it reads), and so knows every
// frame and message boundary, each message's size and every protocol error a header shows.
//
// Pure: no I/O, no allocation per frame, no clock.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace bouncer::relay::frames {

enum class Opcode : std::uint8_t { continuation = 0, text = 1, binary = 2, close = 8, ping = 9, pong = 10 };

// Close codes Bouncer itself sends (RFC 6455 §7.4.1).
inline constexpr std::uint16_t kNormalClosure = 1000;
inline constexpr std::uint16_t kGoingAway = 1001;
inline constexpr std::uint16_t kProtocolError = 1002;
inline constexpr std::uint16_t kNoStatus = 1005;  // never on the wire: a close frame with no code
inline constexpr std::uint16_t kPolicyViolation = 1008;
inline constexpr std::uint16_t kMessageTooBig = 1009;
inline constexpr std::uint16_t kInternalError = 1011;
inline constexpr std::uint16_t kTryAgainLater = 1013;

// A code a close frame may carry (RFC 6455 §7.4 and the IANA registry): 1000–1003, 1007–1014
// and 3000–4999. 1004, 1005, 1006 and 1015 are reserved, 1016–2999 unassigned, ≥ 5000 invalid.
bool valid_close_code(std::uint16_t code);

// One frame header, as it is on the wire.
struct Header {
  bool fin = false;
  bool rsv1 = false;
  bool rsv2 = false;
  bool rsv3 = false;
  std::uint8_t opcode = 0;  // not checked against Opcode here
  bool masked = false;
  std::array<std::uint8_t, 4> mask{};
  std::uint64_t payload_length = 0;
  std::size_t header_length = 0;  // 2 to 14 bytes
};

enum class HeaderStatus {
  need_more,      // `bytes` holds a header's beginning only
  ok,             //
  bad_length,     // a length not in its shortest form, or a 64-bit length with its top bit set
};

struct ParsedHeader {
  HeaderStatus status = HeaderStatus::need_more;
  Header header;
};

// Reads the frame header at the start of `bytes` (syntax only: the tracker judges the rest).
// bad_length is given as soon as the length bytes are there, before the masking key is.
ParsedHeader parse_header(std::span<const std::uint8_t> bytes);

// Which way the bytes go. A client masks every frame (RFC 6455 §5.3), a server none.
enum class Direction { from_client, from_upstream };

struct TrackerOptions {
  // A data message whose frames' lengths add up to more is refused (1009), decided from the
  // header that takes it over the limit, before that frame's payload is read. 0: no limit.
  std::uint64_t max_message_bytes = 1 << 20;
  // permessage-deflate was negotiated: RSV1 may be set on a message's first frame.
  bool rsv1_allowed = false;
  // Unfragmented, uncompressed text messages of at most this many payload bytes are held until
  // whole and reported as Kind::inspect, so the caller can read them (Bouncer's own messages
  // among a client's). 0: none is.
  std::uint32_t inspect_text_up_to = 0;
};

// Where the caller wants feed() to stop, so it can put a frame of its own on the other side.
enum class StopAt {
  nothing,      // consume what can be consumed
  frame_end,    // the end of the frame being read: a control frame may go there
  message_end,  // the end of the data message being read: any frame may go there
};

struct FeedResult {
  enum class Kind {
    more,        // every byte up to `consumed` is relayable; feed the rest again with more bytes
                 // after it (a header or a close frame split across reads is only consumed whole)
    boundary,    // stopped at the boundary asked for; `consumed` bytes are relayable
    close,       // a whole, valid close frame ends at `consumed` (relay it): code and reason below
    violation,   // the frame at `consumed` breaks the protocol or the size limit: relay the bytes
                 // before it, not it; close both sides with `code`
    inspect,     // a whole text message to inspect (TrackerOptions::inspect_text_up_to), its one
                 // frame `inspect_length` bytes long, starts at `consumed`: relay the bytes
                 // before it; once it is at the start of what is fed, look at it and call
                 // end_inspection(), then feed what follows it
  };
  Kind kind = Kind::more;
  std::size_t consumed = 0;
  std::uint16_t code = 0;  // close: the code received (kNoStatus when none); violation: 1002 or 1009
  std::string reason;      // close: the reason received; violation: what was wrong, for logs and
                           // the close frame (at most 123 bytes)
  std::size_t close_start = 0;  // close: where the close frame starts (the bytes before it are
                                // other frames, relayable whatever becomes of the close)
  std::size_t inspect_length = 0;  // inspect: the frame's length, header included
};

// One direction of a session. Feed it the bytes read from that side, in order, each at most
// once: feed(bytes) looks at bytes[0..n) and says how many it consumed. Unconsumed bytes must
// be fed again, at the start of the next call, followed by what was read after them. What is
// left unconsumed is at most a header's beginning (under 14 bytes), a close frame's beginning
// (under 2 + 4 + 125 = 131 bytes) or a text frame to inspect (under 14 + inspect_text_up_to):
// a read buffer at least that large always makes progress.
// Payloads of data, ping and pong frames are consumed as they arrive, never held back.
//
// Rules checked (each a 1002 violation): RSV2/RSV3 set, RSV1 set without rsv1_allowed or on a
// continuation or control frame; an opcode not in Opcode; a control frame longer than 125
// bytes or not FIN; a client frame unmasked or an upstream frame masked; a continuation with
// no message open; a text or binary frame while a message is open; a close frame with a
// one-byte payload, an invalid code, or a reason that is not UTF-8. A 64-bit length over
// 2^63 - 1 or a length not in its shortest form (HeaderStatus::bad_length) is a 1002 too.
// Rules decided by a header's first two bytes are told as soon as those bytes are fed, before
// the rest of the header; when a frame breaks several rules, the one reported is the same
// however the bytes are split. Text payloads are not checked for UTF-8 (never read).
//
// After a close or a violation the tracker consumes nothing more: every later feed() returns
// Kind::more with `consumed` 0 (and no code or reason). The caller stops feeding that side
// once it has had a close or a violation; whatever that side sends after it is not relayed.
//
// Boundaries with StopAt: feed() stops at the first boundary of the kind asked for, which is
// where it starts when the tracker is there already (Kind::boundary, `consumed` 0: the caller
// puts its frame there, then feeds again). frame_end: the end of the frame whose payload is
// being consumed. message_end: the end of a data message's FIN frame, or of a control frame
// read outside a message; a control frame between two fragments of a message is not one.
// Close and violation results come first, whatever stop_at is.
class FrameTracker {
 public:
  FrameTracker(Direction direction, TrackerOptions options);

  FeedResult feed(std::span<const std::uint8_t> bytes, StopAt stop_at = StopAt::nothing);

  // The frame the last feed() reported as Kind::inspect is done with: `relayed` counts it as a
  // relayed message (frames(), payload_bytes(), messages()); otherwise the caller took it and it
  // counts nowhere. The caller feeds on from the byte after it.
  void end_inspection(bool relayed);

  // Between two frames (no frame partly consumed): a control frame may be put here.
  bool at_frame_boundary() const;
  // Between two data messages: any frame may be put here.
  bool at_message_boundary() const;
  // Counted as frames are consumed whole: data frames (text, binary and continuation; control
  // frames are not counted), and their payload bytes (added when the frame's last byte is).
  std::uint64_t frames() const { return frames_; }
  std::uint64_t payload_bytes() const { return payload_bytes_; }
  // Data messages completed (their FIN frame consumed whole).
  std::uint64_t messages() const { return messages_; }

 private:
  // The implementation's state: keep it small, an idle session holds two of these (80 bytes,
  // nothing on the heap).
  void finish_frame();

  TrackerOptions options_;
  std::uint64_t frame_left_ = 0;     // payload bytes of the current frame not yet consumed
  std::uint64_t frame_length_ = 0;   // payload length of the current frame
  std::uint64_t message_bytes_ = 0;  // payload lengths of the current message's data frames so far
  std::uint64_t frames_ = 0;
  std::uint64_t payload_bytes_ = 0;
  std::uint64_t messages_ = 0;
  Direction direction_;
  std::uint32_t inspected_length_ = 0;  // payload length of the frame reported as Kind::inspect
  bool in_frame_ = false;         // a header was consumed, its payload not wholly
  bool current_fin_ = false;      // of the frame being consumed
  bool current_is_data_ = false;  //
  bool message_open_ = false;     // a data frame without FIN was read: the message's FIN frame is due
  bool done_ = false;             // a close or violation was returned
};

// A whole unfragmented frame with FIN set, of Bouncer's own: to a client unmasked (mask
// nullopt), to an upstream masked with `mask` (RFC 6455 §5.3: a fresh random key per frame).
// The length is in its shortest form. A control frame's payload must be at most 125 bytes
// (not checked here).
std::string make_frame(Opcode opcode, std::string_view payload, std::optional<std::array<std::uint8_t, 4>> mask);

// The payload of the whole frame `frame` (header included), unmasked when masked.
std::string unmasked_payload(std::span<const std::uint8_t> frame);

// Whether that payload contains `needle` (1 to 64 bytes), found without copying the payload.
bool payload_contains(std::span<const std::uint8_t> frame, std::string_view needle);

// A close frame: no payload when code is kNoStatus, otherwise the code (written as given: pass
// one valid_close_code accepts) and fit_close_reason(reason).
std::string make_close_frame(std::uint16_t code, std::string_view reason,
                             std::optional<std::array<std::uint8_t, 4>> mask);

// `reason` cut to at most 123 bytes (what a close frame holds beside its code) at a UTF-8
// sequence boundary. A reason that is not valid UTF-8 is also cut before its first invalid
// sequence, so that a close frame made with it is always one a peer accepts.
std::string_view fit_close_reason(std::string_view reason);

}  // namespace bouncer::relay::frames
