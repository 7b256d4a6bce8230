// The tunnel (see tunnel.h for the contract).
//
// Two flows, one per direction, the same code for both (indexed by their source side):
//
//   listen → (readable) → read → process → write the consumed bytes → after_write → listen …
//
// A flow has at most one read or one write pending, never both: the next read starts when
// the last read's bytes are written. That is the whole of the back-pressure.
//
// `process` feeds the bytes read to the flow's FrameTracker, which says how many of them may go
// to the other side and what they ended with (nothing special, a boundary asked for, a close
// frame, a violation). Those bytes are written, then `after_write` acts on what they ended with.
//
// Bouncer's own frames for a sink wait in its flow (`own`) until the bytes written to that sink
// end at the boundary they need: a control frame (close, ping) at a frame boundary, a data
// frame (the final text of end()) at a message boundary. While they wait, process() asks the
// tracker to stop at that boundary.
//
// Ending. The first terminal event (a close frame, a violation, a dead side, end()) sets
// `stopping` and decides the result. A side is finished (our FIN, then its bytes read and
// dropped until its EOF) once its close handshake is complete (a close written to it and its own
// read) or once the close to a side that broke the protocol is written; its socket is closed
// then, when it fails, or when close_timeout after the stop has passed. on_end runs once both
// sockets are closed and no operation is pending.
#include "relay/tunnel.h"

#include "metrics/catalog.h"
#include "relay/buffer_pool.h"
#include "relay/frames.h"
#include "relay/upstream.h"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/socket_base.hpp>
#include <boost/asio/steady_timer.hpp>

#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cassert>
#include <cerrno>
#include <cstring>
#include <optional>
#include <utility>

namespace bouncer::relay {

namespace net = boost::asio;
using namespace std::chrono_literals;
using frames::FeedResult;
using frames::StopAt;
using Clock = std::chrono::steady_clock;
using error_code = boost::system::error_code;

namespace {

constexpr int kClient = 0;
constexpr int kUpstream = 1;
constexpr int other(int side) { return 1 - side; }

constexpr std::string_view kClientGone = "Client gone";
constexpr std::string_view kUpstreamLost = "Upstream connection lost";
constexpr std::string_view kSessionEnded = "Session ended";

// The process-wide relay counters of one direction (see metrics/counter.h: no lock).
struct Traffic {
  metrics::Counter& frames;
  metrics::Counter& bytes;
  explicit Traffic(metrics::Direction direction)
      : frames(metrics::catalog().relayed_frames[direction]), bytes(metrics::catalog().relayed_bytes[direction]) {}
};

}  // namespace

struct Tunnel::Impl {
  // One side of the session.
  struct Peer {
    explicit Peer(ByteStream s) : stream(std::move(s)) {}
    ByteStream stream;
    bool open = true;               // its socket is not closed
    bool close_sent = false;        // a close frame was written to it (relayed or Bouncer's)
    bool close_received = false;    // its close frame was read
    bool close_after_send = false;  // it broke the protocol: closed once our close reaches it
    bool bouncer_closed = false;    // the close it was sent is Bouncer's own, not the other side's
    bool draining = false;          // done with: our FIN sent, its bytes dropped until its EOF
  };

