// The Redis engine of the Store (docs/CLUSTER.md). One connection, driven by its own io_context
// thread: the server's I/O threads never wait on Redis through it except where store.h says
// so. Token records are pipelined: every record_token() is sent at once, and Redis, run with
// appendfsync always, writes and fsyncs everything one event-loop turn received before it
// answers, so concurrent mints share one fsync (the group commit).
#include "metrics/catalog.h"
#include "store/redis/connection.h"
#include "store/redis/keys.h"
#include "store/redis/scripts.h"
#include "store/store.h"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <future>
#include <map>
#include <mutex>
#include <stdexcept>
#include <thread>

namespace bouncer::store {
namespace redis {
namespace {

namespace net = boost::asio;
using Command = std::vector<std::string>;
using Fields = std::map<std::string, std::string, std::less<>>;

constexpr std::size_t kPurgeChunk = 1000;

std::string decimal(std::int64_t v) { return std::to_string(v); }
std::string optional_decimal(const std::optional<std::int64_t>& v) { return v ? decimal(*v) : std::string(); }

template <std::size_t N>
std::string bytes(const std::array<std::uint8_t, N>& a) {
  return std::string(reinterpret_cast<const char*>(a.data()), a.size());
}

Command eval(std::string_view script, std::initializer_list<std::string> keys, std::initializer_list<std::string> args) {
  Command c{"EVAL", std::string(script), std::to_string(keys.size())};
  c.insert(c.end(), keys);
  c.insert(c.end(), args);
  return c;
}

// ---- decoding what HGETALL returned ----

Fields fields_of(const Reply& r) {
  Fields f;
  for (std::size_t i = 0; i + 1 < r.elements.size(); i += 2) f.emplace(r.elements[i].str, r.elements[i + 1].str);
  return f;
}

[[noreturn]] void corrupt(std::string_view what, std::string_view field) {
  throw std::runtime_error("Redis holds a malformed " + std::string(what) + " (field '" + std::string(field) + "')");
}

const std::string& text(const Fields& f, std::string_view field, std::string_view what) {
  const auto it = f.find(field);
  if (it == f.end()) corrupt(what, field);
  return it->second;
}

std::int64_t integer(const Fields& f, std::string_view field, std::string_view what) {
  const std::string& s = text(f, field, what);
  std::int64_t v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || end != s.data() + s.size()) corrupt(what, field);
  return v;
}

std::optional<std::int64_t> optional_integer(const Fields& f, std::string_view field, std::string_view what) {
  if (!f.contains(field)) return std::nullopt;
  return integer(f, field, what);
}

template <std::size_t N>
std::array<std::uint8_t, N> byte_array(const Fields& f, std::string_view field, std::string_view what) {
  const std::string& s = text(f, field, what);
  if (s.size() != N) corrupt(what, field);
  std::array<std::uint8_t, N> a{};
  std::copy(s.begin(), s.end(), reinterpret_cast<char*>(a.data()));
  return a;
}

KeyRecord key_of(const Fields& f) {
  constexpr std::string_view what = "permanent key";
  KeyRecord k;
  k.id = text(f, "id", what);
  k.name = text(f, "name", what);
  k.prefix = text(f, "prefix", what);
  k.secret_hash = byte_array<32>(f, "secret_hash", what);
  k.created_at = integer(f, "created_at", what);
  k.last_used_at = optional_integer(f, "last_used_at", what);
  k.revoked_at = optional_integer(f, "revoked_at", what);
  k.end_sessions = text(f, "end_sessions", what) == "1";
  return k;
}

SigningKeyRecord signing_key_of(const Fields& f) {
  constexpr std::string_view what = "signing key";
  SigningKeyRecord k;
  k.kid = text(f, "kid", what);
  k.public_key = byte_array<crypto::kPublicKeyBytes>(f, "public_key", what);
  k.created_at = integer(f, "created_at", what);
  k.retired_at = optional_integer(f, "retired_at", what);
  k.publish_until = optional_integer(f, "publish_until", what);
  if (const auto url = f.find("public_url"); url != f.end()) k.public_url = url->second;
  k.alive_until = optional_integer(f, "alive_until", what);
  return k;
}

TokenRecord token_of(const Fields& f) {
  constexpr std::string_view what = "token record";
  TokenRecord t;
  t.jti = text(f, "jti", what);
  t.key_id = text(f, "key_id", what);
  t.kid = text(f, "kid", what);
  t.issued_at = integer(f, "issued_at", what);
  t.expires_at = integer(f, "expires_at", what);
  t.scopes_json = text(f, "scopes", what);
  t.metadata_json = text(f, "metadata", what);
  return t;
}

std::uint64_t version_of(const Reply& r) {
  if (r.type == Reply::Type::nil) return 0;
  std::uint64_t v = 0;
  const auto [end, ec] = std::from_chars(r.str.data(), r.str.data() + r.str.size(), v);
  if (ec != std::errc{} || end != r.str.data() + r.str.size()) {
    throw std::runtime_error("Redis holds a malformed state version");
  }
  return v;
}

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

class RedisStore final : public Store, public SessionLeases {
 public:
  RedisStore(Endpoint endpoint, const RedisOptions& options)
      : options_(options), keys_(options.prefix), where_(endpoint.describe()), work_(io_.get_executor()) {
    ConnectionOptions c;
    c.connect_timeout = options.connect_timeout;
    c.command_timeout = options.command_timeout;
    connection_ = std::make_shared<Connection>(io_, std::move(endpoint), c);
    connection_->on_state([this](bool up, const std::string& why) { remember(up, why); });
    thread_ = std::thread([this] { io_.run(); });
    net::post(io_, [connection = connection_] { connection->start(); });
    wait_until_first_connected();
  }

