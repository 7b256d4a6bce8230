// model-server — an example upstream for Bouncer, meant to be copied.
//
// Bouncer checks a browser's short-lived token at its door, then opens a WebSocket to a
// model server like this one and relays the session frame for frame. The credential never
// reaches this server: Bouncer tells it who connected through request headers instead.
// This program shows how to read them, how to make sure only Bouncer can connect, and how
// to write to a WebSocket without letting a slow client grow your memory.
//
//   model-server --listen 127.0.0.1:9000 [--secret S] [--port-file F]
//
// It depends on Boost only (Asio, Beast and JSON), built header-only here, and runs on one
// thread. Every connection goes through two classes, named after the life of a session:
//
//   HttpSession      — reads the WebSocket upgrade request, checks the shared secret,
//                      reads Bouncer's headers; refuses (403) or hands over to…
//   WebSocketSession — run → on_accept → do_read → on_read → do_write → on_write → close.
//
// What each message does (JSON text commands; anything else comes back unchanged):
//   {"type":"whoami"}                        → the request's headers and target
//   {"type":"flood","bytes":N,"chunk":C}     → N bytes of binary in frames of C bytes, then
//                                              {"type":"flood_done","bytes":N}
//   {"type":"close","code":X,"reason":"…"}   → closes the WebSocket with that code/reason
//   {"type":"prompt","prompt":"…"}           → {"type":"prompt_ack",…}, then a
//                                              {"type":"generation_tick","seconds":N} a second

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/json.hpp>

#include <algorithm>
#include <array>
#include <cctype>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace net = boost::asio;
namespace json = boost::json;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;

// =======================================================================================
// Limits. Each one bounds something a peer controls.
// =======================================================================================
constexpr auto kHandshakeTimeout = 10s;              // TCP accept → WebSocket open
constexpr auto kCloseTimeout = 5s;                   // closing handshake
constexpr auto kShutdownGrace = 5s;                  // SIGTERM → exit, at the latest
constexpr std::uint32_t kMaxHeaderBytes = 32 * 1024;  // Bouncer's metadata header included
constexpr std::size_t kMaxMessageBytes = 1 << 20;     // larger messages: closed with 1009
constexpr std::size_t kMaxQueuedMessages = 64;        // replies waiting to be written…
constexpr std::size_t kMaxQueuedBytes = 4 << 20;      // …above either, we stop reading
constexpr std::uint64_t kMaxFloodBytes = std::uint64_t{1} << 40;
constexpr std::size_t kMaxFloodChunk = 1 << 20;
constexpr std::size_t kDefaultFloodChunk = 16 * 1024;

// =======================================================================================
// What Bouncer sends. Every header is optional as far as this program is concerned, so it
// also works with a plain WebSocket client; a real model server may insist on them.
// =======================================================================================
constexpr std::string_view kSessionIdHeader = "X-Bouncer-Session-Id";   // one per relayed session
constexpr std::string_view kKeyIdHeader = "X-Bouncer-Key-Id";           // the permanent key (sk_) behind the token
constexpr std::string_view kTokenIdHeader = "X-Bouncer-Token-Id";       // the token's id (its jti)
constexpr std::string_view kDeadlineHeader = "X-Bouncer-Session-Deadline";  // RFC 3339; Bouncer ends the session then
constexpr std::string_view kMetadataHeader = "X-Bouncer-Metadata";      // JSON object given when the token was minted
constexpr std::string_view kSecretHeader = "X-Bouncer-Upstream-Secret";  // proves the caller is your Bouncer

// ---------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------

// Compares a presented secret with ours in time that does not depend on where they differ,
// so the secret cannot be guessed byte by byte from response times. (Its length is not
// secret: that is fixed by whoever chose it.)
bool constant_time_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

