// relay/frames: the frame-header tracker a tunnel runs on each direction's bytes (RFC 6455 §5).
// The RFC's own examples byte for byte, every header rule one at a time, close frames, the
// message size limit, StopAt, the frames Bouncer makes itself, and a property: however the
// bytes of a session are split into reads, the tracker says the same thing.
#include "relay/frames.h"

#include <gtest/gtest.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace bouncer::relay::frames {
namespace {

using Bytes = std::vector<std::uint8_t>;
using Kind = FeedResult::Kind;
using Key = std::array<std::uint8_t, 4>;

constexpr Key kKey{0x37, 0xfa, 0x21, 0x3d};  // RFC 6455 §5.7's masking key

Bytes hex(std::string_view text) {
  Bytes out;
  int nibble = -1;
  for (const char c : text) {
    int v = -1;
    if (c >= '0' && c <= '9') v = c - '0';
    if (c >= 'a' && c <= 'f') v = c - 'a' + 10;
    if (c >= 'A' && c <= 'F') v = c - 'A' + 10;
    if (v < 0) continue;
    if (nibble < 0) {
      nibble = v;
    } else {
      out.push_back(static_cast<std::uint8_t>(nibble * 16 + v));
      nibble = -1;
    }
  }
  return out;
}

Bytes bytes_of(std::string_view s) { return Bytes(s.begin(), s.end()); }

Bytes cat(Bytes a, const Bytes& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::more: return "more";
    case Kind::boundary: return "boundary";
    case Kind::close: return "close";
    case Kind::violation: return "violation";
    case Kind::inspect: return "inspect";
  }
  return "?";
}

std::string describe(const FeedResult& r) {
  return std::string(kind_name(r.kind)) + " consumed=" + std::to_string(r.consumed) + " code=" + std::to_string(r.code) +
         " reason=\"" + r.reason + "\"";
}

// A frame as the test wants it, whatever the rules say: builds bad frames as well as good ones.
struct Spec {
  std::uint8_t opcode_ = 1;
  bool fin_ = true;
  std::uint8_t rsv_ = 0;  // 4: RSV1, 2: RSV2, 1: RSV3
  std::optional<Key> mask_;
  Bytes payload_;
  int length_form_ = 0;                    // 0: the shortest; 7, 16 or 64: that one
  std::optional<std::uint64_t> declared_;  // a length other than payload's in the header

  Spec& opcode(std::uint8_t v) { opcode_ = v; return *this; }
  Spec& fin(bool v) { fin_ = v; return *this; }
  Spec& rsv(std::uint8_t v) { rsv_ = v; return *this; }
  Spec& mask(std::optional<Key> v) { mask_ = v; return *this; }
  Spec& payload(Bytes v) { payload_ = std::move(v); return *this; }
  Spec& length_form(int v) { length_form_ = v; return *this; }
  Spec& declared(std::uint64_t v) { declared_ = v; return *this; }
};

Bytes build(const Spec& s) {
  Bytes out;
  out.push_back(static_cast<std::uint8_t>((s.fin_ ? 0x80 : 0) | (s.rsv_ << 4) | s.opcode_));
  const std::uint64_t length = s.declared_.value_or(s.payload_.size());
  int form = s.length_form_;
  if (form == 0) form = length <= 125 ? 7 : length <= 0xFFFF ? 16 : 64;
  const auto mask_bit = static_cast<std::uint8_t>(s.mask_ ? 0x80 : 0);
  if (form == 7) {
    out.push_back(static_cast<std::uint8_t>(mask_bit | length));
  } else if (form == 16) {
    out.push_back(static_cast<std::uint8_t>(mask_bit | 126));
    out.push_back(static_cast<std::uint8_t>(length >> 8));
    out.push_back(static_cast<std::uint8_t>(length));
  } else {
    out.push_back(static_cast<std::uint8_t>(mask_bit | 127));
    for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<std::uint8_t>(length >> shift));
  }
  if (s.mask_) out.insert(out.end(), s.mask_->begin(), s.mask_->end());
  for (std::size_t i = 0; i < s.payload_.size(); ++i) {
    out.push_back(static_cast<std::uint8_t>(s.payload_[i] ^ (s.mask_ ? (*s.mask_)[i % 4] : 0)));
  }
  return out;
}

std::optional<Key> key_for(Direction d) {
  return d == Direction::from_client ? std::optional<Key>(kKey) : std::nullopt;
}

// A well-formed frame of that direction (masked from a client).
Bytes frame(Direction d, std::uint8_t opcode, bool fin, const Bytes& payload) {
  return build(Spec().opcode(opcode).fin(fin).mask(key_for(d)).payload(payload));
}
Bytes frame(Direction d, Opcode opcode, bool fin, const Bytes& payload) {
  return frame(d, static_cast<std::uint8_t>(opcode), fin, payload);
}
Bytes frame(Direction d, Opcode opcode, bool fin, std::string_view payload) {
  return frame(d, opcode, fin, bytes_of(payload));
}

Bytes close_payload(std::uint16_t code, const Bytes& reason) {
  Bytes p{static_cast<std::uint8_t>(code >> 8), static_cast<std::uint8_t>(code & 0xFF)};
  return cat(p, reason);
}

FeedResult feed(FrameTracker& t, const Bytes& b, StopAt stop = StopAt::nothing) {
  return t.feed(std::span<const std::uint8_t>(b.data(), b.size()), stop);
}

FrameTracker client(TrackerOptions o = {}) { return FrameTracker(Direction::from_client, o); }
FrameTracker upstream(TrackerOptions o = {}) { return FrameTracker(Direction::from_upstream, o); }

void expect_more(const FeedResult& r, std::size_t consumed) {
  EXPECT_EQ(r.kind, Kind::more) << describe(r);
  EXPECT_EQ(r.consumed, consumed) << describe(r);
}

void expect_violation(const FeedResult& r, std::size_t at, std::uint16_t code, std::string_view reason) {
  EXPECT_EQ(r.kind, Kind::violation) << describe(r);
  EXPECT_EQ(r.consumed, at) << describe(r);
  EXPECT_EQ(r.code, code) << describe(r);
  EXPECT_EQ(r.reason, reason) << describe(r);
  EXPECT_LE(r.reason.size(), 123u);
}

void expect_close(const FeedResult& r, std::size_t end, std::uint16_t code, std::string_view reason) {
  EXPECT_EQ(r.kind, Kind::close) << describe(r);
  EXPECT_EQ(r.consumed, end) << describe(r);
  EXPECT_EQ(r.code, code) << describe(r);
  EXPECT_EQ(r.reason, reason) << describe(r);
}

bool terminal(const FeedResult& r) { return r.kind == Kind::close || r.kind == Kind::violation; }

// What a run of feeds said in the end: compared between ways of splitting the same bytes.
struct Outcome {
  std::size_t total = 0;  // bytes consumed over all feeds
  Kind kind = Kind::more;
  std::uint16_t code = 0;
  std::string reason;
  std::uint64_t frames = 0;
  std::uint64_t payload_bytes = 0;
  std::uint64_t messages = 0;
  bool at_frame_boundary = true;
  bool at_message_boundary = true;

  bool operator==(const Outcome&) const = default;
};

std::string describe(const Outcome& o) {
  return std::string(kind_name(o.kind)) + " total=" + std::to_string(o.total) + " code=" + std::to_string(o.code) +
         " reason=\"" + o.reason + "\" frames=" + std::to_string(o.frames) + " payload=" +
         std::to_string(o.payload_bytes) + " messages=" + std::to_string(o.messages) +
         " frame_boundary=" + std::to_string(o.at_frame_boundary) + " message_boundary=" +
         std::to_string(o.at_message_boundary);
}

// Feeds `data` as the reads ending at each of `cuts` (ascending) and then the rest, each time
// with what the previous feed left unconsumed in front, as the contract says.
Outcome drive(Direction d, TrackerOptions o, const Bytes& data, const std::vector<std::size_t>& cuts) {
  FrameTracker t(d, o);
  Outcome out;
  Bytes pending;
  std::size_t next = 0;
  FeedResult last;
  for (std::size_t i = 0; i <= cuts.size(); ++i) {
    const std::size_t end = i < cuts.size() ? cuts[i] : data.size();
    pending.insert(pending.end(), data.begin() + static_cast<std::ptrdiff_t>(next),
                   data.begin() + static_cast<std::ptrdiff_t>(end));
    next = end;
    last = feed(t, pending);
    EXPECT_LE(last.consumed, pending.size());
    EXPECT_NE(last.kind, Kind::boundary) << "no boundary was asked for";
    out.total += last.consumed;
    pending.erase(pending.begin(), pending.begin() + static_cast<std::ptrdiff_t>(last.consumed));
    if (terminal(last)) break;
  }
  out.kind = last.kind;
  out.code = last.code;
  out.reason = last.reason;
  out.frames = t.frames();
  out.payload_bytes = t.payload_bytes();
  out.messages = t.messages();
  out.at_frame_boundary = t.at_frame_boundary();
  out.at_message_boundary = t.at_message_boundary();
  return out;
}

