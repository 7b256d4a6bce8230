// A real `bouncer serve` for the client's tests, on 127.0.0.1 and a port the kernel picks, with
// its own data directory and two permanent keys ("main" and "other"). The binary is $BOUNCER_BIN,
// else the one compiled in (the server's build/dev/bouncer, or the bouncer target of the build
// this is part of).
#pragma once

#include "support/process.h"

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace client_test {

const std::string& bouncer_bin();

struct ServerTls {
  std::filesystem::path chain;  // leaf + issuers, PEM
  std::filesystem::path key;    // mode 0600
};

class BouncerServer {
 public:
  // Starts the server and waits (bounded) until it listens. Throws with its output if it fails.
  explicit BouncerServer(std::vector<std::string> extra_args = {}, std::optional<ServerTls> tls = {});
  ~BouncerServer();

  std::uint16_t port() const { return port_; }
  std::string http_url() const;  // http:// or https://127.0.0.1:PORT
  std::string ws_url() const;    // ws:// or wss://127.0.0.1:PORT
  const std::string& key() const { return main_key_; }         // sk_… of "main"
  const std::string& other_key() const { return other_key_; }  // sk_… of "other"
  std::string logs() const;
  const std::filesystem::path& dir() const { return tmp_.path(); }

 private:
  std::string create_key(const std::string& name);
  void wait_until_listening();

  test_support::TempDir tmp_;
  bool tls_ = false;
  std::string main_key_;
  std::string other_key_;
  std::unique_ptr<test_support::Process> process_;
  std::uint16_t port_ = 0;
};

// A TCP listener on 127.0.0.1 that never accepts: connections complete (the kernel's backlog)
// and then nothing ever answers them.
class SilentListener {
 public:
  SilentListener();
  ~SilentListener();
  SilentListener(const SilentListener&) = delete;
  SilentListener& operator=(const SilentListener&) = delete;
  std::uint16_t port() const { return port_; }

 private:
  int fd_ = -1;
  std::uint16_t port_ = 0;
};

// A throwaway PKI made with the openssl command: a root CA and a server certificate it signs
// for IP:127.0.0.1 and DNS:localhost.
struct TestPki {
  explicit TestPki(const std::filesystem::path& dir);
  std::filesystem::path root_cert;
  ServerTls server;
};

}  // namespace client_test
