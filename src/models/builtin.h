// The built-in models, `echo` and `demo`, so that the embedded default works with no model
// server. They run in-process but are real WebSocket servers on a loopback port, reached
// through the same upstream interface (relay/) as any model server, so the relay is
// exercised either way. They accept only connections that present their random shared
// secret, so nothing but this process can use them.
#pragma once

#include <boost/asio/io_context.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace bouncer::models {

inline constexpr std::string_view kSecretHeader = "X-Bouncer-Upstream-Secret";

class BuiltinModels {
 public:
  // Serves on 127.0.0.1 with an ephemeral port, on `ioc` (which the caller runs).
  explicit BuiltinModels(boost::asio::io_context& ioc);
  ~BuiltinModels();

  void start();  // binds; throws std::runtime_error on failure
  void stop();   // closes the listener and every session

  // ws://127.0.0.1:PORT/echo or /demo; empty for another name.
  std::string url_of(std::string_view model) const;
  // The value of kSecretHeader that the built-in models require.
  const std::string& shared_secret() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

// `echo`: every frame back, unchanged (text stays text, binary stays binary).
// `demo`: {"type":"prompt","prompt":P} → {"type":"prompt_ack","prompt":P}, then
//         {"type":"generation_tick","seconds":N} once a second (N = 1, 2, …, restarting at
//         each new prompt); anything else → {"type":"error","error":"…"} (session goes on).

}  // namespace bouncer::models
