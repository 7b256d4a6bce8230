// The listener of the built-in models and the HTTP half of their handshake: accept a TCP
// connection, read the upgrade request, refuse it (403 wrong secret, 404 unknown model) or
// hand the stream to the model's WebSocket session (session.cpp).
#include "models/builtin.h"

#include "crypto/crypto.h"
#include "log/log.h"
#include "models/session.h"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/websocket/rfc6455.hpp>

#include <algorithm>
#include <chrono>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <vector>

namespace bouncer::models {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;

constexpr auto kHandshakeTimeout = std::chrono::seconds(10);  // TCP accept → WebSocket open
constexpr std::uint32_t kMaxHeaderBytes = 32 * 1024;           // room for X-Bouncer-Metadata
constexpr std::size_t kSecretBytes = 32;
constexpr auto kAcceptRetryDelay = std::chrono::milliseconds(100);

enum class Model { echo, demo };

// The model a request target names: "/echo" or "/demo", with any query ignored.
std::optional<Model> model_of(std::string_view target) {
  target = target.substr(0, target.find('?'));
  if (target == "/echo") return Model::echo;
  if (target == "/demo") return Model::demo;
  return std::nullopt;
}

// ---------------------------------------------------------------------------------------
// The listener: owns the acceptor and the list of live sessions. Shared with the handlers
// of its pending accept and with every connection still in its HTTP handshake.
// ---------------------------------------------------------------------------------------
class Listener : public std::enable_shared_from_this<Listener> {
 public:
  explicit Listener(net::io_context& ioc)
      : ioc_(ioc),
        acceptor_(net::make_strand(ioc)),
        retry_timer_(acceptor_.get_executor()),
        secret_(crypto::random_base64url(kSecretBytes)) {}

  void start();
  void stop();
  // Adds `session` to what stop() ends; false (and nothing added) once stopped.
  bool track(const std::shared_ptr<detail::Session>& session);
  bool secret_matches(std::string_view presented) const { return crypto::equal_constant_time(presented, secret_); }

  net::io_context& ioc_;
  tcp::acceptor acceptor_;
  net::steady_timer retry_timer_;  // after a failed accept (e.g. out of file descriptors)
  const std::string secret_;
  std::uint16_t port_ = 0;  // set by start()

 private:
  void do_accept();
  void on_accept(beast::error_code ec, tcp::socket socket);

  std::mutex mutex_;  // guards the fields below (stop() may come from another thread)
  bool started_ = false;
  bool stopped_ = false;
  std::vector<std::weak_ptr<detail::Session>> sessions_;
  std::size_t prune_at_ = 64;
};

// ---------------------------------------------------------------------------------------
// Handshake: one connection until its upgrade request has been judged. Refusals are plain
// HTTP answers (the relay reports them as upstream trouble); acceptance hands the stream
// over to the model's session with what is left of the time limit.
// ---------------------------------------------------------------------------------------
class Handshake : public detail::Session, public std::enable_shared_from_this<Handshake> {
 public:
  Handshake(tcp::socket socket, std::shared_ptr<Listener> server)
      : executor_(socket.get_executor()), stream_(std::move(socket)), server_(std::move(server)) {}

  void run() {
    net::dispatch(executor_, [self = shared_from_this()] { self->do_read(); });
  }

  // May come from another thread, while on_read is moving stream_ away: hence executor_.
  void shutdown() override {
    net::dispatch(executor_, [self = shared_from_this()] {
      if (!self->handed_off_) self->stream_.close();
    });
  }

 private:
  void do_read() {
    deadline_ = std::chrono::steady_clock::now() + kHandshakeTimeout;
    stream_.expires_at(deadline_);
    parser_.header_limit(kMaxHeaderBytes);
    parser_.body_limit(0);
    http::async_read(stream_, buffer_, parser_,
                     [self = shared_from_this()](beast::error_code ec, std::size_t n) { self->on_read(ec, n); });
  }

  void on_read(beast::error_code ec, std::size_t) {
    if (ec) return;  // timeout, disconnect, malformed request or shut down: just drop it
    const auto& request = parser_.get();
    if (!websocket::is_upgrade(request)) {
      return refuse(http::status::upgrade_required, "This server speaks WebSocket only\n");
    }
    // The secret first: who does not have it learns nothing, not even which paths exist.
    // Exactly one header: two would leave it to chance which one a proxy or we look at.
    const auto secret = request.find(kSecretHeader);
    if (request.count(kSecretHeader) != 1 || !server_->secret_matches(secret->value())) {
      return refuse(http::status::forbidden, "Forbidden\n");
    }
    const auto model = model_of(request.target());
    if (!model) return refuse(http::status::not_found, "Unknown model; serving /echo and /demo\n");

    auto session = *model == Model::echo ? detail::make_echo_session(std::move(stream_))
                                         : detail::make_demo_session(std::move(stream_));
    handed_off_ = true;
    if (!server_->track(session)) return;  // stopped meanwhile: the stream closes with `session`
    const auto left = deadline_ - std::chrono::steady_clock::now();
    session->accept(parser_.release(), std::max<std::chrono::steady_clock::duration>(left, std::chrono::milliseconds(1)));
  }

