// libFuzzer target for relay/frames' FrameTracker, both directions. Input: byte 0 picks a split
// point, byte 1 the options (bit 0: rsv1_allowed; bits 1-2: max_message_bytes 0, 1 MiB, 16 or
// 300; bits 3-7 seed the StopAt run), the rest is one direction's bytes. No crash, no sanitizer
// report, and these invariants:
// - every feed consumes at most what it is given; a boundary only when one was asked for, and
//   the tracker is then at it; Kind::more leaves under 131 bytes (a header's or a close frame's
//   beginning) unconsumed, or a text frame held for inspection;
// - a client's direction is run a second time holding short text messages for inspection
//   (inspect_text_up_to 64), each relayed once inspected: every result is the same as without
//   (unless the bytes end inside such a message, which is then held, not consumed in part);
// - a violation has code 1002 or 1009 and a reason of 1 to 123 bytes; a close has a valid code
//   or kNoStatus and a reason of at most 123 bytes;
// - after a close or a violation nothing changes: later feeds, whatever stop_at, are Kind::more
//   consuming 0, and the counters and boundaries stay;
// - the bytes fed whole, split at one point, byte by byte, or in reads cut by StopAt give the
//   same total consumed, final result, counters and boundaries;
// - what was relayed before a violation is itself clean: a fresh tracker consumes it all
//   (and ends on the same close, when the end was a close).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>
#include <vector>

#include "relay/frames.h"

namespace {

using bouncer::relay::frames::Direction;
using bouncer::relay::frames::FeedResult;
using bouncer::relay::frames::FrameTracker;
using bouncer::relay::frames::kMessageTooBig;
using bouncer::relay::frames::kNoStatus;
using bouncer::relay::frames::kProtocolError;
using bouncer::relay::frames::StopAt;
using bouncer::relay::frames::TrackerOptions;
using bouncer::relay::frames::valid_close_code;
using Kind = FeedResult::Kind;
using Bytes = std::vector<std::uint8_t>;

[[noreturn]] void fail(const char* what, Direction d, const std::string& detail) {
  std::fprintf(stderr, "invariant broken: %s\n  direction %s\n  %s\n", what,
               d == Direction::from_client ? "from_client" : "from_upstream", detail.c_str());
  std::abort();
}

struct Outcome {
  std::size_t total = 0;
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
  return "kind " + std::to_string(static_cast<int>(o.kind)) + " total " + std::to_string(o.total) + " code " +
         std::to_string(o.code) + " reason \"" + o.reason + "\" frames " + std::to_string(o.frames) + " payload " +
         std::to_string(o.payload_bytes) + " messages " + std::to_string(o.messages) + " boundaries " +
         std::to_string(o.at_frame_boundary) + std::to_string(o.at_message_boundary);
}

bool terminal(const FeedResult& r) { return r.kind == Kind::close || r.kind == Kind::violation; }

// One tracker fed by the contract: what a feed leaves unconsumed goes in front of the next.
class Feeder {
 public:
  Feeder(Direction d, TrackerOptions o) : direction_(d), options_(o), tracker_(d, o) {}

  bool over() const { return over_; }
  std::size_t pending() const { return pending_.size(); }

  void add(std::span<const std::uint8_t> bytes) { pending_.insert(pending_.end(), bytes.begin(), bytes.end()); }

  // Feeds what is pending once; true when a boundary was reported.
  bool feed(StopAt stop) {
    FeedResult r = tracker_.feed(std::span<const std::uint8_t>(pending_.data(), pending_.size()), stop);
    check(r, stop);
    while (r.kind == Kind::inspect) {  // relayed once looked at: the bytes before it, then it
      relay(r.consumed);
      if (r.consumed == 0) {
        tracker_.end_inspection(true);
        relay(r.inspect_length);
      }
      r = tracker_.feed(std::span<const std::uint8_t>(pending_.data(), pending_.size()), stop);
      check(r, stop);
    }
    last_ = r;
    total_ += r.consumed;
    pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(r.consumed));
    if (terminal(r)) {
      over_ = true;
      after_the_end();
    }
    return r.kind == Kind::boundary;
  }

