#include "cli/config.h"

#include "cli/ranges.h"
#include "log/log.h"

#include <boost/asio/ip/address.hpp>
#include <toml++/toml.h>

#include <arpa/inet.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>

namespace bouncer::cli {
namespace {

// The largest maxConcurrentSessions a token may ask for: a larger server cap could never be
// asked for, and would only lift the default of tokens minted without the option.

// "--data-dir" → "data_dir" (the TOML key) and "BOUNCER_DATA_DIR" (the environment name).
std::string key_of(const std::string& flag) {
  std::string key = flag.substr(2);
  std::replace(key.begin(), key.end(), '-', '_');
  return key;
}

std::string env_of(const std::string& flag) {
  std::string env = "BOUNCER_" + key_of(flag);
  std::transform(env.begin(), env.end(), env.begin(), [](unsigned char c) { return std::toupper(c); });
  return env;
}

template <typename T>
bool set_from_toml(const toml::node& node, T& field) {
  if constexpr (std::is_same_v<T, std::string>) {
    if (auto v = node.value<std::string>()) {
      field = *v;
      return true;
    }
  } else if constexpr (std::is_floating_point_v<T>) {
    if (auto v = node.value<double>()) {
      field = *v;
      return true;
    }
  } else {
    if (auto v = node.value<std::int64_t>(); v && *v >= 0) {
      field = static_cast<T>(*v);
      return true;
    }
    if constexpr (std::is_unsigned_v<T>) {
      if (auto v = node.value<std::int64_t>()) throw std::runtime_error("must be ≥ 0, got " + std::to_string(*v));
    }
    if constexpr (std::is_signed_v<T>) {
      if (auto v = node.value<std::int64_t>()) {
        field = static_cast<T>(*v);
        return true;
      }
    }
  }
  return false;
}

// Listening takes an address, not a name: a name may resolve to several addresses, or to
// another one tomorrow.
bool is_ip_address(const std::string& host) {
  in6_addr buffer{};
  return ::inet_pton(AF_INET, host.c_str(), &buffer) == 1 || ::inet_pton(AF_INET6, host.c_str(), &buffer) == 1;
}

// Found now, with the model's name, rather than as a TLS error when the server starts.
void require_readable_ca_file(const std::string& model, const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    throw std::runtime_error("config: models." + model + ".ca_file: cannot read " + path + ": " + std::strerror(errno));
  }
}

std::size_t non_negative(const toml::node& node, const std::string& what) {
  const auto v = node.value<std::int64_t>();
  if (!v || *v < 0) throw std::runtime_error("config: " + what + " must be a non-negative integer");
  return static_cast<std::size_t>(*v);
}

ModelConfig load_model(const std::string& name, const toml::table& table) {
  static const std::set<std::string> known{"upstream", "headers", "shared_secret", "ca_file", "max_sessions"};
  ModelConfig model;
  for (const auto& [key, node] : table) {
    const std::string k(key.str());
    const std::string where = "models." + name + "." + k;
    if (!known.contains(k)) throw std::runtime_error("config: unknown setting '" + where + "'");
    if (k == "headers") {
      const auto* headers = node.as_table();
      if (!headers) throw std::runtime_error("config: " + where + " must be a table of strings");
      for (const auto& [h, v] : *headers) {
        const auto value = v.value<std::string>();
        if (!value) throw std::runtime_error("config: " + where + "." + std::string(h.str()) + " must be a string");
        model.headers[std::string(h.str())] = *value;
      }
    } else if (k == "max_sessions") {
      model.max_sessions = non_negative(node, where);
    } else {
      const auto value = node.value<std::string>();
      if (!value) throw std::runtime_error("config: " + where + " must be a string");
      (k == "upstream" ? model.upstream : k == "shared_secret" ? model.shared_secret : model.ca_file) = *value;
    }
  }
  if (model.upstream.empty()) throw std::runtime_error("config: models." + name + ".upstream is required");
  return model;
}

void load_models(const toml::table& file, std::map<std::string, ModelConfig>& out) {
  const auto* models = file["models"].as_table();
  if (!models) {
    if (file.contains("models")) throw std::runtime_error("config: [models] must be a table of [models.NAME] tables");
    return;
  }
  for (const auto& [name, node] : *models) {
    const auto* table = node.as_table();
    const std::string n(name.str());
    if (!table) throw std::runtime_error("config: models." + n + " must be a table");
    out[n] = load_model(n, *table);
  }
}

// --admin-listen: "off", or an IP address (not a host name: nothing is resolved at start) and
// a port, "[v6]:port" for IPv6.
void set_admin_listen(const std::string& text, server::Options& o) {
  if (text == "off") return;
  const auto fail = [&] {
    return std::runtime_error("--admin-listen must be IP:PORT (port 0-65535) or off, got '" + text + "'");
  };
  const auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0) throw fail();
  auto host = text.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  boost::system::error_code ec;
  boost::asio::ip::make_address(host, ec);
  if (ec) throw fail();
  unsigned port = 0;
  const auto port_text = std::string_view(text).substr(colon + 1);
  const auto [ptr, error] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (error != std::errc{} || ptr != port_text.data() + port_text.size() || port > 65535) throw fail();
  o.admin_host = host;
  o.admin_port = static_cast<std::uint16_t>(port);
}

