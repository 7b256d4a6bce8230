#include "servers.h"

#include <boost/json/parse.hpp>

#include <atomic>
#include <fstream>
#include <stdexcept>
#include <thread>

namespace door_test {

namespace fs = std::filesystem;
namespace json = boost::json;
using namespace std::chrono_literals;

#ifndef BOUNCER_BIN
#error "BOUNCER_BIN must be defined (tests/integration/door/CMakeLists.txt)"
#endif
#ifndef BOUNCER_MODEL_SERVER_BIN
#error "BOUNCER_MODEL_SERVER_BIN must be defined (tests/integration/door/CMakeLists.txt)"
#endif
#ifndef BOUNCER_RELEASE_BIN
#error "BOUNCER_RELEASE_BIN must be defined (tests/integration/door/CMakeLists.txt)"
#endif
#ifndef BOUNCER_RELEASE_MODEL_SERVER_BIN
#error "BOUNCER_RELEASE_MODEL_SERVER_BIN must be defined (tests/integration/door/CMakeLists.txt)"
#endif

namespace {

constexpr auto kStartTimeout = 30s;

std::string env_or(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v && *v ? v : fallback;
}

std::string tail(const std::string& s, std::size_t n = 6000) { return s.size() <= n ? s : "…" + s.substr(s.size() - n); }

std::string log_file_stem(const fs::path& dir, const std::string& name) {
  static std::atomic<int> counter{0};
  return (dir / (name + "-" + std::to_string(counter++))).string();
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  while (!s.empty() && (s.front() == '\n' || s.front() == ' ')) s.erase(0, 1);
  return s;
}

}  // namespace

// The environment beats the compiled-in paths, so the binaries can be swapped without a rebuild.
const std::string& bouncer_bin() {
  static const std::string p = env_or("DOOR_TEST_BOUNCER_BIN", BOUNCER_BIN);
  return p;
}
const std::string& model_server_bin() {
  static const std::string p = env_or("DOOR_TEST_MODEL_SERVER_BIN", BOUNCER_MODEL_SERVER_BIN);
  return p;
}
const std::string& release_bouncer_bin() {
  static const std::string p = env_or("DOOR_TEST_RELEASE_BIN", BOUNCER_RELEASE_BIN);
  return p;
}
const std::string& release_model_server_bin() {
  static const std::string p = env_or("DOOR_TEST_RELEASE_MODEL_SERVER_BIN", BOUNCER_RELEASE_MODEL_SERVER_BIN);
  return p;
}

Bouncer::Bouncer(const fs::path& data_dir, const fs::path& log_dir, std::vector<std::string> args, std::string binary)
    : data_dir_(data_dir) {
  // The admin listener on a free port too: the default (9090) is one port for every test.
  std::vector<std::string> argv{std::move(binary), "serve", "--data-dir", data_dir.string(), "--listen", "127.0.0.1:0",
                                "--admin-listen", "127.0.0.1:0"};
  argv.insert(argv.end(), args.begin(), args.end());
  const auto stem = log_file_stem(log_dir, "bouncer");
  process_ = std::make_unique<Process>(argv, stem + ".out", stem + ".err");

  const auto deadline = std::chrono::steady_clock::now() + kStartTimeout;
  for (;;) {
    // The log line: "… listening address=127.0.0.1:PORT …", or its JSON form.
    const auto err = process_->err();
    std::string marker = "listening address=127.0.0.1:";
    if (err.find(marker) == std::string::npos) marker = R"("event":"listening","address":"127.0.0.1:)";
    const auto at = err.find(marker);
    const auto end = at == std::string::npos ? at : err.find_first_not_of("0123456789", at + marker.size());
    if (end != std::string::npos && end > at + marker.size()) {  // the whole number was written
      port_ = static_cast<std::uint16_t>(std::stoi(err.substr(at + marker.size(), end - at - marker.size())));
      break;
    }
    if (!process_->running()) {
      throw std::runtime_error("bouncer exited (status " + std::to_string(process_->exit_status().value_or(-1)) +
                               ") before listening\n" + tail(process_->logs()));
    }
    if (std::chrono::steady_clock::now() > deadline) {
      throw std::runtime_error("bouncer did not log 'listening' within 30 s\n" + tail(process_->logs()));
    }
    std::this_thread::sleep_for(20ms);
  }
  for (;;) {
    const auto r = http_request(port_, beast::http::verb::get, "/healthz", {}, {}, 2s);
    if (r.status == 200) break;
    if (!process_->running()) {
      throw std::runtime_error("bouncer exited before /healthz answered\n" + tail(process_->logs()));
    }
    if (std::chrono::steady_clock::now() > deadline) {
      throw std::runtime_error("GET /healthz did not answer 200 within 30 s (last: " + std::to_string(r.status) + " " +
                               r.error + ")\n" + tail(process_->logs()));
    }
    std::this_thread::sleep_for(20ms);
  }
}

