#include "relay/frames.h"

#include "text/utf8.h"

#include <algorithm>
#include <array>
#include <cstring>

namespace bouncer::relay::frames {

namespace {

constexpr std::size_t kMaxControlPayload = 125;
constexpr std::size_t kMaxCloseReason = 123;

bool is_control(std::uint8_t opcode) { return (opcode & 0x08) != 0; }

// Payload bytes [from, from + n) of a frame with header `h`, unmasked into `out` (its masking
// key applies by the byte's offset in the payload).
template <class Byte>
void unmask(const Header& h, const std::uint8_t* payload, std::size_t from, std::size_t n, Byte* out) {
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t k = from + i;
    out[i] = static_cast<Byte>(payload[k] ^ (h.masked ? h.mask[k % 4] : 0));
  }
}

// The payload of the whole frame `frame`, still masked; nullopt when its header does not parse.
struct Payload {
  Header header;
  const std::uint8_t* data;
  std::size_t length;  // as much of it as `frame` holds
};
std::optional<Payload> payload_of(std::span<const std::uint8_t> frame) {
  const ParsedHeader parsed = parse_header(frame);
  if (parsed.status != HeaderStatus::ok) return std::nullopt;
  const Header& h = parsed.header;
  const std::size_t length =
      std::min<std::size_t>(static_cast<std::size_t>(h.payload_length), frame.size() - h.header_length);
  return Payload{h, frame.data() + h.header_length, length};
}

bool is_known(std::uint8_t opcode) {
  switch (opcode) {
    case 0x0:
    case 0x1:
    case 0x2:
    case 0x8:
    case 0x9:
    case 0xA:
      return true;
    default:
      return false;
  }
}

FeedResult violation(std::size_t at, std::uint16_t code, const char* reason) {
  FeedResult r;
  r.kind = FeedResult::Kind::violation;
  r.consumed = at;
  r.code = code;
  r.reason = reason;
  return r;
}

void append_length(std::string& out, std::uint64_t length, bool masked) {
  const auto mask_bit = static_cast<std::uint8_t>(masked ? 0x80 : 0x00);
  if (length <= kMaxControlPayload) {
    out.push_back(static_cast<char>(mask_bit | static_cast<std::uint8_t>(length)));
  } else if (length <= 0xFFFF) {
    out.push_back(static_cast<char>(mask_bit | 126));
    out.push_back(static_cast<char>((length >> 8) & 0xFF));
    out.push_back(static_cast<char>(length & 0xFF));
  } else {
    out.push_back(static_cast<char>(mask_bit | 127));
    for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>((length >> shift) & 0xFF));
  }
}

}  // namespace

bool valid_close_code(std::uint16_t code) {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}

ParsedHeader parse_header(std::span<const std::uint8_t> bytes) {
  ParsedHeader parsed;
  if (bytes.size() < 2) return parsed;
  Header& h = parsed.header;
  const std::uint8_t b0 = bytes[0];
  const std::uint8_t b1 = bytes[1];
  h.fin = (b0 & 0x80) != 0;
  h.rsv1 = (b0 & 0x40) != 0;
  h.rsv2 = (b0 & 0x20) != 0;
  h.rsv3 = (b0 & 0x10) != 0;
  h.opcode = static_cast<std::uint8_t>(b0 & 0x0F);
  h.masked = (b1 & 0x80) != 0;
  const std::uint8_t len7 = b1 & 0x7F;
  std::size_t at = 2;
  if (len7 <= kMaxControlPayload) {
    h.payload_length = len7;
  } else if (len7 == 126) {
    if (bytes.size() < 4) return parsed;
    h.payload_length = (std::uint64_t{bytes[2]} << 8) | bytes[3];
    at = 4;
    if (h.payload_length <= kMaxControlPayload) {
      parsed.status = HeaderStatus::bad_length;
      return parsed;
    }
  } else {
    if (bytes.size() < 10) return parsed;
    std::uint64_t length = 0;
    for (std::size_t i = 2; i < 10; ++i) length = (length << 8) | bytes[i];
    h.payload_length = length;
    at = 10;
    if ((length >> 63) != 0 || length <= 0xFFFF) {
      parsed.status = HeaderStatus::bad_length;
      return parsed;
    }
  }
  if (h.masked) {
    if (bytes.size() < at + 4) return parsed;
    std::copy_n(bytes.begin() + static_cast<std::ptrdiff_t>(at), 4, h.mask.begin());
    at += 4;
  }
  h.header_length = at;
  parsed.status = HeaderStatus::ok;
  return parsed;
}

FrameTracker::FrameTracker(Direction direction, TrackerOptions options) : options_(options), direction_(direction) {}

bool FrameTracker::at_frame_boundary() const { return !in_frame_; }

bool FrameTracker::at_message_boundary() const { return !in_frame_ && !message_open_; }