Outcome whole(Direction d, TrackerOptions o, const Bytes& data) { return drive(d, o, data, {}); }

// ---- RFC 6455 §5.7, byte for byte ----

// A single-frame unmasked text message, from a server.
TEST(FramesRfcExamples, UnmaskedHello) {
  const Bytes wire = hex("81 05 48 65 6c 6c 6f");
  auto t = upstream();
  expect_more(feed(t, wire), 7);
  EXPECT_EQ(t.frames(), 1u);
  EXPECT_EQ(t.payload_bytes(), 5u);
  EXPECT_EQ(t.messages(), 1u);
  EXPECT_TRUE(t.at_message_boundary());
  EXPECT_EQ(bytes_of(make_frame(Opcode::text, "Hello", std::nullopt)), wire);
}

// The same, masked with 37 fa 21 3d, from a client.
TEST(FramesRfcExamples, MaskedHello) {
  const Bytes wire = hex("81 85 37 fa 21 3d 7f 9f 4d 51 58");
  const ParsedHeader p = parse_header(wire);
  ASSERT_EQ(p.status, HeaderStatus::ok);
  EXPECT_TRUE(p.header.fin);
  EXPECT_TRUE(p.header.masked);
  EXPECT_EQ(p.header.mask, kKey);
  EXPECT_EQ(p.header.payload_length, 5u);
  EXPECT_EQ(p.header.header_length, 6u);
  auto t = client();
  expect_more(feed(t, wire), 11);
  EXPECT_EQ(t.messages(), 1u);
  EXPECT_EQ(t.payload_bytes(), 5u);
  EXPECT_EQ(bytes_of(make_frame(Opcode::text, "Hello", kKey)), wire);
}

// A fragmented unmasked text message: "Hel" then "lo"; the message ends with the second frame.
TEST(FramesRfcExamples, FragmentedHello) {
  const Bytes first = hex("01 03 48 65 6c");
  const Bytes second = hex("80 02 6c 6f");
  auto t = upstream();
  expect_more(feed(t, first), 5);
  EXPECT_EQ(t.frames(), 1u);
  EXPECT_EQ(t.messages(), 0u);
  EXPECT_TRUE(t.at_frame_boundary());
  EXPECT_FALSE(t.at_message_boundary());
  expect_more(feed(t, second), 4);
  EXPECT_EQ(t.frames(), 2u);
  EXPECT_EQ(t.payload_bytes(), 5u);
  EXPECT_EQ(t.messages(), 1u);
  EXPECT_TRUE(t.at_message_boundary());
}

// An unmasked ping and a masked pong, both "Hello": relayed, counted as no data.
TEST(FramesRfcExamples, PingAndMaskedPong) {
  const Bytes ping = hex("89 05 48 65 6c 6c 6f");
  const Bytes pong = hex("8a 85 37 fa 21 3d 7f 9f 4d 51 58");
  auto up = upstream();
  expect_more(feed(up, ping), 7);
  auto cl = client();
  expect_more(feed(cl, pong), 11);
  for (const auto* t : {&up, &cl}) {
    EXPECT_EQ(t->frames(), 0u);
    EXPECT_EQ(t->payload_bytes(), 0u);
    EXPECT_EQ(t->messages(), 0u);
    EXPECT_TRUE(t->at_message_boundary());
  }
  EXPECT_EQ(bytes_of(make_frame(Opcode::ping, "Hello", std::nullopt)), ping);
  EXPECT_EQ(bytes_of(make_frame(Opcode::pong, "Hello", kKey)), pong);
}

// 256 bytes of binary data: the 16-bit extended length.
TEST(FramesRfcExamples, Binary256With16BitLength) {
  const std::string data(256, '\x5a');
  const Bytes wire = cat(hex("82 7E 01 00"), bytes_of(data));
  const ParsedHeader p = parse_header(wire);
  ASSERT_EQ(p.status, HeaderStatus::ok);
  EXPECT_EQ(p.header.payload_length, 256u);
  EXPECT_EQ(p.header.header_length, 4u);
  EXPECT_EQ(p.header.opcode, 2);
  auto t = upstream();
  expect_more(feed(t, wire), 260);
  EXPECT_EQ(t.payload_bytes(), 256u);
  EXPECT_EQ(t.messages(), 1u);
  EXPECT_EQ(bytes_of(make_frame(Opcode::binary, data, std::nullopt)), wire);
}

// 64 KiB of binary data: the 64-bit extended length.
TEST(FramesRfcExamples, Binary65536With64BitLength) {
  const std::string data(65536, '\x01');
  const Bytes wire = cat(hex("82 7F 00 00 00 00 00 01 00 00"), bytes_of(data));
  const ParsedHeader p = parse_header(wire);
  ASSERT_EQ(p.status, HeaderStatus::ok);
  EXPECT_EQ(p.header.payload_length, 65536u);
  EXPECT_EQ(p.header.header_length, 10u);
  auto t = upstream();
  expect_more(feed(t, wire), wire.size());
  EXPECT_EQ(t.payload_bytes(), 65536u);
  EXPECT_EQ(t.messages(), 1u);
  EXPECT_EQ(bytes_of(make_frame(Opcode::binary, data, std::nullopt)), wire);
}

// ---- parse_header ----

// Each strict prefix of a header (here the longest: 64-bit length and a key) needs more bytes.
TEST(FramesParseHeader, EveryPrefixOfAHeaderNeedsMore) {
  const Bytes h = build(Spec().opcode(2).mask(kKey).declared(70000));
  ASSERT_EQ(h.size(), 14u);
  for (std::size_t n = 0; n < h.size(); ++n) {
    EXPECT_EQ(parse_header(std::span(h.data(), n)).status, HeaderStatus::need_more) << n;
  }
  const ParsedHeader p = parse_header(h);
  ASSERT_EQ(p.status, HeaderStatus::ok);
  EXPECT_EQ(p.header.header_length, 14u);
  EXPECT_EQ(p.header.payload_length, 70000u);
  EXPECT_EQ(p.header.mask, kKey);
}

// Every flag bit lands in its field; the opcode is given as it is, unchecked.
TEST(FramesParseHeader, FlagsAndOpcode) {
  const ParsedHeader p = parse_header(hex("7B 00"));
  ASSERT_EQ(p.status, HeaderStatus::ok);
  EXPECT_FALSE(p.header.fin);
  EXPECT_TRUE(p.header.rsv1);
  EXPECT_TRUE(p.header.rsv2);
  EXPECT_TRUE(p.header.rsv3);
  EXPECT_EQ(p.header.opcode, 0xB);
  EXPECT_FALSE(p.header.masked);
  EXPECT_EQ(p.header.header_length, 2u);
}

// A length in a longer form than it needs is bad, and so is a 64-bit length with its top bit
// set; the shortest forms at each edge are fine.
TEST(FramesParseHeader, NonMinimalAndTopBitLengths) {
  struct L {
    int form;
    std::uint64_t length;
    HeaderStatus status;
  };
  const std::vector<L> cases = {
      {16, 0, HeaderStatus::bad_length},         {16, 125, HeaderStatus::bad_length},
      {16, 126, HeaderStatus::ok},               {16, 0xFFFF, HeaderStatus::ok},
      {64, 0, HeaderStatus::bad_length},         {64, 125, HeaderStatus::bad_length},
      {64, 126, HeaderStatus::bad_length},       {64, 0xFFFF, HeaderStatus::bad_length},
      {64, 0x10000, HeaderStatus::ok},           {64, 0x7FFFFFFFFFFFFFFFull, HeaderStatus::ok},
      {64, 0x8000000000000000ull, HeaderStatus::bad_length},
      {64, 0xFFFFFFFFFFFFFFFFull, HeaderStatus::bad_length},
      {64, 0x8000000000010000ull, HeaderStatus::bad_length},
  };
  for (const L& c : cases) {
    for (const bool masked : {false, true}) {
      const Bytes h = build(Spec().opcode(2).mask(masked ? std::optional<Key>(kKey) : std::nullopt).length_form(c.form).declared(c.length));
      const ParsedHeader p = parse_header(h);
      EXPECT_EQ(p.status, c.status) << c.form << "-bit form of " << c.length;
      if (c.status == HeaderStatus::ok) {
        EXPECT_EQ(p.header.payload_length, c.length);
      }
      // bad_length is known from the length bytes, before the key is there.
      if (c.status == HeaderStatus::bad_length) {
        const std::size_t without_key = c.form == 16 ? 4 : 10;
        EXPECT_EQ(parse_header(std::span(h.data(), without_key)).status, HeaderStatus::bad_length);
      }
    }
  }
}