  // The bytes from one side (the source) to the other (the sink).
  struct Flow {
    Flow(frames::Direction direction, frames::TrackerOptions options, metrics::Direction metric)
        : tracker(direction, options), traffic(metric) {}
    frames::FrameTracker tracker;
    Traffic traffic;
    RelayBuffer buffer;           // borrowed while bytes are in it
    std::size_t filled = 0;       // bytes read into it, not yet consumed
    FeedResult last;              // what the last feed said, acted on once its bytes are written
    bool wrote = false;           // the last feed's bytes went to the sink (not dropped)
    bool close_relayed = false;   // and they ended with the source's close frame
    bool reading = false;         // a wait or read is pending on the source
    bool writing = false;         // a write is pending on the sink
    bool source_finished = false; // its close frame was read, it broke the protocol, or it failed
    bool parse = true;            // false after a violation: what follows cannot be framed
    std::string own;              // Bouncer's frames for the sink (text, ping), waiting for their boundary
    std::string own_close;        // Bouncer's close for the sink, after `own`
    StopAt own_at = StopAt::nothing;
    bool own_has_close = false;   // a close was queued: nothing more is
    std::string own_out;          // own frames being written
    bool own_out_has_close = false;
    Clock::time_point own_since;
    Clock::time_point last_heard;     // bytes last read, or when the flow started listening again
    Clock::time_point write_started;  // of the pending write
    bool ping_sent = false;           // to the source, since it was last heard
    bool hot = false;                 // its last read was large: more are likely (see listen)
    std::array<std::uint8_t, 128> peek{};  // what a plain source's wait reads into (see listen)
    std::uint64_t counted_frames = 0;  // already added to the process counters
    std::uint64_t counted_bytes = 0;
  };

  Impl(Tunnel& owner, ByteStream client, ByteStream upstream, TunnelOptions options, std::string early)
      : owner(owner),
        executor(client.get_executor()),
        peers{Peer(std::move(client)), Peer(std::move(upstream))},
        flows{Flow(frames::Direction::from_client, tracker_options(options, frames::Direction::from_client),
                   metrics::Direction::client_to_upstream),
              Flow(frames::Direction::from_upstream, tracker_options(options, frames::Direction::from_upstream),
                   metrics::Direction::upstream_to_client)},
        options(options),
        early(std::move(early)),
        watchdog(executor) {}

  static frames::TrackerOptions tracker_options(const TunnelOptions& options, frames::Direction direction) {
    const bool inspect = direction == frames::Direction::from_client && options.take_client_text;
    return {options.max_message_bytes, options.permessage_deflate, inspect ? kInspectedTextBytes : 0};
  }

  Tunnel& owner;
  const net::any_io_executor executor;  // the client's: everything runs there
  std::array<Peer, 2> peers;
  std::array<Flow, 2> flows;  // indexed by source side
  TunnelOptions options;
  std::string early;  // the upstream's first bytes, read with its 101
  std::function<void(const TunnelResult&)> on_end;
  TunnelResult result;
  bool started = false;
  bool stopping = false;
  bool finished = false;
  Clock::time_point stop_deadline;  // stopping: by then every socket is closed
  net::steady_timer watchdog;

  std::shared_ptr<Tunnel> self() { return owner.shared_from_this(); }

  // Marks a call that may change the session's state; the outermost one ends by checking
  // whether the session is over. (Writes to plain sockets complete inline, so one event may
  // run through several steps; the session must not finish half-way through them.)
  int depth = 0;
  struct Step {
    explicit Step(Impl& impl) : impl(impl) { ++impl.depth; }
    ~Step() {
      if (--impl.depth == 0) impl.maybe_finish();
    }
    Step(const Step&) = delete;
    Step& operator=(const Step&) = delete;
    Impl& impl;
  };

  // ---------------------------------------------------------------------------------------
  // Starting
  // ---------------------------------------------------------------------------------------

  void run(std::function<void(const TunnelResult&)> handler) {
    const Step step(*this);
    on_end = std::move(handler);
    started = true;
    // Both sockets have TCP_NODELAY already (the listener and the upstream connect set it).
    for (auto& peer : peers) peer.stream.tcp().expires_never();  // the tunnel keeps its own time
    const auto now = Clock::now();
    for (auto& flow : flows) flow.last_heard = now;
    arm_watchdog();
    listen(kClient);
    if (!early.empty()) {
      Flow& flow = flows[kUpstream];
      flow.buffer = borrow_relay_buffer();
      flow.filled = std::min(early.size(), kRelayBufferBytes);  // the 101's read is smaller
      std::memcpy(flow.buffer->bytes, early.data(), flow.filled);
      early = std::string();
      process(kUpstream);
    } else {
      listen(kUpstream);
    }
    // end() may have come before start().
    for (int sink : {kClient, kUpstream}) try_write_own(other(sink));
  }