// A value for a log line: JSON-quoted, so a header cannot forge extra fields or lines.
std::string log_value(std::string_view s) { return json::serialize(json::string(s)); }

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Parses an RFC 3339 timestamp such as 2026-11-23T15:40:00Z or 2026-11-23T16:40:00.5+01:00.
std::optional<std::chrono::system_clock::time_point> parse_rfc3339(std::string_view text) {
  const std::string s(text);
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0, used = 0;
  if (std::sscanf(s.c_str(), "%4d-%2d-%2d%*1[Tt]%2d:%2d:%2d%n", &year, &month, &day, &hour, &minute, &second,
                  &used) != 6 ||
      used != 19) {
    return std::nullopt;
  }
  const std::chrono::year_month_day date{std::chrono::year(year), std::chrono::month(static_cast<unsigned>(month)),
                                         std::chrono::day(static_cast<unsigned>(day))};
  if (!date.ok() || hour > 23 || minute > 59 || second > 60) return std::nullopt;
  std::size_t i = 19;
  std::chrono::system_clock::duration fraction{0};
  if (i < s.size() && s[i] == '.') {
    std::chrono::nanoseconds ns{0};
    std::int64_t scale = 100'000'000;
    const std::size_t start = ++i;
    for (; i < s.size() && std::isdigit(static_cast<unsigned char>(s[i])); ++i, scale /= 10) {
      ns += std::chrono::nanoseconds((s[i] - '0') * scale);
    }
    if (i == start) return std::nullopt;
    fraction = std::chrono::duration_cast<std::chrono::system_clock::duration>(ns);
  }
  std::chrono::minutes offset{0};
  if (i < s.size() && (s[i] == 'Z' || s[i] == 'z')) {
    ++i;
  } else if (i + 6 == s.size() && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':') {
    int oh = 0, om = 0;
    if (std::sscanf(s.c_str() + i + 1, "%2d:%2d", &oh, &om) != 2 || oh > 23 || om > 59) return std::nullopt;
    offset = std::chrono::hours(oh) + std::chrono::minutes(om);
    if (s[i] == '-') offset = -offset;
    i += 6;
  } else {
    return std::nullopt;
  }
  if (i != s.size()) return std::nullopt;
  return std::chrono::sys_days(date) + std::chrono::hours(hour) + std::chrono::minutes(minute) +
         std::chrono::seconds(second) + fraction - offset;
}

// The flood's bytes: byte i of a flood is (i * 31) mod 251. The pattern repeats every 251
// bytes, so any frame is a slice of this one table (no copy, no per-frame allocation):
// the frame starting at offset o is table[o mod 251 …].
const std::vector<std::uint8_t>& flood_pattern() {
  static const std::vector<std::uint8_t> table = [] {
    std::vector<std::uint8_t> t(251 + kMaxFloodChunk);
    for (std::size_t i = 0; i < t.size(); ++i) t[i] = static_cast<std::uint8_t>((i % 251) * 31 % 251);
    return t;
  }();
  return table;
}

// A close code a server may send (RFC 6455 §7.4): not 1004–1006, 1014–2999, nor ≥ 5000.
bool sendable_close_code(std::int64_t code) {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1013) || (code >= 3000 && code <= 4999);
}

void fail(beast::error_code ec, std::string_view what) {
  // The ways a connection normally ends are not worth a line.
  if (ec == net::error::operation_aborted || ec == websocket::error::closed || ec == net::error::eof ||
      ec == net::error::connection_reset || ec == net::error::broken_pipe || ec == beast::error::timeout ||
      ec == http::error::end_of_stream) {
    return;
  }
  std::cerr << "error " << what << ": " << ec.message() << "\n";
}

// ---------------------------------------------------------------------------------------
// Who connected, from Bouncer's headers
// ---------------------------------------------------------------------------------------
struct SessionInfo {
  std::string session_id, key_id, token_id, deadline_text;
  std::optional<std::chrono::system_clock::time_point> deadline;
  json::value metadata;  // null when absent or not a JSON object
  bool metadata_invalid = false;
  std::string target;    // the request target (path and query) Bouncer connected to
  json::object headers;  // every header, lower-cased name → value (the secret redacted)
};

template <class Fields>
std::string header(const Fields& fields, std::string_view name) {
  const auto it = fields.find(name);
  return it == fields.end() ? std::string() : std::string(it->value());
}

