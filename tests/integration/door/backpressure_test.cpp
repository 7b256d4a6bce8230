// Back-pressure (docs/API.md, "Relay"): a client that reads nothing while its upstream streams 1 GiB.
// The server's memory stays bounded (VmRSS under baseline + 64 MiB), and when the client reads
// again every byte arrives, in order. Run against the RELEASE binary: ASan's quarantine would
// distort RSS, and 1 GiB through an ASan build is slow. scripts/test builds it before ctest;
// a missing release binary is a failure, never a skip.
#include "door_fixture.h"

#include <atomic>
#include <cstring>
#include <unistd.h>

namespace door_test {
namespace {

using BackPressure = Door;
using Clock = std::chrono::steady_clock;

constexpr std::uint64_t kFloodBytes = std::uint64_t{1} << 30;
constexpr std::size_t kChunk = 64 * 1024;
constexpr std::uint64_t kHeadroom = 64ull << 20;

// The example model server's flood: byte i is (i mod 251) * 31 mod 251, so a frame that
// starts at offset o is a slice of this table from o mod 251.
const std::vector<std::uint8_t>& pattern() {
  static const std::vector<std::uint8_t> table = [] {
    std::vector<std::uint8_t> t(251 + kChunk);
    for (std::size_t i = 0; i < t.size(); ++i) t[i] = static_cast<std::uint8_t>((i % 251) * 31 % 251);
    return t;
  }();
  return table;
}

// Samples a process's VmRSS every few milliseconds, keeping the peak.
class RssSampler {
 public:
  explicit RssSampler(pid_t pid) : pid_(pid), thread_([this] { loop(); }) {}
  ~RssSampler() { stop(); }
  void stop() {
    done_ = true;
    if (thread_.joinable()) thread_.join();
  }
  std::uint64_t peak() const { return peak_; }

 private:
  void loop() {
    while (!done_) {
      const auto rss = rss_bytes(pid_);
      if (rss > peak_) peak_ = rss;
      std::this_thread::sleep_for(10ms);
    }
  }
  pid_t pid_;
  std::atomic<bool> done_{false};
  std::atomic<std::uint64_t> peak_{0};
  std::thread thread_;
};

double mib(std::uint64_t bytes) { return static_cast<double>(bytes) / (1 << 20); }

// Reads binary frames until flood_done, checking every byte; returns the bytes received.
std::uint64_t drain_flood(WsClient& ws, std::uint64_t expected) {
  beast::flat_buffer buffer;
  std::uint64_t received = 0;
  for (;;) {
    bool text = false;
    const auto ec = ws.read_into(buffer, text);
    if (ec) {
      ADD_FAILURE() << "after " << received << " bytes: " << ec.message() << " (close " << ws.close_code() << " "
                    << ws.close_text() << ")";
      return received;
    }
    const auto size = buffer.size();
    const auto* data = static_cast<const std::uint8_t*>(buffer.data().data());
    if (text) {
      const auto done = json::parse(std::string_view(reinterpret_cast<const char*>(data), size)).as_object();
      if (done.at("type").as_string() != "flood_done") {
        ADD_FAILURE() << "unexpected text message " << json::serialize(done);
        return received;
      }
      EXPECT_EQ(done.at("bytes").to_number<std::uint64_t>(), expected);
      return received;
    }
    if (size > kChunk || std::memcmp(data, pattern().data() + received % 251, size) != 0) {
      ADD_FAILURE() << "the frame at offset " << received << " (" << size << " bytes) is not the flood's pattern";
      return received;
    }
    received += size;
  }
}

TEST_F(BackPressure, SlowReaderKeepsServerMemoryBounded) {
  ASSERT_TRUE(fs::exists(release_bouncer_bin()))
      << "the release binary " << release_bouncer_bin()
      << " does not exist. This test runs against it (ASan would distort RSS); build it first:\n"
         "  cmake --preset release && cmake --build build/release -j2 --target bouncer model-server\n"
         "(scripts/test does this before ctest)";
  const bool release_model_server = fs::exists(release_model_server_bin());
  if (!release_model_server) {
    std::cerr << "[door] note: " << release_model_server_bin() << " missing; using the dev model-server (slower)\n";
  }
  start(StartOptions().release_build());

  const auto token = mint();
  const pid_t pid = bouncer_->pid();
  std::this_thread::sleep_for(200ms);
  const auto baseline = rss_bytes(pid);
  ASSERT_GT(baseline, 0u);
  const auto bound = baseline + kHeadroom;
  RssSampler sampler(pid);

  auto ws = connect(stream_target("up", "api_key=" + token.api_key), {}, 30s);
  ws->read_message_max(2 * kChunk);
  ASSERT_FALSE(ws->write(R"({"type":"flood","bytes":)" + std::to_string(kFloodBytes) + R"(,"chunk":)" +
                         std::to_string(kChunk) + "}"));

  // The client reads nothing for a while: the upstream must be held back, not buffered.
  const auto pause_start = Clock::now();
  while (Clock::now() - pause_start < 4s) {
    std::this_thread::sleep_for(100ms);
    ASSERT_TRUE(bouncer_->process().running()) << "the server died while the client was not reading";
  }
  const auto peak_paused = sampler.peak();
  std::cerr << "[door] RSS baseline " << mib(baseline) << " MiB, peak while the client read nothing "
            << mib(peak_paused) << " MiB (bound " << mib(bound) << " MiB)\n";
  EXPECT_LT(peak_paused, bound);

  // The client reads again: the session recovers and every byte arrives, in order.
  const auto read_start = Clock::now();
  const auto received = drain_flood(*ws, kFloodBytes);
  const double secs = std::chrono::duration<double>(Clock::now() - read_start).count();
  sampler.stop();
  EXPECT_EQ(received, kFloodBytes);
  std::cerr << "[door] " << mib(received) << " MiB relayed in " << secs << " s; RSS peak " << mib(sampler.peak())
            << " MiB (bound " << mib(bound) << " MiB)\n";
  EXPECT_LT(sampler.peak(), bound) << "server RSS grew by " << mib(sampler.peak() - baseline) << " MiB";

  // Still a working session afterwards.
  expect_echo(*ws, "after the flood");
  EXPECT_FALSE(ws->close(1000, "done"));
}

}  // namespace
}  // namespace door_test