  // ---------------------------------------------------------------------------------------
  // Reading
  // ---------------------------------------------------------------------------------------

  // Waits for the source's next bytes, unless the flow is busy or its source has finished.
  void listen(int source) {
    Flow& flow = flows[source];
    Peer& peer = peers[source];
    if (!peer.open || flow.reading || flow.writing || (flow.source_finished && !peer.draining)) return;
    flow.reading = true;
    flow.last_heard = Clock::now();  // silence counts from when the tunnel listens
    if (peer.stream.is_tls() || flow.filled > 0) {
      // TLS: OpenSSL may already hold the next bytes, which the socket would not show. A split
      // header: the buffer is held anyway.
      if (!flow.buffer) flow.buffer = borrow_relay_buffer();
      peer.stream.async_read_some(net::buffer(flow.buffer->bytes + flow.filled, kRelayBufferBytes - flow.filled),
                                  [self = self(), source](error_code ec, std::size_t n) {
                                    self->impl_->on_read(source, ec, n);
                                  });
      return;
    }
    if (flow.hot) {
      // Bytes came last time: more are likely. Read them into a buffer at once, without a
      // round through the reactor. Posted, not called: a stream that never runs dry must not
      // recurse.
      net::post(executor, [self = self(), source] { self->impl_->read_now(source); });
      return;
    }
    // Idle, or about to be: wait with the flow's small peek buffer, not a relay buffer. (Asio's
    // async_wait would re-arm the socket in epoll, one syscall per wait; a read need not.)
    peer.stream.socket().async_read_some(net::buffer(flow.peek), [self = self(), source](error_code ec, std::size_t n) {
      self->impl_->on_peeked(source, ec, n);
    });
  }

  // A hot plain source: read what is there into a borrowed buffer, or go back to waiting.
  void read_now(int source) {
    const Step step(*this);
    Flow& flow = flows[source];
    flow.buffer = borrow_relay_buffer();
    error_code ec;
    const std::size_t n = receive(source, flow.buffer->bytes, kRelayBufferBytes, ec);
    if (ec == net::error::would_block) {
      flow.buffer.reset();  // nothing there after all: wait, holding nothing
      flow.hot = false;
      flow.reading = false;
      return listen(source);
    }
    on_read(source, ec, n);
  }

  // The peek buffer got the first bytes after a wait: into a relay buffer with whatever else is
  // there already.
  void on_peeked(int source, error_code ec, std::size_t n) {
    const Step step(*this);
    Flow& flow = flows[source];
    if (ec) return on_read(source, ec, 0);
    flow.buffer = borrow_relay_buffer();
    std::memcpy(flow.buffer->bytes, flow.peek.data(), n);
    if (n == flow.peek.size()) {
      error_code more_ec;  // an error or the end shows at the next read
      n += receive(source, flow.buffer->bytes + n, kRelayBufferBytes - n, more_ec);
    }
    on_read(source, {}, n);
  }

  // A read that never blocks, on a plain socket (already non-blocking for Asio: no ioctl).
  std::size_t receive(int source, std::uint8_t* into, std::size_t size, error_code& ec) {
    const ssize_t n = ::recv(peers[source].stream.socket().native_handle(), into, size, MSG_DONTWAIT);
    if (n > 0) return static_cast<std::size_t>(n);
    if (n == 0) {
      ec = net::error::eof;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      ec = net::error::would_block;
    } else if (errno == EINTR) {
      ec = net::error::would_block;  // nothing read: the caller waits and tries again
    } else {
      ec = error_code(errno, boost::system::system_category());
    }
    return 0;
  }

