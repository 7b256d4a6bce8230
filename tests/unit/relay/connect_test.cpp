// async_connect: timeouts, refusals, the forwarded upgrade and the upstream's answer, headers,
// and wss:// against a local TLS server with a certificate made at test time.
#include "relay_fixture.h"
#include "test_cert.h"

#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

namespace bouncer::relay::testing {
namespace {

namespace ssl = boost::asio::ssl;
using TlsWs = websocket::stream<beast::ssl_stream<beast::tcp_stream>>;

class Connect : public RelayFixture {
 protected:
  struct Outcome {
    bool called = false;
    int calls = 0;
    std::error_code ec;
    std::string detail;
    std::unique_ptr<UpstreamSession> upstream;
  };

  // A browser's offer: RFC 6455 §1.3's key, no protocol, no extension.
  static handshake::Offer plain_offer() {
    handshake::Offer offer;
    offer.key = "dGhlIHNhbXBsZSBub25jZQ==";
    return offer;
  }

  // Calls async_connect and runs until it answered.
  Outcome connect(const std::string& url_text, Headers headers = {}, handshake::Offer offer = plain_offer()) {
    Outcome out;
    auto url = parse_upstream_url(url_text);
    EXPECT_TRUE(url) << url_text;
    if (!url) return out;
    async_connect(ioc.get_executor(), *url, std::move(offer), std::move(headers), connect_options,
                  [&out](std::error_code ec, std::string detail, std::unique_ptr<UpstreamSession> upstream) {
                    ++out.calls;
                    out.called = true;
                    out.ec = ec;
                    out.detail = std::move(detail);
                    out.upstream = std::move(upstream);
                  });
    EXPECT_TRUE(run_until([&] { return out.called; })) << "async_connect never answered";
    return out;
  }

