#include "support/redis_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <stdexcept>
#include <thread>

namespace test_support {
namespace {

using namespace std::chrono_literals;

// A port the kernel has just handed out and taken back: free unless another process races
// us to it, which start() survives by trying again.
int pick_free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error("socket() failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
                  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
  ::close(fd);
  if (!ok) throw std::runtime_error("cannot find a free port on 127.0.0.1");
  return ntohs(addr.sin_port);
}

}  // namespace

RedisServer::RedisServer(const std::filesystem::path& dir) : dir_(dir) {
  std::filesystem::create_directories(dir_);
  for (int attempt = 0;; ++attempt) {
    port_ = pick_free_port();
    try {
      start();
      return;
    } catch (const std::runtime_error&) {
      if (attempt == 4) throw;
    }
  }
}

RedisServer::~RedisServer() {
  if (process_ && process_->running()) process_->signal(SIGCONT);  // a paused server cannot obey SIGTERM
}

void RedisServer::start() {
  ++starts_;
  const auto log = dir_ / ("redis-" + std::to_string(starts_));
  process_ = std::make_unique<Process>(
      std::vector<std::string>{"/usr/bin/redis-server", "--bind", "127.0.0.1", "--port", std::to_string(port_),
                               "--dir", dir_.string(), "--save", "", "--appendonly", "yes", "--appendfsync",
                               "always", "--daemonize", "no", "--protected-mode", "yes", "--logfile", ""},
      log.string() + ".out", log.string() + ".err");
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!answers_ping(200ms)) {
    if (!process_->running() || std::chrono::steady_clock::now() > deadline) {
      const std::string output = process_->logs();
      process_.reset();
      throw std::runtime_error("redis-server did not start on port " + std::to_string(port_) + "\n" + output);
    }
    std::this_thread::sleep_for(20ms);
  }
}

bool RedisServer::answers_ping(std::chrono::milliseconds timeout) const {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  timeval tv{0, static_cast<suseconds_t>(timeout.count() * 1000)};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port_));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  char reply[16] = {};
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
                  ::write(fd, "PING\r\n", 6) == 6 && ::read(fd, reply, sizeof reply - 1) > 0 &&
                  std::string_view(reply).starts_with("+PONG");
  ::close(fd);
  return ok;
}

std::string RedisServer::logs() const { return process_ ? process_->logs() : std::string(); }

void RedisServer::kill() {
  if (!process_) return;
  process_->signal(SIGKILL);
  (void)process_->wait(10s);
}

void RedisServer::restart() {
  kill();
  start();
}

void RedisServer::pause() { process_->signal(SIGSTOP); }
void RedisServer::resume() { process_->signal(SIGCONT); }

}  // namespace test_support