toml::table parse_config_file(const std::string& path) {
  try {
    return toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    std::ostringstream msg;
    msg << "config file " << path << ": " << e.description() << " at line " << e.source().begin.line;
    throw std::runtime_error(msg.str());
  }
}

// The built-in models, then the configured ones (which may replace a built-in of the same name).
std::vector<server::ModelRoute> model_routes(const std::map<std::string, ModelConfig>& models) {
  std::vector<server::ModelRoute> routes;
  for (const auto& name : kBuiltinModels) {
    server::ModelRoute route;
    route.name = name;
    route.builtin = true;
    routes.push_back(route);
  }
  for (const auto& [name, model] : models) {
    if (name.empty() || name.size() > 128) throw std::runtime_error("config: model names must be 1 to 128 characters");
    if (!relay::parse_upstream_url(model.upstream)) {
      throw std::runtime_error("config: models." + name + ".upstream must be a ws:// or wss:// URL, got '" +
                               model.upstream + "'");
    }
    server::ModelRoute route;
    route.name = name;
    route.upstream = model.upstream;
    route.headers.assign(model.headers.begin(), model.headers.end());
    route.shared_secret = model.shared_secret;
    route.ca_file = model.ca_file;
    if (!route.ca_file.empty()) require_readable_ca_file(name, route.ca_file);
    route.max_sessions = model.max_sessions;
    // A configured model may replace a built-in one of the same name.
    std::erase_if(routes, [&](const server::ModelRoute& m) { return m.name == name; });
    routes.push_back(std::move(route));
  }
  return routes;
}

std::map<std::string, std::string> settings_of(const toml::table& file) {
  std::map<std::string, std::string> out;
  for (const auto& [key, node] : file) {
    if (key.str() == "models") continue;
    std::ostringstream text;
    node.visit([&](const auto& n) { text << n; });
    out[std::string(key.str())] = text.str();
  }
  return out;
}

}  // namespace

template <typename T>
CLI::Option* OptionBinder::bind(const std::string& flag, T& field, const std::string& help, const Range* range) {
  // "-1" would otherwise wrap an unsigned value around to the largest one: a cap silently lifted.
  static const Range non_negative{0, std::nullopt};
  if (!range && std::is_integral_v<T> && std::is_unsigned_v<T>) range = &non_negative;
  auto* opt = app_.add_option(flag, field, range ? help + " [" + range->describe() + "]" : help)->envname(env_of(flag));
  if (range) opt->check(range_validator(*range));
  if (flag != "--config") {
    file_setters_.emplace_back(opt, [&field](const void* node) {
      return set_from_toml(*static_cast<const toml::node*>(node), field);
    });
  }
  return opt;
}

void OptionBinder::add_common() {
  bind("--data-dir", config_.data_dir, "Directory holding the database and the signing keys")->capture_default_str();
  bind("--store", config_.store, "State engine: sqlite (embedded, in --data-dir) or redis://[[USER]:PASSWORD@]HOST[:PORT][/DB] (shared by several nodes)")->capture_default_str();
  bind("--config", config_.config_file, "TOML configuration file (flags beat BOUNCER_* environment beats file)");
  bind("--log-format", config_.log_format, "text or json")->capture_default_str()->check(CLI::IsMember({"text", "json"}));
  bind("--log-level", config_.log_level, "debug, info, warn or error")
      ->capture_default_str()
      ->check(CLI::IsMember({"debug", "info", "warn", "error"}));
  bind("--log-rate-limit", config_.log_rate_limit,
       "Lines per second one event (name and level) may write; the rest are counted into one lines_suppressed "
       "line per second (0 = no limit)")
      ->capture_default_str();
}

