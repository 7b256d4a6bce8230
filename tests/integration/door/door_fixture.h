// The fixture every door test shares: a temp dir, the example model server as the upstream
// of the configured models, a `bouncer serve` on 127.0.0.1, and helpers to mint, connect and
// check what the door says. Everything started here is stopped in TearDown (and by the
// objects' destructors, so a thrown exception cleans up as well).
#pragma once

#include "clients.h"
#include "servers.h"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace door_test {

using namespace std::chrono_literals;
namespace fs = std::filesystem;
namespace json = boost::json;

inline constexpr const char* kUpstreamSecret = "door-test-upstream-secret-5f1c9a";
inline constexpr const char* kUpstreamPath = "/v1/realtime?variant=door-test";

// The JSON text of a refusal frame.
inline std::string error_frame(const std::string& message) {
  return R"({"type":"error","error":")" + message + "\"}";
}

inline std::string stream_target(const std::string& model, const std::string& query = {}) {
  std::string t = "/v1/stream?model=" + url_encode(model);
  if (!query.empty()) t += "&" + query;
  return t;
}

// What a test needs from its servers, e.g. start(StartOptions().args({"--leeway-seconds", "0"})).
struct StartOptions {
  std::vector<std::string> extra_args;  // extra `serve` flags
  std::vector<std::string> extra_keys;  // names of more permanent keys, created with the CLI
  std::string extra_toml;               // appended to the generated config
  bool release = false;                 // the release binaries (bouncer and model-server)

  StartOptions& args(std::vector<std::string> a) { extra_args = std::move(a); return *this; }
  StartOptions& keys(std::vector<std::string> k) { extra_keys = std::move(k); return *this; }
  StartOptions& toml(std::string t) { extra_toml = std::move(t); return *this; }
  StartOptions& release_build() { release = true; return *this; }
};

class Door : public ::testing::Test {
 protected:
  void TearDown() override {
    if (HasFailure()) {
      if (bouncer_) std::cerr << "==== bouncer ====\n" << tail(bouncer_->logs()) << "\n";
      if (upstream_) std::cerr << "==== model-server ====\n" << tail(upstream_->logs()) << "\n";
    }
    bouncer_.reset();
    upstream_.reset();
  }

  static std::string tail(const std::string& s, std::size_t n = 12000) {
    return s.size() <= n ? s : "[…]\n" + s.substr(s.size() - n);
  }

  fs::path data_dir() const { return tmp_.path() / "data"; }

  // The model server, then a config naming it, then bouncer.
  void start(const StartOptions& options = {}) {
    // The release model server when there is one (it only speeds the flood up).
    const std::string model_bin =
        options.release && fs::exists(release_model_server_bin()) ? release_model_server_bin() : model_server_bin();
    upstream_ = std::make_unique<ModelServer>(tmp_.path(), kUpstreamSecret, model_bin);
    const auto up = "ws://127.0.0.1:" + std::to_string(upstream_->port());
    std::string toml;
    toml += "[models.up]\nupstream = \"" + up + kUpstreamPath + "\"\nshared_secret = \"" + kUpstreamSecret + "\"\n";
    toml += "[models.up.headers]\nAuthorization = \"Bearer provider-key-for-upstream\"\nX-Door-Test = \"configured\"\n";
    toml += "[models.limited]\nupstream = \"" + up + "/limited\"\nshared_secret = \"" + kUpstreamSecret +
            "\"\nmax_sessions = 1\n";
    toml += "[models.badsecret]\nupstream = \"" + up + "/bad\"\nshared_secret = \"not-the-secret\"\n";
    toml += options.extra_toml;
    const auto config = tmp_.path() / "bouncer.toml";
    write_file(config, toml);

    for (const auto& name : options.extra_keys) extra_keys_.push_back(create_key(data_dir(), tmp_.path(), name));
    std::vector<std::string> args{"--config", config.string()};
    args.insert(args.end(), options.extra_args.begin(), options.extra_args.end());
    bouncer_ = std::make_unique<Bouncer>(data_dir(), tmp_.path(), args,
                                         options.release ? release_bouncer_bin() : bouncer_bin());
    if (options.extra_keys.empty()) {
      const auto k = bouncer_->default_key();
      if (!k) throw std::runtime_error("no default key printed\n" + bouncer_->logs());
      key_ = *k;
    } else {
      key_ = extra_keys_.front();
    }
  }