void FrameTracker::finish_frame() {
  in_frame_ = false;
  if (!current_is_data_) return;
  ++frames_;
  payload_bytes_ += frame_length_;
  if (current_fin_) ++messages_;
}

void FrameTracker::end_inspection(bool relayed) {
  if (relayed) {
    ++frames_;
    payload_bytes_ += inspected_length_;
    ++messages_;
  }
  inspected_length_ = 0;
}

FeedResult FrameTracker::feed(std::span<const std::uint8_t> bytes, StopAt stop_at) {
  FeedResult result;  // Kind::more
  if (done_) return result;
  if ((stop_at == StopAt::frame_end && at_frame_boundary()) ||
      (stop_at == StopAt::message_end && at_message_boundary())) {
    result.kind = FeedResult::Kind::boundary;
    return result;
  }

  const std::size_t size = bytes.size();
  std::size_t pos = 0;
  const auto fail = [&](std::uint16_t code, const char* reason) {
    done_ = true;
    return violation(pos, code, reason);
  };

  for (;;) {
    if (in_frame_) {
      const std::uint64_t available = size - pos;
      const std::uint64_t take = std::min(frame_left_, available);
      pos += static_cast<std::size_t>(take);
      frame_left_ -= take;
      if (frame_left_ > 0) {
        result.consumed = pos;
        return result;
      }
      finish_frame();
      if (stop_at == StopAt::frame_end || (stop_at == StopAt::message_end && at_message_boundary())) {
        result.kind = FeedResult::Kind::boundary;
        result.consumed = pos;
        return result;
      }
      continue;
    }

    // At a header. Its first byte, then its second, are judged as soon as they are here, in
    // the same order whatever the split, so that the rule reported does not depend on it.
    if (pos == size) {
      result.consumed = pos;
      return result;
    }
    const std::uint8_t b0 = bytes[pos];
    const auto opcode = static_cast<std::uint8_t>(b0 & 0x0F);
    const bool fin = (b0 & 0x80) != 0;
    const bool rsv1 = (b0 & 0x40) != 0;
    const bool control = is_control(opcode);
    if ((b0 & 0x30) != 0) return fail(kProtocolError, "RSV2 or RSV3 set");
    if (!is_known(opcode)) return fail(kProtocolError, "Reserved opcode");
    if (control) {
      if (rsv1) return fail(kProtocolError, "RSV1 set on a control frame");
      if (!fin) return fail(kProtocolError, "Fragmented control frame");
    } else if (opcode == static_cast<std::uint8_t>(Opcode::continuation)) {
      if (rsv1) return fail(kProtocolError, "RSV1 set on a continuation frame");
      if (!message_open_) return fail(kProtocolError, "Continuation frame with no message open");
    } else {
      if (rsv1 && !options_.rsv1_allowed) return fail(kProtocolError, "RSV1 set without permessage-deflate");
      if (message_open_) return fail(kProtocolError, "New data frame inside an open message");
    }
    if (size - pos < 2) {
      result.consumed = pos;
      return result;
    }
    const std::uint8_t b1 = bytes[pos + 1];
    const bool masked = (b1 & 0x80) != 0;
    const auto len7 = static_cast<std::uint8_t>(b1 & 0x7F);
    if (direction_ == Direction::from_client && !masked) return fail(kProtocolError, "Unmasked client frame");
    if (direction_ == Direction::from_upstream && masked) return fail(kProtocolError, "Masked upstream frame");
    if (control && len7 > kMaxControlPayload) return fail(kProtocolError, "Control frame longer than 125 bytes");
    if (opcode == static_cast<std::uint8_t>(Opcode::close) && len7 == 1) {
      return fail(kProtocolError, "Close frame with a one-byte payload");
    }

    const ParsedHeader parsed = parse_header(bytes.subspan(pos));
    if (parsed.status == HeaderStatus::need_more) {
      result.consumed = pos;
      return result;
    }
    if (parsed.status == HeaderStatus::bad_length) {
      return fail(kProtocolError, "Frame length not in its shortest form or over 2^63 - 1");
    }
    const Header& h = parsed.header;

    if (!control) {
      const bool first = opcode != static_cast<std::uint8_t>(Opcode::continuation);
      const std::uint64_t before = first ? 0 : message_bytes_;
      const std::uint64_t limit = options_.max_message_bytes;
      if (limit != 0 && (before > limit || h.payload_length > limit - before)) {
        return fail(kMessageTooBig, "Message too big");
      }
      // With no limit the sum only saturates: it is not used then.
      message_bytes_ = before + std::min(h.payload_length, ~std::uint64_t{0} - before);
      message_open_ = !fin;
    }

    // A short text message of one frame, held until whole: the caller reads it before relaying.
    // Re-parsing its header when it comes again changes nothing (a FIN frame opens no message).
    if (opcode == static_cast<std::uint8_t>(Opcode::text) && fin && !rsv1 && options_.inspect_text_up_to > 0 &&
        h.payload_length <= options_.inspect_text_up_to) {
      const std::size_t whole = h.header_length + static_cast<std::size_t>(h.payload_length);
      result.consumed = pos;
      if (size - pos < whole) return result;
      result.kind = FeedResult::Kind::inspect;
      result.inspect_length = whole;
      inspected_length_ = static_cast<std::uint32_t>(h.payload_length);
      return result;
    }

    if (opcode == static_cast<std::uint8_t>(Opcode::close)) {
      const auto length = static_cast<std::size_t>(h.payload_length);  // <= 125
      if (size - pos < h.header_length + length) {
        result.consumed = pos;
        return result;
      }
      std::array<std::uint8_t, kMaxControlPayload> payload{};
      unmask(h, bytes.data() + pos + h.header_length, 0, length, payload.data());
      std::uint16_t code = kNoStatus;
      if (length >= 2) {
        code = static_cast<std::uint16_t>((payload[0] << 8) | payload[1]);
        if (!valid_close_code(code)) return fail(kProtocolError, "Invalid close code");
        if (!text::is_valid_utf8(payload.data() + 2, length - 2)) return fail(kProtocolError, "Close reason not UTF-8");
      }
      done_ = true;
      result.kind = FeedResult::Kind::close;
      result.close_start = pos;
      result.consumed = pos + h.header_length + length;
      result.code = code;
      if (length > 2) result.reason.assign(reinterpret_cast<const char*>(payload.data() + 2), length - 2);
      return result;
    }

    in_frame_ = true;
    current_fin_ = fin;
    current_is_data_ = !control;
    frame_length_ = h.payload_length;
    frame_left_ = h.payload_length;
    pos += h.header_length;
  }
}

