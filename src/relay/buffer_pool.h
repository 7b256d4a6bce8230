// Relay buffers lent per thread while bytes are in flight. An idle session holds none: it
// waits for its sockets to become readable, and only then borrows a buffer to read into,
// giving it back once the bytes are written to the other side. Each I/O thread keeps a few
// free buffers for the next borrower, so a busy relay allocates nothing per read.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

namespace bouncer::relay {

// One read's worth: large, so a stream of small frames costs one read and one write per many
// frames, and a large message few of each. At most one per direction is held by a session, so
// a stalled reader costs at most 128 KiB of them.
inline constexpr std::size_t kRelayBufferBytes = 64 * 1024;

struct RelayBlock {
  std::uint8_t bytes[kRelayBufferBytes];
};

// Returns the block to the current thread's pool (or frees it when the pool is full).
struct RelayBlockReturn {
  void operator()(RelayBlock* block) const noexcept;
};

using RelayBuffer = std::unique_ptr<RelayBlock, RelayBlockReturn>;

// A buffer from the current thread's pool, or a new one.
RelayBuffer borrow_relay_buffer();

// Free buffers kept per thread, and how many exist in the process (lent or kept): for tests
// and the memory benchmark's explanations.
inline constexpr std::size_t kRelayBuffersKeptPerThread = 64;
std::size_t relay_buffers_alive();

}  // namespace bouncer::relay