// The tracker refuses a bad length with 1002 at the frame's header, after the frames before it.
TEST(FramesTracker, BadLengthIsAProtocolError) {
  const Bytes before = frame(Direction::from_upstream, Opcode::text, true, "ok");
  for (const int form : {16, 64}) {
    auto t = upstream();
    const Bytes wire = cat(before, build(Spec().opcode(2).payload(Bytes(5, 'x')).length_form(form)));
    expect_violation(feed(t, wire), before.size(), kProtocolError,
                     "Frame length not in its shortest form or over 2^63 - 1");
    EXPECT_EQ(t.messages(), 1u);
  }
  auto t = upstream({.max_message_bytes = 0});
  expect_violation(feed(t, build(Spec().opcode(2).declared(0x8000000000000000ull))), 0, kProtocolError,
                   "Frame length not in its shortest form or over 2^63 - 1");
}

// With no limit the largest legal length is taken: its header is consumed, its payload awaited.
TEST(FramesTracker, LargestLengthWithoutALimit) {
  auto t = upstream({.max_message_bytes = 0});
  const Bytes h = build(Spec().opcode(2).declared(0x7FFFFFFFFFFFFFFFull));
  expect_more(feed(t, cat(h, Bytes(100, 0))), h.size() + 100);
  EXPECT_FALSE(t.at_frame_boundary());
  EXPECT_EQ(t.frames(), 0u);
}

// ---- Header rules ----

// Every opcode 0..15, alone from a fresh tracker, then inside an open message.
TEST(FramesTracker, EveryOpcode) {
  for (int op = 0; op < 16; ++op) {
    const auto opcode = static_cast<std::uint8_t>(op);
    SCOPED_TRACE("opcode " + std::to_string(op));
    {
      auto t = upstream();
      const FeedResult r = feed(t, frame(Direction::from_upstream, opcode, true, {}));
      switch (op) {
        case 0: expect_violation(r, 0, kProtocolError, "Continuation frame with no message open"); break;
        case 1:
        case 2:
          expect_more(r, 2);
          EXPECT_EQ(t.messages(), 1u);
          break;
        case 8: expect_close(r, 2, kNoStatus, ""); break;
        case 9:
        case 10:
          expect_more(r, 2);
          EXPECT_EQ(t.frames(), 0u);
          break;
        default: expect_violation(r, 0, kProtocolError, "Reserved opcode");
      }
    }
    {
      auto t = client();
      const Bytes open = frame(Direction::from_client, Opcode::text, false, "a");
      const FeedResult r = feed(t, cat(open, frame(Direction::from_client, opcode, true, {})));
      const std::size_t end = open.size() + 6;
      switch (op) {
        case 0:
          expect_more(r, end);
          EXPECT_EQ(t.messages(), 1u);
          break;
        case 1:
        case 2: expect_violation(r, open.size(), kProtocolError, "New data frame inside an open message"); break;
        case 8: expect_close(r, end, kNoStatus, ""); break;
        case 9:
        case 10:
          expect_more(r, end);
          EXPECT_FALSE(t.at_message_boundary());
          break;
        default: expect_violation(r, open.size(), kProtocolError, "Reserved opcode");
      }
    }
  }
}

// Every RSV combination on a message's first frame, a continuation and a control frame, with
// permessage-deflate negotiated and not: only RSV1 on a first frame with it is legal.
TEST(FramesTracker, EveryRsvCombination) {
  enum class Where { first, continuation, control };
  for (const bool allowed : {false, true}) {
    for (std::uint8_t rsv = 0; rsv < 8; ++rsv) {
      for (const Where where : {Where::first, Where::continuation, Where::control}) {
        SCOPED_TRACE("rsv " + std::to_string(rsv) + " allowed " + std::to_string(allowed) + " where " +
                     std::to_string(static_cast<int>(where)));
        auto t = upstream({.rsv1_allowed = allowed});
        Bytes prefix;
        Spec s = Spec().payload(bytes_of("xyz")).rsv(rsv);
        if (where == Where::first) s.opcode(1);
        if (where == Where::continuation) {
          prefix = frame(Direction::from_upstream, Opcode::binary, false, "ab");
          s.opcode(0);
        }
        if (where == Where::control) s.opcode(9);
        const Bytes wire = cat(prefix, build(s));
        const FeedResult r = feed(t, wire);
        const char* reason = nullptr;
        if ((rsv & 3) != 0) {
          reason = "RSV2 or RSV3 set";
        } else if ((rsv & 4) != 0) {
          if (where == Where::control) reason = "RSV1 set on a control frame";
          if (where == Where::continuation) reason = "RSV1 set on a continuation frame";
          if (where == Where::first && !allowed) reason = "RSV1 set without permessage-deflate";
        }
        if (reason) {
          expect_violation(r, prefix.size(), kProtocolError, reason);
        } else {
          expect_more(r, wire.size());
        }
      }
    }
  }
}

// A control frame holds at most 125 bytes: a ping or pong of 125 passes, of 126 does not (it
// needs the 16-bit form, refused from the header's second byte).
TEST(FramesTracker, ControlFrameOf125PassesAnd126IsRefused) {
  for (const Opcode op : {Opcode::ping, Opcode::pong}) {
    for (const Direction d : {Direction::from_client, Direction::from_upstream}) {
      FrameTracker ok(d, {});
      const Bytes f125 = frame(d, static_cast<std::uint8_t>(op), true, Bytes(125, 'p'));
      expect_more(feed(ok, f125), f125.size());
      FrameTracker bad(d, {});
      const Bytes f126 = frame(d, static_cast<std::uint8_t>(op), true, Bytes(126, 'p'));
      expect_violation(feed(bad, f126), 0, kProtocolError, "Control frame longer than 125 bytes");
      FrameTracker early(d, {});
      expect_violation(feed(early, Bytes(f126.begin(), f126.begin() + 2)), 0, kProtocolError,
                       "Control frame longer than 125 bytes");
    }
  }
  // A close frame of 125 bytes: a code and a reason of 123.
  auto t = upstream();
  const std::string reason(123, 'r');
  const Bytes c = frame(Direction::from_upstream, 8, true, close_payload(1000, bytes_of(reason)));
  expect_close(feed(t, c), c.size(), 1000, reason);
  auto t2 = upstream();
  const Bytes c126 = frame(Direction::from_upstream, 8, true, close_payload(1000, bytes_of(reason + "r")));
  expect_violation(feed(t2, c126), 0, kProtocolError, "Control frame longer than 125 bytes");
}

// A control frame must have FIN: a fragmented ping, pong or close is refused.
TEST(FramesTracker, FragmentedControlFrameIsRefused) {
  for (const Opcode op : {Opcode::ping, Opcode::pong, Opcode::close}) {
    auto t = client();
    expect_violation(feed(t, frame(Direction::from_client, op, false, "")), 0, kProtocolError,
                     "Fragmented control frame");
  }
}

// A client masks every frame, a server none.
TEST(FramesTracker, MaskingPerDirection) {
  for (const Opcode op : {Opcode::text, Opcode::binary, Opcode::ping, Opcode::pong, Opcode::close}) {
    const Bytes unmasked = frame(Direction::from_upstream, op, true, "");
    const Bytes masked = frame(Direction::from_client, op, true, "");
    auto c = client();
    expect_violation(feed(c, unmasked), 0, kProtocolError, "Unmasked client frame");
    auto u = upstream();
    expect_violation(feed(u, masked), 0, kProtocolError, "Masked upstream frame");
    auto c2 = client();
    auto u2 = upstream();
    EXPECT_NE(feed(c2, masked).kind, Kind::violation);
    EXPECT_NE(feed(u2, unmasked).kind, Kind::violation);
  }
  // Continuations too.
  auto c = client();
  const Bytes wire = cat(frame(Direction::from_client, Opcode::text, false, "a"),
                         frame(Direction::from_upstream, Opcode::continuation, true, "b"));
  expect_violation(feed(c, wire), 7, kProtocolError, "Unmasked client frame");
}

// A continuation with no message open: first, and after a message has ended.
TEST(FramesTracker, ContinuationWithoutAnOpenMessage) {
  auto t = upstream();
  expect_violation(feed(t, frame(Direction::from_upstream, Opcode::continuation, false, "x")), 0, kProtocolError,
                   "Continuation frame with no message open");
  auto t2 = upstream();
  const Bytes done = cat(frame(Direction::from_upstream, Opcode::text, false, "a"),
                         frame(Direction::from_upstream, Opcode::continuation, true, "b"));
  expect_violation(feed(t2, cat(done, frame(Direction::from_upstream, Opcode::continuation, true, "c"))),
                   done.size(), kProtocolError, "Continuation frame with no message open");
  EXPECT_EQ(t2.messages(), 1u);
}

// A text or binary frame while a message is open.
TEST(FramesTracker, NewDataFrameInsideAnOpenMessage) {
  for (const Opcode first : {Opcode::text, Opcode::binary}) {
    for (const Opcode next : {Opcode::text, Opcode::binary}) {
      for (const bool fin : {false, true}) {
        auto t = client();
        const Bytes open = frame(Direction::from_client, first, false, "ab");
        expect_violation(feed(t, cat(open, frame(Direction::from_client, next, fin, "cd"))), open.size(),
                         kProtocolError, "New data frame inside an open message");
      }
    }
  }
}