  Minted mint(const std::string& body = "{}") { return door_test::mint(*bouncer_, key_.secret, body); }
  Minted mint_with(const ApiKey& key, const std::string& body = "{}") { return door_test::mint(*bouncer_, key.secret, body); }

  // Opens a WebSocket to the door; throws when the handshake fails.
  std::unique_ptr<WsClient> connect(const std::string& target, const Headers& headers = {},
                                    std::chrono::milliseconds timeout = 10s) {
    auto ws = std::make_unique<WsClient>(timeout);
    if (const auto ec = ws->connect(bouncer_->port(), target, headers)) {
      throw std::runtime_error("WebSocket handshake to " + target + " failed: " + ec.message());
    }
    return ws;
  }

  // The door refuses inside the WebSocket: exactly {"type":"error","error":MESSAGE}, then a
  // close with `code` and the message as its reason.
  static void expect_refusal(WsClient& ws, const std::string& message, std::uint16_t code) {
    const auto m = ws.read();
    ASSERT_FALSE(m.ec) << "expected the refusal frame '" << message << "', got " << m.ec.message()
                       << " (close " << ws.close_code() << " " << ws.close_text() << ")";
    EXPECT_TRUE(m.text);
    EXPECT_EQ(m.data, error_frame(message));
    const auto end = ws.read();
    EXPECT_EQ(end.ec, websocket::error::closed) << "after the refusal frame: " << end.ec.message() << " / " << end.data;
    EXPECT_EQ(ws.close_code(), code);
    EXPECT_EQ(ws.close_text(), message);
  }

  void expect_refused(const std::string& target, const Headers& headers, const std::string& message,
                      std::uint16_t code = 1008) {
    SCOPED_TRACE("refusal of " + target);
    auto ws = connect(target, headers);
    expect_refusal(*ws, message, code);
  }

  // Opens new sessions on `target`, each sending kProbe (an admitted session echoes it, a refused
  // one answers with its refusal frame first), until the first reply is `wanted`: the seconds
  // that took, or a test failure once `limit` has passed.
  static constexpr std::string_view kProbe = "probe";
  std::optional<double> seconds_until_first_reply(const std::string& target, std::string_view wanted,
                                                  std::chrono::milliseconds limit) {
    const auto t0 = std::chrono::steady_clock::now();
    const auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0); };
    for (;;) {
      auto ws = connect(target);
      (void)ws->write(kProbe);  // a refused session may already be closing: its frame still comes first
      const auto m = ws->read();
      if (m.ec) {
        ADD_FAILURE() << "no reply on " << target << ": " << m.ec.message();
        return std::nullopt;
      }
      if (m.data == wanted) return elapsed().count();
      if (elapsed() > limit) {
        ADD_FAILURE() << "after " << elapsed().count() << " s the first reply on " << target << " is still " << m.data;
        return std::nullopt;
      }
      std::this_thread::sleep_for(50ms);
    }
  }

  // A text or binary message comes back unchanged (the built-in echo, or the model server).
  static void expect_echo(WsClient& ws, const std::string& payload, bool text = true) {
    ASSERT_FALSE(ws.write(payload, text)) << "write failed";
    const auto m = ws.read();
    ASSERT_FALSE(m.ec) << "echo read failed: " << m.ec.message() << " (close " << ws.close_code() << " "
                       << ws.close_text() << ")";
    EXPECT_EQ(m.text, text);
    EXPECT_EQ(m.data.size(), payload.size());
    EXPECT_TRUE(m.data == payload) << "echo differs" << (m.data.size() <= 200 ? ": got " + m.data : std::string());
  }

  // Reads the next text message as JSON.
  static json::value read_json(WsClient& ws) {
    const auto m = ws.read();
    if (m.ec) {
      throw std::runtime_error("read failed: " + m.ec.message() + " (close " + std::to_string(ws.close_code()) +
                               " " + ws.close_text() + ")");
    }
    if (!m.text) throw std::runtime_error("expected a text message, got " + std::to_string(m.data.size()) + " binary bytes");
    return json::parse(m.data);
  }

  TempDir tmp_;
  std::unique_ptr<ModelServer> upstream_;
  std::unique_ptr<Bouncer> bouncer_;
  ApiKey key_;
  std::vector<ApiKey> extra_keys_;
};

}  // namespace door_test