  Outcome outcome() const {
    Outcome o;
    o.total = total_;
    o.kind = last_.kind;
    o.code = last_.code;
    o.reason = last_.reason;
    o.frames = tracker_.frames();
    o.payload_bytes = tracker_.payload_bytes();
    o.messages = tracker_.messages();
    o.at_frame_boundary = tracker_.at_frame_boundary();
    o.at_message_boundary = tracker_.at_message_boundary();
    return o;
  }

 private:
  void relay(std::size_t n) {
    total_ += n;
    pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(n));
  }

  void check(const FeedResult& r, StopAt stop) const {
    const std::string detail = "kind " + std::to_string(static_cast<int>(r.kind)) + " consumed " +
                               std::to_string(r.consumed) + " of " + std::to_string(pending_.size()) + " code " +
                               std::to_string(r.code) + " reason \"" + r.reason + "\"";
    if (r.consumed > pending_.size()) fail("consumed more than given", direction_, detail);
    switch (r.kind) {
      case Kind::more:
        if (pending_.size() - r.consumed >= std::max<std::size_t>(131, 14 + options_.inspect_text_up_to + 1)) {
          fail("more with too many bytes unconsumed", direction_, detail);
        }
        if (r.code != 0 || !r.reason.empty()) fail("more with a code or reason", direction_, detail);
        break;
      case Kind::boundary:
        if (stop == StopAt::nothing) fail("a boundary not asked for", direction_, detail);
        if (!tracker_.at_frame_boundary()) fail("boundary but not at a frame boundary", direction_, detail);
        if (stop == StopAt::message_end && !tracker_.at_message_boundary()) {
          fail("message boundary but not at one", direction_, detail);
        }
        break;
      case Kind::close:
        if (r.code != kNoStatus && !valid_close_code(r.code)) fail("close with an invalid code", direction_, detail);
        if (r.code == kNoStatus && !r.reason.empty()) fail("reason without a code", direction_, detail);
        if (r.reason.size() > 123) fail("close reason over 123 bytes", direction_, detail);
        if (r.consumed < 2) fail("close frame shorter than a header", direction_, detail);
        break;
      case Kind::violation:
        if (r.code != kProtocolError && r.code != kMessageTooBig) fail("violation code", direction_, detail);
        if (r.reason.empty() || r.reason.size() > 123) fail("violation reason size", direction_, detail);
        break;
      case Kind::inspect: {
        if (options_.inspect_text_up_to == 0) fail("inspect without the option", direction_, detail);
        if (r.consumed + r.inspect_length > pending_.size()) fail("inspect past the bytes given", direction_, detail);
        const std::uint8_t b0 = pending_[r.consumed];
        if (b0 != 0x81) fail("inspect of a frame that is not an unfragmented plain text", direction_, detail);
        if (r.inspect_length > 14 + options_.inspect_text_up_to) fail("inspect of a long frame", direction_, detail);
        break;
      }
    }
  }

  // After the end: nothing consumed, nothing changed, whatever is fed.
  void after_the_end() {
    const Outcome before = outcome();
    Bytes more = pending_;
    more.push_back(0x81);
    more.push_back(0x00);
    for (const StopAt s : {StopAt::nothing, StopAt::frame_end, StopAt::message_end}) {
      const FeedResult r = tracker_.feed(std::span<const std::uint8_t>(more.data(), more.size()), s);
      if (r.kind != Kind::more || r.consumed != 0 || r.code != 0 || !r.reason.empty()) {
        fail("a result after the end", direction_, describe(before));
      }
    }
    const Outcome again = outcome();
    if (!(again == before)) fail("the tracker changed after the end", direction_, describe(again));
  }

  Direction direction_;
  TrackerOptions options_;
  FrameTracker tracker_;
  Bytes pending_;
  FeedResult last_;
  std::size_t total_ = 0;
  bool over_ = false;
};

// The reads end at `cuts` (ascending), then the rest.
Outcome drive(Direction d, TrackerOptions o, std::span<const std::uint8_t> data, const std::vector<std::size_t>& cuts) {
  Feeder f(d, o);
  std::size_t next = 0;
  for (std::size_t i = 0; i <= cuts.size() && !f.over(); ++i) {
    const std::size_t end = i < cuts.size() ? cuts[i] : data.size();
    f.add(data.subspan(next, end - next));
    next = end;
    if (f.feed(StopAt::nothing)) fail("a boundary not asked for", d, "");
  }
  return f.outcome();
}

