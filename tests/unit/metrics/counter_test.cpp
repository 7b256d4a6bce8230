#include "metrics/counter.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>
#include <vector>

namespace bouncer::metrics {
namespace {

TEST(Counter, StartsAtZeroAndAdds) {
  Counter c;
  EXPECT_EQ(c.value(), 0u);
  c.add();
  c.add(41);
  EXPECT_EQ(c.value(), 42u);
}

// More threads than shards, all adding at once: nothing is lost, and a reader in the middle
// never sees the sum go back.
TEST(Counter, ExactAcrossThreadsAndNeverBackwards) {
  Counter c;
  constexpr int kThreads = static_cast<int>(kShards) + 4;
  constexpr int kAdds = 20'000;
  std::atomic<bool> done{false};
  bool went_back = false;
  std::thread reader([&] {
    std::uint64_t last = 0;
    while (!done.load()) {
      const auto now = c.value();
      if (now < last) went_back = true;
      last = now;
    }
  });
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([&] {
      for (int i = 0; i < kAdds; ++i) c.add(3);
    });
  }
  for (auto& w : writers) w.join();
  done = true;
  reader.join();
  EXPECT_EQ(c.value(), std::uint64_t{3} * kThreads * kAdds);
  EXPECT_FALSE(went_back);
}

TEST(Counter, ThreadsSpreadOverShards) {
  // Each thread keeps one shard; kShards threads started in a row cover every shard once.
  std::vector<std::size_t> seen(kShards);
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < kShards; ++i) {
    threads.emplace_back([&seen, i] { seen[i] = this_thread_shard(); });
  }
  for (auto& t : threads) t.join();
  std::sort(seen.begin(), seen.end());
  EXPECT_EQ(std::unique(seen.begin(), seen.end()), seen.end()) << "two threads in a row shared a shard";
  EXPECT_EQ(this_thread_shard(), this_thread_shard());
}

// `le` is "less than or equal": a value on a bound falls in that bound's bucket; above the
// last bound, in +Inf only. Buckets are cumulative and +Inf is the count.
TEST(Histogram, Bucketing) {
  const std::uint64_t bounds[] = {1, 2, 4, 8};
  Histogram h(bounds, 1.0);
  for (const std::uint64_t v : {0, 1, 2, 3, 4, 5, 8, 9, 1000}) h.observe(v);
  const auto s = h.snapshot();
  ASSERT_EQ(s.cumulative.size(), 5u);
  EXPECT_EQ(s.cumulative[0], 2u);  // 0, 1
  EXPECT_EQ(s.cumulative[1], 3u);  // + 2
  EXPECT_EQ(s.cumulative[2], 5u);  // + 3, 4
  EXPECT_EQ(s.cumulative[3], 7u);  // + 5, 8
  EXPECT_EQ(s.cumulative[4], 9u);  // + 9, 1000: the count
  EXPECT_EQ(s.sum, 0u + 1 + 2 + 3 + 4 + 5 + 8 + 9 + 1000);
}

TEST(Histogram, DurationsInNanoseconds) {
  const std::uint64_t bounds[] = {1'000'000, 10'000'000};  // 1 ms, 10 ms
  Histogram h(bounds, 1e9);
  h.observe(std::chrono::microseconds(999));
  h.observe(std::chrono::milliseconds(5));
  h.observe(std::chrono::seconds(1));
  h.observe(std::chrono::steady_clock::duration(-5));  // a clock step backwards counts as 0
  const auto s = h.snapshot();
  EXPECT_EQ(s.cumulative, (std::vector<std::uint64_t>{2, 3, 4}));
  EXPECT_EQ(s.sum, 999'000u + 5'000'000u + 1'000'000'000u);
}

TEST(Histogram, ConcurrentObservationsAreAllCounted) {
  const std::uint64_t bounds[] = {10, 100};
  Histogram h(bounds, 1.0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&h, t] {
      for (int i = 0; i < 10'000; ++i) h.observe(static_cast<std::uint64_t>(t * 50));
    });
  }
  for (auto& t : threads) t.join();
  const auto s = h.snapshot();
  EXPECT_EQ(s.cumulative, (std::vector<std::uint64_t>{10'000, 30'000, 40'000}));  // 0 | 50, 100 | 150
  EXPECT_EQ(s.sum, 10'000u * (0 + 50 + 100 + 150));
}

TEST(Histogram, BoundsMustIncrease) {
  const std::uint64_t equal[] = {1, 1};
  EXPECT_THROW(Histogram(equal, 1.0), std::invalid_argument);
  const std::uint64_t down[] = {2, 1};
  EXPECT_THROW(Histogram(down, 1.0), std::invalid_argument);
}

}  // namespace
}  // namespace bouncer::metrics
