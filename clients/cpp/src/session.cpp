#include <bouncer/client/errors.hpp>
#include <bouncer/client/session.hpp>
#include <bouncer/client/version.hpp>

#include "endpoint.hpp"
#include "protocol.hpp"
#include "run.hpp"
#include "tls.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include <deque>
#include <stdexcept>

namespace bouncer::client {

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;
using PlainWs = websocket::stream<beast::tcp_stream>;
using TlsWs = websocket::stream<beast::ssl_stream<beast::tcp_stream>>;
using detail::Clock;
using detail::run_until;

constexpr std::string_view kBouncerProtocol = "bouncer.v1";

// The end of an asynchronous operation, shared with its handler: after a timeout the handler
// may run once the call that started it has returned.
struct Completion {
  bool done = false;
  beast::error_code ec;
  void finish(beast::error_code e) {
    done = true;
    ec = e;
  }
};

// The upgrade a session sends: where, and the request's target and headers.
struct Upgrade {
  detail::Endpoint endpoint;
  std::string target;
  std::vector<std::string> protocols;
  std::optional<std::string> origin;
};

std::string join(const std::vector<std::string>& values) {
  std::string out;
  for (const auto& v : values) out += (out.empty() ? "" : ", ") + v;
  return out;
}

void check_resume_id(const ConnectOptions& options) {
  if (options.resume_id && !detail::is_valid_resume_id(*options.resume_id)) {
    throw std::invalid_argument("resume_id must be 16 to 64 characters of A-Z, a-z, 0-9, '_' and '-'");
  }
}

Upgrade token_upgrade(const ClientCredential& credential, const ConnectOptions& options) {
  if (credential.token.empty()) throw std::invalid_argument("the credential's token is empty");
  if (options.model.empty()) throw std::invalid_argument("ConnectOptions::model is empty");
  Upgrade up{detail::parse_endpoint(options.base_url), {}, {}, options.origin};
  up.target = "/v1/stream?model=" + detail::percent_encode(options.model);
  if (options.credential_in == CredentialPlacement::query) {
    up.target += "&api_key=" + detail::percent_encode(credential.token);
  } else {
    up.protocols = {"bouncer.key." + credential.token};
  }
  return up;
}

Upgrade url_upgrade(const ClientCredential& credential, const ConnectOptions& options) {
  if (credential.url.empty()) throw std::invalid_argument("the credential's url is empty");
  Upgrade up{detail::parse_endpoint(credential.url), {}, {}, options.origin};
  if (!options.model.empty() && detail::query_parameter(credential.url, "model") != options.model) {
    throw std::invalid_argument("the signed URL opens another model than ConnectOptions::model");
  }
  up.target = up.endpoint.target;
  return up;
}

Upgrade make_upgrade(const ClientCredential& credential, const ConnectOptions& options) {
  check_resume_id(options);
  auto up = credential.kind == CredentialKind::url ? url_upgrade(credential, options) : token_upgrade(credential, options);
  if (options.resume_id) up.target += "&resume=" + *options.resume_id;
  // Always offered: it tells Bouncer that this client reads Bouncer's own messages (renewal),
  // and it is what Bouncer answers when the model chooses no protocol.
  up.protocols.push_back(std::string(kBouncerProtocol));
  up.protocols.insert(up.protocols.end(), options.subprotocols.begin(), options.subprotocols.end());
  return up;
}

template <class Ws>
net::awaitable<std::string> open_websocket(Ws& ws, tcp::resolver& resolver, const Upgrade& up) {
  const auto addresses = co_await resolver.async_resolve(up.endpoint.host, up.endpoint.port, net::use_awaitable);
  co_await beast::get_lowest_layer(ws).async_connect(addresses, net::use_awaitable);
  if constexpr (std::is_same_v<Ws, TlsWs>) {
    detail::expect_peer(ws.next_layer().native_handle(), up.endpoint.host);
    co_await ws.next_layer().async_handshake(net::ssl::stream_base::client, net::use_awaitable);
  }
  ws.set_option(websocket::stream_base::decorator(
      [protocols = join(up.protocols), origin = up.origin](websocket::request_type& req) {
        req.set(beast::http::field::user_agent, std::string("bouncer-client-cpp/") + version());
        if (!protocols.empty()) req.set(beast::http::field::sec_websocket_protocol, protocols);
        if (origin) req.set(beast::http::field::origin, *origin);
      }));
  websocket::response_type res;
  boost::system::error_code ec;
  co_await ws.async_handshake(res, up.endpoint.host_header(), up.target, net::redirect_error(net::use_awaitable, ec));
  if (ec == websocket::error::upgrade_declined) {
    throw ConnectionError("Bouncer at " + up.endpoint.host_header() + " declined the upgrade: HTTP " +
                          std::to_string(res.result_int()) + " " + std::string(res.reason()));
  }
  if (ec) throw boost::system::system_error(ec);
  co_return std::string(res[beast::http::field::sec_websocket_protocol]);
}

int close_code_of(const websocket::close_reason& reason) {
  return reason.code == websocket::close_code::none ? 1005 : static_cast<int>(reason.code);
}

}  // namespace

