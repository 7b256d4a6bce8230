#include "metrics/counter.h"

#include <algorithm>
#include <functional>
#include <stdexcept>

namespace bouncer::metrics {

std::size_t detail::next_shard() noexcept {
  // Round robin: the first kShards threads (the I/O workers start first) get a shard each.
  static std::atomic<std::size_t> next{0};
  return next.fetch_add(1, std::memory_order_relaxed) % kShards;
}

std::uint64_t Counter::value() const noexcept {
  std::uint64_t sum = 0;
  for (const auto& shard : shards_) sum += shard.value.load(std::memory_order_relaxed);
  return sum;
}

Histogram::Histogram(std::span<const std::uint64_t> upper_bounds, double divisor)
    : bounds_(upper_bounds.begin(), upper_bounds.end()),
      buckets_(std::make_unique<std::atomic<std::uint64_t>[]>(bounds_.size() + 1)),
      divisor_(divisor) {
  if (std::adjacent_find(bounds_.begin(), bounds_.end(), std::greater_equal<>()) != bounds_.end()) {
    throw std::invalid_argument("histogram bounds must be strictly increasing");
  }
  if (!(divisor_ > 0)) throw std::invalid_argument("histogram divisor must be positive");
}

void Histogram::observe(std::uint64_t value) noexcept {
  const auto bucket = std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin();
  buckets_[static_cast<std::size_t>(bucket)].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(value, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot s;
  s.cumulative.reserve(bounds_.size() + 1);
  std::uint64_t running = 0;
  for (std::size_t i = 0; i <= bounds_.size(); ++i) {
    running += buckets_[i].load(std::memory_order_relaxed);
    s.cumulative.push_back(running);
  }
  s.sum = sum_.load(std::memory_order_relaxed);
  return s;
}

}  // namespace bouncer::metrics
