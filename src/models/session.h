// The WebSocket sessions behind the built-in models (internal to models/). builtin.cpp
// accepts the TCP connection and checks the upgrade request; these take over from there.
#pragma once

#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/message.hpp>

#include <chrono>
#include <memory>

namespace bouncer::models::detail {

using UpgradeRequest = boost::beast::http::request<boost::beast::http::empty_body>;

// Anything BuiltinModels::stop() must end: a connection still in its HTTP handshake or a
// WebSocket session.
class Session {
 public:
  virtual ~Session() = default;
  // Ends the connection (a WebSocket one with close code 1001). Thread-safe: the work is
  // dispatched onto the session's strand.
  virtual void shutdown() = 0;
};

class ModelSession : public Session {
 public:
  // Completes the WebSocket handshake for `request` within `budget`, then serves the model.
  // Called on the stream's strand, once.
  virtual void accept(UpgradeRequest request, std::chrono::steady_clock::duration budget) = 0;
};

// `stream` has its upgrade request read already; its executor is a strand.
std::shared_ptr<ModelSession> make_echo_session(boost::beast::tcp_stream stream);
std::shared_ptr<ModelSession> make_demo_session(boost::beast::tcp_stream stream);

}  // namespace bouncer::models::detail