void OptionBinder::add_serve_options() {
  bind("--listen", config_.listen, "HOST:PORT to listen on (port 0 picks a free one)")->capture_default_str();
  bind("--admin-listen", config_.admin_listen,
       "IP:PORT of the admin listener (/metrics, /healthz, /readyz), never the --listen address; off disables it")
      ->capture_default_str();
  bind("--public-url", config_.public_url,
       "URL clients use to reach this server; the iss and aud of every token (default http://LISTEN, "
       "https://LISTEN with --tls-cert)");
  bind("--tls-cert", config_.tls_cert,
       "PEM certificate chain (the server's first, then intermediates): the listener speaks TLS 1.2/1.3 only; "
       "re-read on SIGHUP");
  bind("--tls-key", config_.tls_key, "PEM private key of --tls-cert, unencrypted, mode 0600; re-read on SIGHUP");
  bind("--threads", config_.threads, "I/O threads (0 = one per core)", &ranges::threads)->capture_default_str();
  bind("--leeway-seconds", config_.leeway_seconds, "Clock skew allowed when checking token times",
       &ranges::leeway_seconds)->capture_default_str();
  bind("--mint-rate-per-key", config_.mint_rate_per_key,
       "Tokens per second each permanent key may mint (0 = unlimited); excess gets 429 + Retry-After",
       &ranges::mint_rate_per_key)
      ->capture_default_str();
  bind("--mint-burst", config_.mint_burst, "Burst allowed above --mint-rate-per-key (0 = same as the rate)",
       &ranges::mint_burst)
      ->capture_default_str();
  bind("--max-body-bytes", config_.max_body_bytes, "Largest request body accepted (413 above)",
       &ranges::max_body_bytes)->capture_default_str();
  bind("--max-header-bytes", config_.max_header_bytes, "Largest request header block accepted (431 above)",
       &ranges::max_header_bytes)
      ->capture_default_str();
  bind("--max-connections", config_.max_connections,
       "Open client connections at most (lowered at start to what the open-file limit allows)",
       &ranges::max_connections)->capture_default_str();
  bind("--max-connections-per-ip", config_.max_connections_per_ip,
       "Open connections from one client address at most (0 = no cap); above, closed at once")
      ->capture_default_str();
  bind("--max-handshakes-per-ip", config_.max_handshakes_per_ip,
       "Connections from one client address whose request headers (or WebSocket admission) are not complete yet, "
       "at most (0 = no cap); above, closed at once")
      ->capture_default_str();
  bind("--first-byte-timeout-seconds", config_.first_byte_timeout_seconds,
       "A new connection that sends nothing this long is closed", &ranges::first_byte_timeout_seconds)
      ->capture_default_str();
  bind("--header-timeout-seconds", config_.header_timeout_seconds,
       "A request's headers must be complete this long after its first byte, however slowly they come; else the "
       "connection is closed", &ranges::header_timeout_seconds)
      ->capture_default_str();
  bind("--max-invalid-credentials-per-ip", config_.max_invalid_credentials_per_ip,
       "Upgrades refused as 'Invalid API key' from one client address within --invalid-credentials-window-seconds "
       "before the address is penalised (0 = never)")
      ->capture_default_str();
  bind("--invalid-credentials-window-seconds", config_.invalid_credentials_window_seconds,
       "The window --max-invalid-credentials-per-ip counts in", &ranges::invalid_credentials_window_seconds)
      ->capture_default_str();
  bind("--invalid-credentials-penalty-seconds", config_.invalid_credentials_penalty_seconds,
       "How long a penalised address's upgrades are refused (1013) before any credential check",
       &ranges::invalid_credentials_penalty_seconds)
      ->capture_default_str();
  bind("--max-sessions-per-key", config_.max_sessions_per_key,
       "Concurrent WebSocket sessions per permanent key (0 = no cap); excess refused with 1013",
       &ranges::max_sessions_per_key)
      ->capture_default_str();
  bind("--max-sessions-per-token", config_.max_sessions_per_token,
       "Concurrent WebSocket sessions per client token (0 = no cap): the default of a token minted without "
       "constraints.realtime.maxConcurrentSessions and the ceiling of that option (a mint asking for more gets 400); "
       "excess refused with 1013", &ranges::max_sessions_per_token)
      ->capture_default_str();
  bind("--max-message-bytes", config_.max_message_bytes, "Largest WebSocket message relayed (1009 above)",
       &ranges::max_message_bytes)
      ->capture_default_str();
  bind("--session-idle-timeout-seconds", config_.session_idle_timeout_seconds,
       "A peer silent this long (no pong to our pings) is dropped",
       &ranges::session_idle_timeout_seconds)
      ->capture_default_str();
  bind("--upstream-connect-timeout-seconds", config_.upstream_connect_timeout_seconds,
       "Time allowed to open the upstream WebSocket",
       &ranges::upstream_connect_timeout_seconds)
      ->capture_default_str();
  bind("--store-staleness-seconds", config_.store_staleness_seconds,
       "While the store is unreachable, admit sessions from the last state read this long, then refuse them "
       "(1013) until it answers again",
       &ranges::store_staleness_seconds)
      ->capture_default_str();
  bind("--session-lease-seconds", config_.session_lease_seconds,
       "With a shared store (redis://): how long a session's place under the cluster-wide caps lives unless its "
       "node renews it, i.e. how soon a dead node's sessions are released",
       &ranges::session_lease_seconds)
      ->capture_default_str();
  bind("--trusted-proxies", config_.trusted_proxies,
       "CIDR,… of load balancers / reverse proxies whose X-Forwarded-For (or Forwarded) names the client; from "
       "any other peer those headers are ignored (default: none)");
}