  void on_read(int source, error_code ec, std::size_t n) {
    const Step step(*this);
    Flow& flow = flows[source];
    flow.reading = false;
    if (peers[source].draining) {
      flow.filled = 0;
      flow.buffer.reset();
      if (ec) {
        close_side(source);
      } else {
        listen(source);
      }
      return;
    }
    if (ec) {
      if (flow.filled == 0) flow.buffer.reset();
      side_failed(source);
      return;
    }
    flow.filled += n;
    flow.last_heard = Clock::now();
    flow.ping_sent = false;
    // A large read means a stream in full flow: read again at once. A small one (a message of an
    // interactive session) most likely drained the socket: the next read waits.
    flow.hot = n >= flow.peek.size();
    process(source);
  }

  // ---------------------------------------------------------------------------------------
  // Relaying
  // ---------------------------------------------------------------------------------------

  // Feeds what was read to the tracker and writes what it consumed to the sink.
  void process(int source) {
    Flow& flow = flows[source];
    if (!flow.parse) {  // after a violation: dropped unread
      flow.filled = 0;
      flow.buffer.reset();
      return;
    }
    Peer& sink = peers[other(source)];
    const StopAt stop_at = !has_own(flow) || !sink.open ? StopAt::nothing : flow.own_at;
    flow.last = flow.tracker.feed(std::span<const std::uint8_t>(flow.buffer->bytes, flow.filled), stop_at);
    if (flow.last.kind == FeedResult::Kind::inspect) {
      if (flow.last.consumed == 0) return inspect(source);
      flow.last.kind = FeedResult::Kind::boundary;  // the bytes before it first; then it is at the front
    }
    count(flow);
    relay_consumed(source, flow.last.consumed);
  }

  // A client's short text message, whole at the front of the buffer: Bouncer's own (taken, not
  // relayed) or the upstream's.
  void inspect(int source) {
    Flow& flow = flows[source];
    const std::size_t length = flow.last.inspect_length;
    const std::span<const std::uint8_t> frame(flow.buffer->bytes, length);
    bool taken = false;
    if (frames::payload_contains(frame, kBouncerMarker)) {
      std::string text = frames::unmasked_payload(frame);
      taken = options.take_client_text(text);
    }
    flow.tracker.end_inspection(!taken);
    count(flow);
    flow.last.kind = FeedResult::Kind::boundary;
    flow.last.consumed = length;
    relay_consumed(source, taken ? 0 : length);  // a message taken is consumed, not written
  }

  // Writes the first `relayed` bytes of the buffer (of what the last feed consumed) to the sink.
  void relay_consumed(int source, std::size_t relayed) {
    Flow& flow = flows[source];
    Peer& sink = peers[other(source)];
    // A close that answers Bouncer's own close, or that would overtake the close Bouncer has on
    // its way to the sink, is not passed on: the sink gets Bouncer's.
    const bool close_kept = flow.last.kind == FeedResult::Kind::close && (peers[source].bouncer_closed || flow.own_has_close);
    if (close_kept) relayed = flow.last.close_start;
    flow.wrote = relayed > 0 && sink.open && !sink.close_sent;
    flow.close_relayed = flow.wrote && flow.last.kind == FeedResult::Kind::close && !close_kept;
    if (!flow.wrote) return after_write(source, {});
    flow.writing = true;
    flow.write_started = Clock::now();
    write(other(source), net::const_buffer(flow.buffer->bytes, relayed),
          [self = self(), source](error_code ec) { self->impl_->after_write(source, ec); });
  }

  // The frames and payload bytes the tracker has seen whole since the last count.
  void count(Flow& flow) {
    const auto frames_now = flow.tracker.frames();
    const auto bytes_now = flow.tracker.payload_bytes();
    if (frames_now != flow.counted_frames) flow.traffic.frames.add(frames_now - flow.counted_frames);
    if (bytes_now != flow.counted_bytes) flow.traffic.bytes.add(bytes_now - flow.counted_bytes);
    flow.counted_frames = frames_now;
    flow.counted_bytes = bytes_now;
  }

