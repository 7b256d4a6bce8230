// The fixture of the client's integration tests: one `bouncer serve` per test suite (each
// test mints its own credentials, so tests do not see each other's state), and helpers to
// mint and to wait for a session's events, always with a bound.
#pragma once

#include "bouncer_server.hpp"

#include <bouncer/client/client.hpp>
#include <gtest/gtest.h>

#include <chrono>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <variant>

namespace client_test {

namespace bc = bouncer::client;
using namespace std::chrono_literals;

class LiveServer : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!server_) server_ = std::make_unique<BouncerServer>();
  }
  void TearDown() override {
    if (HasFailure() && server_) std::cerr << "==== bouncer ====\n" << server_->logs() << "\n";
  }
  static void TearDownTestSuite() { server_.reset(); }

 public:
  // Static and public: helpers of other fixtures and free functions use them too.
  static BouncerServer& server() { return *server_; }

  static bc::MintRequest mint_request(const std::string& key) {
    bc::MintRequest r;
    r.base_url = server_->http_url();
    r.api_key = key;
    return r;
  }
  static bc::MintRequest mint_request() { return mint_request(server_->key()); }

  static bc::ConnectOptions options(const std::string& model = "echo") {
    bc::ConnectOptions o;
    o.base_url = server_->ws_url();
    o.model = model;
    return o;
  }

  static bc::ClientCredential mint_token() { return bc::mint_token(mint_request()); }

  // The next event, which must come within `timeout`.
  static bc::Event next_event(bc::Session& session, std::chrono::milliseconds timeout = 10s) {
    auto event = session.receive_for(timeout);
    if (!event) throw std::runtime_error("no event within the time allowed");
    return std::move(*event);
  }

  // The next event, which must be an application message.
  static bc::Message next_message(bc::Session& session, std::chrono::milliseconds timeout = 10s) {
    auto event = next_event(session, timeout);
    if (auto* m = std::get_if<bc::Message>(&event)) return std::move(*m);
    throw std::runtime_error("the next event is not a message (index " + std::to_string(event.index()) + ")");
  }

  // Sends a text and expects the echo model to send it back.
  static void expect_echo(bc::Session& session, const std::string& text) {
    session.send_text(text);
    const auto m = next_message(session);
    EXPECT_FALSE(m.binary);
    EXPECT_EQ(m.data, text);
  }

  // Connects and expects the refusal `reason` with `code` at the first receive.
  static bc::RefusedError expect_refused(const bc::ClientCredential& credential, const bc::ConnectOptions& o) {
    auto session = bc::Session::connect(credential, o);
    try {
      const auto event = session.receive_for(10s);
      throw std::runtime_error(event ? "the session was admitted (event index " + std::to_string(event->index()) + ")"
                                     : "neither an event nor a refusal within 10 s");
    } catch (const bc::RefusedError& e) {
      EXPECT_FALSE(session.is_open());
      return e;
    }
  }

 private:
  static inline std::unique_ptr<BouncerServer> server_;
};

}  // namespace client_test