SessionInfo read_session_info(const http::request<http::empty_body>& req) {
  SessionInfo info;
  info.session_id = header(req, kSessionIdHeader);
  info.key_id = header(req, kKeyIdHeader);
  info.token_id = header(req, kTokenIdHeader);
  info.deadline_text = header(req, kDeadlineHeader);
  if (!info.deadline_text.empty()) info.deadline = parse_rfc3339(info.deadline_text);

  if (const std::string metadata = header(req, kMetadataHeader); !metadata.empty()) {
    boost::system::error_code ec;
    json::value v = json::parse(metadata, ec);
    if (!ec && v.is_object()) {
      info.metadata = std::move(v);
    } else {
      info.metadata_invalid = true;
    }
  }

  info.target = std::string(req.target());
  const std::string secret_name = lower(kSecretHeader);
  for (const auto& field : req) {
    std::string name = lower(field.name_string());
    std::string value = name == secret_name ? "[redacted]" : std::string(field.value());
    if (auto* existing = info.headers.if_contains(name)) {  // a repeated header: join, as HTTP does
      value = std::string(existing->as_string()) + ", " + value;
    }
    info.headers[name] = value;
  }
  return info;
}

// One line per session (never the secret, never a credential: Bouncer sends none).
void log_session(const SessionInfo& info, const tcp::endpoint& peer) {
  std::string line = "session peer=" + log_value(peer.address().to_string() + ":" + std::to_string(peer.port()));
  line += " target=" + log_value(info.target);
  line += " session_id=" + log_value(info.session_id);
  line += " key_id=" + log_value(info.key_id);
  line += " token_id=" + log_value(info.token_id);
  if (!info.deadline_text.empty()) {
    line += " deadline=" + log_value(info.deadline_text);
    if (info.deadline) {
      const auto left = std::chrono::duration_cast<std::chrono::seconds>(*info.deadline - std::chrono::system_clock::now());
      line += " deadline_in_s=" + std::to_string(left.count());
    } else {
      line += " deadline_invalid=true";
    }
  }
  if (!info.metadata.is_null()) line += " metadata=" + json::serialize(info.metadata);
  if (info.metadata_invalid) line += " metadata_invalid=true";
  std::cerr << line << "\n";
}

// =======================================================================================
// Server: the listener, and the list of live connections that SIGTERM must close.
// =======================================================================================
class Connection {
 public:
  virtual ~Connection() = default;
  virtual void shutdown() = 0;  // close with 1001 "Server shutting down"
};

class Server : public std::enable_shared_from_this<Server> {
 public:
  Server(net::io_context& ioc, std::string secret)
      : ioc_(ioc), acceptor_(ioc), retry_timer_(ioc), shutdown_timer_(ioc), secret_(std::move(secret)) {}

  // Binds and listens; returns the port actually bound (useful with port 0).
  std::uint16_t listen(const tcp::endpoint& endpoint) {
    beast::error_code ec;
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
    if (ec) {
      throw std::runtime_error("cannot listen on " + endpoint.address().to_string() + ":" +
                               std::to_string(endpoint.port()) + ": " + ec.message());
    }
    do_accept();
    return acceptor_.local_endpoint().port();
  }

  // Stops accepting and closes every session; the process exits when they are gone, or
  // after kShutdownGrace at the latest.
  void shutdown() {
    if (stopping_) return;
    stopping_ = true;
    beast::error_code ignored;
    acceptor_.close(ignored);
    retry_timer_.cancel();
    for (const auto& weak : connections_) {
      if (auto c = weak.lock()) c->shutdown();
    }
    shutdown_timer_.expires_after(kShutdownGrace);
    shutdown_timer_.async_wait([this](beast::error_code ec) {
      if (!ec) ioc_.stop();  // someone did not close in time
    });
    if (live_ == 0) shutdown_timer_.cancel();
  }

  bool stopping() const { return stopping_; }
  const std::string& secret() const { return secret_; }