  // Writes `bytes` to side `sink`, then calls done(ec). A plain socket is first written
  // synchronously (it usually takes everything at once: no operation to schedule); whatever
  // it does not take goes through an asynchronous write, which waits for room.
  template <class Done>
  void write(int sink, net::const_buffer bytes, Done&& done) {
    Peer& peer = peers[sink];
    if (!peer.stream.is_tls()) {
      const ssize_t n = ::send(peer.stream.socket().native_handle(), bytes.data(), bytes.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n == static_cast<ssize_t>(bytes.size())) return done(error_code());
      if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        return done(error_code(errno, boost::system::system_category()));
      }
      if (n > 0) bytes += static_cast<std::size_t>(n);
    }
    peer.stream.async_write(bytes, [done = std::forward<Done>(done)](error_code ec, std::size_t) mutable { done(ec); });
  }

  // The bytes of the last feed are written (or dropped): act on what they ended with.
  void after_write(int source, error_code ec) {
    const Step step(*this);
    Flow& flow = flows[source];
    const int sink = other(source);
    flow.writing = false;
    if (ec) {
      side_failed(sink);
      // The source's bytes have nowhere to go; its close frame, if it comes, still ends it.
    }
    // Drop the consumed bytes; a split header or close frame stays at the front.
    const std::size_t consumed = flow.last.consumed;
    if (consumed > 0 && consumed < flow.filled) std::memmove(flow.buffer->bytes, flow.buffer->bytes + consumed, flow.filled - consumed);
    flow.filled -= consumed;
    const FeedResult::Kind kind = flow.last.kind;
    if (kind == FeedResult::Kind::close || kind == FeedResult::Kind::violation) {
      pending_close_code = flow.last.code;
      pending_close_reason = std::move(flow.last.reason);
    }
    flow.last.consumed = 0;
    flow.last.kind = FeedResult::Kind::more;
    switch (kind) {
      case FeedResult::Kind::more:
      case FeedResult::Kind::boundary:
      case FeedResult::Kind::inspect: break;
      case FeedResult::Kind::close: on_close_frame(source, flow.close_relayed && !ec); break;
      case FeedResult::Kind::violation: on_violation(source); break;
    }
    if (flow.filled == 0) flow.buffer.reset();
    try_write_own(source);
    continue_flow(source, kind);
  }

  // After a write: more of what was read (past a boundary) is processed, or more is read.
  void continue_flow(int source, FeedResult::Kind last_kind) {
    Flow& flow = flows[source];
    if (flow.writing) return;  // own frames are on their way: after_own comes back here
    if (flow.filled > 0 && last_kind == FeedResult::Kind::boundary && flow.parse) return process(source);
    close_finished_sides();
    listen(source);
  }

  // The source's close frame was consumed (and relayed, unless the sink was gone).
  void on_close_frame(int source, bool relayed) {
    Flow& flow = flows[source];
    Peer& to = peers[other(source)];
    peers[source].close_received = true;
    flow.source_finished = true;
    flow.filled = 0;  // nothing may follow a close frame
    if (relayed && to.open) to.close_sent = true;
    stop(source == kClient ? TunnelResult::Ended::client_closed : TunnelResult::Ended::upstream_closed,
         pending_close_code, pending_close_reason);
    // Not passed on (the other side is gone or has Bouncer's close already) and not the answer to
    // a close of Bouncer's: Bouncer answers it, with the same code.
    if ((!relayed || !to.open) && !peers[source].close_sent) {
      queue_close(other(source), pending_close_code, pending_close_reason);
    }
  }

  // The frame at the front broke the protocol or the size limit: both sides get a close with
  // its code; the offender is dropped once it has its close.
  void on_violation(int source) {
    Flow& flow = flows[source];
    flow.parse = false;
    flow.source_finished = true;
    flow.filled = 0;
    const auto how = pending_close_code == frames::kMessageTooBig ? TunnelResult::Ended::too_big
                                                                   : TunnelResult::Ended::protocol_error;
    stop(how, pending_close_code, pending_close_reason);
    peers[source].close_after_send = true;
    queue_close(source, pending_close_code, pending_close_reason);         // to the other side
    queue_close(other(source), pending_close_code, pending_close_reason);  // to the offender
  }

