#include "store/redis/connection.h"

#include <boost/asio/post.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>

namespace bouncer::store::redis {
namespace net = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::chrono::milliseconds kFirstReconnectPause{50};
constexpr std::chrono::milliseconds kWatchdogPeriod{100};

Reply copy_reply(const redisReply& r) {
  Reply out;
  switch (r.type) {
    case REDIS_REPLY_STRING: out.type = Reply::Type::string; break;
    case REDIS_REPLY_ARRAY: out.type = Reply::Type::array; break;
    case REDIS_REPLY_INTEGER: out.type = Reply::Type::integer; break;
    case REDIS_REPLY_STATUS: out.type = Reply::Type::status; break;
    case REDIS_REPLY_ERROR: out.type = Reply::Type::error; break;
    default: out.type = Reply::Type::nil; break;
  }
  if (r.str) out.str.assign(r.str, r.len);
  out.integer = r.integer;
  out.elements.reserve(r.elements);
  for (std::size_t i = 0; i < r.elements; ++i) out.elements.push_back(copy_reply(*r.element[i]));
  return out;
}

}  // namespace

struct Connection::Pending {
  Connection* connection;
  Callback callback;
};

// hiredis's event hooks, served by async_wait() on its socket. hiredis owns the socket: the
// descriptor is released (never closed) when hiredis cleans up.
class Connection::Events : public std::enable_shared_from_this<Connection::Events> {
 public:
  Events(net::io_context& io, redisAsyncContext* context) : fd_(io, context->c.fd), context_(context) {}

  static void attach(net::io_context& io, redisAsyncContext* context) {
    auto events = std::make_shared<Events>(io, context);
    events->self_ = events;  // alive until hiredis calls cleanup
    context->ev.data = events.get();
    context->ev.addRead = [](void* p) { static_cast<Events*>(p)->want(Direction::read, true); };
    context->ev.delRead = [](void* p) { static_cast<Events*>(p)->want(Direction::read, false); };
    context->ev.addWrite = [](void* p) { static_cast<Events*>(p)->want(Direction::write, true); };
    context->ev.delWrite = [](void* p) { static_cast<Events*>(p)->want(Direction::write, false); };
    context->ev.cleanup = [](void* p) { static_cast<Events*>(p)->detach(); };
  }

 private:
  enum class Direction { read, write };
  struct Interest {
    bool wanted = false;
    bool waiting = false;
  };

  Interest& interest(Direction d) { return d == Direction::read ? read_ : write_; }

  void want(Direction d, bool on) {
    interest(d).wanted = on;
    if (on) arm(d);
  }

  void arm(Direction d) {
    Interest& i = interest(d);
    if (i.waiting || !i.wanted || !context_) return;
    i.waiting = true;
    const auto wait = d == Direction::read ? net::posix::stream_descriptor::wait_read
                                           : net::posix::stream_descriptor::wait_write;
    fd_.async_wait(wait, [self = shared_from_this(), d](boost::system::error_code ec) {
      Interest& again = self->interest(d);
      again.waiting = false;
      if (ec || !self->context_ || !again.wanted) return;
      if (d == Direction::read) {
        redisAsyncHandleRead(self->context_);  // may end in cleanup: context_ is then null
      } else {
        redisAsyncHandleWrite(self->context_);
      }
      self->arm(d);
    });
  }

  void detach() {
    context_ = nullptr;
    read_.wanted = write_.wanted = false;
    (void)fd_.release();  // cancels the waits; hiredis closes the socket itself
    self_.reset();
  }

  net::posix::stream_descriptor fd_;
  redisAsyncContext* context_;
  Interest read_, write_;
  std::shared_ptr<Events> self_;
};

Connection::Connection(net::io_context& io, Endpoint endpoint, ConnectionOptions options)
    : io_(io), endpoint_(std::move(endpoint)), options_(options), reconnect_timer_(io), watchdog_(io) {}