// Control frames between a message's fragments are allowed and do not end it.
TEST(FramesTracker, ControlFramesBetweenFragments) {
  const auto d = Direction::from_client;
  const Bytes wire = cat(cat(cat(frame(d, Opcode::text, false, "He"), frame(d, Opcode::ping, true, "p")),
                             cat(frame(d, Opcode::continuation, false, "l"), frame(d, Opcode::pong, true, ""))),
                         frame(d, Opcode::continuation, true, "lo"));
  auto t = client();
  expect_more(feed(t, wire), wire.size());
  EXPECT_EQ(t.frames(), 3u);
  EXPECT_EQ(t.payload_bytes(), 5u);
  EXPECT_EQ(t.messages(), 1u);
  // A close between fragments ends the session there.
  auto t2 = client();
  const Bytes head = frame(d, Opcode::text, false, "He");
  const Bytes close = frame(d, 8, true, close_payload(1001, bytes_of("bye")));
  expect_close(feed(t2, cat(cat(head, close), frame(d, Opcode::continuation, true, "llo"))),
               head.size() + close.size(), 1001, "bye");
  EXPECT_EQ(t2.messages(), 0u);
}

// A frame whose payload is empty is complete with its header.
TEST(FramesTracker, EmptyPayloadsCompleteWithTheHeader) {
  auto t = upstream();
  const Bytes wire = cat(frame(Direction::from_upstream, Opcode::binary, false, ""),
                         frame(Direction::from_upstream, Opcode::continuation, true, ""));
  EXPECT_EQ(feed(t, Bytes(wire.begin(), wire.begin() + 2)).consumed, 2u);
  EXPECT_EQ(t.frames(), 1u);
  EXPECT_TRUE(t.at_frame_boundary());
  EXPECT_FALSE(t.at_message_boundary());
  EXPECT_EQ(feed(t, Bytes(wire.begin() + 2, wire.end())).consumed, 2u);
  EXPECT_EQ(t.frames(), 2u);
  EXPECT_EQ(t.payload_bytes(), 0u);
  EXPECT_EQ(t.messages(), 1u);
}

// A payload is consumed as it comes, over many feeds; the frame is counted when it ends.
TEST(FramesTracker, PayloadSpansManyFeeds) {
  const Bytes f = frame(Direction::from_client, Opcode::binary, true, Bytes(1000, 7));
  auto t = client();
  expect_more(feed(t, Bytes(f.begin(), f.begin() + 9)), 9);  // 8-byte header, 1 payload byte
  EXPECT_FALSE(t.at_frame_boundary());
  std::size_t at = 9;
  while (at < f.size()) {
    const std::size_t n = std::min<std::size_t>(97, f.size() - at);
    expect_more(feed(t, Bytes(f.begin() + static_cast<std::ptrdiff_t>(at), f.begin() + static_cast<std::ptrdiff_t>(at + n))), n);
    at += n;
    EXPECT_EQ(t.frames(), at == f.size() ? 1u : 0u);
  }
  EXPECT_EQ(t.payload_bytes(), 1000u);
  EXPECT_EQ(t.messages(), 1u);
}

// A header split across reads is left unconsumed, from its first byte, until it is whole.
TEST(FramesTracker, HeaderSplitAcrossReads) {
  const Bytes first = frame(Direction::from_client, Opcode::text, true, "abc");
  const Bytes second = build(Spec().opcode(2).mask(kKey).payload(Bytes(70000, 1)));
  const Bytes wire = cat(first, second);
  for (std::size_t cut = first.size(); cut < first.size() + 14; ++cut) {
    auto t = client();
    expect_more(feed(t, Bytes(wire.begin(), wire.begin() + static_cast<std::ptrdiff_t>(cut))), first.size());
    const Bytes rest(wire.begin() + static_cast<std::ptrdiff_t>(first.size()), wire.end());
    expect_more(feed(t, rest), rest.size());
    EXPECT_EQ(t.messages(), 2u);
  }
}

// A rule the first byte or two of a header break is told at once, before the header is whole.
TEST(FramesTracker, ViolationsAreToldFromTheFirstBytes) {
  auto t = upstream();
  expect_violation(feed(t, hex("83")), 0, kProtocolError, "Reserved opcode");
  auto t2 = upstream();
  expect_violation(feed(t2, hex("81 FF")), 0, kProtocolError, "Masked upstream frame");
  auto t3 = client();
  expect_violation(feed(t3, hex("88 81")), 0, kProtocolError, "Close frame with a one-byte payload");
  // A frame that breaks several rules is told by the same one however it is split.
  auto whole_t = client();
  const FeedResult w = feed(whole_t, hex("F3 7E 00 01"));
  auto split_t = client();
  const FeedResult s = feed(split_t, hex("F3"));
  EXPECT_EQ(w.reason, s.reason);
  EXPECT_EQ(w.reason, "RSV2 or RSV3 set");
}

// ---- Close frames ----

// Every 16-bit close code against the rule: 1000–1003, 1007–1014 and 3000–4999.
TEST(FramesClose, EveryCode) {
  int valid = 0;
  for (std::uint32_t c = 0; c <= 0xFFFF; ++c) {
    const auto code = static_cast<std::uint16_t>(c);
    const bool expected = (c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1014) || (c >= 3000 && c <= 4999);
    ASSERT_EQ(valid_close_code(code), expected) << c;
    valid += expected;
    auto t = client();
    const Bytes f = frame(Direction::from_client, 8, true, close_payload(code, {}));
    const FeedResult r = feed(t, f);
    if (expected) {
      ASSERT_EQ(r.kind, Kind::close) << c;
      ASSERT_EQ(r.code, code);
      ASSERT_EQ(r.consumed, f.size());
    } else {
      ASSERT_EQ(r.kind, Kind::violation) << c;
      ASSERT_EQ(r.code, kProtocolError);
      ASSERT_EQ(r.reason, "Invalid close code");
      ASSERT_EQ(r.consumed, 0u);
    }
  }
  EXPECT_EQ(valid, 4 + 8 + 2000);
}

// An empty close frame carries no code: kNoStatus, no reason.
TEST(FramesClose, EmptyCloseHasNoStatus) {
  auto t = client();
  const Bytes f = frame(Direction::from_client, Opcode::close, true, "");
  expect_close(feed(t, f), 6, kNoStatus, "");
}

// A close frame of one byte cannot hold a code: 1002, at its header, after the frames before.
TEST(FramesClose, OneBytePayloadIsAProtocolError) {
  const Bytes ping = frame(Direction::from_upstream, Opcode::ping, true, "x");
  for (const Direction d : {Direction::from_client, Direction::from_upstream}) {
    FrameTracker t(d, {});
    const Bytes before = d == Direction::from_client ? frame(d, Opcode::ping, true, "x") : ping;
    expect_violation(feed(t, cat(before, frame(d, 8, true, Bytes{0x03}))), before.size(), kProtocolError,
                     "Close frame with a one-byte payload");
  }
}

// A reason that is not UTF-8 is refused: overlong forms, surrogates, sequences cut short, stray
// continuation bytes, code points past U+10FFFF. Valid multi-byte reasons pass, masked or not.
TEST(FramesClose, ReasonMustBeUtf8) {
  const std::vector<std::string> bad = {
      "\xC0\xAF",          "\xC1\xBF",         "\xE0\x80\xAF",     "\xE0\x9F\xBF",  "\xF0\x80\x80\xAF",
      "\xF0\x8F\xBF\xBF",  "\xED\xA0\x80",     "\xED\xBF\xBF",     "ok\xE2\x82",    "\xE2",
      "\xF0\x9D\x84",      "\x80",             "a\xBF",            "\xF4\x90\x80\x80", "\xF5\x80\x80\x80",
      "\xFF",              "\xFE",             "\xE2\x28\xA1",     "\xC3\x28",
  };
  const std::vector<std::string> good = {
      "",  "plain", "\xC3\xA9t\xC3\xA9", "\xE2\x82\xAC", "\xF0\x9D\x84\x9E", "\xF4\x8F\xBF\xBF", "\xEF\xBF\xBF",
      "\xED\x9F\xBF", "\xEE\x80\x80", std::string("nul\0inside", 10),
  };
  for (const Direction d : {Direction::from_client, Direction::from_upstream}) {
    for (const std::string& r : bad) {
      FrameTracker t(d, {});
      expect_violation(feed(t, frame(d, 8, true, close_payload(1000, bytes_of(r)))), 0, kProtocolError,
                       "Close reason not UTF-8");
    }
    for (const std::string& r : good) {
      FrameTracker t(d, {});
      const Bytes f = frame(d, 8, true, close_payload(4000, bytes_of(r)));
      expect_close(feed(t, f), f.size(), 4000, r);
    }
  }
}

