// Upstream URLs, the client TLS context, and the connect sequence:
// resolve → TCP connect → (wss: TLS handshake) → WebSocket handshake, all within one deadline.
#include "relay/upstream.h"

#include "relay/buffer_pool.h"
#include "relay/frames.h"
#include "relay/handshake.h"
#include "relay/upstream_session.h"

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/beast/version.hpp>

#include <openssl/rand.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <variant>

namespace bouncer::relay {

namespace beast = boost::beast;
namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace http = boost::beast::http;
using tcp = net::ip::tcp;

// ---------------------------------------------------------------------------------------
// URL parsing
// ---------------------------------------------------------------------------------------

namespace {

bool iequals_prefix(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(s[i])) != prefix[i]) return false;
  }
  return true;
}

// A DNS name or IPv4 literal: letters, digits, '-', '.', '_' (some internal names use it).
bool is_reg_name(std::string_view host) {
  if (host.empty() || host.size() > 253) return false;
  return std::all_of(host.begin(), host.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_';
  });
}

// The request target goes on the request line as is: no spaces, no controls, no non-ASCII.
bool is_target(std::string_view target) {
  return std::all_of(target.begin(), target.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u > 0x20 && u < 0x7f;
  });
}

}  // namespace

std::optional<UpstreamUrl> parse_upstream_url(std::string_view url) {
  UpstreamUrl out;
  if (iequals_prefix(url, "wss://")) {
    out.tls = true;
    out.port = 443;
    url.remove_prefix(6);
  } else if (iequals_prefix(url, "ws://")) {
    out.tls = false;
    out.port = 80;
    url.remove_prefix(5);
  } else {
    return std::nullopt;
  }
  if (url.find('#') != std::string_view::npos) return std::nullopt;  // fragments mean nothing here

  const auto authority_end = url.find_first_of("/?");
  std::string_view authority = url.substr(0, authority_end);
  std::string_view rest = authority_end == std::string_view::npos ? std::string_view{} : url.substr(authority_end);
  if (authority.find('@') != std::string_view::npos) return std::nullopt;  // no userinfo

  std::string_view port_text;
  bool has_port = false;
  if (!authority.empty() && authority.front() == '[') {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    std::string host(authority.substr(1, close - 1));
    boost::system::error_code ec;
    auto address = net::ip::make_address_v6(host, ec);
    if (ec || host.empty() || host.find('%') != std::string::npos) return std::nullopt;
    (void)address;
    out.host = std::move(host);
    auto after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return std::nullopt;
      has_port = true;
      port_text = after.substr(1);
    }
  } else {
    const auto colon = authority.find(':');
    std::string_view host = authority.substr(0, colon);
    if (!is_reg_name(host)) return std::nullopt;
    out.host = std::string(host);
    if (colon != std::string_view::npos) {
      has_port = true;
      port_text = authority.substr(colon + 1);
    }
  }
  if (has_port) {
    if (port_text.empty() || port_text.size() > 5) return std::nullopt;
    unsigned value = 0;
    auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), value);
    if (ec != std::errc{} || end != port_text.data() + port_text.size() || value == 0 || value > 65535) {
      return std::nullopt;
    }
    out.port = static_cast<std::uint16_t>(value);
  }

  if (rest.empty()) {
    out.target = "/";
  } else if (rest.front() == '?') {
    out.target = "/" + std::string(rest);
  } else {
    out.target = std::string(rest);
  }
  if (!is_target(out.target)) return std::nullopt;
  return out;
}

// ---------------------------------------------------------------------------------------
// TLS
// ---------------------------------------------------------------------------------------

std::shared_ptr<ssl::context> make_client_tls_context(const std::string& ca_file) {
  auto context = std::make_shared<ssl::context>(ssl::context::tls_client);
  context->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                       ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  context->set_verify_mode(ssl::verify_peer);
  context->set_default_verify_paths();
  if (!ca_file.empty()) context->load_verify_file(ca_file);  // throws when unreadable
  return context;
}

// ---------------------------------------------------------------------------------------
// Connecting
// ---------------------------------------------------------------------------------------