Connection::~Connection() { stop(); }

void Connection::start() {
  stopped_ = false;
  connect();
  watch();
}

void Connection::stop() {
  if (stopped_) return;
  stopped_ = true;
  reconnect_timer_.cancel();
  watchdog_.cancel();
  drop_reason_ = std::make_error_code(std::errc::operation_canceled);
  drop("stopped");
}

void Connection::connect() {
  redisAsyncContext* context = redisAsyncConnect(endpoint_.host.c_str(), endpoint_.port);
  if (!context || context->err) {
    const std::string why = context ? context->errstr : "out of memory";
    if (context) redisAsyncFree(context);
    went_down(why);
    schedule_reconnect();
    return;
  }
  context->data = this;
  Events::attach(io_, context);
  redisAsyncSetConnectCallback(context, &Connection::on_connect);
  redisAsyncSetDisconnectCallback(context, &Connection::on_disconnect);
  context_ = context;
  drop_reason_ = {};
  connect_started_ = Clock::now();

  // Sent at once, ahead of anything else: hiredis queues them until the socket is connected.
  auto refused = [self = shared_from_this()](std::string what) {
    return [self, what = std::move(what)](std::error_code ec, Reply reply) {
      if (!ec && reply.is_error()) self->drop("Redis refused " + what + ": " + reply.str);
    };
  };
  if (!endpoint_.password.empty()) {
    std::vector<std::string> auth{"AUTH"};
    if (!endpoint_.username.empty()) auth.push_back(endpoint_.username);
    auth.push_back(endpoint_.password);
    command(auth, refused("the credentials"));
  }
  if (endpoint_.db != 0) command({"SELECT", std::to_string(endpoint_.db)}, refused("the database number"));
  command({"PING"}, [self = shared_from_this()](std::error_code ec, Reply reply) {
    if (!ec && !reply.is_error()) self->went_up();
  });
  if (!channel_.empty()) send_subscribe();
}

void Connection::subscribe(std::string channel, MessageListener on_message) {
  channel_ = std::move(channel);
  message_listener_ = std::move(on_message);
}

void Connection::send_subscribe() {
  const char* argv[] = {"SUBSCRIBE", channel_.c_str()};
  const std::size_t lengths[] = {9, channel_.size()};
  // hiredis keeps this callback for the subscription's life and calls it once more with no
  // reply when the context is freed: its privdata is the connection, never an owned Pending.
  if (redisAsyncCommandArgv(context_, &Connection::on_message, this, 2, argv, lengths) != REDIS_OK) {
    drop("cannot subscribe to " + channel_);
  }
}

void Connection::on_message(redisAsyncContext*, void* reply, void* privdata) {
  if (!reply) return;  // the context is going away: on_disconnect or drop() tells why
  auto& self = *static_cast<Connection*>(privdata);
  const auto& r = *static_cast<const redisReply*>(reply);
  if (r.type != REDIS_REPLY_ARRAY || r.elements < 3 || r.element[0]->type != REDIS_REPLY_STRING) return;
  const std::string_view kind(r.element[0]->str, r.element[0]->len);
  if (kind == "subscribe") {
    if (self.message_listener_) self.message_listener_({});
  } else if (kind == "message" && r.element[2]->type == REDIS_REPLY_STRING) {
    if (self.message_listener_) self.message_listener_(std::string(r.element[2]->str, r.element[2]->len));
  }
}

void Connection::drop(const std::string& why) {
  if (!context_) return;
  redisAsyncContext* context = context_;
  context_ = nullptr;  // on_disconnect, called from the free, then knows it was us
  if (!drop_reason_) drop_reason_ = std::make_error_code(std::errc::connection_aborted);
  redisAsyncFree(context);  // pending callbacks run with no reply (deferred when inside one)
  went_down(why);
  schedule_reconnect();
}

