#include "relay/buffer_pool.h"

#include <atomic>
#include <vector>

namespace bouncer::relay {

namespace {

std::atomic<std::size_t> g_alive{0};

// The thread's free blocks; freed with the thread.
struct FreeList {
  std::vector<RelayBlock*> blocks;
  ~FreeList() {
    for (auto* block : blocks) {
      delete block;
      g_alive.fetch_sub(1, std::memory_order_relaxed);
    }
  }
};

FreeList& free_list() {
  thread_local FreeList list;
  return list;
}

}  // namespace

void RelayBlockReturn::operator()(RelayBlock* block) const noexcept {
  auto& list = free_list().blocks;
  if (list.size() < kRelayBuffersKeptPerThread) {
    try {
      list.push_back(block);
      return;
    } catch (...) {  // no memory for the list's growth: free the block instead
    }
  }
  delete block;
  g_alive.fetch_sub(1, std::memory_order_relaxed);
}

RelayBuffer borrow_relay_buffer() {
  auto& list = free_list().blocks;
  if (!list.empty()) {
    RelayBlock* block = list.back();
    list.pop_back();
    return RelayBuffer(block);
  }
  // Not value-initialised: a read fills what the tunnel looks at.
  auto* block = new RelayBlock;
  g_alive.fetch_add(1, std::memory_order_relaxed);
  return RelayBuffer(block);
}

std::size_t relay_buffers_alive() { return g_alive.load(std::memory_order_relaxed); }

}  // namespace bouncer::relay