struct Session::Impl {
  ConnectOptions options;
  net::io_context ioc;
  std::optional<net::ssl::context> tls;
  tcp::resolver resolver{ioc};
  std::unique_ptr<PlainWs> plain;
  std::unique_ptr<TlsWs> secure;
  std::string subprotocol;

  beast::flat_buffer buffer;
  bool reading = false;
  std::optional<beast::error_code> read_result;
  std::deque<Event> ready;
  // A frame in one of the shapes Bouncer's refusal or end notice has, kept until the next
  // frame says whose it is.
  std::optional<std::string> held_text;
  detail::Notice held_notice;
  bool ended = false;
  std::optional<Closed> closed;

  Impl() = default;
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;
  ~Impl();

  template <class F>
  decltype(auto) with_ws(F&& f) {
    return plain ? f(*plain) : f(*secure);
  }

  void connect(const Upgrade& up);
  void drop_connection();

  void send(std::string_view data, bool binary);
  void start_read();
  bool ended_by_close_without_close_notify(const beast::error_code& ec);
  void drain_until_end(Clock::time_point deadline);
  std::optional<Event> next_event(Clock::time_point deadline);
  void take_read_result();
  void on_message(std::string data, bool binary);
  void on_notice(detail::Notice notice, std::string text);
  void release_held();
  void on_close(int code, std::string reason);
  void on_expiring(int seconds_left);
  void send_renew(const ClientCredential& credential);
  Closed close(int code, std::string_view reason);
};

// A read may still be pending (receive_for timed out): end it while the buffer it fills
// still exists.
Session::Impl::~Impl() {
  if (!reading || (!plain && !secure)) return;
  with_ws([](auto& ws) { beast::get_lowest_layer(ws).close(); });
  ioc.restart();
  ioc.poll();
}

namespace {

// Messages as large as any Bouncer can be configured to relay (--max-message-bytes), each
// sent as one frame.
void configure(auto& ws) {
  ws.read_message_max(64 * 1024 * 1024);
  ws.auto_fragment(false);
}

}  // namespace

void Session::Impl::connect(const Upgrade& up) {
  const auto deadline = Clock::now() + options.connect_timeout;
  const auto where = up.endpoint.host_header();
  auto cancel = [this] {
    resolver.cancel();
    with_ws([](auto& ws) { beast::get_lowest_layer(ws).close(); });
  };
  try {
    if (up.endpoint.secure) {
      tls.emplace(detail::make_tls_context(options.tls));
      secure = std::make_unique<TlsWs>(ioc, *tls);
      configure(*secure);
      subprotocol = detail::run_coroutine(ioc, open_websocket(*secure, resolver, up), deadline, cancel,
                                          "the session at " + where + " did not open in time");
    } else {
      plain = std::make_unique<PlainWs>(ioc);
      configure(*plain);
      subprotocol = detail::run_coroutine(ioc, open_websocket(*plain, resolver, up), deadline, cancel,
                                          "the session at " + where + " did not open in time");
    }
  } catch (const boost::system::system_error& e) {
    throw ConnectionError("cannot open the session at " + where + ": " + e.code().message());
  }
}

// Ends the connection without a closing handshake (a timeout, a lost peer).
void Session::Impl::drop_connection() {
  ended = true;
  with_ws([](auto& ws) { beast::get_lowest_layer(ws).close(); });
  run_until(ioc, [this] { return !reading || read_result.has_value(); }, Clock::now() + std::chrono::seconds(1));
  reading = false;
}