// A close frame is consumed whole only: split anywhere, the reads before its last byte consume
// up to its header, and the input is never modified (a masked payload is unmasked on the side).
TEST(FramesClose, SplitAcrossReads) {
  const auto d = Direction::from_client;
  const Bytes before = frame(d, Opcode::binary, true, "data");
  const Bytes close = frame(d, 8, true, close_payload(1001, bytes_of("going \xE2\x86\x92 away")));
  const Bytes wire = cat(before, close);
  for (std::size_t cut = before.size(); cut < wire.size(); ++cut) {
    auto t = client();
    const Bytes head(wire.begin(), wire.begin() + static_cast<std::ptrdiff_t>(cut));
    const Bytes copy = head;
    expect_more(feed(t, head), before.size());
    EXPECT_EQ(head, copy);
    const Bytes rest(wire.begin() + static_cast<std::ptrdiff_t>(before.size()), wire.end());
    expect_close(feed(t, rest), close.size(), 1001, "going \xE2\x86\x92 away");
  }
}

// After a close or a violation the tracker consumes nothing: each later feed is more with 0.
TEST(FramesClose, NothingIsConsumedAfterTheEnd) {
  const Bytes next = frame(Direction::from_client, Opcode::text, true, "after");
  auto t = client();
  const Bytes close = frame(Direction::from_client, Opcode::close, true, "");
  expect_close(feed(t, cat(close, next)), close.size(), kNoStatus, "");
  for (const StopAt s : {StopAt::nothing, StopAt::frame_end, StopAt::message_end}) {
    const FeedResult r = feed(t, next, s);
    expect_more(r, 0);
    EXPECT_EQ(r.code, 0);
    EXPECT_EQ(r.reason, "");
  }
  EXPECT_EQ(t.messages(), 0u);
  auto v = upstream();
  expect_violation(feed(v, hex("83 00")), 0, kProtocolError, "Reserved opcode");
  expect_more(feed(v, frame(Direction::from_upstream, Opcode::text, true, "fine")), 0);
  expect_more(feed(v, {}), 0);
  EXPECT_EQ(v.messages(), 0u);
}

// ---- The message size limit ----

// The sum of a data message's frame lengths may reach the limit, not pass it; the frame that
// passes it is refused at its header, before its payload is read.
TEST(FramesSizeLimit, AtAndOverTheLimit) {
  constexpr std::uint64_t kMiB = 1 << 20;
  const auto d = Direction::from_client;
  const TrackerOptions o{.max_message_bytes = kMiB};
  {
    FrameTracker t(d, o);
    const Bytes f = frame(d, 2, true, Bytes(kMiB, 0));
    expect_more(feed(t, f), f.size());
    EXPECT_EQ(t.messages(), 1u);
  }
  {
    FrameTracker t(d, o);
    expect_violation(feed(t, build(Spec().opcode(2).mask(kKey).declared(kMiB + 1))), 0, kMessageTooBig,
                     "Message too big");
  }
  {  // [1 MiB non-FIN, empty FIN continuation] is legal.
    FrameTracker t(d, o);
    const Bytes wire = cat(frame(d, 2, false, Bytes(kMiB, 0)), frame(d, 0, true, Bytes{}));
    expect_more(feed(t, wire), wire.size());
    EXPECT_EQ(t.messages(), 1u);
    EXPECT_EQ(t.payload_bytes(), kMiB);
  }
  {  // [1 MiB, 1 byte] is 1009 at the second frame's header.
    FrameTracker t(d, o);
    const Bytes first = frame(d, 2, false, Bytes(kMiB, 0));
    const Bytes wire = cat(first, frame(d, 0, true, Bytes{1}));
    expect_violation(feed(t, wire), first.size(), kMessageTooBig, "Message too big");
    EXPECT_EQ(t.frames(), 1u);
    EXPECT_EQ(t.messages(), 0u);
  }
  {  // Told from the header alone.
    FrameTracker t(d, o);
    const Bytes first = frame(d, 1, false, Bytes(kMiB - 10, 'a'));
    expect_more(feed(t, first), first.size());
    expect_violation(feed(t, build(Spec().opcode(0).mask(kKey).declared(11))), 0, kMessageTooBig,
                     "Message too big");
  }
}

// Control frames do not count toward a message; each message starts from zero.
TEST(FramesSizeLimit, ControlFramesDoNotCountAndMessagesStartAfresh) {
  const auto d = Direction::from_upstream;
  const TrackerOptions o{.max_message_bytes = 10};
  FrameTracker t(d, o);
  const Bytes wire = cat(cat(cat(frame(d, 1, false, Bytes(6, 'a')), frame(d, 9, true, Bytes(100, 'p'))),
                             cat(frame(d, 0, true, Bytes(4, 'b')), frame(d, 10, true, Bytes(125, 'q')))),
                         frame(d, 2, true, Bytes(10, 'c')));
  expect_more(feed(t, wire), wire.size());
  EXPECT_EQ(t.messages(), 2u);
  EXPECT_EQ(t.payload_bytes(), 20u);
  // A close does not count either.
  FrameTracker t2(d, {.max_message_bytes = 3});
  const Bytes open = frame(d, 1, false, Bytes(3, 'a'));
  const Bytes close = frame(d, 8, true, close_payload(1000, bytes_of("a long reason")));
  expect_close(feed(t2, cat(open, close)), open.size() + close.size(), 1000, "a long reason");
}

// max_message_bytes 0: no limit, whatever the lengths.
TEST(FramesSizeLimit, ZeroMeansNoLimit) {
  const auto d = Direction::from_client;
  FrameTracker t(d, {.max_message_bytes = 0});
  const Bytes h1 = build(Spec().opcode(2).fin(false).mask(kKey).declared(0x7000000000000000ull));
  expect_more(feed(t, h1), h1.size());
  EXPECT_FALSE(t.at_frame_boundary());
  EXPECT_FALSE(t.at_message_boundary());
}

// ---- StopAt ----

// At a frame boundary already, frame_end stops at once; in a frame, at its end, or at the end
// of the bytes when they end first.
TEST(FramesStopAt, FrameEnd) {
  const auto d = Direction::from_client;
  const Bytes a = frame(d, Opcode::text, false, "0123456789");
  const Bytes b = frame(d, Opcode::continuation, true, "abc");
  const Bytes wire = cat(a, b);
  auto t = client();
  const FeedResult first = feed(t, wire, StopAt::frame_end);
  EXPECT_EQ(first.kind, Kind::boundary);
  EXPECT_EQ(first.consumed, 0u);
  expect_more(feed(t, Bytes(wire.begin(), wire.begin() + 9)), 9);  // header and 3 payload bytes
  const Bytes rest(wire.begin() + 9, wire.end());
  const FeedResult r = feed(t, rest, StopAt::frame_end);
  EXPECT_EQ(r.kind, Kind::boundary) << describe(r);
  EXPECT_EQ(r.consumed, a.size() - 9);
  EXPECT_TRUE(t.at_frame_boundary());
  EXPECT_FALSE(t.at_message_boundary());
  EXPECT_EQ(t.frames(), 1u);
  // At the boundary: again at once.
  EXPECT_EQ(feed(t, Bytes(wire.begin() + static_cast<std::ptrdiff_t>(a.size()), wire.end()), StopAt::frame_end).consumed,
            0u);
  // Bytes that end before the frame does.
  auto t2 = client();
  expect_more(feed(t2, Bytes(wire.begin(), wire.begin() + 7)), 7);
  expect_more(feed(t2, Bytes(wire.begin() + 7, wire.begin() + 10), StopAt::frame_end), 3);
}

// message_end stops after a data message's FIN frame, past control frames between fragments;
// at a message boundary already, at once; after a control frame read outside a message too.
TEST(FramesStopAt, MessageEnd) {
  const auto d = Direction::from_upstream;
  const Bytes a = frame(d, Opcode::binary, false, "01234");
  const Bytes ping = frame(d, Opcode::ping, true, "p");
  const Bytes b = frame(d, Opcode::continuation, true, "56");
  const Bytes next = frame(d, Opcode::text, true, "next");
  const Bytes wire = cat(cat(a, ping), cat(b, next));
  auto t = upstream();
  EXPECT_EQ(feed(t, wire, StopAt::message_end).kind, Kind::boundary);
  EXPECT_EQ(feed(t, wire, StopAt::message_end).consumed, 0u);
  expect_more(feed(t, Bytes(wire.begin(), wire.begin() + 3)), 3);
  const FeedResult r = feed(t, Bytes(wire.begin() + 3, wire.end()), StopAt::message_end);
  EXPECT_EQ(r.kind, Kind::boundary) << describe(r);
  EXPECT_EQ(r.consumed, a.size() + ping.size() + b.size() - 3);
  EXPECT_TRUE(t.at_message_boundary());
  EXPECT_EQ(t.messages(), 1u);
  // Between fragments frame_end is at once, message_end is not.
  auto t2 = upstream();
  expect_more(feed(t2, a), a.size());
  const Bytes after_a(wire.begin() + static_cast<std::ptrdiff_t>(a.size()), wire.end());
  EXPECT_EQ(feed(t2, after_a, StopAt::frame_end).consumed, 0u);
  const FeedResult r2 = feed(t2, after_a, StopAt::message_end);
  EXPECT_EQ(r2.kind, Kind::boundary);
  EXPECT_EQ(r2.consumed, ping.size() + b.size());
  // A ping outside a message: its end is a message boundary.
  auto t3 = upstream();
  const Bytes big_ping = frame(d, Opcode::ping, true, std::string(100, 'x'));
  const Bytes w3 = cat(big_ping, next);
  expect_more(feed(t3, Bytes(w3.begin(), w3.begin() + 10)), 10);
  const FeedResult r3 = feed(t3, Bytes(w3.begin() + 10, w3.end()), StopAt::message_end);
  EXPECT_EQ(r3.kind, Kind::boundary);
  EXPECT_EQ(r3.consumed, big_ping.size() - 10);
  EXPECT_EQ(t3.messages(), 0u);
  // The message's end not yet here: more, everything consumed.
  auto t4 = upstream();
  expect_more(feed(t4, Bytes(wire.begin(), wire.begin() + 1)), 0);  // half a header
  expect_more(feed(t4, Bytes(wire.begin(), wire.begin() + 3)), 3);
  const std::size_t upto = a.size() + ping.size() + 1;  // and the first byte of b's header
  expect_more(feed(t4, Bytes(wire.begin() + 3, wire.begin() + static_cast<std::ptrdiff_t>(upto)), StopAt::message_end),
              a.size() + ping.size() - 3);
  EXPECT_FALSE(t4.at_message_boundary());
}

