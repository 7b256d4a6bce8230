#include "server/rate_limit.h"

#include <algorithm>
#include <cmath>
#include <functional>

namespace bouncer::server {

RateLimiter::RateLimiter(double rate, double burst) : rate_(rate), burst_(burst > 0 ? burst : std::max(1.0, rate)) {}

std::int64_t RateLimiter::acquire(const std::string& key, Clock::time_point now) {
  if (!enabled()) return 0;
  auto& shard = shards_[std::hash<std::string>{}(key) % kShards];
  std::lock_guard lock(shard.mutex);
  if (shard.buckets.size() >= kMaxBucketsPerShard && !shard.buckets.contains(key)) {
    // A full bucket carries no information: forgetting it changes nothing.
    std::erase_if(shard.buckets, [&](const auto& kv) {
      const double refill = std::chrono::duration<double>(now - kv.second.updated).count() * rate_;
      return kv.second.tokens + refill >= burst_;
    });
  }
  auto [it, inserted] = shard.buckets.try_emplace(key, Bucket{burst_, now});
  auto& bucket = it->second;
  if (!inserted) {
    const double elapsed = std::chrono::duration<double>(now - bucket.updated).count();
    bucket.tokens = std::min(burst_, bucket.tokens + elapsed * rate_);
    bucket.updated = now;
  }
  if (bucket.tokens >= 1.0) {
    bucket.tokens -= 1.0;
    return 0;
  }
  return static_cast<std::int64_t>(std::ceil((1.0 - bucket.tokens) / rate_));
}

std::size_t RateLimiter::tracked_keys() {
  std::size_t n = 0;
  for (auto& shard : shards_) {
    std::lock_guard lock(shard.mutex);
    n += shard.buckets.size();
  }
  return n;
}

}  // namespace bouncer::server