  // Connections register themselves so that shutdown() can reach them.
  void add(const std::shared_ptr<Connection>& c) {
    std::erase_if(connections_, [](const auto& weak) { return weak.expired(); });
    connections_.push_back(c);
  }
  void connection_opened() { ++live_; }
  void connection_closed() {
    if (--live_ == 0 && stopping_) shutdown_timer_.cancel();  // the last one: exit now
  }

 private:
  void do_accept();

  net::io_context& ioc_;
  tcp::acceptor acceptor_;
  net::steady_timer retry_timer_;  // after a failed accept
  net::steady_timer shutdown_timer_;
  const std::string secret_;  // empty: no secret required
  std::vector<std::weak_ptr<Connection>> connections_;
  std::size_t live_ = 0;
  bool stopping_ = false;
};

// Whether `protocol` is one of the comma-separated subprotocols the client offered.
bool offers_protocol(const http::request<http::empty_body>& req, std::string_view protocol) {
  const auto [first, last] = req.equal_range(http::field::sec_websocket_protocol);
  for (auto field = first; field != last; ++field) {
    std::string_view list = field->value();
    while (!list.empty()) {
      const auto comma = list.find(',');
      auto item = list.substr(0, comma);
      while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
      while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
      if (item == protocol) return true;
      if (comma == std::string_view::npos) break;
      list.remove_prefix(comma + 1);
    }
  }
  return false;
}

// =======================================================================================
// WebSocketSession: one accepted WebSocket.
//
// Writing: one write in flight at a time, always. Replies wait in a queue; when the queue
// holds more than kMaxQueuedMessages or kMaxQueuedBytes, we stop reading until it drains,
// so a client that sends without reading is slowed down by TCP instead of filling our
// memory. A flood is not queued at all: its next frame is produced only when the previous
// one has been written, so it goes exactly as fast as the client reads.
// =======================================================================================
class WebSocketSession : public Connection, public std::enable_shared_from_this<WebSocketSession> {
 public:
  WebSocketSession(beast::tcp_stream stream, std::shared_ptr<Server> server, SessionInfo info)
      : ws_(std::move(stream)), tick_timer_(ws_.get_executor()), server_(std::move(server)),
        info_(std::move(info)) {
    server_->connection_opened();
  }
  ~WebSocketSession() override { server_->connection_closed(); }

  void run(const http::request<http::empty_body>& req, std::chrono::steady_clock::duration budget) {
    beast::get_lowest_layer(ws_).expires_never();  // the WebSocket's own timers take over
    auto timeouts = websocket::stream_base::timeout::suggested(beast::role_type::server);
    timeouts.handshake_timeout = budget;
    ws_.set_option(timeouts);
    // A model server with a subprotocol of its own: "realtime" is answered when the client
    // offers it (Bouncer forwards the client's offer, minus its credential); otherwise none.
    const bool realtime = offers_protocol(req, "realtime");
    ws_.set_option(websocket::stream_base::decorator([realtime](websocket::response_type& res) {
      res.set(http::field::server, "model-server-example");
      if (realtime) res.set(http::field::sec_websocket_protocol, "realtime");
    }));
    ws_.read_message_max(kMaxMessageBytes);
    ws_.async_accept(req, [self = shared_from_this()](beast::error_code ec) { self->on_accept(ec); });
  }

  void shutdown() override {
    if (!open_) {
      ended_ = true;
      beast::get_lowest_layer(ws_).close();  // still in the handshake: just drop it
      return;
    }
    start_close(websocket::close_reason(websocket::close_code::going_away, "Server shutting down"));
  }

 private:
  void on_accept(beast::error_code ec) {
    if (ended_) return;  // shut down during the handshake
    if (ec) return fail(ec, "accept");
    open_ = true;
    // Idle: a ping after 150 s of silence, closed after 300 s. Closing handshake: 5 s.
    auto timeouts = websocket::stream_base::timeout::suggested(beast::role_type::server);
    timeouts.handshake_timeout = kCloseTimeout;
    ws_.set_option(timeouts);
    if (server_->stopping()) return shutdown();
    do_read();
  }

  // ---- reading ----------------------------------------------------------------------

