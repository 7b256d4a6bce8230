// The two kinds of instrument the code counts into: counters (only ever grow) and histograms
// (fixed buckets). Both are written from any thread without a lock.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

namespace bouncer::metrics {

// A counter is added to on hot paths by every I/O thread (the relay counts each message). One
// atomic shared by every thread would move its cache line between cores at each increment, so
// a counter is split into cache-line-sized shards: a thread always adds to its own shard
// (relaxed: a count orders nothing else) and a scrape sums them. Each shard only grows, so a
// sum never goes back.
inline constexpr std::size_t kShards = 16;

namespace detail {
std::size_t next_shard() noexcept;
}

inline std::size_t this_thread_shard() noexcept {
  thread_local const std::size_t shard = detail::next_shard();
  return shard;
}

class Counter {
 public:
  void add(std::uint64_t n = 1) noexcept { shards_[this_thread_shard()].value.fetch_add(n, std::memory_order_relaxed); }
  std::uint64_t value() const noexcept;

 private:
  struct alignas(64) Shard {
    std::atomic<std::uint64_t> value{0};
  };
  std::array<Shard, kShards> shards_{};
};

// Observations are integers in the unit measured (nanoseconds, records); `divisor` turns them
// into the unit exposed (1e9: seconds). Buckets hold what fell between two bounds; a snapshot
// makes them cumulative, as the exposition wants them.
class Histogram {
 public:
  // `upper_bounds`: strictly increasing; a value v falls in the first bucket whose bound is
  // >= v (Prometheus' `le`), or in +Inf.
  Histogram(std::span<const std::uint64_t> upper_bounds, double divisor);

  void observe(std::uint64_t value) noexcept;
  void observe(std::chrono::steady_clock::duration elapsed) noexcept {
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(elapsed).count();
    observe(static_cast<std::uint64_t>(ns > 0 ? ns : 0));
  }

  struct Snapshot {
    std::vector<std::uint64_t> cumulative;  // one per bound, then +Inf (= count)
    std::uint64_t sum = 0;                  // in the unit observed
  };
  Snapshot snapshot() const;
  const std::vector<std::uint64_t>& upper_bounds() const { return bounds_; }
  double divisor() const { return divisor_; }

 private:
  std::vector<std::uint64_t> bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> buckets_;  // bounds_.size() + 1: the last is +Inf
  std::atomic<std::uint64_t> sum_{0};
  double divisor_;
};

// A value read when the metrics are scraped (a gauge, or a counter kept elsewhere such as the
// process's CPU time): whoever owns the truth sets it just before rendering.
class Sampled {
 public:
  void set(double value) noexcept { value_.store(value, std::memory_order_relaxed); }
  double value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

}  // namespace bouncer::metrics