  // A hand-written upstream: reads the upgrade, answers a 101 with the right accept key plus
  // `extra_headers`, then sends `after_headers` (frame bytes) and holds the connection.
  void start_raw_upstream(std::string extra_headers, std::string after_headers = {}) {
    spawn([this, extra_headers = std::move(extra_headers),
           after_headers = std::move(after_headers)]() -> net::awaitable<void> {
      auto socket = co_await upstream_acceptor.async_accept(net::use_awaitable);
      beast::flat_buffer buffer;
      http::request<http::string_body> request;
      co_await http::async_read(socket, buffer, request, net::use_awaitable);
      const std::string reply = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                                "Sec-WebSocket-Accept: " +
                                handshake::accept_value(request[http::field::sec_websocket_key]) + "\r\n" +
                                extra_headers + "\r\n" + after_headers;
      co_await net::async_write(socket, net::buffer(reply), net::use_awaitable);
      co_await sleep_for(2s);
    });
  }
};

// A listener that completes TCP but never answers the HTTP upgrade: the whole connect is
// bounded by options.timeout.
TEST_F(Connect, TimesOutWhenTheHandshakeIsNeverAnswered) {
  std::vector<tcp::socket> silent;
  spawn([&]() -> net::awaitable<void> {
    for (;;) silent.push_back(co_await upstream_acceptor.async_accept(net::use_awaitable));
  });
  connect_options.timeout = 300ms;
  auto out = connect(upstream_url());
  EXPECT_EQ(out.ec, std::error_code(beast::error_code(beast::error::timeout))) << out.ec.message();
  EXPECT_EQ(out.upstream, nullptr);
  // done ran once, and stays run once.
  run_until([] { return false; }, 1s);
  EXPECT_EQ(out.calls, 1);
}

TEST_F(Connect, RefusedWhenNothingListens) {
  tcp::acceptor closed(ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
  const auto port = closed.local_endpoint().port();
  closed.close();
  auto out = connect("ws://127.0.0.1:" + std::to_string(port) + "/");
  EXPECT_TRUE(out.ec);
  EXPECT_EQ(out.ec, std::errc::connection_refused) << out.ec.message();
  EXPECT_EQ(out.upstream, nullptr);
}

TEST_F(Connect, UnresolvableHostFails) {
  connect_options.timeout = 3s;  // whether DNS answers "no" or nothing at all
  auto out = connect("ws://no-such-host.invalid/");
  EXPECT_TRUE(out.ec);
  EXPECT_EQ(out.upstream, nullptr);
}

// A server that is not a WebSocket server fails the handshake.
TEST_F(Connect, PlainHttpServerFailsTheHandshake) {
  spawn([&]() -> net::awaitable<void> {
    auto socket = co_await upstream_acceptor.async_accept(net::use_awaitable);
    beast::flat_buffer buffer;
    http::request<http::string_body> request;
    co_await http::async_read(socket, buffer, request, net::use_awaitable);
    std::string_view reply = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi";
    co_await net::async_write(socket, net::buffer(reply), net::use_awaitable);
    co_await sleep_for(2s);
  });
  auto out = connect(upstream_url());
  EXPECT_EQ(out.ec, upstream_refused()) << out.ec.message();
  EXPECT_EQ(out.detail, "Upstream answered 200 instead of 101");
  EXPECT_EQ(out.upstream, nullptr);
}

// The client's key, protocols and extensions go upstream as offered; the upstream's choice
// comes back.
TEST_F(Connect, ForwardsTheOfferAndReturnsTheChoice) {
  start_upstream(echo_script());
  auto offer = plain_offer();
  offer.protocols = {"realtime", "chat"};
  offer.extensions = "permessage-deflate; client_max_window_bits";
  // Beast's server answers the first protocol the decorator picks: here, none (it does not
  // negotiate subprotocols itself); it does answer permessage-deflate when enabled, not here.
  auto out = connect(upstream_url(), {}, offer);
  ASSERT_FALSE(out.ec) << out.ec.message() << " " << out.detail;
  ASSERT_TRUE(run_until([&] { return upstream_requests.size() == 1; }));
  const auto& request = upstream_requests[0];
  EXPECT_EQ(request[http::field::sec_websocket_key], "dGhlIHNhbXBsZSBub25jZQ==");
  EXPECT_EQ(request[http::field::sec_websocket_protocol], "realtime, chat");
  EXPECT_EQ(request[http::field::sec_websocket_extensions], "permessage-deflate; client_max_window_bits");
  EXPECT_EQ(out.upstream->answer.protocol, "");
}

// An upstream that picks a subprotocol nobody offered fails the connection (RFC 6455 §4.1).
TEST_F(Connect, UnofferedSubprotocolFromUpstreamFails) {
  start_raw_upstream("Sec-WebSocket-Protocol: admin\r\n");
  auto offer = plain_offer();
  offer.protocols = {"chat"};
  auto out = connect(upstream_url(), {}, offer);
  EXPECT_EQ(out.ec, upstream_refused()) << out.ec.message();
  EXPECT_EQ(out.upstream, nullptr);
}

// Bytes the upstream sends right after its 101, in the same read, are kept for the tunnel.
TEST_F(Connect, BytesRightAfterThe101AreKept) {
  start_raw_upstream("", "\x81\x02hi");
  auto out = connect(upstream_url());
  ASSERT_FALSE(out.ec) << out.ec.message() << " " << out.detail;
  EXPECT_EQ(out.upstream->early, "\x81\x02hi");
}

// The door's headers arrive; the Host header names the authority; the target is kept.
TEST_F(Connect, SendsHeadersHostAndTarget) {
  start_upstream(echo_script());
  auto out = connect(upstream_url("/v1/realtime?model=mirage"),
                     {{"X-Bouncer-Key-Id", "key_123"},
                      {"X-Bouncer-Metadata", R"({"plan":"pro"})"},
                      {"X-Bouncer-Session-Deadline", "2030-01-01T00:00:00Z"}});
  ASSERT_FALSE(out.ec) << out.ec.message();
  ASSERT_NE(out.upstream, nullptr);
  ASSERT_TRUE(run_until([&] { return upstream_requests.size() == 1; }));
  const auto& request = upstream_requests[0];
  EXPECT_EQ(request.target(), "/v1/realtime?model=mirage");
  EXPECT_EQ(request[http::field::host], "127.0.0.1:" + std::to_string(upstream_acceptor.local_endpoint().port()));
  EXPECT_EQ(request["X-Bouncer-Key-Id"], "key_123");
  EXPECT_EQ(request["X-Bouncer-Metadata"], R"({"plan":"pro"})");
  EXPECT_EQ(request["X-Bouncer-Session-Deadline"], "2030-01-01T00:00:00Z");
}

// A host name goes through the resolver (an address literal skips it): both paths connect.
TEST_F(Connect, ConnectsByHostName) {
  start_upstream(echo_script());
  const auto port = std::to_string(upstream_acceptor.local_endpoint().port());
  auto out = connect("ws://localhost:" + port + "/model");
  ASSERT_FALSE(out.ec) << out.ec.message();
  ASSERT_NE(out.upstream, nullptr);
  ASSERT_TRUE(run_until([&] { return upstream_requests.size() == 1; }));
  EXPECT_EQ(upstream_requests[0][http::field::host], "localhost:" + port);
}

// Fields the handshake owns cannot be replaced by the caller's headers.
TEST_F(Connect, HandshakeFieldsAreNotOverridden) {
  start_upstream(echo_script());
  auto out = connect(upstream_url(), {{"Host", "evil.example"}, {"Sec-WebSocket-Key", "AAAA"}, {"X-Ok", "1"}});
  ASSERT_FALSE(out.ec) << out.ec.message();
  ASSERT_TRUE(run_until([&] { return upstream_requests.size() == 1; }));
  EXPECT_NE(upstream_requests[0][http::field::host], "evil.example");
  EXPECT_EQ(upstream_requests[0]["X-Ok"], "1");
}

// Header values that would split the request are refused before anything is sent.
TEST_F(Connect, HeaderInjectionIsRefused) {
  start_upstream(echo_script());
  auto out = connect(upstream_url(), {{"X-Meta", "a\r\nX-Evil: 1"}});
  EXPECT_TRUE(out.ec);
  EXPECT_EQ(out.upstream, nullptr);
  auto bad_name = connect(upstream_url(), {{"X Meta", "a"}});
  EXPECT_TRUE(bad_name.ec);
  EXPECT_TRUE(upstream_requests.empty());
}

// ---------------------------------------------------------------------------------------
// wss://
// ---------------------------------------------------------------------------------------

class ConnectTls : public Connect {
 protected:
  void SetUp() override {
    cert = make_self_signed_cert({"IP:127.0.0.1", "DNS:localhost"});
    ca_file = write_temp_file("ca.pem", cert.cert_pem);
  }
  void TearDown() override { std::remove(ca_file.c_str()); }

  // A TLS WebSocket echo server using `server_cert`.
  void start_tls_upstream(const TestCert& server_cert) {
    server_tls = std::make_unique<ssl::context>(ssl::context::tls_server);
    server_tls->use_certificate_chain(net::buffer(server_cert.cert_pem));
    server_tls->use_private_key(net::buffer(server_cert.key_pem), ssl::context::pem);
    spawn([this]() -> net::awaitable<void> {
      for (;;) {
        auto socket = co_await upstream_acceptor.async_accept(net::use_awaitable);
        spawn(serve_tls(std::move(socket)));
      }
    });
  }

  net::awaitable<void> serve_tls(tcp::socket socket) {
    TlsWs ws(std::move(socket), *server_tls);
    beast::error_code ec;
    co_await ws.next_layer().async_handshake(ssl::stream_base::server, net::redirect_error(net::use_awaitable, ec));
    if (ec) {
      ++tls_handshakes_failed;
      co_return;
    }
    co_await ws.async_accept(net::use_awaitable);
    tls_ends.push_back(co_await echo_until_end(ws));
  }

  std::string wss_url(std::string_view host = "127.0.0.1") const {
    return "wss://" + std::string(host) + ":" + std::to_string(upstream_acceptor.local_endpoint().port()) + "/rt";
  }

  TestCert cert;
  std::string ca_file;
  std::unique_ptr<ssl::context> server_tls;
  int tls_handshakes_failed = 0;
  std::vector<Message> tls_ends;
};

TEST_F(ConnectTls, WssNeedsATlsContext) {
  start_tls_upstream(cert);
  connect_options.tls = nullptr;
  auto out = connect(wss_url());
  EXPECT_TRUE(out.ec);
  EXPECT_EQ(out.upstream, nullptr);
}

// The system's CAs do not know a certificate made a moment ago.
TEST_F(ConnectTls, UnknownCertificateIsRefused) {
  start_tls_upstream(cert);
  connect_options.tls = make_client_tls_context();
  auto out = connect(wss_url());
  EXPECT_TRUE(out.ec);
  EXPECT_EQ(out.upstream, nullptr);
  EXPECT_EQ(std::string(out.ec.category().name()), "asio.ssl") << out.ec.message();
}

TEST_F(ConnectTls, TrustedThroughCaFile) {
  start_tls_upstream(cert);
  connect_options.tls = make_client_tls_context(ca_file);
  auto out = connect(wss_url());
  ASSERT_FALSE(out.ec) << out.ec.message();
  ASSERT_NE(out.upstream, nullptr);
  EXPECT_TRUE(out.upstream->stream.is_tls());
}

// Trusting the certificate is not enough: it must also name the host.
TEST_F(ConnectTls, HostNameIsVerified) {
  auto other = make_self_signed_cert({"DNS:model.example"});
  start_tls_upstream(other);
  const auto other_ca = write_temp_file("other.pem", other.cert_pem);
  connect_options.tls = make_client_tls_context(other_ca);
  std::remove(other_ca.c_str());
  auto out = connect(wss_url());
  EXPECT_TRUE(out.ec);
  EXPECT_EQ(out.upstream, nullptr);
}

// By name (SNI + DNS SAN) rather than by address.
TEST_F(ConnectTls, TrustedByDnsName) {
  start_tls_upstream(cert);
  connect_options.tls = make_client_tls_context(ca_file);
  auto out = connect(wss_url("localhost"));
  ASSERT_FALSE(out.ec) << out.ec.message();
  EXPECT_NE(out.upstream, nullptr);
}

TEST_F(ConnectTls, MissingCaFileThrows) {
  EXPECT_ANY_THROW(make_client_tls_context("/nonexistent/ca.pem"));
}

// A whole relayed session over wss://: frames and the close code cross TLS.
TEST_F(ConnectTls, TunnelRelaysOverTls) {
  start_tls_upstream(cert);
  connect_options.tls = make_client_tls_context(ca_file);
  door_upstream_url = wss_url();
  start_door();
  Message echo, end;
  bool done = false;
  spawn([&]() -> net::awaitable<void> {
    Ws client = co_await connect_client();
    co_await write_message(client, "over tls", true);
    echo = co_await read_message(client);
    co_await client.async_close(close_reason(4001, "bye"), net::use_awaitable);
    done = true;
  });
  ASSERT_TRUE(run_until([&] { return done && ended() && tls_ends.size() == 1; }));
  EXPECT_EQ(echo.data, "over tls");
  EXPECT_TRUE(echo.text);
  EXPECT_EQ(result().how, TunnelResult::Ended::client_closed);
  EXPECT_EQ(tls_ends[0].close_code, 4001);
  EXPECT_EQ(tls_ends[0].close_reason, "bye");
}

}  // namespace
}  // namespace bouncer::relay::testing
