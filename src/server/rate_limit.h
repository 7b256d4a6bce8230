// Per-key token buckets for minting (off unless configured). Buckets are sharded so that
// threads minting for different keys rarely meet on a lock.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

namespace bouncer::server {

class RateLimiter {
 public:
  static constexpr std::size_t kShards = 16;
  static constexpr std::size_t kMaxBucketsPerShard = 4096;  // idle full buckets are dropped past this
  using Clock = std::chrono::steady_clock;

  // `rate` tokens per second, bucket of `burst`; rate <= 0 disables the limiter.
  RateLimiter(double rate, double burst);

  // 0 when the call may proceed (and is counted); otherwise the whole seconds to wait.
  std::int64_t acquire(const std::string& key, Clock::time_point now = Clock::now());

  bool enabled() const { return rate_ > 0; }

  // How many keys have a bucket now (bounded: see kMaxBucketsPerShard).
  std::size_t tracked_keys();

 private:
  struct Bucket {
    double tokens;
    Clock::time_point updated;
  };
  struct Shard {
    std::mutex mutex;
    std::unordered_map<std::string, Bucket> buckets;
  };
  double rate_;
  double burst_;
  std::array<Shard, kShards> shards_;
};

}  // namespace bouncer::server
