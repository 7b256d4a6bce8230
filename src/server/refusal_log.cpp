#include "server/refusal_log.h"

#include "log/log.h"

#include <limits>

namespace bouncer::server {
namespace {

constexpr std::int64_t kNever = std::numeric_limits<std::int64_t>::min();

std::int64_t nanoseconds(RefusalLog::Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

}  // namespace

RefusalLog::RefusalLog(std::string event, std::initializer_list<std::string_view> reasons,
                       std::chrono::milliseconds interval, Sink sink, std::function<Clock::time_point()> now)
    : event_(std::move(event)),
      interval_ns_(std::chrono::duration_cast<std::chrono::nanoseconds>(interval).count()),
      sink_(std::move(sink)),
      now_(std::move(now)) {
  if (!sink_) {
    sink_ = [this](std::string_view reason, std::uint64_t count, std::string_view client) {
      if (client.empty()) {
        log::warn(event_, {{"reason", reason}, {"count", count}});
      } else {
        log::warn(event_, {{"reason", reason}, {"count", count}, {"client", client}});
      }
    };
  }
  for (const auto reason : reasons) {
    auto c = std::make_unique<Counter>();
    c->reason = std::string(reason);
    c->last_line_ns.store(kNever, std::memory_order_relaxed);
    counters_.push_back(std::move(c));
  }
}

RefusalLog::Counter* RefusalLog::find(std::string_view reason) {
  for (auto& c : counters_) {
    if (c->reason == reason) return c.get();
  }
  return nullptr;
}

// One thread wins the right to write the next line of a reason; the others only count.
bool RefusalLog::take_turn(Counter& c, std::int64_t now_ns) {
  auto last = c.last_line_ns.load(std::memory_order_relaxed);
  if (last != kNever && now_ns - last < interval_ns_) return false;
  return c.last_line_ns.compare_exchange_strong(last, now_ns, std::memory_order_relaxed);
}

void RefusalLog::note(std::string_view reason, std::string_view client) {
  auto* c = find(reason);
  if (!c) return;
  c->pending.fetch_add(1, std::memory_order_relaxed);
  const auto now_ns = nanoseconds(now_());
  if (!take_turn(*c, now_ns)) return;
  const auto count = c->pending.exchange(0, std::memory_order_relaxed);
  if (count > 0) sink_(c->reason, count, client);
}

void RefusalLog::flush() {
  const auto now_ns = nanoseconds(now_());
  for (auto& c : counters_) {
    if (c->pending.load(std::memory_order_relaxed) == 0 || !take_turn(*c, now_ns)) continue;
    const auto count = c->pending.exchange(0, std::memory_order_relaxed);
    if (count > 0) sink_(c->reason, count, {});
  }
}

}  // namespace bouncer::server
