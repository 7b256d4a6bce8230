// A repeated log line is rate-limited: one event writes at most --log-rate-limit lines per
// second, and the lines it drops are told, with their count, in `lines_suppressed` lines. Every
// line is accounted for: written, or counted.
#include "door_fixture.h"

#include <regex>
#include <sstream>

namespace edge_test {
namespace {

using door_test::StartOptions;

class LogRateLimit : public door_test::Door {};

struct Tally {
  std::size_t written = 0;
  std::size_t suppressed = 0;
  std::size_t summaries = 0;
};

Tally tally(const std::string& log, const std::string& event) {
  Tally t;
  const std::regex summary(" lines_suppressed event=" + event + " count=([0-9]+) limit=([0-9]+) interval_ms=1000$");
  std::istringstream lines(log);
  for (std::string line; std::getline(lines, line);) {
    std::smatch m;
    if (line.find(" " + event + " ") != std::string::npos) ++t.written;
    if (std::regex_search(line, m, summary)) {
      ++t.summaries;
      t.suppressed += std::stoul(m[1]);
    }
  }
  return t;
}

TEST_F(LogRateLimit, AFloodOfOneEventBecomesCounts) {
  constexpr std::size_t kLimit = 5;
  constexpr std::size_t kRequests = 150;
  start(StartOptions().args({"--log-level", "debug", "--log-rate-limit", std::to_string(kLimit)}));
  const auto t0 = std::chrono::steady_clock::now();
  for (std::size_t i = 0; i < kRequests; ++i) {
    // Each refused mint logs one `mint_refused` at debug level.
    ASSERT_EQ(bouncer_->post("/v1/client/tokens", "sk_not-a-key", "{}").status, 401);
  }
  const auto seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  // Other events are not held back by this one.
  mint();
  EXPECT_EQ(bouncer_->process().stop(), 0);
  const auto log = bouncer_->process().err();

  const auto t = tally(log, "mint_refused");
  EXPECT_EQ(t.written + t.suppressed, kRequests) << log;
  // One interval starts at the first line after the last one ended: over `seconds`, at most
  // floor(seconds) + 1 of them, each writing at most kLimit lines.
  EXPECT_LE(t.written, kLimit * (static_cast<std::size_t>(seconds) + 1)) << "over " << seconds << " s\n" << log;
  EXPECT_GE(t.written, kLimit) << log;
  EXPECT_GE(t.summaries, 1u) << log;
  EXPECT_NE(log.find(" minted "), std::string::npos) << log;
  EXPECT_NE(log.find(" stopped"), std::string::npos) << log;
}

TEST_F(LogRateLimit, ZeroWritesEveryLine) {
  start(StartOptions().args({"--log-level", "debug", "--log-rate-limit", "0"}));
  for (int i = 0; i < 40; ++i) ASSERT_EQ(bouncer_->post("/v1/client/tokens", "sk_not-a-key", "{}").status, 401);
  EXPECT_EQ(bouncer_->process().stop(), 0);
  const auto t = tally(bouncer_->process().err(), "mint_refused");
  EXPECT_EQ(t.written, 40u);
  EXPECT_EQ(t.summaries, 0u);
}

}  // namespace
}  // namespace edge_test
