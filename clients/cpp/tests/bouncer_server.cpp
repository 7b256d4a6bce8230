#include "bouncer_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <stdexcept>
#include <thread>

#ifndef BOUNCER_CLIENT_TEST_DEFAULT_BOUNCER_BIN
#error "BOUNCER_CLIENT_TEST_DEFAULT_BOUNCER_BIN must be defined (clients/cpp/tests/CMakeLists.txt)"
#endif

namespace client_test {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

std::string tail(const std::string& s, std::size_t n = 6000) { return s.size() <= n ? s : "…" + s.substr(s.size() - n); }

std::optional<std::uint16_t> listening_port(const std::string& log) {
  // "… listening address=127.0.0.1:PORT …", or its JSON form.
  for (const std::string marker : {"listening address=127.0.0.1:", R"("event":"listening","address":"127.0.0.1:)"}) {
    const auto at = log.find(marker);
    if (at == std::string::npos) continue;
    const auto end = log.find_first_not_of("0123456789", at + marker.size());
    if (end == std::string::npos || end == at + marker.size()) return std::nullopt;  // not all written yet
    return static_cast<std::uint16_t>(std::stoi(log.substr(at + marker.size(), end - at - marker.size())));
  }
  return std::nullopt;
}

void openssl(const std::vector<std::string>& args, const fs::path& dir) {
  std::vector<std::string> argv{BOUNCER_CLIENT_TEST_OPENSSL};
  argv.insert(argv.end(), args.begin(), args.end());
  const auto r = test_support::run_program(argv, dir);
  if (r.status != 0) throw std::runtime_error("openssl " + args.front() + " failed: " + r.err);
}

}  // namespace

const std::string& bouncer_bin() {
  static const std::string path = [] {
    const char* env = std::getenv("BOUNCER_BIN");
    return std::string(env && *env ? env : BOUNCER_CLIENT_TEST_DEFAULT_BOUNCER_BIN);
  }();
  return path;
}

BouncerServer::BouncerServer(std::vector<std::string> extra_args, std::optional<ServerTls> tls) : tls_(tls.has_value()) {
  if (!fs::exists(bouncer_bin())) throw std::runtime_error("no bouncer binary at " + bouncer_bin() + " (set BOUNCER_BIN)");
  main_key_ = create_key("main");
  other_key_ = create_key("other");
  std::vector<std::string> argv{bouncer_bin(), "serve", "--data-dir", (dir() / "data").string(),
                                "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"};
  if (tls) {
    argv.insert(argv.end(), {"--tls-cert", tls->chain.string(), "--tls-key", tls->key.string()});
  }
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  process_ = std::make_unique<test_support::Process>(argv, dir() / "bouncer.out", dir() / "bouncer.err");
  wait_until_listening();
}

BouncerServer::~BouncerServer() { process_.reset(); }

std::string BouncerServer::create_key(const std::string& name) {
  // The secret alone on stdout.
  const auto r = test_support::run_program({bouncer_bin(), "keys", "create", "--name", name, "--data-dir",
                                            (dir() / "data").string()},
                                           dir());
  const auto secret = trim(r.out);
  if (r.status != 0 || !secret.starts_with("sk_")) throw std::runtime_error("keys create failed: " + r.err);
  return secret;
}

void BouncerServer::wait_until_listening() {
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  for (;;) {
    if (const auto port = listening_port(process_->err())) {
      port_ = *port;
      return;
    }
    if (!process_->running()) throw std::runtime_error("bouncer exited before listening\n" + tail(process_->logs()));
    if (std::chrono::steady_clock::now() > deadline) {
      throw std::runtime_error("bouncer did not listen within 30 s\n" + tail(process_->logs()));
    }
    std::this_thread::sleep_for(20ms);
  }
}

std::string BouncerServer::http_url() const {
  return (tls_ ? "https://127.0.0.1:" : "http://127.0.0.1:") + std::to_string(port_);
}

std::string BouncerServer::ws_url() const { return (tls_ ? "wss://127.0.0.1:" : "ws://127.0.0.1:") + std::to_string(port_); }

std::string BouncerServer::logs() const { return tail(process_->logs(), 12000); }

SilentListener::SilentListener() {
  fd_ = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  if (fd_ < 0 || bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 || listen(fd_, 16) != 0 ||
      getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    throw std::runtime_error("cannot make a silent listener on 127.0.0.1");
  }
  port_ = ntohs(address.sin_port);
}

SilentListener::~SilentListener() {
  if (fd_ >= 0) close(fd_);
}

TestPki::TestPki(const fs::path& dir) {
  const auto root_key = dir / "root.key";
  root_cert = dir / "root.pem";
  server.key = dir / "server.key";
  const auto leaf = dir / "server.pem";
  const auto csr = dir / "server.csr";
  const auto extensions = dir / "server.ext";
  test_support::write_file(extensions,
                           "basicConstraints=critical,CA:FALSE\n"
                           "keyUsage=critical,digitalSignature\n"
                           "extendedKeyUsage=serverAuth\n"
                           "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
  for (const auto& key : {root_key, server.key}) {
    openssl({"genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", key.string()}, dir);
    chmod(key.c_str(), 0600);
  }
  openssl({"req", "-x509", "-new", "-key", root_key.string(), "-out", root_cert.string(), "-days", "2", "-subj",
           "/CN=Bouncer client test root", "-addext", "basicConstraints=critical,CA:TRUE", "-addext",
           "keyUsage=critical,keyCertSign,cRLSign"},
          dir);
  openssl({"req", "-new", "-key", server.key.string(), "-out", csr.string(), "-subj", "/CN=localhost"}, dir);
  openssl({"x509", "-req", "-in", csr.string(), "-CA", root_cert.string(), "-CAkey", root_key.string(),
           "-CAcreateserial", "-out", leaf.string(), "-days", "2", "-extfile", extensions.string()},
          dir);
  server.chain = leaf;
}

}  // namespace client_test