// A close or a violation before the boundary asked for is told first.
TEST(FramesStopAt, CloseAndViolationComeFirst) {
  const auto d = Direction::from_client;
  const Bytes a = frame(d, Opcode::text, false, "abc");
  const Bytes close = frame(d, Opcode::close, true, "");
  auto t = client();
  expect_more(feed(t, Bytes(a.begin(), a.begin() + 7)), 7);
  const Bytes rest = cat(Bytes(a.begin() + 7, a.end()), close);
  expect_close(feed(t, rest, StopAt::message_end), rest.size(), kNoStatus, "");
  auto t2 = client();
  expect_more(feed(t2, a), a.size());
  expect_violation(feed(t2, hex("8F 80 00 00 00 00"), StopAt::message_end), 0, kProtocolError, "Reserved opcode");
}

// ---- Frames Bouncer makes ----

// make_frame's frames, unmasked to a client and masked to an upstream, read back by a tracker
// of the direction they go in, at every length-form edge.
TEST(FramesMake, RoundTrip) {
  for (const std::size_t n : {0u, 1u, 125u, 126u, 65535u, 65536u, 70000u}) {
    const std::string payload(n, 'z');
    const std::string to_client = make_frame(Opcode::binary, payload, std::nullopt);
    const std::string to_upstream = make_frame(Opcode::binary, payload, Key{1, 2, 3, 4});
    const std::size_t header = n <= 125 ? 2 : n <= 65535 ? 4 : 10;
    EXPECT_EQ(to_client.size(), header + n);
    EXPECT_EQ(to_upstream.size(), header + 4 + n);
    auto as_server = upstream({.max_message_bytes = 0});  // what a client reads: a server's frames
    auto as_client = client({.max_message_bytes = 0});    // what an upstream reads: a client's
    expect_more(feed(as_server, bytes_of(to_client)), to_client.size());
    expect_more(feed(as_client, bytes_of(to_upstream)), to_upstream.size());
    EXPECT_EQ(as_server.payload_bytes(), n);
    EXPECT_EQ(as_client.payload_bytes(), n);
    // The masked payload unmasks to the original.
    const ParsedHeader p = parse_header(bytes_of(to_upstream));
    ASSERT_EQ(p.status, HeaderStatus::ok);
    for (std::size_t i = 0; i < n; i += 997) {
      EXPECT_EQ(static_cast<std::uint8_t>(to_upstream[p.header.header_length + i]) ^ p.header.mask[i % 4], 'z');
    }
  }
}

// make_close_frame: code and reason read back as sent; kNoStatus makes an empty close frame;
// a long reason is cut to fit the 125-byte control frame.
TEST(FramesMake, CloseFrames) {
  const std::string long_reason = std::string(120, 'a') + "\xE2\x82\xAC\xE2\x82\xAC";  // 126 bytes
  for (const std::optional<Key> mask : {std::optional<Key>(), std::optional<Key>(kKey)}) {
    const Direction reader = mask ? Direction::from_client : Direction::from_upstream;
    {
      FrameTracker t(reader, {});
      const std::string f = make_close_frame(kNoStatus, "ignored", mask);
      EXPECT_EQ(f.size(), mask ? 6u : 2u);
      expect_close(feed(t, bytes_of(f)), f.size(), kNoStatus, "");
    }
    for (const std::uint16_t code : {kNormalClosure, kGoingAway, kProtocolError, kPolicyViolation, kMessageTooBig,
                                     kInternalError, kTryAgainLater, std::uint16_t{4000}}) {
      FrameTracker t(reader, {});
      const std::string f = make_close_frame(code, "bye", mask);
      expect_close(feed(t, bytes_of(f)), f.size(), code, "bye");
    }
    FrameTracker t(reader, {});
    const std::string f = make_close_frame(kPolicyViolation, long_reason, mask);
    expect_close(feed(t, bytes_of(f)), f.size(), kPolicyViolation, long_reason.substr(0, 123));
    EXPECT_EQ(f.size(), (mask ? 6u : 2u) + 2 + 123);
  }
  EXPECT_EQ(bytes_of(make_close_frame(1000, "", std::nullopt)), hex("88 02 03 e8"));
}

// fit_close_reason cuts at 123 bytes, never inside a UTF-8 sequence, and before anything that
// is not UTF-8.
TEST(FramesMake, FitCloseReason) {
  const std::string a122(122, 'a');
  const std::string a121(121, 'a');
  const std::string a120(120, 'a');
  const std::string a123(123, 'a');
  EXPECT_EQ(fit_close_reason(""), "");
  EXPECT_EQ(fit_close_reason("short"), "short");
  EXPECT_EQ(fit_close_reason(a123), a123);
  EXPECT_EQ(fit_close_reason(a123 + "b"), a123);
  EXPECT_EQ(fit_close_reason(std::string(500, 'x')).size(), 123u);
  // 2-byte é: ends at 123 exactly, or would end at 124.
  EXPECT_EQ(fit_close_reason(a121 + "\xC3\xA9"), a121 + "\xC3\xA9");
  EXPECT_EQ(fit_close_reason(a122 + "\xC3\xA9"), a122);
  // 3-byte €.
  EXPECT_EQ(fit_close_reason(a120 + "\xE2\x82\xAC"), a120 + "\xE2\x82\xAC");
  EXPECT_EQ(fit_close_reason(a121 + "\xE2\x82\xAC"), a121);
  EXPECT_EQ(fit_close_reason(a122 + "\xE2\x82\xAC"), a122);
  // 4-byte 𝄞.
  EXPECT_EQ(fit_close_reason(a120 + "\xF0\x9D\x84\x9E"), a120);
  EXPECT_EQ(fit_close_reason(std::string(119, 'a') + "\xF0\x9D\x84\x9E"), std::string(119, 'a') + "\xF0\x9D\x84\x9E");
  // All multi-byte: 41 × € is exactly 123 bytes, 42 is cut to 41.
  std::string euros;
  for (int i = 0; i < 42; ++i) euros += "\xE2\x82\xAC";
  EXPECT_EQ(fit_close_reason(euros), euros.substr(0, 123));
  // Not UTF-8: cut before the first bad sequence.
  EXPECT_EQ(fit_close_reason("ok\xFFno"), "ok");
  EXPECT_EQ(fit_close_reason("ok\xED\xA0\x80"), "ok");
  // Whatever comes in, the close frame made is one a peer takes.
  for (const std::string& r : {std::string("\xC0\xAF"), a122 + "\xF0\x9D", std::string("\x80\x80")}) {
    auto t = upstream();
    const std::string f = make_close_frame(1000, r, std::nullopt);
    EXPECT_EQ(feed(t, bytes_of(f)).kind, Kind::close);
  }
}

// ---- The property: however the bytes are split, the tracker says the same ----

// A random but seeded session of valid frames: messages of 1 to 4 fragments (text or binary,
// RSV1 on first frames when permessage-deflate is on), pings and pongs between messages and
// between fragments, masked from a client, within the size limit; then maybe a close, a bad
// frame, a message over the limit, or a frame or header cut short. What the tracker must say
// about it is known from the making.
struct Session {
  Direction direction = Direction::from_client;
  TrackerOptions options;
  Bytes wire;
  Outcome expected;
};