void Connection::schedule_reconnect() {
  if (stopped_) return;
  reconnect_timer_.expires_after(reconnect_pause_);
  reconnect_pause_ = std::min(reconnect_pause_ * 2, options_.max_reconnect_pause);
  reconnect_timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (!ec && !self->stopped_ && !self->context_) self->connect();
  });
}

void Connection::watch() {
  watchdog_.expires_after(kWatchdogPeriod);
  watchdog_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (ec || self->stopped_) return;
    const auto now = Clock::now();
    if (self->context_ && !self->up_ && now - self->connect_started_ > self->options_.connect_timeout) {
      self->drop_reason_ = std::make_error_code(std::errc::timed_out);
      self->drop("no connection within " + std::to_string(self->options_.connect_timeout.count()) + " ms");
    } else if (self->context_ && self->pending_ > 0 && now - self->last_progress_ > self->options_.command_timeout) {
      self->drop_reason_ = std::make_error_code(std::errc::timed_out);
      self->drop("no reply within " + std::to_string(self->options_.command_timeout.count()) + " ms");
    }
    self->watch();
  });
}

void Connection::went_up() {
  up_ = true;
  reconnect_pause_ = kFirstReconnectPause;
  if (listener_) listener_(true, {});
}

void Connection::went_down(const std::string& why) {
  up_ = false;
  if (listener_) listener_(false, why);
}

void Connection::command(const std::vector<std::string>& args, Callback callback) {
  if (!context_) {
    net::post(io_, [callback = std::move(callback)] { callback(std::make_error_code(std::errc::not_connected), {}); });
    return;
  }
  std::vector<const char*> argv;
  std::vector<std::size_t> lengths;
  argv.reserve(args.size());
  lengths.reserve(args.size());
  for (const auto& a : args) {
    argv.push_back(a.data());
    lengths.push_back(a.size());
  }
  auto pending = std::make_unique<Pending>(Pending{this, std::move(callback)});
  if (redisAsyncCommandArgv(context_, &Connection::on_reply, pending.get(), static_cast<int>(argv.size()),
                            argv.data(), lengths.data()) != REDIS_OK) {
    net::post(io_, [callback = std::move(pending->callback)] {
      callback(std::make_error_code(std::errc::not_connected), {});
    });
    return;
  }
  (void)pending.release();  // on_reply owns it now
  if (pending_++ == 0) last_progress_ = Clock::now();
}

void Connection::on_reply(redisAsyncContext*, void* reply, void* privdata) {
  std::unique_ptr<Pending> pending(static_cast<Pending*>(privdata));
  Connection& self = *pending->connection;
  --self.pending_;
  if (!reply) {
    pending->callback(self.drop_reason_ ? self.drop_reason_ : std::make_error_code(std::errc::connection_aborted), {});
    return;
  }
  self.last_progress_ = Clock::now();
  pending->callback({}, copy_reply(*static_cast<const redisReply*>(reply)));
}

void Connection::on_connect(const redisAsyncContext* context, int status) {
  auto& self = *static_cast<Connection*>(context->data);
  if (status == REDIS_OK) return;  // up once PING answers (after AUTH and SELECT)
  // hiredis frees the context after this callback.
  if (self.context_ == context) {
    self.context_ = nullptr;
    self.drop_reason_ = std::make_error_code(std::errc::connection_refused);
    self.went_down(context->errstr);
    self.schedule_reconnect();
  }
}

void Connection::on_disconnect(const redisAsyncContext* context, int status) {
  auto& self = *static_cast<Connection*>(context->data);
  if (self.context_ != context) return;  // our own drop(): already handled
  self.context_ = nullptr;
  if (!self.drop_reason_) self.drop_reason_ = std::make_error_code(std::errc::connection_reset);
  self.went_down(status == REDIS_OK ? std::string("closed by the server") : std::string(context->errstr));
  self.schedule_reconnect();
}

}  // namespace bouncer::store::redis