namespace {

class UpstreamCategory : public std::error_category {
 public:
  const char* name() const noexcept override { return "bouncer.upstream"; }
  std::string message(int) const override { return "the upstream refused the WebSocket upgrade"; }
};

// The address when `host` is an IPv4 or IPv6 literal rather than a name.
std::optional<net::ip::address> ip_literal(const std::string& host) {
  boost::system::error_code ec;
  auto address = net::ip::make_address(host, ec);
  if (ec) return std::nullopt;
  return address;
}

// The upgrade's answer is headers only; a 101 larger than this is not a model server's.
constexpr std::uint32_t kMaxAnswerBytes = 8 * 1024;

// One connect attempt. Owns itself (shared_from_this in every handler) until the last
// handler ran; `done` runs once, from finish().
class Connector : public std::enable_shared_from_this<Connector> {
 public:
  Connector(net::any_io_executor executor, UpstreamUrl url, handshake::Offer offer, Headers headers,
            const ConnectOptions& options, ConnectHandler done)
      : executor_(executor),
        url_(std::move(url)),
        offer_(std::move(offer)),
        headers_(std::move(headers)),
        options_(options),
        done_(std::move(done)),
        resolver_(executor),
        deadline_timer_(executor),
        stream_(make_stream(executor, url_, options_)) {}

  void run() {
    if (url_.tls && !options_.tls) return fail_soon(net::error::invalid_argument, "wss:// without a TLS context");
    if (!handshake::headers_are_safe(headers_)) return fail_soon(net::error::invalid_argument, "a header would split the request");

    const auto address = ip_literal(url_.host);
    if (auto* tls = std::get_if<TlsStream>(&stream_)) {
      // SNI names a host, never an address (RFC 6066 §3).
      if (!address && !SSL_set_tlsext_host_name(tls->native_handle(), url_.host.c_str())) {
        return fail_soon(net::error::invalid_argument, "the host name does not fit SNI");
      }
      tls->set_verify_mode(ssl::verify_peer);
      tls->set_verify_callback(ssl::host_name_verification(url_.host));
    }

    deadline_ = std::chrono::steady_clock::now() + options_.timeout;
    if (address) return do_connect(tcp::endpoint(*address, url_.port));
    do_resolve();
  }

 private:
  using PlainStream = beast::tcp_stream;
  using TlsStream = beast::ssl_stream<beast::tcp_stream>;
  using Stream = std::variant<PlainStream, TlsStream>;

  // wss:// without a TLS context gets a plain stream that run() refuses to use.
  static Stream make_stream(const net::any_io_executor& executor, const UpstreamUrl& url,
                            const ConnectOptions& options) {
    if (url.tls && options.tls) return Stream(std::in_place_type<TlsStream>, executor, *options.tls);
    return Stream(std::in_place_type<PlainStream>, executor);
  }

  beast::tcp_stream& tcp() {
    return std::visit([](auto& s) -> beast::tcp_stream& { return beast::get_lowest_layer(s); }, stream_);
  }

