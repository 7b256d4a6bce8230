// The process's open-file limit, and the share of it that client load may take. Every client
// connection holds a descriptor, and an admitted session one more for its upstream (two when the
// model is built in: both ends are in this process). Were they allowed to take every descriptor,
// the store (SQLite's files, Redis's reconnects), the state poll (the signing-key directory) and
// accept() itself would fail with EMFILE: so client load is kept below the limit by a reserve.
#pragma once

#include <cstddef>
#include <cstdint>

namespace bouncer::server {

struct DescriptorLimit {
  std::uint64_t soft_before = 0;  // the soft RLIMIT_NOFILE the process was started with
  std::uint64_t soft = 0;         // after raising it
  std::uint64_t hard = 0;
};

// Descriptors never given to client load: the store's re-opens and reconnects, the state
// poll, the log, name resolution for upstreams, the acceptors' reserve descriptors.
inline constexpr std::size_t kReservedDescriptors = 64;

// Raises the soft RLIMIT_NOFILE to the hard limit (at most fs.nr_open), as far as allowed.
DescriptorLimit raise_descriptor_limit();

// Descriptors this process has open now (entries of /proc/self/fd).
std::size_t open_descriptors();

// How many descriptors client connections and their upstreams may hold together: the soft
// limit minus those open now and the reserve; 0 when nothing is left.
std::size_t client_descriptor_budget(std::uint64_t soft_limit, std::size_t open_now);

}  // namespace bouncer::server