// Reads of 1 to 32 bytes, each fed with a StopAt, both from a small generator seeded by the
// input; where a boundary is met at once the caller's frame goes there and the feed goes on.
Outcome drive_with_stops(Direction d, TrackerOptions o, std::span<const std::uint8_t> data, std::uint32_t seed) {
  std::uint32_t state = seed * 2654435761u + 1;
  const auto next_random = [&state]() {
    state ^= state << 13;
    state ^= state >> 17;
    state ^= state << 5;
    return state;
  };
  Feeder f(d, o);
  std::size_t at = 0;
  while (at < data.size() && !f.over()) {
    const std::size_t n = std::min<std::size_t>(1 + next_random() % 32, data.size() - at);
    f.add(data.subspan(at, n));
    at += n;
    for (int guard = 0; !f.over(); ++guard) {
      if (guard > 100000) fail("no progress with StopAt", d, "");
      const auto stop = static_cast<StopAt>(next_random() % 3);
      const std::size_t before = f.pending();
      if (!f.feed(stop)) break;  // more (the read is used up) or the end
      if (f.pending() == before) {  // at the boundary already
        f.feed(StopAt::nothing);
        break;
      }
    }
  }
  return f.outcome();
}

void check_direction(Direction d, TrackerOptions o, std::span<const std::uint8_t> data, std::uint8_t split_byte,
                     std::uint32_t seed) {
  const Outcome whole = drive(d, o, data, {});
  if (whole.messages > whole.frames) fail("more messages than frames", d, describe(whole));
  if (whole.payload_bytes > whole.total) fail("more payload than bytes", d, describe(whole));

  const std::size_t cut = data.size() * split_byte / 255;
  const Outcome split = drive(d, o, data, {cut});
  if (!(split == whole)) fail("split differs from whole", d, describe(whole) + "\n  split: " + describe(split));

  std::vector<std::size_t> every;
  for (std::size_t i = 1; i < data.size(); ++i) every.push_back(i);
  const Outcome bytewise = drive(d, o, data, every);
  if (!(bytewise == whole)) fail("byte by byte differs from whole", d, describe(whole) + "\n  bytes: " + describe(bytewise));

  const Outcome stops = drive_with_stops(d, o, data, seed);
  if (!(stops == whole)) fail("StopAt run differs from whole", d, describe(whole) + "\n  stops: " + describe(stops));

  // What was relayed before a violation, or up to a close, is clean on its own.
  if (whole.kind == Kind::violation || whole.kind == Kind::close) {
    Feeder fresh(d, o);
    fresh.add(data.first(whole.total));
    fresh.feed(StopAt::nothing);
    const Outcome r = fresh.outcome();
    const Kind expected = whole.kind == Kind::close ? Kind::close : Kind::more;
    if (r.kind != expected || r.total != whole.total) fail("the relayed bytes are not clean", d, describe(whole));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::uint8_t split_byte = data[0];
  const std::uint8_t options_byte = data[1];
  const std::span<const std::uint8_t> bytes(data + 2, size - 2);
  static constexpr std::uint64_t kLimits[] = {0, 1 << 20, 16, 300};
  TrackerOptions o;
  o.rsv1_allowed = (options_byte & 1) != 0;
  o.max_message_bytes = kLimits[(options_byte >> 1) & 3];
  const std::uint32_t seed = options_byte >> 3;
  check_direction(Direction::from_client, o, bytes, split_byte, seed);
  check_direction(Direction::from_upstream, o, bytes, split_byte, seed);
  TrackerOptions inspecting = o;
  inspecting.inspect_text_up_to = 64;
  check_direction(Direction::from_client, inspecting, bytes, split_byte, seed);
  const Outcome plain = drive(Direction::from_client, o, bytes, {});
  const Outcome inspected = drive(Direction::from_client, inspecting, bytes, {});
  // Unless the bytes end inside a text frame held whole (which plain consumed in part).
  const bool held_at_the_end = inspected.kind == Kind::more && inspected.total < bytes.size();
  if (held_at_the_end ? inspected.total > plain.total : !(plain == inspected)) {
    fail("inspection changed the outcome", Direction::from_client, describe(plain) + "\n  inspected: " + describe(inspected));
  }
  return 0;
}
