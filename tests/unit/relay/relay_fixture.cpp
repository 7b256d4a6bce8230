#include "relay_fixture.h"

#include <boost/asio/socket_base.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/write.hpp>

namespace bouncer::relay::testing {

net::awaitable<void> sleep_for(std::chrono::milliseconds duration) {
  net::steady_timer timer(co_await net::this_coro::executor, duration);
  co_await timer.async_wait(net::use_awaitable);
}

void fill_random(std::string& out, std::uint64_t seed) {
  std::uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
  for (std::size_t i = 0; i < out.size(); ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    out[i] = static_cast<char>(x >> 24);
  }
}

void reset_socket(tcp::socket& socket) {
  beast::error_code ec;
  socket.set_option(net::socket_base::linger(true, 0), ec);
  socket.close(ec);
}

RelayFixture::RelayFixture()
    : upstream_acceptor(ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0)),
      door_acceptor(ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0)) {}

std::string RelayFixture::upstream_url(std::string_view target) const {
  return "ws://127.0.0.1:" + std::to_string(upstream_acceptor.local_endpoint().port()) + std::string(target);
}

void RelayFixture::start_upstream(Script script) {
  upstream_script = std::move(script);
  spawn([this]() -> net::awaitable<void> {
    for (;;) {
      tcp::socket socket = co_await upstream_acceptor.async_accept(net::use_awaitable);
      spawn(serve_upstream(std::move(socket)));
    }
  });
}

net::awaitable<void> RelayFixture::serve_upstream(tcp::socket socket) {
  Ws ws(std::move(socket));
  beast::flat_buffer buffer;
  http::request<http::string_body> request;
  co_await http::async_read(ws.next_layer(), buffer, request, net::use_awaitable);
  upstream_requests.push_back(request);
  if (raw_upstream_script) {
    co_await raw_upstream_script(ws.next_layer(), request);
    co_return;
  }
  if (upstream_setup) upstream_setup(ws);
  co_await ws.async_accept(request, net::use_awaitable);
  co_await upstream_script(ws);
}

RelayFixture::Script RelayFixture::echo_script() {
  return [this](Ws& ws) -> net::awaitable<void> {
    upstream_ends.push_back(co_await echo_until_end(ws, &upstream_received));
  };
}

void RelayFixture::start_door() {
  if (door_upstream_url.empty()) door_upstream_url = upstream_url();
  do_door_accept();
}

void RelayFixture::do_door_accept() {
  spawn([this]() -> net::awaitable<void> {
    for (;;) {
      tcp::socket socket = co_await door_acceptor.async_accept(net::use_awaitable);
      spawn(serve_door(std::move(socket)));
    }
  });
}

// What the door of the server does, without admission: check the upgrade, forward it, answer
// with the upstream's 101, relay.
net::awaitable<void> RelayFixture::serve_door(tcp::socket socket) {
  auto client = std::make_shared<ByteStream>(std::move(socket), nullptr);
  beast::flat_buffer buffer;
  http::request<http::string_body> request;
  co_await client->visit([&](auto& s) { return http::async_read(s, buffer, request, net::use_awaitable); });
  EXPECT_FALSE(handshake::find_defect(request)) << "the test client's upgrade is malformed";
  handshake::Offer offer;
  offer.key = std::string(request[http::field::sec_websocket_key]);
  offer.protocols = handshake::split_protocols(handshake::joined_values(request, http::field::sec_websocket_protocol));
  offer.extensions = handshake::joined_values(request, http::field::sec_websocket_extensions);
  const auto url = parse_upstream_url(door_upstream_url);
  EXPECT_TRUE(url) << door_upstream_url;
  if (!url) co_return;
  async_connect(client->get_executor(), *url, offer, door_headers, connect_options,
                [this, client, offer](std::error_code ec, std::string, std::unique_ptr<UpstreamSession> upstream) {
                  if (ec) {
                    connect_errors.push_back(ec);
                    beast::error_code ignored;
                    client->socket().close(ignored);
                    return;
                  }
                  auto answer = std::make_shared<http::response<http::empty_body>>(
                      handshake::client_answer(offer, upstream->answer));
                  std::shared_ptr<UpstreamSession> held(std::move(upstream));
                  client->visit([&](auto& s) {
                    http::async_write(s, *answer, [this, client, held, answer](beast::error_code write_ec, std::size_t) {
                      if (write_ec) return;
                      auto& session = *sessions.emplace_back(std::make_unique<Session>());
                      auto options = tunnel_options;
                      options.permessage_deflate = held->answer.permessage_deflate;
                      session.tunnel = std::make_shared<Tunnel>(std::move(*client), std::move(held->stream), options,
                                                                std::move(held->early));
                      session.tunnel->start([s = &session](const TunnelResult& r) {
                        ++s->end_calls;
                        s->result = r;
                      });
                    });
                  });
                });
}

net::awaitable<Ws> RelayFixture::connect_client() {
  tcp::socket socket(ioc);
  co_await socket.async_connect(door_acceptor.local_endpoint(), net::use_awaitable);
  Ws ws(std::move(socket));
  co_await ws.async_handshake("127.0.0.1", "/v1/stream", net::use_awaitable);
  co_return ws;
}

net::awaitable<RelayFixture::Session*> RelayFixture::session_started(std::size_t i) {
  while (sessions.size() <= i) co_await sleep_for(5ms);
  co_return sessions[i].get();
}

bool RelayFixture::run_until(const std::function<bool()>& done, std::chrono::seconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    ioc.run_one_for(50ms);
    if (ioc.stopped()) ioc.restart();
  }
  return true;
}

}  // namespace bouncer::relay::testing
