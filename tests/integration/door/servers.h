// The servers a door test runs: `bouncer serve` on 127.0.0.1 (port 0: the harness reads the
// port from its "listening" log line, so two tests never race for one port), the example
// model server as an upstream, and the bouncer CLI against the same data directory.
#pragma once

#include "clients.h"
#include "support/process.h"

#include <boost/json/value.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace door_test {

using test_support::CliResult;
using test_support::Env;
using test_support::Process;
using test_support::read_file;
using test_support::run_program;
using test_support::TempDir;
using test_support::write_file;


// Paths compiled in by CMake.
const std::string& bouncer_bin();               // the ASan/UBSan dev build
const std::string& model_server_bin();          // the dev build of examples/model-server
const std::string& release_bouncer_bin();       // build/release/bouncer
const std::string& release_model_server_bin();  // build/release/examples/model-server/model-server

struct ApiKey {
  std::string secret;  // sk_…
  std::string id;
};

class Bouncer {
 public:
  // Starts `bouncer serve --data-dir DIR --listen 127.0.0.1:0 ARGS…` and waits (bounded) until
  // /healthz answers 200. Throws with the server's output when it does not get there.
  Bouncer(const std::filesystem::path& data_dir, const std::filesystem::path& log_dir, std::vector<std::string> args,
          std::string binary = bouncer_bin());

  std::uint16_t port() const { return port_; }
  pid_t pid() const { return process_->pid(); }
  Process& process() { return *process_; }
  const std::filesystem::path& data_dir() const { return data_dir_; }
  std::string logs() const { return process_->logs(); }
  // The "default" key printed on the first start of an empty data dir (nullopt otherwise).
  std::optional<ApiKey> default_key() const;

  // POST with X-API-KEY: `key`, body as given; the parsed answer.
  HttpResponse post(const std::string& path, const std::string& key, const std::string& body) const;

 private:
  std::filesystem::path data_dir_;
  std::unique_ptr<Process> process_;
  std::uint16_t port_ = 0;
};

// The bouncer CLI on a data dir: `bouncer ARGS… --data-dir DIR`.
CliResult bouncer_cli(const std::filesystem::path& data_dir, const std::filesystem::path& scratch,
                      std::vector<std::string> args);
// `keys create --name NAME`, then its id from `keys list --json`.
ApiKey create_key(const std::filesystem::path& data_dir, const std::filesystem::path& scratch, const std::string& name);

class ModelServer {
 public:
  // `model-server --listen 127.0.0.1:0 --port-file F [--secret S]`; waits for the port file.
  ModelServer(const std::filesystem::path& dir, const std::string& secret, std::string binary = model_server_bin());

  std::uint16_t port() const { return port_; }
  std::string err() const { return process_->err(); }
  std::string logs() const { return process_->logs(); }

 private:
  std::unique_ptr<Process> process_;
  std::uint16_t port_ = 0;
};

// A minted client credential.
struct Minted {
  std::string api_key;  // ek_…
  std::string jwt;      // the bare token
  boost::json::value answer;
  boost::json::object claims;  // the JWT's payload
};

// POST /v1/client/tokens; throws unless 200.
Minted mint(const Bouncer& server, const std::string& key, const std::string& body = "{}");

// The JWT payload (base64url JSON) as an object; throws on garbage.
boost::json::object jwt_claims(const std::string& jwt);

// VmRSS of a process in bytes (from /proc/PID/status); 0 if unreadable.
std::uint64_t rss_bytes(pid_t pid);

}  // namespace door_test
