// A real redis-server for tests (Debian's), started on a free 127.0.0.1 port in a scratch
// directory, with the durability settings Bouncer documents (appendonly yes, appendfsync
// always) and no snapshots. It dies with its object, or with the test binary.
#pragma once

#include "support/process.h"

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>

namespace test_support {

class RedisServer {
 public:
  // Throws std::runtime_error, with redis-server's own output, when it does not come up.
  explicit RedisServer(const std::filesystem::path& dir);
  ~RedisServer();
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  int port() const { return port_; }
  std::string url(int db = 0) const { return "redis://127.0.0.1:" + std::to_string(port_) + "/" + std::to_string(db); }
  std::string logs() const;

  void kill();     // SIGKILL: what a crash looks like
  void restart();  // on the same port and data (the append-only file)
  void pause();    // SIGSTOP: alive but silent
  void resume();   // SIGCONT

 private:
  void start();
  bool answers_ping(std::chrono::milliseconds timeout) const;

  std::filesystem::path dir_;
  int port_ = 0;
  int starts_ = 0;
  std::unique_ptr<Process> process_;
};

}  // namespace test_support