void OptionBinder::finish() {
  if (config_.config_file.empty()) return;
  const toml::table file = parse_config_file(config_.config_file);
  for (auto& [opt, setter] : file_setters_) {
    const auto key = key_of(opt->get_name());
    const auto* node = file.get(key);
    if (!node || opt->count() > 0) continue;  // flags and environment beat the file
    bool set = false;
    try {
      set = setter(node);
    } catch (const std::runtime_error& e) {
      throw std::runtime_error("config file " + config_.config_file + ": " + key + " " + e.what());
    }
    if (!set) throw std::runtime_error("config file " + config_.config_file + ": " + key + " has the wrong type");
  }
  for (const auto& [key, node] : file) {
    // Options of other sub-commands are fine in a shared file; unknown keys are typos.
    static const std::set<std::string> all_keys{"data_dir", "store", "log_format", "log_level", "log_rate_limit", "listen", "admin_listen", "public_url",
                                                "tls_cert", "tls_key",
                                                "threads", "leeway_seconds", "mint_rate_per_key", "mint_burst",
                                                "max_body_bytes", "max_header_bytes", "max_connections", "max_sessions_per_key",
                                                "max_connections_per_ip", "max_handshakes_per_ip",
                                                "first_byte_timeout_seconds", "header_timeout_seconds",
                                                "max_invalid_credentials_per_ip", "invalid_credentials_window_seconds",
                                                "invalid_credentials_penalty_seconds",
                                                "max_sessions_per_token",
                                                "max_message_bytes", "session_idle_timeout_seconds",
                                                "upstream_connect_timeout_seconds", "store_staleness_seconds",
                                                "session_lease_seconds", "trusted_proxies", "models"};
    if (!all_keys.contains(std::string(key.str()))) {
      throw std::runtime_error("config file " + config_.config_file + ": unknown setting '" + std::string(key.str()) + "'");
    }
  }
  load_models(file, config_.models);
}