std::string make_frame(Opcode opcode, std::string_view payload, std::optional<std::array<std::uint8_t, 4>> mask) {
  std::string out;
  out.reserve(14 + payload.size());
  out.push_back(static_cast<char>(0x80 | static_cast<std::uint8_t>(opcode)));
  append_length(out, payload.size(), mask.has_value());
  if (!mask) {
    out.append(payload);
    return out;
  }
  for (const std::uint8_t k : *mask) out.push_back(static_cast<char>(k));
  for (std::size_t i = 0; i < payload.size(); ++i) {
    out.push_back(static_cast<char>(static_cast<std::uint8_t>(payload[i]) ^ (*mask)[i % 4]));
  }
  return out;
}

std::string unmasked_payload(std::span<const std::uint8_t> frame) {
  const auto payload = payload_of(frame);
  if (!payload) return {};
  std::string out(payload->length, '\0');
  unmask(payload->header, payload->data, 0, payload->length, out.data());
  return out;
}

bool payload_contains(std::span<const std::uint8_t> frame, std::string_view needle) {
  const auto payload = payload_of(frame);
  if (!payload || needle.empty() || needle.size() > 64) return false;
  // Unmasked a window at a time; each window starts with the previous one's last
  // needle.size() - 1 bytes, so a needle across two windows is found too.
  std::array<char, 512> window{};
  const std::size_t keep = needle.size() - 1;
  std::size_t held = 0;
  for (std::size_t at = 0; at < payload->length;) {
    const std::size_t n = std::min(window.size() - held, payload->length - at);
    unmask(payload->header, payload->data, at, n, window.data() + held);
    const std::string_view seen(window.data(), held + n);
    if (seen.find(needle) != std::string_view::npos) return true;
    at += n;
    held = std::min(keep, seen.size());
    std::memmove(window.data(), window.data() + seen.size() - held, held);
  }
  return false;
}

std::string make_close_frame(std::uint16_t code, std::string_view reason,
                             std::optional<std::array<std::uint8_t, 4>> mask) {
  if (code == kNoStatus) return make_frame(Opcode::close, {}, mask);
  const std::string_view fitted = fit_close_reason(reason);
  std::string payload;
  payload.reserve(2 + fitted.size());
  payload.push_back(static_cast<char>(code >> 8));
  payload.push_back(static_cast<char>(code & 0xFF));
  payload.append(fitted);
  return make_frame(Opcode::close, payload, mask);
}

std::string_view fit_close_reason(std::string_view reason) {
  const auto* s = reinterpret_cast<const std::uint8_t*>(reason.data());
  const std::size_t n = std::min(reason.size(), kMaxCloseReason);
  std::size_t end = 0;
  while (end < n) {
    const std::size_t len = text::utf8_sequence_length(s + end, n - end);
    if (len == 0) break;  // cut here: a sequence past byte 123, or not UTF-8
    end += len;
  }
  return reason.substr(0, end);
}

}  // namespace bouncer::relay::frames
