#include "models/session.h"

#include "log/log.h"
#include "models/demo_protocol.h"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket.hpp>

#include <deque>
#include <string>
#include <string_view>
#include <utility>

namespace bouncer::models::detail {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace websocket = beast::websocket;

using Clock = std::chrono::steady_clock;

constexpr std::size_t kMaxMessageBytes = demo::kMaxMessageBytes;  // larger: closed with 1009
constexpr auto kCloseTimeout = std::chrono::seconds(10);          // closing handshake, then TCP close
constexpr std::size_t kMaxQueuedMessages = 64;                    // demo output a client has not read…
constexpr std::size_t kMaxQueuedBytes = 4 * kMaxMessageBytes;     // …beyond either: 1008 "Too slow"
constexpr std::string_view kServerName = "bouncer-builtin-models";

// The ways a session normally ends: the peer closed, we closed, a timer fired, TCP broke.
bool expected_end(const beast::error_code& ec) {
  return ec == websocket::error::closed || ec == net::error::operation_aborted || ec == beast::error::timeout ||
         ec == net::error::eof || ec == net::error::connection_reset || ec == net::error::broken_pipe ||
         ec == net::error::not_connected;
}

void fail(std::string_view model, const beast::error_code& ec, std::string_view what) {
  if (expected_end(ec)) return;
  log::debug("builtin_model_error", {{"model", model}, {"op", what}, {"error", ec.message()}});
}

// ---------------------------------------------------------------------------------------
// WsSession: the WebSocket life shared by both models — accept, open, close — with the
// protocol left to a subclass. The session owns itself through shared_from_this() bound
// into every handler; every handler runs on the stream's strand.
// ---------------------------------------------------------------------------------------
class WsSession : public ModelSession, public std::enable_shared_from_this<WsSession> {
 public:
  explicit WsSession(beast::tcp_stream stream) : ws_(std::move(stream)), close_timer_(ws_.get_executor()) {}

  void accept(UpgradeRequest request, Clock::duration budget) final {
    // From here on the WebSocket's own timers apply, not the TCP stream's.
    beast::get_lowest_layer(ws_).expires_never();
    auto timeouts = websocket::stream_base::timeout::suggested(beast::role_type::server);
    timeouts.handshake_timeout = budget;  // what is left of the handshake's time limit
    ws_.set_option(timeouts);
    ws_.set_option(websocket::stream_base::decorator(
        [](websocket::response_type& res) { res.set(http::field::server, kServerName); }));
    ws_.read_message_max(kMaxMessageBytes);
    ws_.async_accept(request, [self = shared_from_this()](beast::error_code ec) { self->on_accept(ec); });
  }

  void shutdown() final {
    net::dispatch(ws_.get_executor(), [self = shared_from_this()] {
      self->do_close(websocket::close_code::going_away, "Server shutting down");
    });
  }

 protected:
  enum class State { accepting, open, closing, closed };

  virtual std::string_view name() const = 0;
  virtual void on_open() = 0;        // the handshake is done: start the protocol
  virtual void stop_protocol() {}    // leaving `open` (either way): stop timers, drop output

  // Starts the closing handshake; a peer that does not answer within kCloseTimeout (or
  // whose socket is stuck on a write we are waiting for) loses its TCP connection.
  void do_close(websocket::close_code code, std::string_view reason) {
    if (state_ == State::accepting) {
      state_ = State::closed;
      beast::get_lowest_layer(ws_).close();  // aborts the handshake
      return;
    }
    if (state_ != State::open) return;
    state_ = State::closing;
    stop_protocol();
    close_timer_.expires_after(kCloseTimeout);
    close_timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (!ec) beast::get_lowest_layer(self->ws_).close();
    });
    ws_.async_close(websocket::close_reason(code, reason),
                    [self = shared_from_this()](beast::error_code ec) { self->on_close(ec); });
  }

  // A read or write failed: the connection is over (the peer closed, or TCP broke).
  void ended(const beast::error_code& ec, std::string_view what) {
    if (state_ == State::open) stop_protocol();
    state_ = State::closed;
    close_timer_.cancel();
    fail(name(), ec, what);
  }

  template <typename Derived>
  std::shared_ptr<Derived> self_as() {
    return std::static_pointer_cast<Derived>(shared_from_this());
  }

  websocket::stream<beast::tcp_stream> ws_;
  State state_ = State::accepting;

 private:
  void on_accept(beast::error_code ec) {
    if (ec) return ended(ec, "accept");
    if (state_ != State::accepting) return;  // shut down meanwhile
    state_ = State::open;
    // Idle: a ping after 150 s of silence, closed after 300 s; closing handshake: 10 s.
    auto timeouts = websocket::stream_base::timeout::suggested(beast::role_type::server);
    timeouts.handshake_timeout = kCloseTimeout;
    ws_.set_option(timeouts);
    on_open();
  }

  void on_close(beast::error_code ec) {
    state_ = State::closed;
    close_timer_.cancel();
    if (ec) fail(name(), ec, "close");
  }

  net::steady_timer close_timer_;
};

