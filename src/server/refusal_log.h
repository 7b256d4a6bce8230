// Refusals that come in floods (a connection over a cap, an upgrade from a penalised address)
// are logged at most once per interval per reason, with how many there were since the last
// line, instead of once each: an attacker must not be able to fill the disk or spend the
// server's CPU on its log.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace bouncer::server {

class RefusalLog {
 public:
  using Clock = std::chrono::steady_clock;
  // Writes one line: the reason, the refusals since the last line, one client they came from
  // ("" when the line is a flush).
  using Sink = std::function<void(std::string_view reason, std::uint64_t count, std::string_view client)>;

  // `event`: the log event's name; `reasons`: every reason note() may be given.
  RefusalLog(std::string event, std::initializer_list<std::string_view> reasons,
             std::chrono::milliseconds interval = std::chrono::seconds(1), Sink sink = {},
             std::function<Clock::time_point()> now = &Clock::now);

  // Counts one refusal; writes a line when the reason's last line is at least one interval old.
  void note(std::string_view reason, std::string_view client);

  // Writes the counts still unwritten whose last line is at least one interval old (a timer
  // calls this, so that the end of a flood is told too).
  void flush();

 private:
  struct Counter {
    std::string reason;
    std::atomic<std::uint64_t> pending{0};
    std::atomic<std::int64_t> last_line_ns{0};
  };
  Counter* find(std::string_view reason);
  bool take_turn(Counter& c, std::int64_t now_ns);

  std::string event_;
  std::int64_t interval_ns_;
  Sink sink_;
  std::function<Clock::time_point()> now_;
  std::vector<std::unique_ptr<Counter>> counters_;
};

}  // namespace bouncer::server