Session make_session(std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  const auto pick = [&](std::uint64_t n) { return static_cast<std::uint64_t>(rng() % n); };
  Session s;
  s.direction = pick(2) ? Direction::from_client : Direction::from_upstream;
  s.options.rsv1_allowed = pick(2) != 0;
  const std::uint64_t limits[] = {0, 1 << 20, 400};
  s.options.max_message_bytes = limits[pick(3)];
  const std::uint64_t limit = s.options.max_message_bytes;
  const auto mask = [&]() -> std::optional<Key> {
    if (s.direction != Direction::from_client) return std::nullopt;
    return Key{static_cast<std::uint8_t>(rng()), static_cast<std::uint8_t>(rng()), static_cast<std::uint8_t>(rng()),
               static_cast<std::uint8_t>(rng())};
  };
  const auto payload = [&](std::uint64_t max) {
    std::uint64_t n = 0;
    switch (pick(6)) {
      case 0: n = 0; break;
      case 1: n = 126 + pick(200); break;  // the 16-bit form
      default: n = pick(30);
    }
    n = std::min(n, max);
    Bytes p(n);
    for (auto& b : p) b = static_cast<std::uint8_t>(rng());
    return p;
  };
  const auto control = [&]() {
    const std::uint8_t op = pick(2) ? 9 : 10;
    s.wire = cat(s.wire, build(Spec().opcode(op).mask(mask()).payload(payload(125))));
  };
  Outcome& e = s.expected;
  const std::uint64_t messages = 1 + pick(5);
  for (std::uint64_t m = 0; m < messages; ++m) {
    while (pick(3) == 0) control();
    const std::uint64_t fragments = 1 + pick(4);
    std::uint64_t size = 0;
    for (std::uint64_t f = 0; f < fragments; ++f) {
      Spec spec = Spec()
                      .opcode(static_cast<std::uint8_t>(f == 0 ? 1 + pick(2) : 0))
                      .fin(f + 1 == fragments)
                      .mask(mask())
                      .payload(payload(limit == 0 ? 1000 : limit - size));
      size += spec.payload_.size();
      if (f == 0 && s.options.rsv1_allowed && pick(2)) spec.rsv(4);
      s.wire = cat(s.wire, build(spec));
      ++e.frames;
      e.payload_bytes += spec.payload_.size();
      if (f + 1 < fragments) {
        while (pick(3) == 0) control();
      }
    }
    ++e.messages;
  }
  e.total = s.wire.size();
  switch (pick(7)) {
    case 0: {  // a close, with a reason made of multi-byte characters
      std::string reason;
      const std::uint64_t chars = pick(20);
      for (std::uint64_t i = 0; i < chars; ++i) reason += pick(2) ? "\xE2\x82\xAC" : "x";
      const std::uint16_t code = pick(2) ? kNormalClosure : 3000 + static_cast<std::uint16_t>(pick(2000));
      s.wire = cat(s.wire, build(Spec().opcode(8).mask(mask()).payload(close_payload(code, bytes_of(reason)))));
      e.total = s.wire.size();
      e.kind = Kind::close;
      e.code = code;
      e.reason = reason;
      break;
    }
    case 1: {  // a bad frame: a reserved opcode, with its payload
      s.wire = cat(s.wire, build(Spec().opcode(3).mask(mask()).payload(payload(10))));
      e.kind = Kind::violation;
      e.code = kProtocolError;
      e.reason = "Reserved opcode";
      break;
    }
    case 2: {  // an empty close
      s.wire = cat(s.wire, build(Spec().opcode(8).mask(mask())));
      e.total = s.wire.size();
      e.kind = Kind::close;
      e.code = kNoStatus;
      break;
    }
    case 3: {  // an open message, its second frame cut in its payload
      const Bytes first = build(Spec().opcode(2).fin(false).mask(mask()).payload(Bytes(3, 'a')));
      const Bytes second = build(Spec().opcode(0).mask(mask()).payload(Bytes(40, 'b')));
      s.wire = cat(cat(s.wire, first), Bytes(second.begin(), second.end() - 10));
      e.total = s.wire.size();
      e.frames += 1;
      e.payload_bytes += 3;
      e.at_frame_boundary = false;
      e.at_message_boundary = false;
      break;
    }
    case 4: {  // a header cut short
      const Bytes h = build(Spec().opcode(1).mask(mask()).payload(Bytes(300, 'c')));
      const auto keep = static_cast<std::ptrdiff_t>(1 + pick(s.direction == Direction::from_client ? 7 : 3));
      s.wire = cat(s.wire, Bytes(h.begin(), h.begin() + keep));
      break;
    }
    case 5: {  // a message over the limit: 1009 at the frame that passes it
      if (limit == 0) break;
      const Bytes first = build(Spec().opcode(1).fin(false).mask(mask()).payload(payload(limit)));
      const std::uint64_t in_first = parse_header(first).header.payload_length;
      s.wire = cat(s.wire, first);
      e.total = s.wire.size();
      e.frames += 1;
      e.payload_bytes += in_first;
      e.at_message_boundary = false;
      const Bytes over = build(Spec().opcode(0).mask(mask()).declared(limit - in_first + 1));
      s.wire = cat(s.wire, over);
      s.wire = cat(s.wire, Bytes(pick(20), 'd'));  // part of its payload
      e.kind = Kind::violation;
      e.code = kMessageTooBig;
      e.reason = "Message too big";
      break;
    }
    default: break;  // the session just pauses
  }
  return s;
}

// Random reads of 1 to 40 bytes, each fed with a random StopAt; where a boundary is reported
// the tracker is at it, and where it is reported at once the caller feeds on with nothing.
Outcome drive_with_stops(const Session& s, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  FrameTracker t(s.direction, s.options);
  Outcome out;
  Bytes pending;
  std::size_t next = 0;
  FeedResult last;
  bool over = false;
  while (!over && next < s.wire.size()) {
    const std::size_t n = std::min<std::size_t>(1 + rng() % 40, s.wire.size() - next);
    pending.insert(pending.end(), s.wire.begin() + static_cast<std::ptrdiff_t>(next),
                   s.wire.begin() + static_cast<std::ptrdiff_t>(next + n));
    next += n;
    for (;;) {
      const auto stop = static_cast<StopAt>(rng() % 3);
      last = feed(t, pending, stop);
      EXPECT_LE(last.consumed, pending.size());
      out.total += last.consumed;
      pending.erase(pending.begin(), pending.begin() + static_cast<std::ptrdiff_t>(last.consumed));
      if (terminal(last)) {
        over = true;
        break;
      }
      if (last.kind == Kind::more) break;
      EXPECT_NE(stop, StopAt::nothing);
      EXPECT_TRUE(t.at_frame_boundary());
      if (stop == StopAt::message_end) {
        EXPECT_TRUE(t.at_message_boundary());
      }
      if (last.consumed == 0) {  // the caller's frame goes here; then on
        last = feed(t, pending);
        out.total += last.consumed;
        pending.erase(pending.begin(), pending.begin() + static_cast<std::ptrdiff_t>(last.consumed));
        if (terminal(last)) over = true;
        break;
      }
    }
  }
  out.kind = last.kind;
  out.code = last.code;
  out.reason = last.reason;
  out.frames = t.frames();
  out.payload_bytes = t.payload_bytes();
  out.messages = t.messages();
  out.at_frame_boundary = t.at_frame_boundary();
  out.at_message_boundary = t.at_message_boundary();
  return out;
}

TEST(FramesProperty, EverySplitSaysTheSameAsWhole) {
  for (std::uint64_t seed = 1; seed <= 150; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    const Session s = make_session(seed);
    const Outcome w = whole(s.direction, s.options, s.wire);
    ASSERT_EQ(w, s.expected) << "whole: " << describe(w) << "\nexpected: " << describe(s.expected);
    for (std::size_t cut = 0; cut <= s.wire.size(); ++cut) {
      const Outcome o = drive(s.direction, s.options, s.wire, {cut});
      ASSERT_EQ(o, w) << "split at " << cut << ": " << describe(o);
    }
    std::vector<std::size_t> every;
    for (std::size_t i = 1; i < s.wire.size(); ++i) every.push_back(i);
    const Outcome bytewise = drive(s.direction, s.options, s.wire, every);
    ASSERT_EQ(bytewise, w) << "byte by byte: " << describe(bytewise);
    for (std::uint64_t k = 0; k < 20; ++k) {
      const Outcome stops = drive_with_stops(s, seed * 1000 + k);
      ASSERT_EQ(stops, w) << "with stops, run " << k << ": " << describe(stops);
    }
  }
}

// The same for one 64-bit-length frame fed byte by byte, and split at each header byte.
TEST(FramesProperty, LongFrameByteByByte) {
  const Bytes wire = cat(build(Spec().opcode(2).mask(kKey).payload(Bytes(70000, 9))),
                         frame(Direction::from_client, Opcode::close, true, ""));
  const Outcome w = whole(Direction::from_client, {}, wire);
  EXPECT_EQ(w.kind, Kind::close);
  EXPECT_EQ(w.total, wire.size());
  EXPECT_EQ(w.payload_bytes, 70000u);
  std::vector<std::size_t> every;
  for (std::size_t i = 1; i < wire.size(); ++i) every.push_back(i);
  EXPECT_EQ(drive(Direction::from_client, {}, wire, every), w);
}