server::Options to_server_options(const Config& config) {
  server::Options o;
  const auto colon = config.listen.rfind(':');
  if (colon == std::string::npos) throw std::runtime_error("--listen must be HOST:PORT, got '" + config.listen + "'");
  o.host = config.listen.substr(0, colon);
  if (o.host.size() > 2 && o.host.front() == '[' && o.host.back() == ']') o.host = o.host.substr(1, o.host.size() - 2);
  if (!is_ip_address(o.host)) {
    throw std::runtime_error("--listen needs an IP address, not a host name: got '" + o.host +
                             "' (use 127.0.0.1:PORT for this machine only, 0.0.0.0:PORT or [::]:PORT for every "
                             "interface)");
  }
  unsigned port = 0;
  const auto port_text = std::string_view(config.listen).substr(colon + 1);
  const auto [ptr, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc{} || ptr != port_text.data() + port_text.size() || port > 65535) {
    throw std::runtime_error("--listen port must be 0-65535, got '" + std::string(port_text) + "'");
  }
  o.port = static_cast<std::uint16_t>(port);
  set_admin_listen(config.admin_listen, o);
  o.public_url = config.public_url;
  while (!o.public_url.empty() && o.public_url.back() == '/') o.public_url.pop_back();
  if (!o.public_url.empty() && !o.public_url.starts_with("http://") && !o.public_url.starts_with("https://")) {
    throw std::runtime_error("--public-url must start with http:// or https://, got '" + config.public_url + "'");
  }
  if (config.tls_cert.empty() != config.tls_key.empty()) {
    throw std::runtime_error("--tls-cert and --tls-key go together: give both, or neither for plain HTTP");
  }
  o.tls_cert_file = config.tls_cert;
  o.tls_key_file = config.tls_key;
  o.threads = config.threads;
  ranges::leeway_seconds.require("--leeway-seconds", static_cast<double>(config.leeway_seconds));
  o.leeway_seconds = config.leeway_seconds;
  ranges::mint_rate_per_key.require("--mint-rate-per-key", config.mint_rate_per_key);
  ranges::mint_burst.require("--mint-burst", config.mint_burst);
  o.mint_rate_per_key = config.mint_rate_per_key;
  o.mint_burst = config.mint_burst;
  ranges::max_body_bytes.require("--max-body-bytes", static_cast<double>(config.max_body_bytes));
  o.mint_limits.max_body_bytes = config.max_body_bytes;
  ranges::max_header_bytes.require("--max-header-bytes", static_cast<double>(config.max_header_bytes));
  o.max_header_bytes = config.max_header_bytes;
  ranges::max_connections.require("--max-connections", static_cast<double>(config.max_connections));
  o.max_connections = config.max_connections;
  o.max_connections_per_ip = config.max_connections_per_ip;
  o.max_handshakes_per_ip = config.max_handshakes_per_ip;
  ranges::first_byte_timeout_seconds.require("--first-byte-timeout-seconds",
                                             static_cast<double>(config.first_byte_timeout_seconds));
  o.first_byte_timeout = std::chrono::seconds(config.first_byte_timeout_seconds);
  ranges::header_timeout_seconds.require("--header-timeout-seconds", static_cast<double>(config.header_timeout_seconds));
  o.header_timeout = std::chrono::seconds(config.header_timeout_seconds);
  o.max_invalid_credentials_per_ip = config.max_invalid_credentials_per_ip;
  ranges::invalid_credentials_window_seconds.require("--invalid-credentials-window-seconds",
                                                     static_cast<double>(config.invalid_credentials_window_seconds));
  o.invalid_credentials_window = std::chrono::seconds(config.invalid_credentials_window_seconds);
  ranges::invalid_credentials_penalty_seconds.require("--invalid-credentials-penalty-seconds",
                                                      static_cast<double>(config.invalid_credentials_penalty_seconds));
  o.invalid_credentials_penalty = std::chrono::seconds(config.invalid_credentials_penalty_seconds);
  o.data_dir.root = config.data_dir;
  o.models = model_routes(config.models);
  o.max_sessions_per_key = config.max_sessions_per_key;
  ranges::max_sessions_per_token.require("--max-sessions-per-token", static_cast<double>(config.max_sessions_per_token));
  o.max_sessions_per_token = config.max_sessions_per_token;
  ranges::max_message_bytes.require("--max-message-bytes", static_cast<double>(config.max_message_bytes));
  o.max_message_bytes = config.max_message_bytes;
  ranges::session_idle_timeout_seconds.require("--session-idle-timeout-seconds",
                                               static_cast<double>(config.session_idle_timeout_seconds));
  o.session_idle_timeout = std::chrono::seconds(config.session_idle_timeout_seconds);
  ranges::upstream_connect_timeout_seconds.require("--upstream-connect-timeout-seconds",
                                                   static_cast<double>(config.upstream_connect_timeout_seconds));
  o.upstream_connect_timeout = std::chrono::seconds(config.upstream_connect_timeout_seconds);
  ranges::store_staleness_seconds.require("--store-staleness-seconds", static_cast<double>(config.store_staleness_seconds));
  o.store_staleness = std::chrono::seconds(config.store_staleness_seconds);
  ranges::session_lease_seconds.require("--session-lease-seconds", static_cast<double>(config.session_lease_seconds));
  try {
    o.trusted_proxies = edge::TrustedProxies::parse(config.trusted_proxies);
  } catch (const std::invalid_argument& e) {
    throw std::runtime_error(std::string("--trusted-proxies: ") + e.what());
  }
  return o;
}

ConfigReloader::ConfigReloader(std::string config_file)
    : file_(std::move(config_file)), settings_(settings_of(parse_config_file(file_))) {}

std::vector<server::ModelRoute> ConfigReloader::models() {
  const auto file = parse_config_file(file_);
  std::map<std::string, ModelConfig> models;
  load_models(file, models);
  auto routes = model_routes(models);

  const auto now = settings_of(file);
  std::string changed;
  for (const auto& [key, text] : now) {
    const auto before = settings_.find(key);
    if (before == settings_.end() || before->second != text) changed += (changed.empty() ? "" : ",") + key;
  }
  for (const auto& [key, text] : settings_) {
    if (!now.contains(key)) changed += (changed.empty() ? "" : ",") + key;
  }
  if (!changed.empty()) {
    log::warn("settings_not_reloaded", {{"file", file_}, {"settings", changed}, {"hint", "restart to apply them"}});
  }
  return routes;
}

}  // namespace bouncer::cli
