// One event writes at most N lines per interval; the rest are counted and told once, in one
// line, when the interval has ended. The clock is the test's.
#include "log/line_limiter.h"
#include "log/log.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace bouncer::log {
namespace {

using namespace std::chrono_literals;
using Clock = LineLimiter::Clock;

const Clock::time_point t0 = Clock::time_point{} + 1000s;

// Lines admitted out of `n` at `at`; the count of an ended interval each reported is summed.
int admit_n(LineLimiter& limiter, std::string_view event, int n, Clock::time_point at, std::uint64_t* told = nullptr,
            Level level = Level::warn) {
  int written = 0;
  for (int i = 0; i < n; ++i) {
    std::uint64_t ended = 0;
    if (limiter.admit(event, level, at, ended)) ++written;
    if (told) *told += ended;
  }
  return written;
}

TEST(LineLimiter, AtMostNPerIntervalThenOneCount) {
  LineLimiter limiter(10, 1s);
  EXPECT_EQ(admit_n(limiter, "accept_failed", 1000, t0), 10);
  EXPECT_TRUE(limiter.take_ended(t0 + 999ms).empty()) << "the interval has not ended";
  const auto told = limiter.take_ended(t0 + 1s);
  ASSERT_EQ(told.size(), 1u);
  EXPECT_EQ(told[0].event, "accept_failed");
  EXPECT_EQ(told[0].level, Level::warn);
  EXPECT_EQ(told[0].count, 990u);
  EXPECT_TRUE(limiter.take_ended(t0 + 2s).empty()) << "told once";
  // A new interval: ten more.
  std::uint64_t ended = 0;
  EXPECT_EQ(admit_n(limiter, "accept_failed", 20, t0 + 1500ms, &ended), 10);
  EXPECT_EQ(ended, 0u) << "already told by take_ended";
}

TEST(LineLimiter, TheNextLineTellsTheCountWhenNobodyAskedBefore) {
  LineLimiter limiter(3, 1s);
  EXPECT_EQ(admit_n(limiter, "e", 5, t0), 3);
  std::uint64_t ended = 0;
  EXPECT_EQ(admit_n(limiter, "e", 1, t0 + 1200ms, &ended), 1);
  EXPECT_EQ(ended, 2u);
  EXPECT_TRUE(limiter.take_ended(t0 + 5s).empty());
}

TEST(LineLimiter, EventsAndLevelsHaveTheirOwnBudgets) {
  LineLimiter limiter(2, 1s);
  EXPECT_EQ(admit_n(limiter, "a", 5, t0), 2);
  EXPECT_EQ(admit_n(limiter, "b", 5, t0), 2);
  EXPECT_EQ(admit_n(limiter, "a", 5, t0, nullptr, Level::error), 2);
  auto told = limiter.take_ended(t0 + 1s);
  ASSERT_EQ(told.size(), 3u);
  std::uint64_t total = 0;
  for (const auto& s : told) total += s.count;
  EXPECT_EQ(total, 9u);
}

TEST(LineLimiter, QuietEventsAreNeverHeldBack) {
  LineLimiter limiter(10, 1s);
  for (int second = 0; second < 100; ++second) {
    EXPECT_EQ(admit_n(limiter, "state_reloaded", 10, t0 + std::chrono::seconds(second)), 10);
  }
  EXPECT_TRUE(limiter.take_all().empty());
}

TEST(LineLimiter, TakeAllTellsAnIntervalNotEndedYet) {
  LineLimiter limiter(1, 1s);
  EXPECT_EQ(admit_n(limiter, "e", 4, t0), 1);
  EXPECT_TRUE(limiter.take_ended(t0 + 10ms).empty());
  const auto told = limiter.take_all();
  ASSERT_EQ(told.size(), 1u);
  EXPECT_EQ(told[0].count, 3u);
  EXPECT_TRUE(limiter.take_all().empty());
}

TEST(LineLimiter, ZeroMeansNoLimit) {
  LineLimiter limiter(0, 1s);
  EXPECT_EQ(admit_n(limiter, "e", 10000, t0), 10000);
  EXPECT_TRUE(limiter.take_all().empty());
  limiter.set_max_lines(5);
  EXPECT_EQ(admit_n(limiter, "e", 10, t0), 5);
}

// Many threads at once: every line is either written or counted, exactly once.
TEST(LineLimiter, NothingIsLostAcrossThreads) {
  LineLimiter limiter(10, 1s);
  std::atomic<std::uint64_t> written{0}, told{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 5000; ++i) {
        const auto at = t0 + std::chrono::milliseconds(i);  // 5 intervals
        std::uint64_t ended = 0;
        if (limiter.admit(t % 2 ? "odd" : "even", Level::info, at, ended)) ++written;
        told += ended;
        for (const auto& s : limiter.take_ended(at)) told += s.count;
      }
    });
  }
  for (auto& th : threads) th.join();
  for (const auto& s : limiter.take_all()) told += s.count;
  EXPECT_EQ(written + told, 20000u);
  EXPECT_LE(written.load(), 2u * 5u * 10u + 2u * 10u);
}

}  // namespace
}  // namespace bouncer::log
