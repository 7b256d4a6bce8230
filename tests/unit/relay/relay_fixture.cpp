#include "relay_fixture.h"

#include <boost/asio/socket_base.hpp>

namespace bouncer::relay::testing {

net::awaitable<void> sleep_for(std::chrono::milliseconds duration) {
  net::steady_timer timer(co_await net::this_coro::executor, duration);
  co_await timer.async_wait(net::use_awaitable);
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
  door_acceptor.async_accept([this](beast::error_code ec, tcp::socket socket) {
    if (ec) return;
    do_door_accept();
    auto ws = std::make_shared<ClientStream>(std::move(socket));
    ws->async_accept([this, ws](beast::error_code accept_ec) {
      if (accept_ec) return;
      const auto url = parse_upstream_url(door_upstream_url);
      ASSERT_TRUE(url) << door_upstream_url;
      async_connect(ws->get_executor(), *url, door_headers, connect_options,
                    [this, ws](std::error_code connect_ec, std::shared_ptr<Upstream> upstream) {
                      if (connect_ec) {
                        connect_errors.push_back(connect_ec);
                        ws->async_close(close_reason(1011, "Upstream unavailable"), [ws](beast::error_code) {});
                        return;
                      }
                      auto& session = *sessions.emplace_back(std::make_unique<Session>());
                      session.pump = std::make_shared<Pump>(std::move(*ws), std::move(upstream), pump_options);
                      session.pump->start([s = &session](const PumpResult& r) {
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