std::optional<ApiKey> Bouncer::default_key() const {
  // The banner: … first permanent API key, "default" (ID). … then the secret on its own line.
  // It is flushed right after the server starts listening: give it a moment.
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  for (;;) {
    const auto out = process_->out();
    const std::string marker = "\"default\" (";
    const auto at = out.find(marker);
    const auto id_end = at == std::string::npos ? at : out.find(')', at);
    const auto secret = id_end == std::string::npos ? id_end : out.find("sk_", id_end);
    if (secret != std::string::npos && out.size() >= secret + 46) {
      return ApiKey{out.substr(secret, 46), out.substr(at + marker.size(), id_end - at - marker.size())};
    }
    if (std::chrono::steady_clock::now() > deadline) return std::nullopt;
    std::this_thread::sleep_for(20ms);
  }
}

HttpResponse Bouncer::post(const std::string& path, const std::string& key, const std::string& body) const {
  Headers headers;
  if (!key.empty()) headers.emplace_back("X-API-KEY", key);
  return http_request(port_, beast::http::verb::post, path, headers, body);
}

CliResult bouncer_cli(const fs::path& data_dir, const fs::path& scratch, std::vector<std::string> args) {
  std::vector<std::string> argv{bouncer_bin()};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.push_back("--data-dir");
  argv.push_back(data_dir.string());
  return run_program(argv, scratch);
}

ApiKey create_key(const fs::path& data_dir, const fs::path& scratch, const std::string& name) {
  // The secret alone on stdout; "Created key ID (NAME). …" on stderr.
  const auto created = bouncer_cli(data_dir, scratch, {"keys", "create", "--name", name});
  if (created.status != 0) throw std::runtime_error("keys create failed: " + created.err);
  ApiKey key{trim(created.out), {}};
  const std::string marker = "Created key ";
  if (const auto at = created.err.find(marker); at != std::string::npos) {
    const auto end = created.err.find(' ', at + marker.size());
    if (end != std::string::npos) key.id = created.err.substr(at + marker.size(), end - at - marker.size());
  }
  if (key.id.empty() || !key.secret.starts_with("sk_")) {
    throw std::runtime_error("keys create --name " + name + " gave no key: " + created.out + created.err);
  }
  return key;
}

ModelServer::ModelServer(const fs::path& dir, const std::string& secret, std::string binary) {
  const auto stem = log_file_stem(dir, "model-server");
  const fs::path port_file = stem + ".port";
  std::vector<std::string> argv{std::move(binary), "--listen", "127.0.0.1:0", "--port-file", port_file.string()};
  if (!secret.empty()) {
    argv.push_back("--secret");
    argv.push_back(secret);
  }
  process_ = std::make_unique<Process>(argv, stem + ".out", stem + ".err");
  const auto deadline = std::chrono::steady_clock::now() + kStartTimeout;
  for (;;) {
    if (fs::exists(port_file)) {
      const auto text = trim(read_file(port_file));
      if (!text.empty()) {
        port_ = static_cast<std::uint16_t>(std::stoi(text));
        return;
      }
    }
    if (!process_->running()) throw std::runtime_error("model-server exited before listening\n" + process_->logs());
    if (std::chrono::steady_clock::now() > deadline) {
      throw std::runtime_error("model-server wrote no port file within 30 s\n" + process_->logs());
    }
    std::this_thread::sleep_for(20ms);
  }
}

boost::json::object jwt_claims(const std::string& jwt) {
  const auto first = jwt.find('.');
  const auto second = jwt.find('.', first + 1);
  if (first == std::string::npos || second == std::string::npos) throw std::runtime_error("not a JWT: " + jwt);
  const std::string segment = jwt.substr(first + 1, second - first - 1);
  std::string decoded;
  unsigned buffer = 0;
  int bits = 0;
  for (const char c : segment) {
    int v;
    if (c >= 'A' && c <= 'Z') v = c - 'A';
    else if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
    else if (c >= '0' && c <= '9') v = c - '0' + 52;
    else if (c == '-') v = 62;
    else if (c == '_') v = 63;
    else throw std::runtime_error("not base64url: " + segment);
    buffer = (buffer << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      decoded.push_back(static_cast<char>((buffer >> bits) & 0xff));
    }
  }
  return json::parse(decoded).as_object();
}

Minted mint(const Bouncer& server, const std::string& key, const std::string& body) {
  const auto r = server.post("/v1/client/tokens", key, body);
  if (r.status != 200) {
    throw std::runtime_error("mint " + body + " → " + std::to_string(r.status) + " " + r.error + " " + r.body);
  }
  Minted m;
  m.answer = json::parse(r.body);
  m.api_key = std::string(m.answer.at("apiKey").as_string());
  m.jwt = std::string(m.answer.at("token").as_string());
  m.claims = jwt_claims(m.jwt);
  return m;
}

std::uint64_t rss_bytes(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6)) * 1024;  // "VmRSS:   1234 kB"
  }
  return 0;
}

}  // namespace door_test
