// The frame pump (see pump.h for the contract).
//
// Threading. Everything here runs on the client stream's executor, and the upstream must
// have been connected with that same executor (async_connect(client.get_executor(), …)):
// with one io_context per thread that is an implicit strand, so no strand is needed. Only
// end() may be called from elsewhere; it posts.
//
// Flow. Two directions, the same code for both (templates over `Side`):
//
//   do_read<A> → on_read<A> → do_write<B> → on_write<B> → do_read<A> → …
//
// Each direction holds at most one message: the next read from A starts only when the
// write of the previous message to B completed. That is the back-pressure: a peer that
// does not read stalls the write, which stalls the read from the other peer, whose
// writes then stall in TCP flow control. Memory per session is therefore bounded by
//   2 × max_message_bytes (one flat_buffer per direction, freed once its message is written)
// + each stream's read buffer and write buffer inside Beast (a few KiB each)
// + the kernel's socket buffers,
// whatever the peers do.
//
// Liveness. Beast's idle timeout (keep-alive pings) watches each side while the pump reads
// it, and is paused while the pump holds off reading a side (back-pressure is not
// silence). A write watchdog drops a side that has not taken one message (or the final
// text, or a close frame) within idle_timeout. So a session always ends within about
// 2 × idle_timeout of its peers going away or wedging, and end() always completes.
//
// Ending. The first terminal event (a close frame, an error, an oversize message, end())
// sets `stopping`; from then on no new read or relay write starts, and each side that is
// still open gets, in order on its write path (Beast allows one write at a time, a close
// counting as a write): the final text frame (client only, after end()), then a close
// frame. A side is done when a read or write on it failed, or its close completed.
// on_end runs once, when `stopping` is set and no operation is pending on either side.
#include "relay/pump.h"

#include "metrics/catalog.h"
#include "relay/upstream_stream.h"

#include <boost/asio/buffer.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket/error.hpp>
#include <boost/beast/websocket/stream_base.hpp>

#include <algorithm>
#include <cassert>
#include <chrono>
#include <utility>

namespace bouncer::relay {

namespace beast = boost::beast;
namespace net = boost::asio;
namespace websocket = boost::beast::websocket;
using namespace std::chrono_literals;

namespace {

enum class Side { client, upstream };

template <Side S>
constexpr Side other = S == Side::client ? Side::upstream : Side::client;

// Close codes and reasons the pump sends itself (RFC 6455 §7.4.1).
constexpr std::uint16_t kNormal = 1000;         // end() of the upstream
constexpr std::uint16_t kGoingAway = 1001;      // the client vanished
constexpr std::uint16_t kTooBig = 1009;         // a message over max_message_bytes
constexpr std::uint16_t kInternalError = 1011;  // the upstream vanished
constexpr std::string_view kClientGone = "Client gone";
constexpr std::string_view kUpstreamLost = "Upstream connection lost";
constexpr std::string_view kMessageTooBig = "Message too big";
constexpr std::string_view kSessionEnded = "Session ended";

// A close frame carries at most 123 bytes of reason (RFC 6455 §5.5): cut longer ones
// without splitting a UTF-8 sequence.
std::string_view fit_reason(std::string_view reason) {
  constexpr std::size_t kMax = 123;
  if (reason.size() <= kMax) return reason;
  std::size_t n = kMax;
  while (n > 0 && (static_cast<unsigned char>(reason[n]) & 0xC0) == 0x80) --n;
  return reason.substr(0, n);
}

// Code 0 stands for a close frame without a status code: send one without a code too.
websocket::close_reason make_close(std::uint16_t code, std::string_view reason) {
  if (code == 0) return {};
  return websocket::close_reason(static_cast<websocket::close_code>(code), fit_reason(reason));
}

// The process-wide relay counters of one direction, looked up once per session. Adding to them
// takes no lock and touches only this thread's shard (see metrics/counter.h).
struct Traffic {
  metrics::Counter& frames;
  metrics::Counter& bytes;

  explicit Traffic(metrics::Direction direction)
      : frames(metrics::catalog().relayed_frames[direction]), bytes(metrics::catalog().relayed_bytes[direction]) {}
  void count(std::size_t payload_bytes) noexcept {
    frames.add();
    bytes.add(payload_bytes);
  }
};

}  // namespace

struct Pump::Impl {
  // What the pump knows about one peer.
  struct Peer {
    beast::flat_buffer buffer;  // the message read from this peer, until written to the other
    bool reading = false;       // an async_read is pending
    bool writing = false;       // an async_write or async_close is pending
    bool open = true;           // false once a read or write failed or the close completed
    bool close_wanted = false;
    bool close_started = false;
    websocket::close_reason close_with;
    std::chrono::steady_clock::time_point write_started;  // of the pending write or close
  };

