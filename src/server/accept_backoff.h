// What an acceptor does when accept() fails. Retrying at once would spin: the listening socket
// stays readable while connections wait in its backlog, and without a free descriptor (EMFILE,
// ENFILE) every retry fails the same way, on every core, each failure a log line. Instead the
// acceptor pauses briefly and retries; out of descriptors, it first sheds the backlog: it
// closes a reserve descriptor kept for this, accepts waiting connections and closes each at
// once (the client learns at once instead of waiting), and reopens the reserve. One line is
// logged when the failures start and one with their count when accepting works again.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

namespace bouncer::server {

class AcceptBackoff {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr int kMaxShedPerPause = 64;
  // Accepting must have worked this long after the last failure for the episode to end (so
  // that a limit hovered about makes one episode, not ten a second).
  static constexpr std::chrono::seconds kQuiet{1};

  // Used on the acceptor's executor only. Opens the reserve descriptor.
  explicit AcceptBackoff(boost::asio::ip::tcp::acceptor& acceptor,
                         std::chrono::milliseconds pause = std::chrono::milliseconds(100));
  ~AcceptBackoff();
  AcceptBackoff(const AcceptBackoff&) = delete;
  AcceptBackoff& operator=(const AcceptBackoff&) = delete;

  // After a failed accept: sheds the backlog if out of descriptors, then calls `resume` once
  // the pause is over (not at all once stopped or the acceptor closed).
  void failed(const boost::system::error_code& ec, std::function<void()> resume);
  // After each accepted connection.
  void succeeded();
  // No resume after this (shutdown).
  void stop();

  std::uint64_t failures() const { return failures_; }
  std::uint64_t shed() const { return shed_; }
  std::uint64_t episodes() const { return episodes_; }
  bool in_episode() const { return in_episode_; }
  bool has_reserve() const { return reserve_ >= 0; }

 private:
  void shed_backlog();
  void open_reserve();

  boost::asio::ip::tcp::acceptor& acceptor_;
  boost::asio::steady_timer timer_;
  std::chrono::milliseconds pause_;
  int reserve_ = -1;
  bool stopped_ = false;

  std::uint64_t failures_ = 0;
  std::uint64_t shed_ = 0;
  std::uint64_t episodes_ = 0;

  bool in_episode_ = false;
  std::string episode_error_;
  Clock::time_point episode_start_{};
  Clock::time_point last_failure_{};
  std::uint64_t episode_failures_ = 0;
  std::uint64_t episode_shed_ = 0;
};

}  // namespace bouncer::server