  void refuse(http::status status, std::string_view body) {
    response_.emplace(status, parser_.get().version());
    response_->set(http::field::server, "bouncer-builtin-models");
    response_->set(http::field::content_type, "text/plain; charset=utf-8");
    response_->keep_alive(false);
    response_->body() = body;
    response_->prepare_payload();
    http::async_write(stream_, *response_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) return;
      beast::error_code ignored;
      self->stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    });
  }

  const net::any_io_executor executor_;  // the connection's strand
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  http::request_parser<http::empty_body> parser_;
  std::optional<http::response<http::string_body>> response_;
  std::chrono::steady_clock::time_point deadline_{};
  std::shared_ptr<Listener> server_;
  bool handed_off_ = false;
};

void Listener::start() {
  {
    std::lock_guard lock(mutex_);
    if (started_ || stopped_) throw std::logic_error("BuiltinModels::start() called twice or after stop()");
    started_ = true;
  }
  const tcp::endpoint endpoint(net::ip::make_address_v4("127.0.0.1"), 0);
  beast::error_code ec;
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
  if (ec) throw std::runtime_error("built-in models: cannot listen on 127.0.0.1: " + ec.message());
  port_ = acceptor_.local_endpoint().port();
  net::dispatch(acceptor_.get_executor(), [self = shared_from_this()] { self->do_accept(); });
}

void Listener::do_accept() {
  acceptor_.async_accept(net::make_strand(ioc_), [self = shared_from_this()](beast::error_code ec, tcp::socket s) {
    self->on_accept(ec, std::move(s));
  });
}

void Listener::on_accept(beast::error_code ec, tcp::socket socket) {
  if (!acceptor_.is_open()) return;  // stop()
  if (ec) {
    // Usually out of file descriptors: retrying at once would spin; wait a little.
    log::warn("builtin_models_accept_failed", {{"error", ec.message()}});
    retry_timer_.expires_after(kAcceptRetryDelay);
    retry_timer_.async_wait([self = shared_from_this()](beast::error_code wait_ec) {
      if (!wait_ec && self->acceptor_.is_open()) self->do_accept();
    });
    return;
  }
  auto handshake = std::make_shared<Handshake>(std::move(socket), shared_from_this());
  if (track(handshake)) handshake->run();
  do_accept();
}

bool Listener::track(const std::shared_ptr<detail::Session>& session) {
  std::lock_guard lock(mutex_);
  if (stopped_) return false;
  if (sessions_.size() >= prune_at_) {  // amortised: the list stays within twice the live count
    std::erase_if(sessions_, [](const auto& weak) { return weak.expired(); });
    prune_at_ = std::max<std::size_t>(64, 2 * sessions_.size());
  }
  sessions_.push_back(session);
  return true;
}

void Listener::stop() {
  std::vector<std::shared_ptr<detail::Session>> live;
  {
    std::lock_guard lock(mutex_);
    if (stopped_) return;
    stopped_ = true;
    for (const auto& weak : sessions_) {
      if (auto session = weak.lock()) live.push_back(std::move(session));
    }
    sessions_.clear();
  }
  net::dispatch(acceptor_.get_executor(), [self = shared_from_this()] {
    beast::error_code ignored;
    self->acceptor_.close(ignored);
    self->retry_timer_.cancel();
  });
  for (const auto& session : live) session->shutdown();
}

}  // namespace

// ---------------------------------------------------------------------------------------
// BuiltinModels
// ---------------------------------------------------------------------------------------
struct BuiltinModels::Impl : Listener {
  using Listener::Listener;
};

BuiltinModels::BuiltinModels(net::io_context& ioc) : impl_(std::make_shared<Impl>(ioc)) {}

BuiltinModels::~BuiltinModels() { impl_->stop(); }

void BuiltinModels::start() { impl_->start(); }

void BuiltinModels::stop() { impl_->stop(); }

std::string BuiltinModels::url_of(std::string_view model) const {
  if (impl_->port_ == 0 || (model != "echo" && model != "demo")) return {};
  return "ws://127.0.0.1:" + std::to_string(impl_->port_) + "/" + std::string(model);
}

const std::string& BuiltinModels::shared_secret() const { return impl_->secret_; }

}  // namespace bouncer::models
