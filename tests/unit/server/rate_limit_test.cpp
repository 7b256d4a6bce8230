#include "server/rate_limit.h"

#include <gtest/gtest.h>

namespace bouncer::server {
namespace {

using namespace std::chrono_literals;
const auto t0 = RateLimiter::Clock::time_point{} + 1000s;

TEST(RateLimiter, DisabledByDefaultRate) {
  RateLimiter limiter(0, 0);
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(limiter.acquire("k", t0), 0);
}

// A burst of B passes, the next call must wait for a token to refill.
TEST(RateLimiter, BurstThenRetryAfter) {
  RateLimiter limiter(1, 3);
  EXPECT_EQ(limiter.acquire("k", t0), 0);
  EXPECT_EQ(limiter.acquire("k", t0), 0);
  EXPECT_EQ(limiter.acquire("k", t0), 0);
  EXPECT_EQ(limiter.acquire("k", t0), 1);
  EXPECT_EQ(limiter.acquire("k", t0 + 1s), 0);
  EXPECT_EQ(limiter.acquire("k", t0 + 1s), 1);
}

TEST(RateLimiter, RetryAfterRoundsUpForSlowRates) {
  RateLimiter limiter(0.1, 1);  // one every 10 s
  EXPECT_EQ(limiter.acquire("k", t0), 0);
  EXPECT_EQ(limiter.acquire("k", t0), 10);
  EXPECT_EQ(limiter.acquire("k", t0 + 5s), 5);
}

TEST(RateLimiter, KeysAreIndependent) {
  RateLimiter limiter(1, 1);
  EXPECT_EQ(limiter.acquire("a", t0), 0);
  EXPECT_GT(limiter.acquire("a", t0), 0);
  EXPECT_EQ(limiter.acquire("b", t0), 0);
}

// Memory stays bounded however many keys appear: full buckets are forgotten.
TEST(RateLimiter, ManyKeysDoNotBreakLimits) {
  RateLimiter limiter(1, 1);
  for (int i = 0; i < 200000; ++i) limiter.acquire("key" + std::to_string(i), t0 + std::chrono::seconds(i / 1000));
  EXPECT_LE(limiter.tracked_keys(), RateLimiter::kShards * RateLimiter::kMaxBucketsPerShard);
  EXPECT_EQ(limiter.acquire("fresh", t0 + 300s), 0);
  EXPECT_GT(limiter.acquire("fresh", t0 + 300s), 0);
}

}  // namespace
}  // namespace bouncer::server
