// An upstream that has accepted the forwarded upgrade: its connection, what it chose, and the
// bytes it sent right after its 101 (read with it).
#pragma once

#include "relay/byte_stream.h"
#include "relay/handshake.h"

#include <string>
#include <utility>

namespace bouncer::relay {

struct UpstreamSession {
  UpstreamSession(ByteStream s, handshake::Answer a, std::string e)
      : stream(std::move(s)), answer(std::move(a)), early(std::move(e)) {}
  ByteStream stream;
  handshake::Answer answer;
  std::string early;
};

}  // namespace bouncer::relay