  ~RedisStore() override {
    // Every record sent before this PING is answered before it (one connection, in order).
    try {
      (void)run_one({"PING"}, "finish pending writes");
    } catch (const std::exception&) {
      // Redis is gone: the pending records were already answered with an error.
    }
    net::post(io_, [this] {
      connection_->stop();
      if (subscriber_) subscriber_->stop();
    });
    work_.reset();
    thread_.join();
  }

  // ---- permanent keys ----

  void create_key(const KeyRecord& k) override {
    check(run_one(eval(scripts::kCreateKey, {keys_.api_keys, keys_.api_key(k.id), keys_.api_key_by_hash, keys_.version},
                       {k.id, k.name, k.prefix, bytes(k.secret_hash), decimal(k.created_at), optional_decimal(k.last_used_at),
                        optional_decimal(k.revoked_at), k.end_sessions ? "1" : "0", keys_.changes}),
                  "create key " + k.id),
          "create key " + k.id);
  }

  std::vector<KeyRecord> list_keys() override { return snapshot().keys; }

  std::optional<KeyRecord> find_key(std::string_view id) override {
    const Reply r = check(run_one({"HGETALL", keys_.api_key(id)}, "read a key"), "read a key");
    if (r.elements.empty()) return std::nullopt;
    return key_of(fields_of(r));
  }

  bool revoke_key(std::string_view id, std::int64_t at, bool end_sessions) override {
    const std::string what = "revoke key " + std::string(id);
    return check(run_one(eval(scripts::kRevokeKey, {keys_.api_key(id), keys_.version},
                              {decimal(at), end_sessions ? "1" : "0", keys_.changes}),
                         what),
                 what)
               .integer == 1;
  }

  void touch_keys(const std::vector<std::pair<std::string, std::int64_t>>& last_used) override {
    if (last_used.empty()) return;
    std::vector<Command> commands;
    for (const auto& [id, at] : last_used) commands.push_back(eval(scripts::kTouchKey, {keys_.api_key(id)}, {decimal(at)}));
    for (const Reply& r : run(std::move(commands), "record key last-use times")) check(r, "record a key's last use");
  }

  // ---- token records ----

  void record_token(TokenRecord t, Done done) override {
    const std::int64_t ttl = std::max<std::int64_t>(t.expires_at - unix_now(), 0) + options_.token_retention_seconds;
    Command c = eval(scripts::kRecordToken, {keys_.token(t.jti), keys_.token_expiry},
                     {t.jti, t.key_id, t.kid, decimal(t.issued_at), decimal(t.expires_at), t.scopes_json,
                      t.metadata_json, decimal(std::max<std::int64_t>(ttl, 1))});
    // Each record is its own pipelined command (Redis groups the fsync of everything one event
    // loop turn received): a batch of one, committed when its reply comes.
    send(std::move(c), [done = std::move(done), sent = std::chrono::steady_clock::now()](std::error_code ec, Reply r) {
      auto& counted = metrics::catalog();
      counted.store_commit_duration.observe(std::chrono::steady_clock::now() - sent);
      counted.store_commit_batch.observe(std::uint64_t{1});
      if (ec) return done(ec);
      if (r.is_error()) return done(std::make_error_code(std::errc::io_error));
      done(r.integer == 1 ? std::error_code() : std::make_error_code(std::errc::file_exists));
    });
  }