  void do_read() {
    reading_ = true;
    ws_.async_read(buffer_, [self = shared_from_this()](beast::error_code ec, std::size_t n) { self->on_read(ec, n); });
  }

  void on_read(beast::error_code ec, std::size_t) {
    reading_ = false;
    if (ec == websocket::error::closed) log_peer_close();
    if (ec) return end(ec, "read");
    if (!closing_) handle_message();
    buffer_.clear();
    if (closing_ || !queue_full()) {
      do_read();  // also while closing: the peer's close frame arrives through a read
    }             // else: paused; on_write resumes reading when the queue has drained
  }

  void handle_message() {
    const bool text = ws_.got_text();
    std::string message = beast::buffers_to_string(buffer_.data());
    if (text) {
      boost::system::error_code ec;
      const json::value v = json::parse(message, ec);
      const json::object* command = ec ? nullptr : v.if_object();
      const json::value* type = command ? command->if_contains("type") : nullptr;
      if (type && type->is_string() && handle_command(type->as_string(), *command)) return;
    }
    send(std::move(message), text);  // not a command: echo, text as text, binary as binary
  }

  // Returns false when `type` is not one of ours (the message is then echoed).
  bool handle_command(std::string_view type, const json::object& command) {
    if (type == "whoami") {
      send(json::serialize(json::object{
          {"type", "whoami"},
          {"headers", info_.headers},
          {"target", info_.target},
          {"session", {{"id", info_.session_id},
                       {"keyId", info_.key_id},
                       {"tokenId", info_.token_id},
                       {"deadline", info_.deadline_text},
                       {"metadata", info_.metadata}}},
      }));
      return true;
    }
    if (type == "flood") {
      start_flood(command);
      return true;
    }
    if (type == "close") {
      const json::value* code = command.if_contains("code");
      const json::value* reason = command.if_contains("reason");
      const std::int64_t c = code && code->is_int64() ? code->as_int64() : 1000;
      const std::string r = reason && reason->is_string() ? std::string(reason->as_string()) : std::string();
      if ((code && !code->is_int64()) || !sendable_close_code(c)) {
        send_error("\"code\" must be a close code a server may send (1000-1003, 1007-1013, 3000-4999)");
      } else if (r.size() > 123) {
        send_error("\"reason\" is limited to 123 bytes");
      } else {
        // After what is already queued has been written.
        pending_close_ = websocket::close_reason(static_cast<websocket::close_code>(c), r);
        do_write();
      }
      return true;
    }
    if (type == "prompt") {
      const json::value* prompt = command.if_contains("prompt");
      if (!prompt || !prompt->is_string()) {
        send_error("\"prompt\" must be a string");
        return true;
      }
      send(json::serialize(json::object{{"type", "prompt_ack"}, {"prompt", *prompt}}));
      start_ticks();
      return true;
    }
    return false;
  }

  void send_error(std::string_view message) {
    send(json::serialize(json::object{{"type", "error"}, {"error", message}}));
  }

  // ---- writing ----------------------------------------------------------------------

  struct Outgoing {
    std::string data;
    bool text = true;
  };

  bool queue_full() const { return queue_.size() >= kMaxQueuedMessages || queued_bytes_ >= kMaxQueuedBytes; }

  void send(std::string data, bool text = true) {
    if (closing_ || ended_) return;
    queued_bytes_ += data.size();
    queue_.push_back({std::move(data), text});
    do_write();
  }

  // Starts the next write if none is in flight: queued replies first, then the next flood
  // frame, then a requested close once everything before it has gone out.
  void do_write() {
    if (writing_ || closing_ || ended_) return;
    if (!queue_.empty()) {
      writing_ = true;
      ws_.text(queue_.front().text);
      ws_.async_write(net::buffer(queue_.front().data), [self = shared_from_this()](beast::error_code ec, std::size_t) {
        self->on_write(ec, 0);
      });
      return;
    }
    if (flood_left_ > 0) {
      writing_ = true;
      const std::size_t frame = static_cast<std::size_t>(std::min<std::uint64_t>(flood_chunk_, flood_left_));
      const std::uint8_t* start = flood_pattern().data() + flood_offset_ % 251;
      ws_.binary(true);
      ws_.async_write(net::buffer(start, frame), [self = shared_from_this(), frame](beast::error_code ec, std::size_t) {
        self->on_write(ec, frame);
      });
      return;
    }
    if (pending_close_) start_close(*pending_close_);
  }

