// Upstream URLs, the client TLS context, and the connect sequence:
// resolve → TCP connect → (wss: TLS handshake) → WebSocket handshake, all within one deadline.
#include "relay/upstream.h"

#include "relay/upstream_stream.h"

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/version.hpp>
#include <boost/beast/websocket/stream_base.hpp>

#include <openssl/ssl.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <variant>

namespace bouncer::relay {

namespace beast = boost::beast;
namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace websocket = boost::beast::websocket;
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

// Header names the WebSocket handshake owns; a caller's value would break or spoof it.
bool is_handshake_field(std::string_view name) {
  static constexpr std::string_view owned[] = {"host",
                                               "upgrade",
                                               "connection",
                                               "sec-websocket-key",
                                               "sec-websocket-version",
                                               "sec-websocket-extensions",
                                               "content-length",
                                               "transfer-encoding"};
  return std::any_of(std::begin(owned), std::end(owned), [&](std::string_view o) {
    return name.size() == o.size() && iequals_prefix(name, o);
  });
}

bool is_token_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// No header splitting: names are tokens, values hold no CR, LF or NUL.
bool headers_are_safe(const Headers& headers) {
  return std::all_of(headers.begin(), headers.end(), [](const auto& h) {
    return !h.first.empty() && std::all_of(h.first.begin(), h.first.end(), is_token_char) &&
           h.second.find_first_of(std::string_view("\r\n\0", 3)) == std::string::npos;
  });
}

// The Host header: host[:port], IPv6 bracketed, default ports left out.
std::string host_field(const UpstreamUrl& url) {
  std::string host = url.host.find(':') != std::string::npos ? "[" + url.host + "]" : url.host;
  const std::uint16_t default_port = url.tls ? 443 : 80;
  if (url.port != default_port) host += ":" + std::to_string(url.port);
  return host;
}

// The address when `host` is an IPv4 or IPv6 literal rather than a name.
std::optional<net::ip::address> ip_literal(const std::string& host) {
  boost::system::error_code ec;
  auto address = net::ip::make_address(host, ec);
  if (ec) return std::nullopt;
  return address;
}

// One connect attempt. Owns itself (shared_from_this in every handler) until the last
// handler ran; `done` runs once, from finish().
class Connector : public std::enable_shared_from_this<Connector> {
 public:
  Connector(net::any_io_executor executor, UpstreamUrl url, Headers headers, const ConnectOptions& options,
            ConnectHandler done)
      : executor_(executor),
        url_(std::move(url)),
        headers_(std::move(headers)),
        options_(options),
        done_(std::move(done)),
        resolver_(executor),
        deadline_timer_(executor),
        stream_(make_stream(executor, url_, options_)) {}

  void run() {
    if (url_.tls && !options_.tls) return fail_soon(net::error::invalid_argument);
    if (!headers_are_safe(headers_)) return fail_soon(net::error::invalid_argument);

    const auto address = ip_literal(url_.host);
    if (auto* tls = std::get_if<TlsWebSocket>(&stream_)) {
      auto& ws = *tls;
      // SNI names a host, never an address (RFC 6066 §3).
      if (!address && !SSL_set_tlsext_host_name(ws.next_layer().native_handle(), url_.host.c_str())) {
        return fail_soon(net::error::invalid_argument);
      }
      ws.next_layer().set_verify_mode(ssl::verify_peer);
      ws.next_layer().set_verify_callback(ssl::host_name_verification(url_.host));
    }

    deadline_ = std::chrono::steady_clock::now() + options_.timeout;
    if (address) return do_connect(tcp::endpoint(*address, url_.port));
    do_resolve();
  }

 private:
  using Stream = std::variant<PlainWebSocket, TlsWebSocket>;

  // wss:// without a TLS context gets a plain stream that run() refuses to use.
  static Stream make_stream(const net::any_io_executor& executor, const UpstreamUrl& url,
                            const ConnectOptions& options) {
    if (url.tls && options.tls) return Stream(std::in_place_type<TlsWebSocket>, executor, *options.tls);
    return Stream(std::in_place_type<PlainWebSocket>, executor);
  }