  std::optional<TokenRecord> find_token(std::string_view jti) override {
    const Reply r = check(run_one({"HGETALL", keys_.token(jti)}, "read a token record"), "read a token record");
    if (r.elements.empty()) return std::nullopt;
    return token_of(fields_of(r));
  }

  void find_token_async(std::string_view jti, Found found) override {
    send({"HGETALL", keys_.token(jti)}, [found = std::move(found)](std::error_code ec, Reply r) {
      if (ec) return found(ec, std::nullopt);
      if (r.is_error()) return found(std::make_error_code(std::errc::io_error), std::nullopt);
      if (r.elements.empty()) return found({}, std::nullopt);
      try {
        found({}, token_of(fields_of(r)));
      } catch (const std::runtime_error&) {
        found(std::make_error_code(std::errc::illegal_byte_sequence), std::nullopt);
      }
    });
  }

  // ---- uses of client tokens ----

  void use_token(const TokenUse& use, Used done) override {
    constexpr auto kWindowMs = std::chrono::duration_cast<std::chrono::milliseconds>(kResumeWindow).count();
    // The count outlives the token by an hour: a clock skew's leeway, and nothing to resume after.
    const std::int64_t ttl = std::max<std::int64_t>(use.expires_at - unix_now(), 0) + 3600;
    send(eval(scripts::kUseToken, {keys_.uses(use.jti), keys_.sessions_of_token(use.jti)},
              {std::to_string(use.max_uses), use.resume_id, use.session_id, std::to_string(kWindowMs), decimal(ttl)}),
         [done = std::move(done)](std::error_code ec, Reply r) {
           if (!ec && (r.is_error() || r.type != Reply::Type::integer)) ec = std::make_error_code(std::errc::io_error);
           if (ec) return done(ec, UseOutcome::used);
           switch (r.integer) {
             case 1: return done({}, UseOutcome::resumed);
             case 2: return done({}, UseOutcome::used_up);
             case 3: return done({}, UseOutcome::resume_in_use);
             default: return done({}, UseOutcome::used);
           }
         });
  }

  void end_use(const TokenUse& use, UseOutcome outcome, bool give_back) override {
    const bool took = outcome == UseOutcome::used && use.max_uses > 0;
    send(eval(scripts::kEndUse, {keys_.uses(use.jti)},
              {use.resume_id, use.session_id, give_back ? "1" : "0", took ? "1" : "0"}),
         [](std::error_code, Reply) {});
  }

  std::size_t purge_tokens(std::int64_t before) override {
    std::size_t deleted = 0;
    for (;;) {
      const Reply r = check(run_one(eval(scripts::kPurgeTokens, {keys_.token_expiry},
                                         {decimal(before), keys_.token_prefix, std::to_string(kPurgeChunk)}),
                                    "purge token records"),
                            "purge token records");
      if (r.elements.size() != 2) throw std::runtime_error("Redis answered a purge with an unexpected reply");
      deleted += static_cast<std::size_t>(r.elements[1].integer);
      if (r.elements[0].integer == 0) return deleted;
    }
  }

  // ---- signing keys ----

  void add_signing_key(const SigningKeyRecord& k) override {
    const std::string what = "add signing key " + k.kid;
    check(run_one(eval(scripts::kAddSigningKey, {keys_.signing_keys, keys_.signing_key(k.kid), keys_.version},
                       {k.kid, bytes(k.public_key), decimal(k.created_at), optional_decimal(k.retired_at),
                        optional_decimal(k.publish_until), keys_.changes, k.public_url,
                        optional_decimal(k.alive_until)}),
                  what),
          what);
  }

  bool retire_signing_key(std::string_view kid, std::int64_t at, std::int64_t publish_until) override {
    const std::string what = "retire signing key " + std::string(kid);
    return check(run_one(eval(scripts::kRetireSigningKey, {keys_.signing_key(kid), keys_.version},
                              {decimal(at), decimal(publish_until), keys_.changes}),
                         what),
                 what)
               .integer == 1;
  }

  bool announce_signing_key(std::string_view kid, std::string_view public_url,
                            std::optional<std::int64_t> alive_until) override {
    const std::string what = "announce signing key " + std::string(kid);
    return check(run_one(eval(scripts::kAnnounceSigningKey, {keys_.signing_key(kid), keys_.version},
                              {std::string(public_url), optional_decimal(alive_until), keys_.changes}),
                         what),
                 what)
               .integer == 1;
  }

  // ---- session leases ----

  SessionLeases* session_leases() override { return this; }

  std::chrono::milliseconds ttl() const override { return options_.session_lease_ttl; }