// ---------------------------------------------------------------------------------------
// echo: each message back as it came. One message in flight: the next read starts only
// when the write has completed, so a client that does not read stops being read (TCP
// flow control does the rest) and memory stays at one message.
// ---------------------------------------------------------------------------------------
class EchoSession final : public WsSession {
 public:
  using WsSession::WsSession;

 private:
  std::string_view name() const override { return "echo"; }
  void on_open() override { do_read(); }

  void do_read() {
    ws_.async_read(buffer_, [self = self_as<EchoSession>()](beast::error_code ec, std::size_t n) {
      self->on_read(ec, n);
    });
  }

  void on_read(beast::error_code ec, std::size_t) {
    if (ec) return ended(ec, "read");
    if (state_ != State::open) {  // closing: drain until the peer's close frame
      buffer_.clear();
      return do_read();
    }
    ws_.text(ws_.got_text());  // text stays text, binary stays binary
    ws_.async_write(buffer_.data(), [self = self_as<EchoSession>()](beast::error_code ec2, std::size_t n) {
      self->on_write(ec2, n);
    });
  }

  void on_write(beast::error_code ec, std::size_t) {
    buffer_.clear();
    if (ec) return ended(ec, "write");
    do_read();
  }

  beast::flat_buffer buffer_;
};

// ---------------------------------------------------------------------------------------
// demo: JSON prompts in, an ack and a tick a second out (demo_protocol.h). Reading never
// waits for writing (ticks are produced by a timer anyway), so output goes through a
// bounded queue with one write in flight; a client that lets it fill up is closed with
// 1008 "Too slow" rather than growing our memory.
// ---------------------------------------------------------------------------------------
class DemoSession final : public WsSession {
 public:
  explicit DemoSession(beast::tcp_stream stream)
      : WsSession(std::move(stream)), tick_timer_(ws_.get_executor()) {}

 private:
  std::string_view name() const override { return "demo"; }
  void on_open() override { do_read(); }

  void stop_protocol() override {
    ++generation_;
    tick_timer_.cancel();
  }

  void do_read() {
    ws_.async_read(buffer_, [self = self_as<DemoSession>()](beast::error_code ec, std::size_t n) {
      self->on_read(ec, n);
    });
  }

  void on_read(beast::error_code ec, std::size_t) {
    if (ec) return ended(ec, "read");
    if (state_ == State::open) {
      const auto data = buffer_.cdata();
      auto reply = demo::handle(std::string_view(static_cast<const char*>(data.data()), data.size()),
                                ws_.got_text());
      if (reply.restart_ticks) restart_ticks();  // the ack below is queued before tick 1
      send(std::move(reply.text));
    }
    buffer_.clear();
    do_read();  // also while closing: drain until the peer's close frame
  }

  // Queues one text message; writes it now if nothing else is being written.
  void send(std::string text) {
    if (state_ != State::open) return;
    if (queue_.size() >= kMaxQueuedMessages || queued_bytes_ + text.size() > kMaxQueuedBytes) {
      return do_close(websocket::close_code::policy_error, "Too slow");
    }
    queued_bytes_ += text.size();
    queue_.push_back(std::move(text));
    if (queue_.size() == 1) do_write();
  }

  void do_write() {
    ws_.text(true);
    ws_.async_write(net::buffer(queue_.front()),
                    [self = self_as<DemoSession>()](beast::error_code ec, std::size_t n) { self->on_write(ec, n); });
  }

  void on_write(beast::error_code ec, std::size_t) {
    if (ec) return ended(ec, "write");
    queued_bytes_ -= queue_.front().size();
    queue_.pop_front();
    if (state_ != State::open) {  // closing: what is left will not be sent
      queue_.clear();
      queued_bytes_ = 0;
      return;
    }
    if (!queue_.empty()) do_write();
  }

  // Ticks follow a fixed schedule from the prompt (not "a second after the last tick"),
  // so they do not drift. A generation number makes a tick already on its way for an
  // earlier prompt harmless.
  void restart_ticks() {
    ++generation_;
    seconds_ = 0;
    next_tick_ = Clock::now() + std::chrono::seconds(1);
    arm_tick();
  }

  void arm_tick() {
    tick_timer_.expires_at(next_tick_);
    tick_timer_.async_wait([self = self_as<DemoSession>(), generation = generation_](beast::error_code ec) {
      self->on_tick(ec, generation);
    });
  }

  void on_tick(beast::error_code ec, std::uint64_t generation) {
    if (ec || generation != generation_ || state_ != State::open) return;
    send(demo::tick(++seconds_));
    if (state_ != State::open) return;  // that was one too many: closed as too slow
    next_tick_ += std::chrono::seconds(1);
    arm_tick();
  }

  beast::flat_buffer buffer_;
  std::deque<std::string> queue_;  // front: the message being written
  std::size_t queued_bytes_ = 0;
  net::steady_timer tick_timer_;
  Clock::time_point next_tick_{};
  std::uint64_t generation_ = 0;
  std::uint64_t seconds_ = 0;
};

}  // namespace

std::shared_ptr<ModelSession> make_echo_session(beast::tcp_stream stream) {
  return std::make_shared<EchoSession>(std::move(stream));
}

std::shared_ptr<ModelSession> make_demo_session(beast::tcp_stream stream) {
  return std::make_shared<DemoSession>(std::move(stream));
}

}  // namespace bouncer::models::detail