  // ---------------------------------------------------------------------------------------
  // Bouncer's own frames
  // ---------------------------------------------------------------------------------------

  // Frames to the upstream are masked (Bouncer is its client), frames to the client are not.
  static std::optional<std::array<std::uint8_t, 4>> mask_toward(int sink) {
    if (sink == kUpstream) return masking_key();
    return std::nullopt;
  }

  // Bouncer's close frame for the sink of the flow from `source`.
  void queue_close(int source, std::uint16_t code, std::string_view reason) {
    queue_own(source, frames::make_close_frame(code, reason, mask_toward(other(source))), StopAt::frame_end, true);
  }

  static bool has_own(const Flow& flow) { return !flow.own.empty() || !flow.own_close.empty(); }

  // Queues `frame_bytes` for the sink of the flow from `source`, to go at `at` (a close after
  // the rest). A close ends what the sink is sent: frames for a sink that has one are dropped.
  void queue_own(int source, std::string frame_bytes, StopAt at, bool is_close) {
    Flow& flow = flows[source];
    Peer& sink = peers[other(source)];
    if (!sink.open || sink.close_sent || flow.own_has_close) return;
    if (!has_own(flow)) flow.own_since = Clock::now();
    if (is_close) {
      flow.own_close = std::move(frame_bytes);
      flow.own_has_close = true;
    } else {
      flow.own += frame_bytes;
    }
    if (flow.own_at != StopAt::message_end) flow.own_at = at;
    if (started) try_write_own(source);
  }

  bool at_own_boundary(const Flow& flow) const {
    if (!flow.parse) return true;  // written up to the start of the bad frame
    return flow.own_at == StopAt::message_end ? flow.tracker.at_message_boundary() : flow.tracker.at_frame_boundary();
  }

  // Writes the flow's own frames if the sink's stream is at their boundary. A source that will
  // send nothing more may leave a message open for good: Bouncer's text is dropped then, and its
  // close goes between the fragments (RFC 6455 allows a control frame there); a sink cut in the
  // middle of a frame can only be closed.
  void try_write_own(int source) {
    Flow& flow = flows[source];
    const int sink = other(source);
    Peer& to = peers[sink];
    if (!has_own(flow) || flow.writing) return;
    if (!to.open) return drop_own(flow);
    if (!at_own_boundary(flow)) {
      if (flow.source_finished || !peers[source].open) give_up_boundary(source);
      return;
    }
    write_own(source);
  }

  // Bouncer's frames found no message boundary (the source finished inside a message, or the
  // wait ran out): the close still goes at a frame boundary, without the text; else the sink is
  // cut.
  void give_up_boundary(int source) {
    Flow& flow = flows[source];
    if (flow.parse && flow.tracker.at_frame_boundary() && !flow.own_close.empty()) {
      flow.own.clear();
      return write_own(source);
    }
    close_side(other(source));
    drop_own(flow);
  }

  void write_own(int source) {
    Flow& flow = flows[source];
    flow.writing = true;
    flow.write_started = Clock::now();
    flow.own_out = std::move(flow.own);
    flow.own_out += flow.own_close;
    flow.own_out_has_close = !flow.own_close.empty();
    drop_own(flow);
    write(other(source), net::buffer(flow.own_out), [self = self(), source](error_code ec) { self->impl_->after_own(source, ec); });
  }

  static void drop_own(Flow& flow) {
    flow.own.clear();
    flow.own_close.clear();
    flow.own_at = StopAt::nothing;
  }

  void after_own(int source, error_code ec) {
    const Step step(*this);
    Flow& flow = flows[source];
    const int sink = other(source);
    Peer& to = peers[sink];
    flow.writing = false;
    flow.own_out = std::string();
    if (ec) {
      side_failed(sink);
    } else if (flow.own_out_has_close) {
      to.close_sent = true;
      to.bouncer_closed = true;
      if (to.close_after_send) finish_side(sink);
    }
    continue_flow(source, flow.filled > 0 ? FeedResult::Kind::boundary : FeedResult::Kind::more);
  }