  // The sets a session counts in: its key's, its model's and, for a client token, its token's.
  Command lease_command(std::string_view script, const Lease& lease, std::initializer_list<std::string> args) const {
    const bool counts_token = !lease.token_id.empty();
    Command c{"EVAL", std::string(script), counts_token ? "3" : "2", keys_.sessions_of_key(lease.key_id),
              keys_.sessions_of_model(lease.model)};
    if (counts_token) c.push_back(keys_.sessions_of_token(lease.token_id));
    c.insert(c.end(), args);
    return c;
  }

  void acquire(const Lease& lease, const SessionCaps& caps, Acquired done) override {
    Command c = lease_command(scripts::kAcquireSession, lease,
                              {lease.session_id, std::to_string(caps.per_key), std::to_string(caps.per_model),
                               std::to_string(ttl().count()), std::to_string(caps.per_token)});
    send(std::move(c), [done = std::move(done)](std::error_code ec, Reply r) {
      if (!ec && (r.is_error() || r.type != Reply::Type::integer)) ec = std::make_error_code(std::errc::io_error);
      if (ec) return done(ec, Outcome::granted);
      switch (r.integer) {
        case 1: return done({}, Outcome::key_cap);
        case 2: return done({}, Outcome::model_cap);
        case 3: return done({}, Outcome::token_cap);
        default: return done({}, Outcome::granted);
      }
    });
  }

  void renew(const std::vector<Lease>& live, Renewed done) override {
    if (live.empty()) return done({}, {});
    struct Tally {
      std::size_t left;
      std::error_code first_error;
      std::vector<bool> held;
      Renewed done;
    };
    // Every callback runs on the store's one thread: the tally needs no lock.
    auto tally = std::make_shared<Tally>(Tally{live.size(), {}, std::vector<bool>(live.size(), false), std::move(done)});
    for (std::size_t i = 0; i < live.size(); ++i) {
      const auto& lease = live[i];
      send(lease_command(scripts::kRenewSession, lease, {lease.session_id, std::to_string(ttl().count())}),
           [tally, i](std::error_code ec, Reply r) {
             if (!ec && r.is_error()) ec = std::make_error_code(std::errc::io_error);
             if (ec && !tally->first_error) tally->first_error = ec;
             tally->held[i] = !ec && r.integer == 1;
             if (--tally->left == 0) tally->done(tally->first_error, std::move(tally->held));
           });
    }
  }

  void release(const Lease& lease) override {
    send({"ZREM", keys_.sessions_of_key(lease.key_id), lease.session_id}, [](std::error_code, Reply) {});
    send({"ZREM", keys_.sessions_of_model(lease.model), lease.session_id}, [](std::error_code, Reply) {});
    if (!lease.token_id.empty()) {
      send({"ZREM", keys_.sessions_of_token(lease.token_id), lease.session_id}, [](std::error_code, Reply) {});
    }
  }

  // ---- change detection ----

  void watch_changes(std::function<void()> changed) override {
    net::post(io_, [this, changed = std::move(changed)]() mutable {
      if (subscriber_) return;  // one watcher per store
      ConnectionOptions c;
      c.connect_timeout = options_.connect_timeout;
      c.command_timeout = options_.command_timeout;
      subscriber_ = std::make_shared<Connection>(io_, connection_->endpoint(), c);
      subscriber_->subscribe(keys_.changes, [changed = std::move(changed)](const std::string&) { changed(); });
      subscriber_->start();
    });
  }

  std::uint64_t state_version() override {
    return version_of(check(run_one({"GET", keys_.version}, "read the state version"), "read the state version"));
  }

  Snapshot snapshot() override {
    const Reply r = check(run_one(eval(scripts::kSnapshot, {keys_.version, keys_.api_keys, keys_.signing_keys},
                                       {keys_.api_key_prefix, keys_.signing_key_prefix}),
                                  "read the state"),
                          "read the state");
    if (r.elements.size() != 3) throw std::runtime_error("Redis answered a snapshot with an unexpected reply");
    Snapshot s;
    s.version = version_of(r.elements[0]);
    for (const Reply& k : r.elements[1].elements) s.keys.push_back(key_of(fields_of(k)));
    for (const Reply& k : r.elements[2].elements) s.signing_keys.push_back(signing_key_of(fields_of(k)));
    // The order SQLite gives: oldest first.
    std::sort(s.keys.begin(), s.keys.end(),
              [](const auto& a, const auto& b) { return std::tie(a.created_at, a.id) < std::tie(b.created_at, b.id); });
    std::sort(s.signing_keys.begin(), s.signing_keys.end(),
              [](const auto& a, const auto& b) { return std::tie(a.created_at, a.kid) < std::tie(b.created_at, b.kid); });
    return s;
  }