void Session::Impl::send(std::string_view data, bool binary) {
  if (ended) throw SessionClosedError("the session has ended");
  const auto result = std::make_shared<Completion>();
  with_ws([&](auto& ws) {
    ws.binary(binary);
    ws.async_write(net::buffer(data.data(), data.size()),
                   [result](beast::error_code e, std::size_t) { result->finish(e); });
  });
  if (!run_until(ioc, [&] { return result->done; }, Clock::now() + options.write_timeout)) {
    drop_connection();
    // The aborted write must not read `data` later.
    run_until(ioc, [&] { return result->done; }, Clock::now() + std::chrono::seconds(1));
    throw TimeoutError("a send did not complete in time; the session is dropped");
  }
  const auto ec = result->ec;
  if (!ec) return;
  // The write failed because the session ended meanwhile: what the server said before that
  // tells why (a refusal, say).
  drain_until_end(Clock::now() + std::chrono::seconds(1));
  if (!ended) drop_connection();
  throw ConnectionError("send failed: " + ec.message());
}

void Session::Impl::drain_until_end(Clock::time_point deadline) {
  while (!ended) {
    start_read();
    if (!run_until(ioc, [this] { return read_result.has_value(); }, deadline)) return;
    take_read_result();
  }
}

// A TLS peer that ends the WebSocket's closing handshake by closing TCP without TLS's own
// close_notify (as Bouncer does) makes the teardown report a truncated stream; the WebSocket
// had already ended properly.
bool Session::Impl::ended_by_close_without_close_notify(const beast::error_code& ec) {
  if (ec != net::ssl::error::stream_truncated) return false;
  return with_ws([](auto& ws) { return ws.reason().code != websocket::close_code::none; });
}

void Session::Impl::start_read() {
  if (reading || ended) return;
  reading = true;
  read_result.reset();
  with_ws([this](auto& ws) {
    ws.async_read(buffer, [this](beast::error_code ec, std::size_t) { read_result = ec; });
  });
}

std::optional<Event> Session::Impl::next_event(Clock::time_point deadline) {
  for (;;) {
    if (!ready.empty()) {
      auto event = std::move(ready.front());
      ready.pop_front();
      return event;
    }
    if (ended) throw SessionClosedError("the session has ended");
    start_read();
    if (!run_until(ioc, [this] { return read_result.has_value(); }, deadline)) return std::nullopt;
    take_read_result();
  }
}

void Session::Impl::take_read_result() {
  const auto ec = *read_result;
  read_result.reset();
  reading = false;
  if (ec == websocket::error::closed || ended_by_close_without_close_notify(ec)) {
    const auto reason = with_ws([](auto& ws) { return ws.reason(); });
    return on_close(close_code_of(reason), std::string(reason.reason.data(), reason.reason.size()));
  }
  if (ec) {
    release_held();
    drop_connection();
    throw ConnectionError("the session's connection was lost: " + ec.message());
  }
  const bool text = with_ws([](auto& ws) { return ws.got_text(); });
  auto data = beast::buffers_to_string(buffer.data());
  buffer.consume(buffer.size());
  on_message(std::move(data), !text);
}

void Session::Impl::on_message(std::string data, bool binary) {
  auto notice = binary ? detail::Notice{} : detail::read_notice(data);
  if (notice.kind == detail::Notice::Kind::none) {
    release_held();
    ready.push_back(Message{binary, std::move(data)});
    return;
  }
  on_notice(std::move(notice), std::move(data));
}

void Session::Impl::on_notice(detail::Notice notice, std::string text) {
  using Kind = detail::Notice::Kind;
  switch (notice.kind) {
    case Kind::error:
    case Kind::session_ended:
      release_held();
      held_text = std::move(text);
      held_notice = std::move(notice);
      return;
    case Kind::renewed: release_held(); ready.push_back(Renewed{std::move(notice.deadline)}); return;
    case Kind::renew_failed: release_held(); ready.push_back(RenewFailed{std::move(notice.text)}); return;
    case Kind::session_expiring: release_held(); on_expiring(notice.seconds); return;
    case Kind::bouncer_error: release_held(); ready.push_back(BouncerError{std::move(notice.text)}); return;
    case Kind::other_bouncer:
    case Kind::none: return;
  }
}

// The held frame was the application's after all: deliver it, in its place.
void Session::Impl::release_held() {
  if (!held_text) return;
  ready.push_back(Message{false, std::move(*held_text)});
  held_text.reset();
  held_notice = {};
}

