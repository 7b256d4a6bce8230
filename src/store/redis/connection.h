// One hiredis asynchronous connection, driven by an Asio io_context: hiredis's event hooks
// become async_wait()s on the socket, so no thread ever blocks on Redis. Every member runs on
// the io_context's (single) thread.
//
// The connection reconnects by itself, with a growing pause, after it is lost. While it is
// down, commands fail at once (std::errc::not_connected) instead of queueing without bound:
// the caller decides what an outage means (docs/CLUSTER.md). A command that Redis does not answer
// within the command timeout drops the connection, so a hung server cannot hold callers.
#pragma once

#include "store/redis/endpoint.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

struct redisAsyncContext;

namespace bouncer::store::redis {

// A reply, copied out of hiredis's (which hiredis frees after the callback).
struct Reply {
  enum class Type { string, array, integer, nil, status, error };
  Type type = Type::nil;
  std::string str;  // string, status and error
  long long integer = 0;
  std::vector<Reply> elements;

  bool is_error() const { return type == Type::error; }
};

struct ConnectionOptions {
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds command_timeout{5000};
  std::chrono::milliseconds max_reconnect_pause{2000};
};

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  using Callback = std::function<void(std::error_code, Reply)>;
  // Told each time the connection comes up (true) or goes down (false), with the reason.
  using StateListener = std::function<void(bool up, const std::string& why)>;

  Connection(boost::asio::io_context& io, Endpoint endpoint, ConnectionOptions options);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  void on_state(StateListener listener) { listener_ = std::move(listener); }
  void start();
  // Runs `callback` exactly once: with Redis's reply (an error reply is a reply, not an
  // error_code), or with an error_code when the reply cannot come.
  void command(const std::vector<std::string>& args, Callback callback);
  // Turns this connection into a subscriber of `channel` (call before start(); it then takes
  // no commands). `on_message` runs with each message's payload, and with an empty payload
  // each time the subscription (re)starts: whatever was published while the connection was
  // down is lost, so the listener should re-check what it watches.
  using MessageListener = std::function<void(const std::string& payload)>;
  void subscribe(std::string channel, MessageListener on_message);
  // Drops the connection for good: pending callbacks run with operation_canceled.
  void stop();

  bool up() const { return up_; }
  std::size_t pending() const { return pending_; }
  const Endpoint& endpoint() const { return endpoint_; }

 private:
  struct Pending;
  class Events;

  void connect();
  void drop(const std::string& why);
  void schedule_reconnect();
  void watch();
  void went_up();
  void went_down(const std::string& why);
  static void on_connect(const redisAsyncContext* ac, int status);
  static void on_disconnect(const redisAsyncContext* ac, int status);
  static void on_reply(redisAsyncContext* ac, void* reply, void* privdata);
  static void on_message(redisAsyncContext* ac, void* reply, void* privdata);
  void send_subscribe();

  boost::asio::io_context& io_;
  Endpoint endpoint_;
  ConnectionOptions options_;
  StateListener listener_;
  std::string channel_;  // subscribed to, when not empty
  MessageListener message_listener_;
  redisAsyncContext* context_ = nullptr;
  bool up_ = false;
  bool stopped_ = false;
  std::size_t pending_ = 0;
  std::error_code drop_reason_;  // what pending callbacks get while a drop frees the context
  std::chrono::steady_clock::time_point connect_started_{}, last_progress_{};
  std::chrono::milliseconds reconnect_pause_{50};
  boost::asio::steady_timer reconnect_timer_;
  boost::asio::steady_timer watchdog_;
};

}  // namespace bouncer::store::redis
