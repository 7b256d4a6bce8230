// Rate limiting of log lines: one event (name and level) writes at most N lines per interval;
// the rest are counted, and each interval that dropped lines is summed up in one line once it
// has ended. A flood of one repeated line (a failing accept loop, a client hammering a refusal)
// then costs a counter increment per line instead of a formatted write, and cannot fill a disk.
// Thread-safe. The clock is the caller's, so tests choose the time.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <limits>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace bouncer::log {

enum class Level;

class LineLimiter {
 public:
  using Clock = std::chrono::steady_clock;

  // Lines dropped in one ended interval of one event.
  struct Suppressed {
    std::string event;
    Level level;
    std::uint64_t count;
  };

  // At most `max_lines` lines per event per `interval`; max_lines == 0 disables the limit.
  LineLimiter(std::size_t max_lines, Clock::duration interval);

  // Whether one line of `event` at `level` may be written at `now`; a line not written is
  // counted. When this line begins a new interval after an interval that dropped lines, that
  // count is put in `ended_suppressed` (written just before this line), else 0.
  bool admit(std::string_view event, Level level, Clock::time_point now, std::uint64_t& ended_suppressed);

  // The counts of every interval that has ended by `now` with lines dropped, each reported
  // once (by this or by admit()). Cheap when there is nothing to report: one atomic load.
  std::vector<Suppressed> take_ended(Clock::time_point now);

  // Every count not reported yet, ended or not (at shutdown).
  std::vector<Suppressed> take_all();

  std::size_t max_lines() const { return max_lines_.load(std::memory_order_relaxed); }
  void set_max_lines(std::size_t max_lines) { max_lines_.store(max_lines, std::memory_order_relaxed); }
  Clock::duration interval() const { return interval_; }

 private:
  struct Window {
    Clock::time_point start{};
    std::uint64_t written = 0;
    std::uint64_t suppressed = 0;
    bool open = false;
  };
  static constexpr std::size_t kLevels = 4;
  struct PerEvent {
    std::array<Window, kLevels> by_level;
  };
  struct NameHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  struct Shard {
    std::mutex mutex;
    std::unordered_map<std::string, PerEvent, NameHash, std::equal_to<>> events;
  };
  static constexpr std::size_t kShards = 8;
  // Event names come from the code, not from clients: this only guards against a bug.
  static constexpr std::size_t kMaxEventsPerShard = 1024;

  Shard& shard_of(std::string_view event);
  void note_due(Clock::time_point when);
  std::vector<Suppressed> take(Clock::time_point now, bool ended_only);

  std::atomic<std::size_t> max_lines_;
  Clock::duration interval_;
  std::array<Shard, kShards> shards_;
  // The earliest end of an interval with dropped lines (max when none): take_ended's fast path.
  std::atomic<Clock::rep> next_due_{std::numeric_limits<Clock::rep>::max()};
};

}  // namespace bouncer::log
