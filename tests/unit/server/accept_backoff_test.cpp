// The accept loop out of descriptors, for real: a listening socket with connections waiting in
// its backlog while this process cannot open one more descriptor (its soft RLIMIT_NOFILE
// lowered and filled). Each test runs in a process of its own (gtest_discover_tests).
#include "server/accept_backoff.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <gtest/gtest.h>

#include <poll.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

namespace bouncer::server {
namespace {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;

double thread_cpu_seconds() {
  rusage u{};
  ::getrusage(RUSAGE_THREAD, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

std::size_t open_fds() {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
  return n;
}

// Takes every descriptor this process may still open, until destroyed.
class Exhaustion {
 public:
  Exhaustion() {
    ::getrlimit(RLIMIT_NOFILE, &saved_);
    rlimit low = saved_;
    low.rlim_cur = open_fds() + 8;
    if (::setrlimit(RLIMIT_NOFILE, &low) != 0) throw std::runtime_error("setrlimit failed");
    for (;;) {
      const int fd = ::dup(0);
      if (fd < 0) break;
      fillers_.push_back(fd);
    }
  }
  ~Exhaustion() { release(); }
  void release() {
    for (const int fd : fillers_) ::close(fd);
    fillers_.clear();
    ::setrlimit(RLIMIT_NOFILE, &saved_);
  }

 private:
  rlimit saved_{};
  std::vector<int> fillers_;
};

TEST(AcceptBackoff, OutOfDescriptorsPausesShedsTheBacklogAndResumes) {
  net::io_context ioc;
  tcp::acceptor acceptor(ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
  AcceptBackoff backoff(acceptor, 50ms);
  ASSERT_TRUE(backoff.has_reserve());

  int accepted = 0;
  std::function<void()> arm = [&] {
    acceptor.async_accept([&](boost::system::error_code ec, tcp::socket) {
      if (ec) return backoff.failed(ec, arm);
      ++accepted;
      backoff.succeeded();
      arm();
    });
  };

  // Every path once while descriptors are to spare: the sanitizers' runtime (dev build) needs a
  // pipe to check a dynamic type the first time it meets it, and reports a false error without.
  tcp::socket warm(ioc);
  warm.connect(acceptor.local_endpoint());
  arm();
  for (int i = 0; i < 100 && accepted < 1; ++i) ioc.run_for(20ms);
  ASSERT_EQ(accepted, 1);
  backoff.failed(make_error_code(boost::system::errc::no_buffer_space), [] {});
  ioc.run_for(100ms);
  const auto failures0 = backoff.failures();
  accepted = 0;

  // Connected before descriptors run out: the kernel completes them into the backlog.
  std::vector<tcp::socket> waiting;
  for (int i = 0; i < 20; ++i) {
    waiting.emplace_back(ioc);
    waiting.back().connect(acceptor.local_endpoint());
  }

  auto exhaustion = std::make_unique<Exhaustion>();
  const auto cpu0 = thread_cpu_seconds();
  ioc.run_for(1s);
  const auto cpu = thread_cpu_seconds() - cpu0;
  const auto failures = backoff.failures() - failures0;
  const auto shed = backoff.shed();
  const bool has_reserve = backoff.has_reserve();
  exhaustion.reset();  // before any check: a failing check needs descriptors to report

  EXPECT_EQ(accepted, 0);
  // Paused between retries: about one failure per 50 ms, not a spin of millions.
  EXPECT_GE(failures, 1u);
  EXPECT_LE(failures, 40u);
  EXPECT_LT(cpu, 0.5) << "the accept loop kept a core busy";
  // The whole backlog was shed (accepted and closed at once), and the reserve is back.
  EXPECT_EQ(shed, 20u);
  EXPECT_TRUE(has_reserve);
  EXPECT_EQ(backoff.episodes(), 1u);  // the warm-up's failure began it
  EXPECT_TRUE(backoff.in_episode());
  // Each shed client finds its connection closed (within 2 s: a test must not hang).
  for (auto& client : waiting) {
    pollfd pfd{client.native_handle(), POLLIN, 0};
    if (::poll(&pfd, 1, 2000) != 1) {
      ADD_FAILURE() << "a waiting client's connection was not closed";
      continue;
    }
    char byte;
    boost::system::error_code ec;
    net::read(client, net::buffer(&byte, 1), ec);
    EXPECT_TRUE(ec == net::error::eof || ec == net::error::connection_reset) << ec.message();
  }

  // Descriptors are back: the next connection is accepted; the episode ends once accepting has
  // worked a quiet second after the last failure.
  tcp::socket first(ioc);
  first.connect(acceptor.local_endpoint());
  ioc.restart();
  for (int i = 0; i < 100 && accepted < 1; ++i) ioc.run_for(20ms);
  EXPECT_EQ(accepted, 1);
  std::this_thread::sleep_for(AcceptBackoff::kQuiet + 100ms);
  tcp::socket second(ioc);
  second.connect(acceptor.local_endpoint());
  ioc.restart();
  for (int i = 0; i < 100 && accepted < 2; ++i) ioc.run_for(20ms);
  EXPECT_EQ(accepted, 2);
  EXPECT_FALSE(backoff.in_episode());
  EXPECT_EQ(backoff.episodes(), 1u);
}

// Other failures pause too, without shedding; a stopped backoff never resumes.
TEST(AcceptBackoff, StopEndsThePause) {
  net::io_context ioc;
  tcp::acceptor acceptor(ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
  AcceptBackoff backoff(acceptor, 50ms);
  int resumed = 0;
  backoff.failed(make_error_code(boost::system::errc::no_buffer_space), [&] { ++resumed; });
  ioc.run_for(200ms);
  EXPECT_EQ(resumed, 1);
  EXPECT_EQ(backoff.shed(), 0u);
  ioc.restart();
  backoff.failed(make_error_code(boost::system::errc::no_buffer_space), [&] { ++resumed; });
  backoff.stop();
  ioc.run_for(200ms);
  EXPECT_EQ(resumed, 1);
}

}  // namespace
}  // namespace bouncer::server