  // `flood_bytes` is the size of the flood frame just written, 0 for a queued reply.
  void on_write(beast::error_code ec, std::size_t flood_bytes) {
    writing_ = false;
    if (ec) return end(ec, "write");
    if (closing_ || ended_) return;  // the queue was dropped meanwhile
    if (flood_bytes == 0) {
      queued_bytes_ -= queue_.front().data.size();
      queue_.pop_front();
    } else {
      flood_offset_ += flood_bytes;
      flood_left_ -= flood_bytes;
      if (flood_left_ == 0) send(json::serialize(json::object{{"type", "flood_done"}, {"bytes", flood_offset_}}));
    }
    if (!reading_ && !closing_ && !ended_ && !queue_full()) do_read();  // resume a paused reader
    do_write();
  }

  void start_flood(const json::object& command) {
    const json::value* bytes = command.if_contains("bytes");
    const json::value* chunk = command.if_contains("chunk");
    const auto as_u64 = [](const json::value* v) -> std::optional<std::uint64_t> {
      if (v && v->is_uint64()) return v->as_uint64();
      if (v && v->is_int64() && v->as_int64() >= 0) return static_cast<std::uint64_t>(v->as_int64());
      return std::nullopt;
    };
    const auto n = as_u64(bytes);
    const auto c = chunk ? as_u64(chunk) : std::optional<std::uint64_t>(kDefaultFloodChunk);
    if (!n || *n > kMaxFloodBytes) return send_error("\"bytes\" must be an integer from 0 to 2^40");
    if (!c || *c == 0 || *c > kMaxFloodChunk) return send_error("\"chunk\" must be an integer from 1 to 1048576");
    if (flood_left_ > 0) return send_error("a flood is already running");
    flood_offset_ = 0;
    flood_left_ = *n;
    flood_chunk_ = static_cast<std::size_t>(*c);
    if (*n == 0) return send(json::serialize(json::object{{"type", "flood_done"}, {"bytes", 0}}));
    do_write();
  }

  // ---- the demo's ticks ---------------------------------------------------------------

  // A tick a second from the prompt, on a fixed schedule. A tick that finds the queue full
  // is skipped rather than queued: a slow client sees fewer ticks, never more memory used.
  void start_ticks() {
    ++tick_generation_;
    tick_seconds_ = 0;
    next_tick_ = std::chrono::steady_clock::now() + 1s;
    arm_tick();
  }

  void arm_tick() {
    tick_timer_.expires_at(next_tick_);
    tick_timer_.async_wait([self = shared_from_this(), generation = tick_generation_](beast::error_code ec) {
      if (ec || generation != self->tick_generation_ || self->closing_ || self->ended_) return;
      ++self->tick_seconds_;
      if (!self->queue_full()) {
        self->send(json::serialize(json::object{{"type", "generation_tick"}, {"seconds", self->tick_seconds_}}));
      }
      self->next_tick_ += 1s;
      self->arm_tick();
    });
  }

  // ---- closing ------------------------------------------------------------------------

  // What the gateway relayed of its client's close, so an operator can see how a session ended.
  void log_peer_close() const {
    const websocket::close_reason& r = ws_.reason();
    std::cerr << "closed session_id=" << log_value(info_.session_id) << " code=" << r.code
              << " reason=" << log_value(std::string_view(r.reason.data(), r.reason.size())) << "\n";
  }

  void start_close(websocket::close_reason reason) {  // a copy: stop_activity() resets pending_close_
    if (closing_ || ended_) return;
    closing_ = true;
    stop_activity();
    // Beast lets a close start while a write is in flight: it goes out right after it.
    ws_.async_close(reason, [self = shared_from_this()](beast::error_code ec) {
      if (ec) fail(ec, "close");
    });
  }

