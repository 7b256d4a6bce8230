#include "server/refusal_log.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace bouncer::server {
namespace {

using namespace std::chrono_literals;

struct Line {
  std::string reason;
  std::uint64_t count;
  std::string client;
};

class RefusalLogTest : public ::testing::Test {
 protected:
  RefusalLog::Clock::time_point now = RefusalLog::Clock::time_point{} + 1000s;
  std::vector<Line> lines;
  RefusalLog log{"connection_refused", {"a", "b"}, 1s,
                 [this](std::string_view reason, std::uint64_t count, std::string_view client) {
                   lines.push_back({std::string(reason), count, std::string(client)});
                 },
                 [this] { return now; }};
};

// A flood of 100,000 refusals in one second writes one line at once and one with the rest.
TEST_F(RefusalLogTest, AFloodIsOneLinePerIntervalWithItsCount) {
  for (int i = 0; i < 100000; ++i) log.note("a", "10.0.0.1");
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0].reason, "a");
  EXPECT_EQ(lines[0].count, 1u);
  EXPECT_EQ(lines[0].client, "10.0.0.1");
  log.flush();  // within the interval: nothing yet
  EXPECT_EQ(lines.size(), 1u);
  now += 1s;
  log.flush();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[1].count, 99999u);
  EXPECT_EQ(lines[1].client, "");
  now += 5s;
  log.flush();  // nothing new: no line
  EXPECT_EQ(lines.size(), 2u);
}

TEST_F(RefusalLogTest, ReasonsAreThrottledApart) {
  log.note("a", "x");
  log.note("b", "y");
  log.note("a", "x");
  log.note("unknown", "z");  // not a reason of this log: ignored
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[1].reason, "b");
  now += 1s;
  log.note("a", "x");
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[2].count, 2u);
}

}  // namespace
}  // namespace bouncer::server