// The tracker stays small: an idle session holds two.
TEST(FramesTracker, IsSmall) { EXPECT_LE(sizeof(FrameTracker), 80u); }

// ---- Short text messages held for inspection (TrackerOptions::inspect_text_up_to) ----

TrackerOptions inspecting(std::uint32_t up_to = 64) {
  TrackerOptions o;
  o.inspect_text_up_to = up_to;
  return o;
}

// Feeds `wire` in the reads ending at `cuts`, as the tunnel does: an inspected message is
// taken (dropped) when `take` says so, else relayed. Returns the relayed bytes.
Bytes relay_with_inspection(FrameTracker& t, const Bytes& wire, const std::vector<std::size_t>& cuts,
                            const std::function<bool(const std::string&)>& take, std::vector<std::string>& seen) {
  Bytes relayed, pending;
  std::size_t next = 0;
  for (std::size_t i = 0; i <= cuts.size(); ++i) {
    const std::size_t end = i < cuts.size() ? cuts[i] : wire.size();
    pending.insert(pending.end(), wire.begin() + static_cast<std::ptrdiff_t>(next), wire.begin() + static_cast<std::ptrdiff_t>(end));
    next = end;
    for (;;) {
      const FeedResult r = feed(t, pending);
      std::size_t used = r.consumed;
      if (r.kind == Kind::inspect && r.consumed == 0) {
        const std::span<const std::uint8_t> whole_frame(pending.data(), r.inspect_length);
        const std::string text = unmasked_payload(whole_frame);
        seen.push_back(text);
        const bool taken = take(text);
        t.end_inspection(!taken);
        if (!taken) relayed.insert(relayed.end(), whole_frame.begin(), whole_frame.end());
        used = r.inspect_length;
      } else {
        relayed.insert(relayed.end(), pending.begin(), pending.begin() + static_cast<std::ptrdiff_t>(used));
      }
      pending.erase(pending.begin(), pending.begin() + static_cast<std::ptrdiff_t>(used));
      if (r.kind != Kind::inspect || pending.empty()) break;
    }
  }
  EXPECT_TRUE(pending.empty()) << pending.size() << " bytes left unconsumed";
  return relayed;
}

TEST(FramesInspect, ShortUnfragmentedTextIsHeldWholeAndReported) {
  const Bytes hello = frame(Direction::from_client, Opcode::text, true, "hello");
  const Bytes wire = cat(frame(Direction::from_client, Opcode::binary, true, "bin"), hello);
  auto t = client(inspecting());
  const FeedResult first = feed(t, wire);
  EXPECT_EQ(first.kind, Kind::inspect) << describe(first);
  EXPECT_EQ(first.consumed, wire.size() - hello.size()) << "the frames before it are relayable";
  EXPECT_EQ(first.inspect_length, hello.size());
  const Bytes rest(wire.end() - static_cast<std::ptrdiff_t>(hello.size()), wire.end());
  const FeedResult again = feed(t, rest);
  EXPECT_EQ(again.kind, Kind::inspect);
  EXPECT_EQ(again.consumed, 0u);
  EXPECT_EQ(unmasked_payload(std::span<const std::uint8_t>(rest.data(), rest.size())), "hello");
  t.end_inspection(true);
  EXPECT_EQ(t.messages(), 2u);
  EXPECT_EQ(t.payload_bytes(), 8u);
  EXPECT_TRUE(t.at_message_boundary());
}

TEST(FramesInspect, APartOfTheMessageIsHeldUntilTheRestComes) {
  const Bytes hello = frame(Direction::from_client, Opcode::text, true, "hello, inspector");
  for (std::size_t cut = 1; cut < hello.size(); ++cut) {
    auto t = client(inspecting());
    expect_more(feed(t, Bytes(hello.begin(), hello.begin() + static_cast<std::ptrdiff_t>(cut))), 0);
    const FeedResult whole_frame = feed(t, hello);
    EXPECT_EQ(whole_frame.kind, Kind::inspect) << "cut at " << cut;
  }
}

TEST(FramesInspect, OnlyShortUncompressedUnfragmentedClientText) {
  // Too long, binary, fragmented, compressed: relayed as ever, never reported.
  const Bytes long_text = frame(Direction::from_client, Opcode::text, true, std::string(65, 'x'));
  const Bytes binary = frame(Direction::from_client, Opcode::binary, true, "{\"type\":\"bouncer.renew\"}");
  const Bytes fragment = cat(frame(Direction::from_client, Opcode::text, false, "{\"type\":"),
                             frame(Direction::from_client, Opcode::continuation, true, "\"bouncer.renew\"}"));
  for (const Bytes& wire : {long_text, binary, fragment}) {
    auto t = client(inspecting());
    const FeedResult r = feed(t, wire);
    EXPECT_EQ(r.kind, Kind::more) << describe(r);
    EXPECT_EQ(r.consumed, wire.size());
  }
  TrackerOptions deflate = inspecting();
  deflate.rsv1_allowed = true;
  auto t = client(deflate);
  const FeedResult compressed = feed(t, build(Spec().fin(true).rsv(4).opcode(1).mask(kKey).payload(bytes_of("abc"))));
  EXPECT_EQ(compressed.kind, Kind::more) << describe(compressed);
  // Without the option nothing is held.
  auto plain = client();
  const Bytes hello = frame(Direction::from_client, Opcode::text, true, "hello");
  expect_more(feed(plain, hello), hello.size());
}

TEST(FramesInspect, TheLimitAndProtocolRulesComeFirst) {
  TrackerOptions o = inspecting(64);
  o.max_message_bytes = 16;
  auto t = client(o);
  expect_violation(feed(t, frame(Direction::from_client, Opcode::text, true, std::string(20, 'x'))), 0, kMessageTooBig,
                   "Message too big");
  auto u = client(inspecting());
  expect_violation(feed(u, build(Spec().fin(true).opcode(1).payload(bytes_of("unmasked")))), 0, kProtocolError,
                   "Unmasked client frame");
}

// The needle is found wherever it lies, across the search's windows too, masked or not.
TEST(FramesInspect, PayloadContainsFindsTheNeedleAnywhere) {
  const std::string needle = "bouncer.";
  for (const std::size_t size : {8u, 511u, 512u, 513u, 1100u, 20000u}) {
    for (std::size_t at = 0; at + needle.size() <= size; at += (at < 600 ? 1 : 97)) {
      std::string payload(size, 'x');
      payload.replace(at, needle.size(), needle);
      for (const Direction d : {Direction::from_client, Direction::from_upstream}) {
        const Bytes f = frame(d, Opcode::text, true, payload);
        ASSERT_TRUE(payload_contains(std::span<const std::uint8_t>(f.data(), f.size()), needle))
            << "size " << size << " at " << at;
      }
    }
    const Bytes none = frame(Direction::from_client, Opcode::text, true, std::string(size, 'x'));
    EXPECT_FALSE(payload_contains(std::span<const std::uint8_t>(none.data(), none.size()), needle)) << size;
  }
  const Bytes split = frame(Direction::from_client, Opcode::text, true, "bounce r.");
  EXPECT_FALSE(payload_contains(std::span<const std::uint8_t>(split.data(), split.size()), needle));
}

// Whatever the split, the same messages are reported and the same bytes relayed; a taken one
// is not relayed and not counted.
TEST(FramesInspect, EverySplitTakesAndRelaysTheSame) {
  const Bytes wire = cat(cat(cat(frame(Direction::from_client, Opcode::text, true, "one"),
                                 frame(Direction::from_client, Opcode::binary, true, Bytes(300, 7))),
                             frame(Direction::from_client, Opcode::text, true, "{\"type\":\"bouncer.renew\"}")),
                         cat(frame(Direction::from_client, Opcode::ping, true, ""),
                             frame(Direction::from_client, Opcode::text, true, "two")));
  const auto take = [](const std::string& text) { return text.find("bouncer.") != std::string::npos; };
  const Bytes expected = cat(cat(frame(Direction::from_client, Opcode::text, true, "one"),
                                 frame(Direction::from_client, Opcode::binary, true, Bytes(300, 7))),
                             cat(frame(Direction::from_client, Opcode::ping, true, ""),
                                 frame(Direction::from_client, Opcode::text, true, "two")));
  for (std::size_t cut = 0; cut <= wire.size(); ++cut) {
    SCOPED_TRACE("split at " + std::to_string(cut));
    auto t = client(inspecting());
    std::vector<std::string> seen;
    EXPECT_EQ(relay_with_inspection(t, wire, {cut}, take, seen), expected);
    EXPECT_EQ(seen, (std::vector<std::string>{"one", "{\"type\":\"bouncer.renew\"}", "two"}));
    EXPECT_EQ(t.messages(), 3u) << "the taken message is not counted";
    EXPECT_EQ(t.payload_bytes(), 3u + 300u + 3u);
  }
}

}  // namespace
}  // namespace bouncer::relay::frames