void Session::Impl::on_close(int code, std::string reason) {
  ended = true;
  if (held_text && detail::close_confirms(held_notice, code, reason)) {
    const auto notice = std::move(held_notice);
    held_text.reset();
    held_notice = {};
    if (notice.kind == detail::Notice::Kind::error) throw RefusedError(code, std::move(reason));
    closed = Closed{code, std::move(reason), notice.seconds};
  } else {
    release_held();
    closed = Closed{code, std::move(reason), std::nullopt};
  }
  ready.push_back(*closed);
}

void Session::Impl::on_expiring(int seconds_left) {
  SessionExpiring warning{seconds_left, false};
  std::optional<RenewFailed> failure;
  if (options.get_credential) {
    std::optional<ClientCredential> fresh;
    try {
      fresh = options.get_credential();
    } catch (const std::exception& e) {
      failure = RenewFailed{std::string("get_credential failed: ") + e.what()};
    }
    if (fresh && fresh->secret().empty()) {
      failure = RenewFailed{"the credential from get_credential holds no token"};
    } else if (fresh) {
      send_renew(*fresh);
      warning.renewing = true;
    }
  }
  ready.push_back(warning);
  if (failure) ready.push_back(std::move(*failure));
}

void Session::Impl::send_renew(const ClientCredential& credential) {
  const auto token = credential.secret();
  if (token.empty()) throw std::invalid_argument("the renewal credential holds no token");
  send(detail::renew_request(token), false);
}

Closed Session::Impl::close(int code, std::string_view reason) {
  if (ended) {
    if (closed) return *closed;
    throw SessionClosedError("the session has ended");
  }
  const auto result = std::make_shared<Completion>();
  with_ws([&](auto& ws) {
    // A close frame has room for 123 bytes of reason.
    const auto fitting = reason.substr(0, 123);
    ws.async_close(websocket::close_reason(static_cast<websocket::close_code>(code), fitting),
                   [result](beast::error_code e) { result->finish(e); });
  });
  // A pending read takes the answer to our close; without one, the close reads it itself.
  if (!run_until(ioc, [&] { return result->done && (!reading || read_result.has_value()); },
                 Clock::now() + options.close_timeout)) {
    drop_connection();
    throw TimeoutError("no answer to the close in time; the connection is dropped");
  }
  const auto ec = result->ec;
  reading = false;
  read_result.reset();
  ended = true;
  ready.clear();
  held_text.reset();
  if (ec && !ended_by_close_without_close_notify(ec)) throw ConnectionError("close failed: " + ec.message());
  const auto answer = with_ws([](auto& ws) { return ws.reason(); });
  closed = Closed{close_code_of(answer), std::string(answer.reason.data(), answer.reason.size()), std::nullopt};
  return *closed;
}

Session::Session(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Session::Session(Session&&) noexcept = default;

Session& Session::operator=(Session&& other) noexcept {
  if (this != &other) {
    close_quietly();
    impl_ = std::move(other.impl_);
  }
  return *this;
}

Session::~Session() { close_quietly(); }

void Session::close_quietly() noexcept {
  if (!impl_ || impl_->ended) return;
  try {
    impl_->close(1000, {});
  } catch (...) {
    // Nothing to report to: the connection is gone either way.
  }
}

Session::Impl& Session::impl() const {
  if (!impl_) throw SessionClosedError("the session was moved from");
  return *impl_;
}

Session Session::connect(const ClientCredential& credential, const ConnectOptions& options) {
  const auto upgrade = make_upgrade(credential, options);
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->connect(upgrade);
  return Session(std::move(impl));
}

void Session::send_text(std::string_view text) { impl().send(text, false); }
void Session::send_binary(std::string_view bytes) { impl().send(bytes, true); }

Event Session::receive() { return *impl().next_event(Clock::time_point::max()); }

std::optional<Event> Session::receive_for(std::chrono::milliseconds timeout) {
  return impl().next_event(Clock::now() + timeout);
}

void Session::renew(const ClientCredential& credential) { impl().send_renew(credential); }

Closed Session::close(int code, std::string_view reason) { return impl().close(code, reason); }

const std::string& Session::subprotocol() const { return impl().subprotocol; }
bool Session::is_open() const { return impl_ && !impl_->ended; }

}  // namespace bouncer::client