  // The connection is gone (the peer closed, or a read or write failed).
  void end(beast::error_code ec, std::string_view what) {
    ended_ = true;
    stop_activity();
    fail(ec, what);
  }

  void stop_activity() {
    ++tick_generation_;
    tick_timer_.cancel();
    flood_left_ = 0;
    queue_.clear();  // a write in flight keeps its own buffer: see on_write
    queued_bytes_ = 0;
    pending_close_.reset();
  }

  websocket::stream<beast::tcp_stream> ws_;
  beast::flat_buffer buffer_;
  net::steady_timer tick_timer_;
  std::shared_ptr<Server> server_;
  SessionInfo info_;

  bool open_ = false, reading_ = false, writing_ = false, closing_ = false, ended_ = false;
  std::deque<Outgoing> queue_;
  std::size_t queued_bytes_ = 0;
  std::optional<websocket::close_reason> pending_close_;
  std::uint64_t flood_offset_ = 0, flood_left_ = 0;
  std::size_t flood_chunk_ = kDefaultFloodChunk;
  std::uint64_t tick_generation_ = 0, tick_seconds_ = 0;
  std::chrono::steady_clock::time_point next_tick_{};
};

// =======================================================================================
// HttpSession: a connection until its upgrade request has been judged.
// =======================================================================================
class HttpSession : public Connection, public std::enable_shared_from_this<HttpSession> {
 public:
  HttpSession(tcp::socket socket, std::shared_ptr<Server> server)
      : stream_(std::move(socket)), server_(std::move(server)) {
    server_->connection_opened();
  }
  ~HttpSession() override { server_->connection_closed(); }

  void run() { do_read(); }

  void shutdown() override {
    if (!handed_off_) stream_.close();
  }

 private:
  void do_read() {
    deadline_ = std::chrono::steady_clock::now() + kHandshakeTimeout;
    stream_.expires_at(deadline_);
    parser_.header_limit(kMaxHeaderBytes);
    http::async_read(stream_, buffer_, parser_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      self->on_read(ec);
    });
  }

  void on_read(beast::error_code ec) {
    if (ec) return fail(ec, "read request");
    const auto& req = parser_.get();
    if (!websocket::is_upgrade(req)) return refuse(http::status::upgrade_required, "WebSocket only\n");

    // Only your Bouncer knows the secret: refuse anyone else before reading anything more.
    // Exactly one header, so that no proxy and no library has to choose between two.
    if (!server_->secret().empty()) {
      const auto presented = req.find(kSecretHeader);
      if (req.count(kSecretHeader) != 1 || !constant_time_equal(presented->value(), server_->secret())) {
        std::cerr << "refused peer=" << log_value(stream_.socket().remote_endpoint(ec).address().to_string())
                  << " reason=\"missing or wrong " << kSecretHeader << "\"\n";
        return refuse(http::status::forbidden, "Forbidden\n");
      }
    }
    if (server_->stopping()) return refuse(http::status::service_unavailable, "Shutting down\n");

    SessionInfo info = read_session_info(req);
    log_session(info, stream_.socket().remote_endpoint(ec));

    auto session = std::make_shared<WebSocketSession>(std::move(stream_), server_, std::move(info));
    handed_off_ = true;
    server_->add(session);
    const auto left = deadline_ - std::chrono::steady_clock::now();
    session->run(parser_.get(), std::max<std::chrono::steady_clock::duration>(left, 1ms));
  }

  void refuse(http::status status, std::string_view body) {
    response_.emplace(status, parser_.get().version());
    response_->set(http::field::content_type, "text/plain; charset=utf-8");
    response_->keep_alive(false);
    response_->body() = body;
    response_->prepare_payload();
    http::async_write(stream_, *response_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) return fail(ec, "write refusal");
      self->stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    });
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  http::request_parser<http::empty_body> parser_;
  std::optional<http::response<http::string_body>> response_;
  std::chrono::steady_clock::time_point deadline_{};
  std::shared_ptr<Server> server_;
  bool handed_off_ = false;
};

