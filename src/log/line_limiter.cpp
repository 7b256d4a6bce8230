#include "log/line_limiter.h"

#include "log/log.h"

namespace bouncer::log {

LineLimiter::LineLimiter(std::size_t max_lines, Clock::duration interval) : max_lines_(max_lines), interval_(interval) {}

LineLimiter::Shard& LineLimiter::shard_of(std::string_view event) {
  return shards_[NameHash{}(event) % kShards];
}

void LineLimiter::note_due(Clock::time_point when) {
  const auto t = when.time_since_epoch().count();
  auto current = next_due_.load(std::memory_order_relaxed);
  while (t < current && !next_due_.compare_exchange_weak(current, t, std::memory_order_relaxed)) {
  }
}

bool LineLimiter::admit(std::string_view event, Level level, Clock::time_point now, std::uint64_t& ended_suppressed) {
  ended_suppressed = 0;
  const auto max_lines = max_lines_.load(std::memory_order_relaxed);
  if (max_lines == 0) return true;
  auto& shard = shard_of(event);
  std::lock_guard lock(shard.mutex);
  auto it = shard.events.find(event);
  if (it == shard.events.end()) {
    if (shard.events.size() >= kMaxEventsPerShard) return true;
    it = shard.events.emplace(std::string(event), PerEvent{}).first;
  }
  auto& w = it->second.by_level[static_cast<std::size_t>(level) % kLevels];
  if (!w.open || now - w.start >= interval_) {
    ended_suppressed = w.suppressed;
    w = Window{now, 1, 0, true};
    return true;
  }
  if (w.written < max_lines) {
    ++w.written;
    return true;
  }
  if (w.suppressed++ == 0) note_due(w.start + interval_);
  return false;
}

std::vector<LineLimiter::Suppressed> LineLimiter::take(Clock::time_point now, bool ended_only) {
  std::vector<Suppressed> out;
  // Reset first: a line dropped while we scan lowers it again (note_due), so nothing is missed.
  next_due_.store(std::numeric_limits<Clock::rep>::max(), std::memory_order_relaxed);
  for (auto& shard : shards_) {
    std::lock_guard lock(shard.mutex);
    for (auto& [name, per_event] : shard.events) {
      for (std::size_t l = 0; l < kLevels; ++l) {
        auto& w = per_event.by_level[l];
        if (w.suppressed == 0) continue;
        const auto end = w.start + interval_;
        if (ended_only && now < end) {
          note_due(end);
          continue;
        }
        out.push_back({name, static_cast<Level>(l), w.suppressed});
        // The interval is over for the count; its lines written still count until it ends.
        w.suppressed = 0;
      }
    }
  }
  return out;
}

std::vector<LineLimiter::Suppressed> LineLimiter::take_ended(Clock::time_point now) {
  if (now.time_since_epoch().count() < next_due_.load(std::memory_order_relaxed)) return {};
  return take(now, true);
}

std::vector<LineLimiter::Suppressed> LineLimiter::take_all() { return take(Clock::time_point::max(), false); }

}  // namespace bouncer::log
