// A mini door for relay tests, all in-process on 127.0.0.1 and one io_context:
//
//   test client (Beast WS client, "the browser")
//      → door (reads the upgrade, forwards it with async_connect(), answers the client with the
//        upstream's 101, hands both connections to a Tunnel)
//      → upstream (Beast WS server, scripted per test with a coroutine)
//
// Every test runs the io_context on the test's thread through run_until(), which gives up
// after a time limit, so a broken pump fails a test instead of hanging it.
#pragma once

#include "relay/handshake.h"
#include "relay/tunnel.h"
#include "relay/upstream.h"
#include "relay/upstream_session.h"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/websocket/error.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <boost/beast/websocket/stream.hpp>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace bouncer::relay::testing {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace websocket = boost::beast::websocket;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;

// The test peers' streams: the browser (client role) and the model server (server role).
using Ws = websocket::stream<beast::tcp_stream>;

// What one read returned: a message, or the error and the close frame received, if any.
// (A peer that fails the connection, e.g. for an oversize message, sends its close frame
// and tears down at once: the read may then end with a transport error, not `closed`.)
struct Message {
  beast::error_code ec;
  std::string data;
  bool text = false;
  std::uint16_t close_code = 0;
  std::string close_reason;
};

inline websocket::close_reason close_reason(std::uint16_t code, std::string_view reason = {}) {
  return websocket::close_reason(static_cast<websocket::close_code>(code), reason);
}

// Reads one message; never throws.
template <class Stream>
net::awaitable<Message> read_message(Stream& ws) {
  Message m;
  beast::flat_buffer buffer;
  co_await ws.async_read(buffer, net::redirect_error(net::use_awaitable, m.ec));
  if (!m.ec) {
    m.data = beast::buffers_to_string(buffer.data());
    m.text = ws.got_text();
  } else {
    m.close_code = ws.reason().code;
    m.close_reason.assign(ws.reason().reason.data(), ws.reason().reason.size());
  }
  co_return m;
}

// Writes one message; throws on error.
template <class Stream>
net::awaitable<void> write_message(Stream& ws, std::string_view data, bool text) {
  ws.text(text);
  co_await ws.async_write(net::buffer(data.data(), data.size()), net::use_awaitable);
}

// Echoes every message back with its type until the stream ends; returns how it ended.
template <class Stream>
net::awaitable<Message> echo_until_end(Stream& ws, std::vector<Message>* received = nullptr) {
  for (;;) {
    Message m = co_await read_message(ws);
    if (m.ec) co_return m;
    if (received) received->push_back(m);
    beast::error_code ec;
    ws.text(m.text);
    co_await ws.async_write(net::buffer(m.data), net::redirect_error(net::use_awaitable, ec));
    if (ec) {
      m.ec = ec;
      co_return m;
    }
  }
}

// Completion for co_spawn: a coroutine's exception leaves io_context::run, failing the test.
inline void rethrow(std::exception_ptr e) {
  if (e) std::rethrow_exception(e);
}

net::awaitable<void> sleep_for(std::chrono::milliseconds duration);

// Deterministic pseudo-random bytes (xorshift64), different for every seed.
void fill_random(std::string& out, std::uint64_t seed);

// Closes a socket with a TCP reset (SO_LINGER 0): the peer sees the connection die.
void reset_socket(tcp::socket& socket);

class RelayFixture : public ::testing::Test {
 protected:
  RelayFixture();

  using Script = std::function<net::awaitable<void>(Ws&)>;

  // The upstream: accepts any number of connections, records each handshake request in
  // upstream_requests, accepts the WebSocket and runs `script` on it.
  void start_upstream(Script script);
  std::string upstream_url(std::string_view target = "/model") const;

  // Script: echo, then record how the stream ended in upstream_ends.
  Script echo_script();

  // The door: for each client, reads its upgrade, forwards it to `door_upstream_url` (default:
  // upstream_url()) with door_headers / connect_options, answers the client with the
  // upstream's 101 and starts a Tunnel with tunnel_options.
  void start_door();

  // A browser: connects to the door and completes the WebSocket handshake.
  net::awaitable<Ws> connect_client();

  // Runs the io_context until `done` holds (true) or `limit` passes (false).
  bool run_until(const std::function<bool()>& done, std::chrono::seconds limit = 30s);

  template <class F>
  void spawn(F&& f) {
    net::co_spawn(ioc, std::forward<F>(f), rethrow);
  }

  struct Session {
    std::shared_ptr<Tunnel> tunnel;
    int end_calls = 0;
    std::optional<TunnelResult> result;
  };
  // Waits until the door has started session i (the client's handshake completes before
  // the door has connected the upstream).
  net::awaitable<Session*> session_started(std::size_t i = 0);

  bool ended(std::size_t i = 0) const { return sessions.size() > i && sessions[i]->result.has_value(); }
  const TunnelResult& result(std::size_t i = 0) const { return *sessions.at(i)->result; }

  net::io_context ioc;  // first: outlives everything below
  tcp::acceptor upstream_acceptor;
  tcp::acceptor door_acceptor;

  Script upstream_script;
  // Runs on each upstream WebSocket before it accepts (a decorator choosing a subprotocol,
  // permessage-deflate, …).
  std::function<void(Ws&)> upstream_setup;
  // When set, replaces the Beast accept: gets the upstream's TCP stream and the upgrade
  // request, answers it by hand (e.g. a 101 and a first frame in one write), and owns the
  // connection from there. upstream_script is not run then.
  using RawScript = std::function<net::awaitable<void>(beast::tcp_stream&, const http::request<http::string_body>&)>;
  RawScript raw_upstream_script;
  std::vector<http::request<http::string_body>> upstream_requests;
  std::vector<Message> upstream_received;  // by echo_script
  std::vector<Message> upstream_ends;      // by echo_script

  std::string door_upstream_url;
  Headers door_headers;
  ConnectOptions connect_options;
  TunnelOptions tunnel_options;
  std::vector<std::error_code> connect_errors;
  std::vector<std::unique_ptr<Session>> sessions;  // one per client the door relayed

 private:
  net::awaitable<void> serve_upstream(tcp::socket socket);
  void do_door_accept();
  net::awaitable<void> serve_door(tcp::socket socket);
};

}  // namespace bouncer::relay::testing