  Impl(Pump& owner, ClientWebSocket client, std::shared_ptr<Upstream> upstream, PumpOptions options)
      : owner(owner),
        executor(client.get_executor()),
        client(std::move(client)),
        upstream(std::move(upstream)),
        options(options),
        watchdog(executor) {}

  Pump& owner;
  const net::any_io_executor executor;  // the client's: everything runs there
  ClientWebSocket client;
  std::shared_ptr<Upstream> upstream;
  PumpOptions options;
  std::function<void(const PumpResult&)> on_end;
  PumpResult result;
  Peer client_peer;
  Peer upstream_peer;
  std::string final_text;  // sent to the client before its close frame, after end()
  bool final_text_pending = false;
  bool started = false;
  bool stopping = false;
  bool finished = false;
  websocket::stream_base::timeout reading_timeout{};  // while a read is pending on the side
  websocket::stream_base::timeout paused_timeout{};   // while the pump holds off reading it
  net::steady_timer watchdog;                         // stuck writes, see on_watchdog()
  Traffic to_client{metrics::Direction::upstream_to_client};
  Traffic to_upstream{metrics::Direction::client_to_upstream};

  template <Side S>
  Peer& peer() {
    if constexpr (S == Side::client) {
      return client_peer;
    } else {
      return upstream_peer;
    }
  }

  // Calls f(stream) with the client's or the upstream's wrapper, which offer the same calls.
  template <Side S, class F>
  decltype(auto) with_stream(F&& f) {
    if constexpr (S == Side::client) {
      return f(client);
    } else {
      return f(*upstream);
    }
  }

  std::shared_ptr<Pump> self() { return owner.shared_from_this(); }

  // -------------------------------------------------------------------------------------
  // Setup
  // -------------------------------------------------------------------------------------

  void configure() {
    if (options.idle_timeout.count() > 0) {
      // Beast pings a peer silent for idle_timeout / 2 and fails the stream when nothing,
      // not even the pong, arrived for idle_timeout. The same bound applies to a close
      // handshake (Beast calls it the handshake timeout), so a dead peer cannot hold a
      // closing session open.
      reading_timeout.idle_timeout = options.idle_timeout;
      reading_timeout.handshake_timeout = options.idle_timeout;
      reading_timeout.keep_alive_pings = true;
      paused_timeout = reading_timeout;
      paused_timeout.idle_timeout = websocket::stream_base::none();
      paused_timeout.keep_alive_pings = false;
    } else {
      reading_timeout.idle_timeout = websocket::stream_base::none();
      reading_timeout.handshake_timeout = websocket::stream_base::none();
      reading_timeout.keep_alive_pings = false;
      paused_timeout = reading_timeout;
    }
    // The TCP streams' own deadlines would fight the WebSocket ones: switch them off.
    client.tcp().expires_never();
    upstream->tcp().expires_never();
    client.set_option(reading_timeout);
    upstream->set_option(reading_timeout);
    client.read_message_max(options.max_message_bytes);
    upstream->read_message_max(options.max_message_bytes);
    if (options.max_message_bytes > 0) {
      // flat_buffer grows by doubling; the cap keeps it within one message's limit.
      client_peer.buffer.max_size(options.max_message_bytes);
      upstream_peer.buffer.max_size(options.max_message_bytes);
    }
    // One frame per message: the message is whole in memory anyway.
    client.auto_fragment(false);
    upstream->auto_fragment(false);
  }

  // Beast's idle timer only learns of life from reads: while the pump itself holds off
  // reading side S (its last message is still being written to the other side), S is not
  // silent, we are not listening. Suspend S's idle timeout for that time, or a healthy peer
  // behind a slow one would be declared dead. Reading again re-arms it.
  template <Side S>
  void pause_idle_timeout() {
    with_stream<S>([&](auto& ws) { ws.set_option(paused_timeout); });
  }
  template <Side S>
  void resume_idle_timeout() {
    with_stream<S>([&](auto& ws) { ws.set_option(reading_timeout); });
  }

  void run(std::function<void(const PumpResult&)> handler) {
    on_end = std::move(handler);
    started = true;
    arm_watchdog();
    if (stopping) {  // end() came first
      drive<Side::client>();
      drive<Side::upstream>();
      return maybe_finish();
    }
    do_read<Side::client>();
    do_read<Side::upstream>();
  }

  // -------------------------------------------------------------------------------------
  // Relaying: read from S, write to the other side
  // -------------------------------------------------------------------------------------

  template <Side S>
  void do_read() {
    Peer& p = peer<S>();
    if (stopping || !p.open) return maybe_finish();
    p.reading = true;
    resume_idle_timeout<S>();
    with_stream<S>([&](auto& ws) {
      ws.async_read(p.buffer, [self = self()](beast::error_code ec, std::size_t n) {
        self->impl_->template on_read<S>(ec, n);
      });
    });
  }