  beast::tcp_stream& tcp() {
    return std::visit([](auto& ws) -> beast::tcp_stream& { return beast::get_lowest_layer(ws); }, stream_);
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
      self->finish(beast::error::timeout);
    });
    resolver_.async_resolve(url_.host, std::to_string(url_.port), net::ip::resolver_base::numeric_service,
                            [self = shared_from_this()](beast::error_code ec, tcp::resolver::results_type results) {
                              self->on_resolve(ec, std::move(results));
                            });
  }

  void on_resolve(beast::error_code ec, tcp::resolver::results_type results) {
    deadline_timer_.cancel();
    if (finished_) return;
    if (ec) return finish(ec);
    // From here the TCP stream's own deadline covers connect, TLS and WebSocket handshakes.
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
    if (ec) return finish(ec);
    tcp().socket().set_option(tcp::no_delay(true), ec);
    if (auto* ws = std::get_if<TlsWebSocket>(&stream_)) {
      ws->next_layer().async_handshake(ssl::stream_base::client,
                                       [self = shared_from_this()](beast::error_code e) { self->on_tls_handshake(e); });
    } else {
      do_handshake();
    }
  }

  void on_tls_handshake(beast::error_code ec) {
    if (ec) return finish(ec);
    do_handshake();
  }

  void do_handshake() {
    std::visit(
        [this](auto& ws) {
          ws.read_message_max(options_.max_message_bytes);
          ws.set_option(websocket::stream_base::decorator([headers = std::move(headers_)](websocket::request_type& req) {
            req.set(beast::http::field::user_agent, "bouncer");
            for (const auto& [name, value] : headers) {
              if (!is_handshake_field(name)) req.set(name, value);
            }
          }));
          ws.async_handshake(host_field(url_), url_.target,
                             [self = shared_from_this()](beast::error_code ec) { self->on_handshake(ec); });
        },
        stream_);
  }

  void on_handshake(beast::error_code ec) {
    if (ec) return finish(ec);
    tcp().expires_never();  // the pump sets WebSocket-level timeouts from here on
    // The stream would keep the decorator (and in it the headers, the shared secret among
    // them) for the session's life; an empty one needs no memory of its own.
    std::visit([](auto& ws) { ws.set_option(websocket::stream_base::decorator([](websocket::request_type&) {})); },
               stream_);
    std::shared_ptr<Upstream> upstream;
    if (auto* plain = std::get_if<PlainWebSocket>(&stream_)) {
      upstream = std::make_shared<Upstream>(std::move(*plain));
    } else {
      upstream = std::make_shared<Upstream>(std::move(std::get<TlsWebSocket>(stream_)), options_.tls);
    }
    finish({}, std::move(upstream));
  }

  // Failures found before any I/O still complete on the executor, never inline.
  void fail_soon(beast::error_code ec) {
    net::post(executor_, [self = shared_from_this(), ec] { self->finish(ec); });
  }

  void finish(beast::error_code ec, std::shared_ptr<Upstream> upstream = nullptr) {
    if (finished_) return;
    finished_ = true;
    deadline_timer_.cancel();
    if (ec) {
      beast::error_code ignored;
      tcp().socket().close(ignored);
    }
    auto done = std::move(done_);
    done(std::error_code(ec), std::move(upstream));
  }

  net::any_io_executor executor_;
  UpstreamUrl url_;
  Headers headers_;
  ConnectOptions options_;
  ConnectHandler done_;
  tcp::resolver resolver_;
  net::steady_timer deadline_timer_;
  std::chrono::steady_clock::time_point deadline_;
  Stream stream_;
  bool finished_ = false;
};

}  // namespace

void async_connect(net::any_io_executor executor, const UpstreamUrl& url, Headers headers,
                   const ConnectOptions& options, ConnectHandler done) {
  std::make_shared<Connector>(std::move(executor), url, std::move(headers), options, std::move(done))->run();
}

}  // namespace bouncer::relay
