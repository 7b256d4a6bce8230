#include "server/accept_backoff.h"

#include "log/log.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

namespace bouncer::server {

namespace {

bool out_of_descriptors(const boost::system::error_code& ec) {
  return ec == boost::system::errc::too_many_files_open || ec == boost::system::errc::too_many_files_open_in_system;
}

}  // namespace

AcceptBackoff::AcceptBackoff(boost::asio::ip::tcp::acceptor& acceptor, std::chrono::milliseconds pause)
    : acceptor_(acceptor), timer_(acceptor.get_executor()), pause_(pause) {
  // Shedding calls accept4() directly: it must never block.
  boost::system::error_code ignored;
  acceptor_.non_blocking(true, ignored);
  open_reserve();
}

AcceptBackoff::~AcceptBackoff() {
  if (reserve_ >= 0) ::close(reserve_);
}

void AcceptBackoff::open_reserve() {
  if (reserve_ < 0) reserve_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
}

void AcceptBackoff::failed(const boost::system::error_code& ec, std::function<void()> resume) {
  if (stopped_ || !acceptor_.is_open()) return;
  const auto now = Clock::now();
  ++failures_;
  ++episode_failures_;
  last_failure_ = now;
  if (!in_episode_) {
    in_episode_ = true;
    ++episodes_;
    episode_start_ = now;
    episode_failures_ = 1;
    episode_shed_ = 0;
    episode_error_ = ec.message();
    log::warn("accept_paused", {{"error", episode_error_}, {"pause_ms", static_cast<std::int64_t>(pause_.count())}});
  }
  if (out_of_descriptors(ec)) shed_backlog();
  timer_.expires_after(pause_);
  timer_.async_wait([this, resume = std::move(resume)](const boost::system::error_code& wait_ec) {
    if (wait_ec || stopped_ || !acceptor_.is_open()) return;
    resume();
  });
}

void AcceptBackoff::succeeded() {
  if (!in_episode_) return;
  const auto now = Clock::now();
  if (now - last_failure_ < kQuiet) return;
  in_episode_ = false;
  log::info("accept_resumed",
            {{"error", episode_error_},
             {"failures", episode_failures_},
             {"shed", episode_shed_},
             {"ms", static_cast<std::int64_t>(
                        std::chrono::duration_cast<std::chrono::milliseconds>(last_failure_ - episode_start_).count())}});
}

void AcceptBackoff::stop() {
  stopped_ = true;
  timer_.cancel();
}

// The reserve frees one descriptor: enough to accept one waiting connection at a time and
// close it at once, as libuv does, a bounded number per pause.
void AcceptBackoff::shed_backlog() {
  if (reserve_ >= 0) {
    ::close(reserve_);
    reserve_ = -1;
  }
  for (int i = 0; i < kMaxShedPerPause; ++i) {
    const int fd = ::accept4(acceptor_.native_handle(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) break;  // the backlog is empty, or another thread took the free descriptor
    ::close(fd);
    ++shed_;
    ++episode_shed_;
  }
  open_reserve();
}

}  // namespace bouncer::server