  // ---------------------------------------------------------------------------------------
  // Ending
  // ---------------------------------------------------------------------------------------

  // The code and reason of the last close or violation the tracker reported, copied before the
  // FeedResult is reset (after_write).
  std::uint16_t pending_close_code = frames::kNoStatus;
  std::string pending_close_reason;

  // The first terminal event decides the result.
  void stop(TunnelResult::Ended how, std::uint16_t code, std::string_view reason) {
    if (stopping) return;
    stopping = true;
    stop_deadline = Clock::now() + options.close_timeout;
    result.how = how;
    result.close_code = code == 0 ? frames::kNoStatus : code;
    result.reason = std::string(frames::fit_close_reason(reason));
    if (options.on_stop) options.on_stop();
  }

  // Side `side` failed (a read or write error, EOF without a close, a watchdog): closed at
  // once; the other side gets a close saying so, if its stream is at a frame boundary.
  void side_failed(int side) {
    Peer& peer = peers[side];
    flows[side].source_finished = true;
    if (!peer.open) return;
    close_side(side);
    const bool client = side == kClient;
    stop(client ? TunnelResult::Ended::client_error : TunnelResult::Ended::upstream_error,
         client ? frames::kGoingAway : frames::kInternalError, client ? kClientGone : kUpstreamLost);
    queue_close(side, client ? frames::kGoingAway : frames::kInternalError, client ? kClientGone : kUpstreamLost);
  }

  // Done with side `side` after a close handshake (or after telling it of its violation): our
  // FIN, then what it still sends is read and dropped until its EOF, so that our close frame is
  // not lost to a reset (closing a socket with unread bytes resets it). Bounded by the stop's
  // deadline.
  void finish_side(int side) {
    Peer& peer = peers[side];
    if (!peer.open || peer.draining) return;
    peer.draining = true;
    flows[side].source_finished = true;
    flows[side].filled = 0;
    error_code ignored;
    peer.stream.socket().shutdown(net::ip::tcp::socket::shutdown_send, ignored);
    if (!flows[side].reading) listen(side);
  }

  void close_side(int side) {
    Peer& peer = peers[side];
    if (!peer.open) return;
    peer.open = false;
    flows[side].source_finished = true;
    error_code ignored;
    peer.stream.socket().close(ignored);
  }

  // A side whose close handshake is complete is finished (the server closes TCP first, RFC 6455
  // §7.1.1; the upstream then sees an orderly end after the close frames).
  void close_finished_sides() {
    for (int side : {kClient, kUpstream}) {
      const Peer& peer = peers[side];
      if (peer.open && peer.close_sent && peer.close_received && !flows[other(side)].writing) finish_side(side);
    }
  }

  void send_to_client(std::string text) {
    const Step step(*this);
    if (stopping || finished) return;
    queue_own(kUpstream, frames::make_frame(frames::Opcode::text, text, std::nullopt), StopAt::message_end, false);
  }

  // end(): the final text and the given close to the client; 1000/1001 to the upstream.
  void end(std::uint16_t code, std::string reason, std::string text) {
    const Step step(*this);
    if (stopping || finished) return;  // already ending: the first ending wins
    stop(TunnelResult::Ended::ended_by_server, code, reason);
    // To the client (the flow from the upstream): the text between two messages, then the close.
    if (!text.empty()) {
      queue_own(kUpstream, frames::make_frame(frames::Opcode::text, text, std::nullopt), StopAt::message_end, false);
    }
    queue_close(kUpstream, code, reason);
    queue_close(kClient, code == frames::kGoingAway ? frames::kGoingAway : frames::kNormalClosure, kSessionEnded);
  }

  // ---------------------------------------------------------------------------------------
  // Time: silence, stuck writes, pings, the bound on ending
  // ---------------------------------------------------------------------------------------

  Clock::duration tick() const {
    if (options.idle_timeout.count() <= 0) return 250ms;
    return std::max<Clock::duration>(options.idle_timeout / 4, 100ms);
  }