  // Only for a name: an address literal (the usual upstream, a model server on the same
  // network) goes straight to do_connect, since the resolver's lookups run on a helper thread
  // and cost a thread hand-off per connect. The resolver has no deadline of its own: a timer
  // stands in for it.
  void do_resolve() {
    deadline_timer_.expires_at(deadline_);
    deadline_timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (ec) return;  // cancelled: the resolve finished first
      self->resolver_.cancel();
      self->finish(beast::error_code(beast::error::timeout), "resolving the host timed out");
    });
    resolver_.async_resolve(url_.host, std::to_string(url_.port), net::ip::resolver_base::numeric_service,
                            [self = shared_from_this()](beast::error_code ec, tcp::resolver::results_type results) {
                              self->on_resolve(ec, std::move(results));
                            });
  }

  void on_resolve(beast::error_code ec, tcp::resolver::results_type results) {
    deadline_timer_.cancel();
    if (finished_) return;
    if (ec) return finish(ec, "resolving the host failed");
    // From here the TCP stream's own deadline covers connect, TLS and the upgrade.
    tcp().expires_at(deadline_);
    tcp().async_connect(results, [self = shared_from_this()](beast::error_code e, const tcp::endpoint&) {
      self->on_connect(e);
    });
  }

  void do_connect(const tcp::endpoint& endpoint) {
    tcp().expires_at(deadline_);
    tcp().async_connect(endpoint, [self = shared_from_this()](beast::error_code e) { self->on_connect(e); });
  }

  void on_connect(beast::error_code ec) {
    if (ec) return finish(ec, "connecting failed");
    tcp().socket().set_option(tcp::no_delay(true), ec);
    if (auto* tls = std::get_if<TlsStream>(&stream_)) {
      tls->async_handshake(ssl::stream_base::client, [self = shared_from_this()](beast::error_code e) {
        if (e) return self->finish(e, "the TLS handshake failed");
        self->send_upgrade();
      });
    } else {
      send_upgrade();
    }
  }

  void send_upgrade() {
    request_ = handshake::upstream_request(url_, offer_, headers_);
    headers_ = {};  // the shared secret among them: not kept longer than needed
    std::visit(
        [this](auto& s) {
          http::async_write(s, request_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
            if (ec) return self->finish(ec, "sending the upgrade failed");
            self->read_answer();
          });
        },
        stream_);
  }

  void read_answer() {
    request_ = {};
    parser_.header_limit(kMaxAnswerBytes);
    buffer_.max_size(kRelayBufferBytes);
    std::visit(
        [this](auto& s) {
          http::async_read_header(s, buffer_, parser_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
            self->on_answer(ec);
          });
        },
        stream_);
  }

  void on_answer(beast::error_code ec) {
    if (ec) return finish(ec, "reading the upgrade's answer failed");
    auto checked = handshake::check_answer(parser_.get().base(), offer_);
    if (auto* why = std::get_if<std::string>(&checked)) return finish(upstream_refused(), std::move(*why));
    tcp().expires_never();  // the tunnel keeps its own time from here on
    auto session = std::make_unique<UpstreamSession>(take_stream(), std::get<handshake::Answer>(std::move(checked)),
                                                     beast::buffers_to_string(buffer_.data()));
    finish({}, {}, std::move(session));
  }

  ByteStream take_stream() {
    if (auto* plain = std::get_if<PlainStream>(&stream_)) return ByteStream(std::move(*plain));
    return ByteStream(std::move(std::get<TlsStream>(stream_)), options_.tls);
  }

  // Failures found before any I/O still complete on the executor, never inline.
  void fail_soon(beast::error_code ec, std::string detail) {
    net::post(executor_, [self = shared_from_this(), ec, detail = std::move(detail)]() mutable {
      self->finish(ec, std::move(detail));
    });
  }

  void finish(std::error_code ec, std::string detail, std::unique_ptr<UpstreamSession> session = nullptr) {
    if (finished_) return;
    finished_ = true;
    deadline_timer_.cancel();
    if (ec && !session) {
      beast::error_code ignored;
      tcp().socket().close(ignored);
    }
    auto done = std::move(done_);
    done(ec, std::move(detail), std::move(session));
  }

  net::any_io_executor executor_;
  UpstreamUrl url_;
  handshake::Offer offer_;
  Headers headers_;
  ConnectOptions options_;
  ConnectHandler done_;
  tcp::resolver resolver_;
  net::steady_timer deadline_timer_;
  std::chrono::steady_clock::time_point deadline_;
  Stream stream_;
  http::request<http::empty_body> request_;
  beast::flat_buffer buffer_;
  http::response_parser<http::empty_body> parser_;
  bool finished_ = false;
};

}  // namespace

const std::error_category& upstream_category() {
  static const UpstreamCategory category;
  return category;
}

std::array<std::uint8_t, 4> masking_key() {
  std::array<std::uint8_t, 4> mask{};
  if (RAND_bytes(mask.data(), static_cast<int>(mask.size())) != 1) {
    // OpenSSL's generator failing is not something a session can fix: a fixed mask is still a
    // valid frame, and the payloads masked here are Bouncer's own close reasons and pings.
    mask = {0x5b, 0x3c, 0x91, 0xe4};
  }
  return mask;
}

void close_abandoned(std::unique_ptr<UpstreamSession> upstream) {
  if (!upstream) return;
  std::shared_ptr<UpstreamSession> held(std::move(upstream));
  auto frame =
      std::make_shared<std::string>(frames::make_close_frame(frames::kGoingAway, "Client gone", masking_key()));
  held->stream.tcp().expires_after(std::chrono::seconds(2));
  held->stream.async_write(net::buffer(*frame), [held, frame](beast::error_code, std::size_t) {
    beast::error_code ignored;
    held->stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    held->stream.socket().close(ignored);
  });
}

void async_connect(net::any_io_executor executor, const UpstreamUrl& url, handshake::Offer offer, Headers headers,
                   const ConnectOptions& options, ConnectHandler done) {
  std::make_shared<Connector>(std::move(executor), url, std::move(offer), std::move(headers), options, std::move(done))
      ->run();
}

}  // namespace bouncer::relay