 private:
  // Sends `commands` as one pipeline from the store's thread and waits for every reply.
  // Throws when any reply cannot come (Redis unreachable, or silent past the timeout).
  std::vector<Reply> run(std::vector<Command> commands, std::string_view what) {
    if (io_.get_executor().running_in_this_thread()) {
      throw std::logic_error("a synchronous Redis call from the store's own thread would wait forever");
    }
    struct Gather {
      std::mutex mu;
      std::vector<Reply> replies;
      std::error_code error;
      std::size_t left;
      std::promise<void> done;
    };
    auto gather = std::make_shared<Gather>();
    gather->replies.resize(commands.size());
    gather->left = commands.size();
    auto finished = gather->done.get_future();
    net::post(io_, [connection = connection_, gather, commands = std::move(commands)] {
      for (std::size_t i = 0; i < commands.size(); ++i) {
        connection->command(commands[i], [gather, i](std::error_code ec, Reply r) {
          std::lock_guard lock(gather->mu);
          if (ec && !gather->error) gather->error = ec;
          gather->replies[i] = std::move(r);
          if (--gather->left == 0) gather->done.set_value();
        });
      }
    });
    // The connection's watchdog answers every command within its timeouts; this is a backstop.
    const auto limit = options_.connect_timeout + options_.command_timeout + std::chrono::seconds(5);
    if (finished.wait_for(limit) != std::future_status::ready) {
      throw std::runtime_error("Redis at " + where_ + " did not answer (" + std::string(what) + ")");
    }
    std::lock_guard lock(gather->mu);
    if (gather->error) {
      throw std::runtime_error("cannot " + std::string(what) + ": Redis at " + where_ + " is unavailable (" +
                               describe_outage(gather->error) + ")");
    }
    return std::move(gather->replies);
  }

  // Sends one command from the store's thread without waiting; `done` runs there.
  void send(Command command, Connection::Callback done) {
    net::post(io_, [connection = connection_, command = std::move(command), done = std::move(done)]() mutable {
      connection->command(command, std::move(done));
    });
  }

  Reply run_one(Command command, std::string_view what) {
    std::vector<Command> one;
    one.push_back(std::move(command));
    return std::move(run(std::move(one), what).front());
  }

  static const Reply& check(const Reply& r, std::string_view what) {
    if (r.is_error()) throw std::runtime_error("cannot " + std::string(what) + ": " + r.str);
    return r;
  }

  void remember(bool up, const std::string& why) {
    std::lock_guard lock(state_mu_);
    if (up) {
      ever_up_ = true;
    } else {
      last_outage_ = why;
    }
    up_ = up;
    state_cv_.notify_all();
  }

  std::string describe_outage(std::error_code ec) {
    std::lock_guard lock(state_mu_);
    return last_outage_.empty() ? ec.message() : last_outage_;
  }

  void wait_until_first_connected() {
    std::unique_lock lock(state_mu_);
    const bool ok = state_cv_.wait_for(lock, options_.connect_timeout + std::chrono::seconds(1),
                                       [&] { return ever_up_ || (!last_outage_.empty() && !up_); });
    if (ever_up_) return;
    const std::string why = ok ? last_outage_ : "no answer";
    lock.unlock();
    net::post(io_, [connection = connection_] { connection->stop(); });
    work_.reset();
    thread_.join();
    throw std::runtime_error("cannot reach Redis at " + where_ + ": " + why);
  }

  RedisOptions options_;
  Keys keys_;
  std::string where_;
  net::io_context io_{1};
  net::executor_work_guard<net::io_context::executor_type> work_;
  std::shared_ptr<Connection> connection_;
  std::shared_ptr<Connection> subscriber_;  // made by watch_changes, used on the store's thread only
  std::thread thread_;

  std::mutex state_mu_;
  std::condition_variable state_cv_;
  bool up_ = false, ever_up_ = false;
  std::string last_outage_;
};

}  // namespace
}  // namespace redis

std::unique_ptr<Store> open_redis(const RedisOptions& options) {
  auto parsed = redis::parse_endpoint(options.url);
  if (auto* error = std::get_if<std::string>(&parsed)) throw std::runtime_error("--store: " + *error);
  if (options.prefix.empty() || options.prefix.find_first_of("{}") != std::string::npos) {
    throw std::runtime_error("the Redis key prefix must be non-empty and hold no '{' or '}'");
  }
  return std::make_unique<redis::RedisStore>(std::get<redis::Endpoint>(std::move(parsed)), options);
}

}  // namespace bouncer::store
