// Configuration: defaults → TOML file → BOUNCER_* environment → command-line flags, each
// later source beating the earlier ones, validated once into one struct. Each component
// is then handed only its own slice (server::Options).
#pragma once

#include "log/log.h"
#include "server/options.h"

#include <CLI/CLI.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace bouncer::cli {

struct Range;

struct ModelConfig {
  std::string upstream;  // ws:// or wss:// URL
  std::map<std::string, std::string> headers;  // extra headers sent upstream
  std::string shared_secret;                   // sent as X-Bouncer-Upstream-Secret
  std::string ca_file;                         // extra CA for wss://
  std::size_t max_sessions = 0;                // 0 = no cap
};

struct Config {
  std::string data_dir = "./bouncer-data";
  std::string store = "sqlite";
  std::string config_file;
  std::string log_format = "text";
  std::string log_level = "info";

  std::string listen = "127.0.0.1:8080";
  std::string public_url;
  unsigned threads = 0;
  std::int64_t leeway_seconds = 30;
  double mint_rate_per_key = 0;
  double mint_burst = 0;
  std::size_t max_body_bytes = 64 * 1024;
  std::size_t max_header_bytes = 8 * 1024;
  std::size_t max_connections = 10000;
  std::size_t max_sessions_per_key = 1000;
  std::size_t max_message_bytes = 1 << 20;
  std::int64_t session_idle_timeout_seconds = 60;
  std::int64_t upstream_connect_timeout_seconds = 10;
  std::int64_t store_staleness_seconds = 60;
  std::int64_t session_lease_seconds = 30;

  std::map<std::string, ModelConfig> models;  // from [models.NAME] tables; built-ins added too
};

// Binds options to `config` on a (sub)command and remembers how to fill each from the
// TOML file when neither a flag nor the environment set it.
class OptionBinder {
 public:
  OptionBinder(CLI::App& app, Config& config) : app_(app), config_(config) {}

  void add_common();        // --data-dir, --store, --config, --log-format, --log-level
  void add_serve_options(); // everything `serve` takes

  // Reads the file named by --config / BOUNCER_CONFIG (if any) into every option still
  // unset, then validates. Throws std::runtime_error with a message naming the problem.
  void finish();

 private:
  // A numeric option with a `range` is checked against it (and --help shows it); an unsigned
  // one without is at least kept from wrapping a negative value around.
  template <typename T>
  CLI::Option* bind(const std::string& flag, T& field, const std::string& help, const Range* range = nullptr);

  CLI::App& app_;
  Config& config_;
  std::vector<std::pair<CLI::Option*, std::function<bool(const void* toml_node)>>> file_setters_;
};

// Validates and converts to the server's slice. Throws std::runtime_error.
server::Options to_server_options(const Config& config);

// Built-in models served with no model server (DESIGN: the embedded default).
inline const std::vector<std::string> kBuiltinModels{"echo", "demo"};

}  // namespace bouncer::cli