  template <Side S>
  void on_read(beast::error_code ec, std::size_t) {
    Peer& p = peer<S>();
    p.reading = false;
    if (ec) {
      p.open = false;
      // Side S is gone (a read aborted by our own close handshake aside): fail a write
      // still pending on it now rather than when the watchdog notices.
      if (ec != net::error::operation_aborted) abort<S>();
      if (!stopping) stop_after_read_error<S>(ec);
      return maybe_finish();
    }
    if (stopping || !peer<other<S>>().open) {
      // Relaying is over: drop the message. The close handshake reads what follows.
      p.buffer.clear();
      return maybe_finish();
    }
    pause_idle_timeout<S>();
    do_write<other<S>>();
  }

  // Writes the message read from the other side to side S, text or binary as it came.
  template <Side S>
  void do_write() {
    Peer& from = peer<other<S>>();
    Peer& to = peer<S>();
    const bool text = with_stream<other<S>>([](auto& ws) { return ws.got_text(); });
    to.writing = true;
    to.write_started = std::chrono::steady_clock::now();
    auto handler = [self = self()](beast::error_code ec, std::size_t n) { self->impl_->template on_write<S>(ec, n); };
    with_stream<S>([&](auto& ws) { ws.async_write(text, from.buffer.data(), std::move(handler)); });
  }

  template <Side S>
  void on_write(beast::error_code ec, std::size_t n) {
    Peer& to = peer<S>();
    to.writing = false;
    // Freed, not kept for the next message: most sessions sit idle between messages, and
    // one malloc per message is cheap next to the syscalls that relay it.
    auto& relayed = peer<other<S>>().buffer;
    relayed.clear();
    relayed.shrink_to_fit();
    if (ec) {
      to.open = false;
      abort<S>();  // unblocks its pending read, if any
      if (!stopping) {
        if constexpr (S == Side::client) {
          stop(PumpResult::Ended::client_error, kGoingAway, kClientGone);
        } else {
          stop(PumpResult::Ended::upstream_error, kInternalError, kUpstreamLost);
        }
      }
      return maybe_finish();
    }
    if constexpr (S == Side::client) {
      ++result.frames_to_client;
      result.bytes_to_client += n;
      to_client.count(n);
    } else {
      ++result.frames_to_upstream;
      result.bytes_to_upstream += n;
      to_upstream.count(n);
    }
    if (stopping) {
      drive<S>();
      return maybe_finish();
    }
    do_read<other<S>>();
  }

  // -------------------------------------------------------------------------------------
  // Ending
  // -------------------------------------------------------------------------------------

  // The first read to fail on side S decides how the session ends.
  template <Side S>
  void stop_after_read_error(beast::error_code ec) {
    using Ended = PumpResult::Ended;
    if (ec == websocket::error::closed) {
      // The peer sent a close frame; Beast answered it. Pass the same one on.
      const websocket::close_reason reason = with_stream<S>([](auto& ws) { return ws.reason(); });
      return stop(S == Side::client ? Ended::client_closed : Ended::upstream_closed, reason.code,
                  std::string_view(reason.reason.data(), reason.reason.size()));
    }
    if (ec == websocket::error::message_too_big) {
      // Beast has already closed side S with 1009.
      return stop(Ended::too_big, kTooBig, kMessageTooBig);
    }
    // Reset, EOF, idle timeout, protocol error, …: no close frame to pass on.
    if constexpr (S == Side::client) {
      stop(Ended::client_error, kGoingAway, kClientGone);
    } else {
      stop(Ended::upstream_error, kInternalError, kUpstreamLost);
    }
  }

  // Stops relaying and closes both sides (those still open) with `code`/`reason`.
  void stop(PumpResult::Ended how, std::uint16_t code, std::string_view reason) {
    if (stopping) return;
    stopping = true;
    result.how = how;
    result.close_code = code == 0 ? 1005 : code;  // 1005: "no status code present"
    result.reason = std::string(fit_reason(reason));
    const websocket::close_reason close = make_close(code, reason);
    request_close<Side::client>(close);
    request_close<Side::upstream>(close);
  }

  // end(): the final text and the given close to the client; 1000/1001 to the upstream.
  void end(std::uint16_t code, std::string reason, std::string text) {
    if (stopping || finished) return;  // already ending: the first ending wins
    stopping = true;
    result.how = PumpResult::Ended::ended_by_server;
    result.close_code = code;
    result.reason = std::string(fit_reason(reason));
    final_text = std::move(text);
    final_text_pending = !final_text.empty();
    request_close<Side::client>(make_close(code, reason));
    request_close<Side::upstream>(make_close(code == kGoingAway ? kGoingAway : kNormal, kSessionEnded));
    if (started) maybe_finish();
  }

