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
  std::size_t log_rate_limit = log::kDefaultMaxLinesPerSecond;

  std::string listen = "127.0.0.1:8080";
  std::string admin_listen = "127.0.0.1:9090";  // or "off"
  std::string public_url;
  std::string tls_cert;  // PEM chain; with tls_key, the listener speaks TLS only
  std::string tls_key;
  unsigned threads = 0;
  std::int64_t leeway_seconds = 30;
  double mint_rate_per_key = 0;
  double mint_burst = 0;
  std::size_t max_body_bytes = 64 * 1024;
  std::size_t max_header_bytes = 8 * 1024;
  std::size_t max_connections = 10000;
  std::size_t max_connections_per_ip = 256;
  std::size_t max_handshakes_per_ip = 32;
  std::int64_t first_byte_timeout_seconds = 10;
  std::int64_t header_timeout_seconds = 10;
  std::size_t max_invalid_credentials_per_ip = 30;
  std::int64_t invalid_credentials_window_seconds = 10;
  std::int64_t invalid_credentials_penalty_seconds = 30;
  std::size_t max_sessions_per_key = 1000;
  std::size_t max_sessions_per_token = 10;
  std::size_t max_message_bytes = 1 << 20;
  std::int64_t session_idle_timeout_seconds = 60;
  std::int64_t upstream_connect_timeout_seconds = 10;
  std::int64_t store_staleness_seconds = 60;
  std::int64_t session_lease_seconds = 30;
  std::string trusted_proxies;  // "CIDR,CIDR,…"

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

// What a reload (SIGHUP) reads again from the configuration file: its [models]. Remembers
// the file's other settings as they were at construction, to name those changed since (they
// take effect only at the next start).
class ConfigReloader {
 public:
  // Reads `config_file` now. Throws std::runtime_error when it cannot be read.
  explicit ConfigReloader(std::string config_file);

  // Re-reads the file: the routes of its models, the built-in ones included (their upstream
  // filled by the server). Logs a warning naming the other settings that changed. Throws
  // std::runtime_error (naming the problem) when the file or a model is invalid.
  std::vector<server::ModelRoute> models();

 private:
  std::string file_;
  std::map<std::string, std::string> settings_;  // top-level key → its TOML text, [models] aside
};

// Built-in models served with no model server (the embedded default).
inline const std::vector<std::string> kBuiltinModels{"echo", "demo"};

}  // namespace bouncer::cli