  // Holds only a weak reference: it never keeps the session alive, and finish() cancels it.
  void arm_watchdog() {
    if (finished) return;
    watchdog.expires_after(std::min<Clock::duration>(tick(), std::max<Clock::duration>(options.close_timeout / 4, 50ms)));
    watchdog.async_wait([weak = std::weak_ptr<Tunnel>(self())](error_code ec) {
      auto tunnel = weak.lock();
      if (!ec && tunnel) tunnel->impl_->on_watchdog();
    });
  }

  void on_watchdog() {
    const Step step(*this);
    if (finished) return;
    const auto now = Clock::now();
    const bool idle_checks = options.idle_timeout.count() > 0;
    for (int source : {kClient, kUpstream}) {
      Flow& flow = flows[source];
      const int sink = other(source);
      // A sink that takes nothing for idle_timeout is as dead as a silent source.
      if (idle_checks && flow.writing && now - flow.write_started >= options.idle_timeout) side_failed(sink);
      // A close of Bouncer's that found no boundary in time: the sink is cut.
      if (!flow.own_close.empty() && !flow.writing && now - flow.own_since >= options.close_timeout) {
        give_up_boundary(source);
      }
      if (!idle_checks || !flow.reading || stopping) continue;
      const auto silent = now - flow.last_heard;
      if (silent >= options.idle_timeout) {
        side_failed(source);
      } else if (silent >= options.idle_timeout / 2 && !flow.ping_sent && !has_own(flows[sink])) {
        flow.ping_sent = true;
        queue_own(sink, frames::make_frame(frames::Opcode::ping, {}, mask_toward(source)), StopAt::frame_end, false);
      }
    }
    if (stopping && now >= stop_deadline) {
      close_side(kClient);
      close_side(kUpstream);
    }
    arm_watchdog();
  }

  void maybe_finish() {
    if (finished || !started || !stopping || depth > 0) return;
    close_finished_sides();
    for (const Flow& flow : flows) {
      if (flow.reading || flow.writing) return;
    }
    // Nothing is pending, so nothing more can happen: whatever is still open is closed.
    finished = true;
    watchdog.cancel();
    close_side(kClient);
    close_side(kUpstream);
    result.messages_to_upstream = flows[kClient].tracker.messages();
    result.messages_to_client = flows[kUpstream].tracker.messages();
    result.frames_to_upstream = flows[kClient].tracker.frames();
    result.bytes_to_upstream = flows[kClient].tracker.payload_bytes();
    result.frames_to_client = flows[kUpstream].tracker.frames();
    result.bytes_to_client = flows[kUpstream].tracker.payload_bytes();
    for (Flow& flow : flows) flow.buffer.reset();
    auto handler = std::move(on_end);
    on_end = nullptr;
    if (handler) handler(result);
  }
};

Tunnel::Tunnel(ByteStream client, ByteStream upstream, TunnelOptions options, std::string upstream_early)
    : impl_(std::make_unique<Impl>(*this, std::move(client), std::move(upstream), options, std::move(upstream_early))) {
  // The tunnel runs on the client's executor and never synchronizes with another one.
  assert(impl_->peers[kUpstream].stream.get_executor() == impl_->executor);
}

Tunnel::~Tunnel() = default;

void Tunnel::start(std::function<void(const TunnelResult&)> on_end) {
  net::dispatch(impl_->executor,
                [self = shared_from_this(), on_end = std::move(on_end)]() mutable { self->impl_->run(std::move(on_end)); });
}

void Tunnel::send_to_client(std::string text) {
  net::post(impl_->executor,
            [self = shared_from_this(), text = std::move(text)]() mutable { self->impl_->send_to_client(std::move(text)); });
}

void Tunnel::end(std::uint16_t code, std::string reason, std::string final_text) {
  net::post(impl_->executor,
            [self = shared_from_this(), code, reason = std::move(reason), final_text = std::move(final_text)]() mutable {
              self->impl_->end(code, std::move(reason), std::move(final_text));
            });
}

}  // namespace bouncer::relay