  template <Side S>
  void request_close(const websocket::close_reason& reason) {
    Peer& p = peer<S>();
    if (p.close_wanted) return;
    p.close_wanted = true;
    p.close_with = reason;
    if (started) drive<S>();
  }

  // Starts the next thing on side S's write path, if it is free: the final text (client),
  // then the close frame.
  template <Side S>
  void drive() {
    Peer& p = peer<S>();
    if (!p.open || p.writing) return;  // closed already, or on_write/on_final_text comes back here
    if constexpr (S == Side::client) {
      if (final_text_pending) {
        final_text_pending = false;
        p.writing = true;
        p.write_started = std::chrono::steady_clock::now();
        client.async_write(true, net::buffer(final_text), [self = self()](beast::error_code ec, std::size_t) {
          self->impl_->on_final_text(ec);
        });
        return;
      }
    }
    if (p.close_wanted && !p.close_started) {
      p.close_started = true;
      p.writing = true;
      p.write_started = std::chrono::steady_clock::now();
      with_stream<S>([&](auto& ws) {
        ws.async_close(p.close_with, [self = self()](beast::error_code ec) { self->impl_->template on_close<S>(ec); });
      });
    }
  }

  void on_final_text(beast::error_code ec) {
    client_peer.writing = false;
    if (ec) {
      client_peer.open = false;
      abort<Side::client>();
    } else {
      drive<Side::client>();
    }
    maybe_finish();
  }

  template <Side S>
  void on_close(beast::error_code) {
    // Whatever the outcome (a clean handshake, a peer that vanished, a close that crossed
    // the peer's own), Beast has torn the stream down.
    Peer& p = peer<S>();
    p.writing = false;
    p.open = false;
    abort<S>();
    maybe_finish();
  }

  // Closes side S's socket so that any operation still pending on it completes now.
  template <Side S>
  void abort() {
    beast::error_code ignored;
    with_stream<S>([&](auto& ws) { ws.tcp().socket().close(ignored); });
  }

  // The write watchdog. Beast's idle timeout watches reads only, and the pump pauses it on
  // a side it is not reading (see pause_idle_timeout). A peer that takes nothing from us
  // for idle_timeout is as dead as a silent one: without this, two peers that both stopped
  // reading would hold their session (and a close, which waits for the write) forever.
  // It ticks every idle_timeout / 4 and holds only a weak reference: it never keeps the
  // session alive, and finish() cancels it.
  void arm_watchdog() {
    if (options.idle_timeout.count() <= 0 || finished) return;
    watchdog.expires_after(std::max<std::chrono::steady_clock::duration>(options.idle_timeout / 4, 100ms));
    watchdog.async_wait([weak = std::weak_ptr<Pump>(self())](beast::error_code ec) {
      auto pump = weak.lock();
      if (!ec && pump) pump->impl_->on_watchdog();
    });
  }

  void on_watchdog() {
    if (finished) return;
    const auto now = std::chrono::steady_clock::now();
    abort_if_stuck<Side::client>(now);
    abort_if_stuck<Side::upstream>(now);
    arm_watchdog();
  }

  // Failing the write's socket completes the write with an error: on_write, on_final_text
  // or on_close then treat side S as gone.
  template <Side S>
  void abort_if_stuck(std::chrono::steady_clock::time_point now) {
    const Peer& p = peer<S>();
    if (p.writing && now - p.write_started >= options.idle_timeout) abort<S>();
  }

  void maybe_finish() {
    if (finished || !started || !stopping) return;
    if (client_peer.reading || client_peer.writing || upstream_peer.reading || upstream_peer.writing) return;
    // Every side with no pending operation is done, or would have been driven: nothing
    // else can complete. Both sockets are closed now.
    finished = true;
    watchdog.cancel();
    abort<Side::client>();
    abort<Side::upstream>();
    auto handler = std::move(on_end);
    on_end = nullptr;
    if (handler) handler(result);
  }
};

Pump::Pump(ClientWebSocket client, std::shared_ptr<Upstream> upstream, PumpOptions options)
    : impl_(std::make_unique<Impl>(*this, std::move(client), std::move(upstream), options)) {
  assert(impl_->upstream);
  // The pump runs on the client's executor and never synchronizes with another one.
  assert(impl_->upstream->get_executor() == impl_->executor);
  impl_->configure();
}

Pump::~Pump() = default;

void Pump::start(std::function<void(const PumpResult&)> on_end) {
  net::dispatch(impl_->executor,
                [self = shared_from_this(), on_end = std::move(on_end)]() mutable { self->impl_->run(std::move(on_end)); });
}

void Pump::end(std::uint16_t code, std::string reason, std::string final_text) {
  net::post(impl_->executor,
            [self = shared_from_this(), code, reason = std::move(reason), final_text = std::move(final_text)]() mutable {
              self->impl_->end(code, std::move(reason), std::move(final_text));
            });
}

}  // namespace bouncer::relay