void Server::do_accept() {
  acceptor_.async_accept([self = shared_from_this()](beast::error_code ec, tcp::socket socket) {
    if (self->stopping_) return;
    if (ec) {
      // Usually out of file descriptors: retrying at once would spin, so wait a little.
      fail(ec, "accept");
      self->retry_timer_.expires_after(100ms);
      self->retry_timer_.async_wait([self](beast::error_code wait_ec) {
        if (!wait_ec && !self->stopping_) self->do_accept();
      });
      return;
    }
    auto session = std::make_shared<HttpSession>(std::move(socket), self);
    self->add(session);
    session->run();
    self->do_accept();
  });
}

// =======================================================================================
// Command line
// =======================================================================================
struct Options {
  tcp::endpoint listen{net::ip::make_address("127.0.0.1"), 9000};
  std::string secret;
  std::string port_file;
};

[[noreturn]] void usage(const std::string& error) {
  if (!error.empty()) std::cerr << "model-server: " << error << "\n";
  std::cerr << "usage: model-server [--listen HOST:PORT] [--secret S] [--port-file F]\n"
               "  --listen HOST:PORT  address to serve on (default 127.0.0.1:9000; port 0: any free port)\n"
               "  --secret S          require header X-Bouncer-Upstream-Secret: S (else 403);\n"
               "                      also read from MODEL_SERVER_SECRET, which keeps it out of `ps`\n"
               "  --port-file F       write the bound port to F once listening\n";
  std::exit(error.empty() ? 0 : 2);
}

// "127.0.0.1:9000", "[::1]:9000".
tcp::endpoint parse_endpoint(const std::string& text) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos) usage("--listen wants HOST:PORT, got " + log_value(text));
  std::string host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  const std::string port = text.substr(colon + 1);
  boost::system::error_code ec;
  const auto address = net::ip::make_address(host, ec);
  if (ec) usage("--listen: " + log_value(host) + " is not an IP address");
  char* end = nullptr;
  const unsigned long p = std::strtoul(port.c_str(), &end, 10);
  if (port.empty() || *end != '\0' || p > 65535) usage("--listen: bad port " + log_value(port));
  return {address, static_cast<std::uint16_t>(p)};
}

Options parse_options(int argc, char** argv) {
  Options o;
  if (const char* env = std::getenv("MODEL_SERVER_SECRET")) o.secret = env;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage(arg + " needs a value");
      return argv[++i];
    };
    if (arg == "--listen") {
      o.listen = parse_endpoint(value());
    } else if (arg == "--secret") {
      o.secret = value();
    } else if (arg == "--port-file") {
      o.port_file = value();
    } else if (arg == "--help" || arg == "-h") {
      usage("");
    } else {
      usage("unknown argument " + log_value(arg));
    }
  }
  return o;
}

// Written to a temporary file and renamed, so a reader never sees half a number.
void write_port_file(const std::string& path, std::uint16_t port) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << port << "\n";
    if (!out.flush()) throw std::runtime_error("cannot write " + tmp);
  }
  std::filesystem::rename(tmp, path);
}

int main(int argc, char** argv) {
  const Options options = parse_options(argc, argv);
  try {
    net::io_context ioc;  // one thread: no locks needed anywhere
    auto server = std::make_shared<Server>(ioc, options.secret);
    // Before announcing the port, so that whoever reads it can already stop us cleanly.
    net::signal_set signals(ioc, SIGINT, SIGTERM);
    signals.async_wait([server](beast::error_code ec, int) {
      if (!ec) server->shutdown();
    });
    const std::uint16_t port = server->listen(options.listen);

    std::string host = options.listen.address().to_string();
    if (options.listen.address().is_v6()) host = "[" + host + "]";
    std::cout << "listening on " << host << ":" << port << std::endl;
    if (!options.port_file.empty()) write_port_file(options.port_file, port);
    if (options.secret.empty()) {
      std::cerr << "warning: no --secret: anyone who can reach " << host << ":" << port
                << " can use this server, not only Bouncer\n";
    }


    ioc.run();
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "model-server: " << e.what() << "\n";
    return 1;
  }
}
