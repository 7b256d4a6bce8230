// The tunnel through a mini door: frames, order, close propagation, failures, limits,
// end(), back-pressure and keep-alive pings.
#include "relay_fixture.h"

#include <atomic>
#include <thread>

namespace bouncer::relay::testing {
namespace {

using Ended = TunnelResult::Ended;

class TunnelTest : public RelayFixture {};

std::string bytes_0_to_255() {
  std::string s(256, '\0');
  for (int i = 0; i < 256; ++i) s[static_cast<std::size_t>(i)] = static_cast<char>(i);
  return s;
}

std::uint64_t fnv1a(std::uint64_t h, std::string_view data) {
  for (unsigned char c : data) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}
constexpr std::uint64_t kFnvBasis = 0xcbf29ce484222325ull;

// ---------------------------------------------------------------------------------------
// Frames
// ---------------------------------------------------------------------------------------

// Text and binary, empty and 1 MiB (exactly the default limit) cross both ways unchanged.
TEST_F(TunnelTest, TextAndBinaryFramesRelayedUnchangedBothWays) {
  start_upstream(echo_script());
  start_door();
  std::string big_binary(1 << 20, '\0');
  fill_random(big_binary, 7);
  const std::vector<std::pair<std::string, bool>> sent = {
      {"", true},         {"hello", true},
      {bytes_0_to_255(), false},  {"", false},
      {big_binary, false}, {std::string(1 << 20, 'a'), true},
      {"h\xC3\xA9llo \xE2\x9C\x93", true},
  };
  std::vector<Message> echoes;
  bool writer_done = false, done = false;
  spawn([&]() -> net::awaitable<void> {
    Ws client = co_await connect_client();
    spawn([&]() -> net::awaitable<void> {
      for (const auto& [data, text] : sent) co_await write_message(client, data, text);
      writer_done = true;
    });
    for (std::size_t i = 0; i < sent.size(); ++i) echoes.push_back(co_await read_message(client));
    while (!writer_done) co_await sleep_for(10ms);
    co_await client.async_close(close_reason(1000), net::use_awaitable);
    done = true;
  });
  ASSERT_TRUE(run_until([&] { return done && ended() && upstream_ends.size() == 1; }));

  ASSERT_EQ(upstream_received.size(), sent.size());
  ASSERT_EQ(echoes.size(), sent.size());
  std::uint64_t bytes = 0;
  for (std::size_t i = 0; i < sent.size(); ++i) {
    bytes += sent[i].first.size();
    EXPECT_EQ(upstream_received[i].data, sent[i].first) << "to upstream, message " << i;
    EXPECT_EQ(upstream_received[i].text, sent[i].second) << "to upstream, message " << i;
    EXPECT_FALSE(echoes[i].ec) << echoes[i].ec.message();
    EXPECT_EQ(echoes[i].data, sent[i].first) << "to client, message " << i;
    EXPECT_EQ(echoes[i].text, sent[i].second) << "to client, message " << i;
  }
  EXPECT_EQ(result().how, Ended::client_closed);
  EXPECT_EQ(result().close_code, 1000);
  EXPECT_EQ(result().messages_to_upstream, sent.size());
  EXPECT_EQ(result().messages_to_client, sent.size());
  EXPECT_EQ(result().bytes_to_upstream, bytes);
  EXPECT_EQ(result().bytes_to_client, bytes);
  EXPECT_EQ(sessions[0]->end_calls, 1);
}

TEST_F(TunnelTest, OrderPreservedOver1000Messages) {
  constexpr int kCount = 1000;
  start_upstream(echo_script());
  start_door();
  std::vector<Message> echoes;
  bool writer_done = false, done = false;
  spawn([&]() -> net::awaitable<void> {
    Ws client = co_await connect_client();
    spawn([&]() -> net::awaitable<void> {
      for (int i = 0; i < kCount; ++i) co_await write_message(client, "m" + std::to_string(i), i % 2 == 0);
      writer_done = true;
    });
    for (int i = 0; i < kCount; ++i) echoes.push_back(co_await read_message(client));
    while (!writer_done) co_await sleep_for(10ms);
    co_await client.async_close(close_reason(1000), net::use_awaitable);
    done = true;
  });
  ASSERT_TRUE(run_until([&] { return done && ended(); }, 60s));
  ASSERT_EQ(echoes.size(), static_cast<std::size_t>(kCount));
  ASSERT_EQ(upstream_received.size(), static_cast<std::size_t>(kCount));
  for (int i = 0; i < kCount; ++i) {
    const auto n = static_cast<std::size_t>(i);
    ASSERT_EQ(upstream_received[n].data, "m" + std::to_string(i));
    ASSERT_EQ(echoes[n].data, "m" + std::to_string(i));
    ASSERT_EQ(echoes[n].text, i % 2 == 0);
  }
  EXPECT_EQ(result().messages_to_upstream, static_cast<std::uint64_t>(kCount));
  EXPECT_EQ(result().messages_to_client, static_cast<std::uint64_t>(kCount));
}

// ---------------------------------------------------------------------------------------
// Closing and failing
// ---------------------------------------------------------------------------------------

TEST_F(TunnelTest, ClientCloseCodeAndReasonReachUpstream) {
  start_upstream(echo_script());
  start_door();
  bool done = false;
  spawn([&]() -> net::awaitable<void> {
    Ws client = co_await connect_client();
    co_await write_message(client, "hi", true);
    co_await read_message(client);
    co_await client.async_close(close_reason(4001, "bye"), net::use_awaitable);
    done = true;
  });
  ASSERT_TRUE(run_until([&] { return done && ended() && upstream_ends.size() == 1; }));
  EXPECT_EQ(upstream_ends[0].ec, websocket::error::closed);
  EXPECT_EQ(upstream_ends[0].close_code, 4001);
  EXPECT_EQ(upstream_ends[0].close_reason, "bye");
  EXPECT_EQ(result().how, Ended::client_closed);
  EXPECT_EQ(result().close_code, 4001);
  EXPECT_EQ(result().reason, "bye");
  EXPECT_EQ(result().messages_to_upstream, 1u);
  EXPECT_EQ(result().messages_to_client, 1u);
}

// A close frame without a status code is passed on without one.
TEST_F(TunnelTest, ClientCloseWithoutCodeStaysWithoutCode) {
  start_upstream(echo_script());
  start_door();
  bool done = false;
  spawn([&]() -> net::awaitable<void> {
    Ws client = co_await connect_client();
    co_await client.async_close(websocket::close_reason{}, net::use_awaitable);
    done = true;
  });
  ASSERT_TRUE(run_until([&] { return done && ended() && upstream_ends.size() == 1; }));
  EXPECT_EQ(upstream_ends[0].ec, websocket::error::closed);
  EXPECT_EQ(upstream_ends[0].close_code, 0);  // none
  EXPECT_EQ(result().how, Ended::client_closed);
  EXPECT_EQ(result().close_code, 1005);
}

TEST_F(TunnelTest, UpstreamCloseCodeAndReasonReachClient) {
  start_upstream([](Ws& ws) -> net::awaitable<void> {
    co_await read_message(ws);
    co_await ws.async_close(close_reason(4002, "later"), net::use_awaitable);
  });
  start_door();
  Message end;
  spawn([&]() -> net::awaitable<void> {
    Ws client = co_await connect_client();
    co_await write_message(client, "hi", true);
    end = co_await read_message(client);
  });
  ASSERT_TRUE(run_until([&] { return end.ec && ended(); }));
  EXPECT_EQ(end.ec, websocket::error::closed);
  EXPECT_EQ(end.close_code, 4002);
  EXPECT_EQ(end.close_reason, "later");
  EXPECT_EQ(result().how, Ended::upstream_closed);
  EXPECT_EQ(result().close_code, 4002);
  EXPECT_EQ(result().reason, "later");
}

TEST_F(TunnelTest, UpstreamTcpDropGivesClient1011) {
  start_upstream([](Ws& ws) -> net::awaitable<void> {
    co_await read_message(ws);
    reset_socket(beast::get_lowest_layer(ws).socket());
  });
  start_door();
  Message end;
  spawn([&]() -> net::awaitable<void> {
    Ws client = co_await connect_client();
    co_await write_message(client, "hi", true);
    end = co_await read_message(client);
  });
  ASSERT_TRUE(run_until([&] { return end.ec && ended(); }));
  EXPECT_EQ(end.ec, websocket::error::closed) << end.ec.message();
  EXPECT_EQ(end.close_code, 1011);
  EXPECT_EQ(end.close_reason, "Upstream connection lost");
  EXPECT_EQ(result().how, Ended::upstream_error);
  EXPECT_EQ(result().close_code, 1011);
}

TEST_F(TunnelTest, ClientTcpDropClosesUpstreamWith1001) {
  start_upstream(echo_script());
  start_door();
  bool done = false;
  spawn([&]() -> net::awaitable<void> {
    Ws client = co_await connect_client();
    co_await write_message(client, "hi", true);
    co_await read_message(client);
    reset_socket(beast::get_lowest_layer(client).socket());
    done = true;
  });
  ASSERT_TRUE(run_until([&] { return done && ended() && upstream_ends.size() == 1; }));
  EXPECT_EQ(upstream_ends[0].ec, websocket::error::closed) << upstream_ends[0].ec.message();
  EXPECT_EQ(upstream_ends[0].close_code, 1001);
  EXPECT_EQ(upstream_ends[0].close_reason, "Client gone");
  EXPECT_EQ(result().how, Ended::client_error);
}

// ---------------------------------------------------------------------------------------
// Limits
// ---------------------------------------------------------------------------------------

TEST_F(TunnelTest, OversizeFromClientClosesBothWith1009) {
  tunnel_options.max_message_bytes = 1024;
  start_upstream(echo_script());
  start_door();
  Message at_limit, end;
  spawn([&]() -> net::awaitable<void> {
    Ws client = co_await connect_client();
    co_await write_message(client, std::string(1024, 'a'), false);  // exactly the limit: fine
    at_limit = co_await read_message(client);
    co_await write_message(client, std::string(2000, 'b'), false);
    end = co_await read_message(client);
  });
  ASSERT_TRUE(run_until([&] { return end.ec && ended() && upstream_ends.size() == 1; }));
  EXPECT_EQ(at_limit.data.size(), 1024u);
  EXPECT_TRUE(end.ec);  // Beast fails the connection: close frame, then an abrupt teardown
  EXPECT_EQ(end.close_code, 1009) << end.ec.message();
  EXPECT_EQ(upstream_ends[0].ec, websocket::error::closed) << upstream_ends[0].ec.message();
  EXPECT_EQ(upstream_ends[0].close_code, 1009);
  EXPECT_EQ(result().how, Ended::too_big);
  EXPECT_EQ(result().close_code, 1009);
}

TEST_F(TunnelTest, OversizeFromUpstreamClosesBothWith1009) {
  tunnel_options.max_message_bytes = 1024;
  start_upstream([this](Ws& ws) -> net::awaitable<void> {
    co_await write_message(ws, std::string(2000, 'x'), true);
    upstream_ends.push_back(co_await read_message(ws));
  });
  start_door();
  Message end;
  spawn([&]() -> net::awaitable<void> {
    Ws client = co_await connect_client();
    end = co_await read_message(client);
  });
  ASSERT_TRUE(run_until([&] { return end.ec && ended() && upstream_ends.size() == 1; }));
  EXPECT_EQ(end.ec, websocket::error::closed) << end.ec.message();
  EXPECT_EQ(end.close_code, 1009);
  EXPECT_TRUE(upstream_ends[0].ec);  // the sender: close frame, then an abrupt teardown
  EXPECT_EQ(upstream_ends[0].close_code, 1009) << upstream_ends[0].ec.message();
  EXPECT_EQ(result().how, Ended::too_big);
}

// ---------------------------------------------------------------------------------------
// end()
// ---------------------------------------------------------------------------------------

TEST_F(TunnelTest, EndSendsFinalTextThenClosesBothSides) {
  start_upstream(echo_script());
  start_door();
  const std::string final_text = R"({"type":"session_ended","reason":"max_session_duration"})";
  Message text, end;
  spawn([&]() -> net::awaitable<void> {
    Ws client = co_await connect_client();
    co_await write_message(client, "hi", true);
    co_await read_message(client);
    (co_await session_started())->tunnel->end(4000, "Session time limit reached", final_text);
    text = co_await read_message(client);
    end = co_await read_message(client);
  });
  ASSERT_TRUE(run_until([&] { return end.ec && ended() && upstream_ends.size() == 1; }));
  EXPECT_FALSE(text.ec) << text.ec.message();
  EXPECT_TRUE(text.text);
  EXPECT_EQ(text.data, final_text);
  EXPECT_EQ(end.ec, websocket::error::closed);
  EXPECT_EQ(end.close_code, 4000);
  EXPECT_EQ(end.close_reason, "Session time limit reached");
  EXPECT_EQ(upstream_ends[0].close_code, 1000);
  EXPECT_EQ(upstream_ends[0].close_reason, "Session ended");
  EXPECT_EQ(result().how, Ended::ended_by_server);
  EXPECT_EQ(result().close_code, 4000);
  EXPECT_EQ(result().reason, "Session time limit reached");
}

TEST_F(TunnelTest, EndWith1001ClosesUpstreamWith1001) {
  start_upstream(echo_script());
  start_door();
  Message end;
  spawn([&]() -> net::awaitable<void> {
    Ws client = co_await connect_client();
    co_await write_message(client, "hi", true);
    co_await read_message(client);
    (co_await session_started())->tunnel->end(1001, "Server shutting down");
    end = co_await read_message(client);
  });
  ASSERT_TRUE(run_until([&] { return end.ec && ended() && upstream_ends.size() == 1; }));
  EXPECT_EQ(end.close_code, 1001);
  EXPECT_EQ(end.close_reason, "Server shutting down");
  EXPECT_EQ(upstream_ends[0].close_code, 1001);
  EXPECT_EQ(upstream_ends[0].close_reason, "Session ended");
}

// A reason longer than a close frame holds is cut, not fatal.
TEST_F(TunnelTest, EndWithOverlongReasonIsCut) {
  start_upstream(echo_script());
  start_door();
  Message end;
  spawn([&]() -> net::awaitable<void> {
    Ws client = co_await connect_client();
    (co_await session_started())->tunnel->end(4000, std::string(300, 'r'));
    end = co_await read_message(client);
  });
  ASSERT_TRUE(run_until([&] { return end.ec && ended(); }));
  EXPECT_EQ(end.close_code, 4000);
  EXPECT_EQ(end.close_reason, std::string(123, 'r'));
}

// The second end() and one after the session finished change nothing.
TEST_F(TunnelTest, EndTwiceAndAfterTheEndIsHarmless) {
  start_upstream(echo_script());
  start_door();
  std::vector<Message> got;
  spawn([&]() -> net::awaitable<void> {
    Ws client = co_await connect_client();
    co_await write_message(client, "hi", true);
    co_await read_message(client);
    (co_await session_started())->tunnel->end(4000, "first", "final-1");
    (co_await session_started())->tunnel->end(4001, "second", "final-2");
    for (;;) {
      got.push_back(co_await read_message(client));
      if (got.back().ec) break;
    }
  });
  ASSERT_TRUE(run_until([&] { return !got.empty() && got.back().ec && ended(); }));
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].data, "final-1");
  EXPECT_EQ(got[1].close_code, 4000);
  EXPECT_EQ(got[1].close_reason, "first");
  sessions[0]->tunnel->end(4002, "third", "final-3");
  run_until([] { return false; }, 1s);
  EXPECT_EQ(sessions[0]->end_calls, 1);
  EXPECT_EQ(result().reason, "first");
}

TEST_F(TunnelTest, EndFromAnotherThread) {
  start_upstream(echo_script());
  start_door();
  std::shared_ptr<Tunnel> shared_tunnel;
  std::atomic<bool> ready{false};
  Message text, end;
  spawn([&]() -> net::awaitable<void> {
    Ws client = co_await connect_client();
    co_await write_message(client, "hi", true);
    co_await read_message(client);
    shared_tunnel = (co_await session_started())->tunnel;
    ready.store(true, std::memory_order_release);
    text = co_await read_message(client);
    end = co_await read_message(client);
  });
  std::thread other([&] {
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (!ready.load(std::memory_order_acquire) && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(1ms);
    }
    if (ready.load(std::memory_order_acquire)) shared_tunnel->end(4000, "bye", "final");
  });
  const bool finished = run_until([&] { return end.ec && ended(); });
  other.join();
  ASSERT_TRUE(finished);
  EXPECT_EQ(text.data, "final");
  EXPECT_EQ(end.close_code, 4000);
  EXPECT_EQ(result().how, Ended::ended_by_server);
}

// end() in the same instant as a close from either peer: one ending, no double close,
// on_end once, whichever wins.
TEST_F(TunnelTest, EndRacingWithCloses) {
  constexpr int kRounds = 24;
  start_upstream([this](Ws& ws) -> net::awaitable<void> {
    for (;;) {
      Message m = co_await read_message(ws);
      if (m.ec) {
        upstream_ends.push_back(m);
        co_return;
      }
      if (m.data == "close-please") {
        beast::error_code ec;
        co_await ws.async_close(close_reason(4002, "upstream done"), net::redirect_error(net::use_awaitable, ec));
        upstream_ends.push_back(Message{ec, {}, false, 4002, "sent"});
        co_return;
      }
      co_await write_message(ws, m.data, m.text);
    }
  });
  start_door();
  int rounds_done = 0;
  std::vector<std::uint16_t> client_saw;
  spawn([&]() -> net::awaitable<void> {
    for (int i = 0; i < kRounds; ++i) {
      Ws client = co_await connect_client();
      co_await write_message(client, "hi", true);
      co_await read_message(client);
      auto& tunnel = *(co_await session_started(static_cast<std::size_t>(i)))->tunnel;
      beast::error_code ec;
      switch (i % 4) {
        case 0:  // client close first, end() right behind it
          spawn([&]() -> net::awaitable<void> {
            co_await client.async_close(close_reason(4001, "client done"), net::redirect_error(net::use_awaitable, ec));
          });
          tunnel.end(4000, "ended", "final");
          break;
        case 1:  // end() first, client close right behind it
          tunnel.end(4000, "ended", "final");
          co_await client.async_close(close_reason(4001, "client done"), net::redirect_error(net::use_awaitable, ec));
          break;
        case 2:  // the upstream closes while end() is on its way
          co_await write_message(client, "close-please", true);
          tunnel.end(4000, "ended", "final");
          break;
        case 3:  // end() twice around an upstream close
          tunnel.end(4000, "ended", "final");
          co_await write_message(client, "close-please", true);
          tunnel.end(4003, "again", "final-2");
          break;
      }
      // Drain whatever comes until the stream ends.
      std::uint16_t code = 0;
      for (int n = 0; n < 10; ++n) {
        Message m = co_await read_message(client);
        if (m.ec) {
          code = m.close_code;
          break;
        }
      }
      client_saw.push_back(code);
      while (!ended(static_cast<std::size_t>(i))) co_await sleep_for(5ms);
      co_await sleep_for(20ms);  // let any stray completion show up
      ++rounds_done;
    }
  });
  ASSERT_TRUE(run_until([&] { return rounds_done == kRounds; }, 60s));
  run_until([] { return false; }, 1s);
  ASSERT_EQ(sessions.size(), static_cast<std::size_t>(kRounds));
  for (int i = 0; i < kRounds; ++i) {
    const auto& s = *sessions[static_cast<std::size_t>(i)];
    EXPECT_EQ(s.end_calls, 1) << "round " << i;
    ASSERT_TRUE(s.result) << "round " << i;
    EXPECT_TRUE(s.result->how == Ended::ended_by_server || s.result->how == Ended::client_closed ||
                s.result->how == Ended::upstream_closed)
        << "round " << i << " ended " << static_cast<int>(s.result->how);
  }
}

// end() while a large write to a client that is not reading is in progress: the final
// text waits for it (one write at a time) and comes last, once.
TEST_F(TunnelTest, EndWaitsForTheWriteInProgress) {
  constexpr std::size_t kSize = 512 * 1024;
  start_upstream([this](Ws& ws) -> net::awaitable<void> {
    for (int k = 0; k < 8; ++k) co_await write_message(ws, std::string(kSize, static_cast<char>('a' + k)), false);
    upstream_ends.push_back(co_await read_message(ws));
  });
  start_door();
  std::vector<Message> got;
  spawn([&]() -> net::awaitable<void> {
    Ws client = co_await connect_client();
    co_await sleep_for(300ms);  // the tunnel's writes to us back up
    (co_await session_started())->tunnel->end(4000, "bye", "final");
    co_await sleep_for(100ms);
    for (;;) {
      got.push_back(co_await read_message(client));
      if (got.back().ec) break;
    }
  });
  ASSERT_TRUE(run_until([&] { return !got.empty() && got.back().ec && ended(); }));
  ASSERT_GE(got.size(), 2u);
  const Message& end = got.back();
  EXPECT_EQ(end.ec, websocket::error::closed) << end.ec.message();
  EXPECT_EQ(end.close_code, 4000);
  const Message& last = got[got.size() - 2];
  EXPECT_TRUE(last.text);
  EXPECT_EQ(last.data, "final");
  for (std::size_t i = 0; i + 2 < got.size(); ++i) {
    EXPECT_FALSE(got[i].text);
    EXPECT_EQ(got[i].data, std::string(kSize, static_cast<char>('a' + i))) << "message " << i;
  }
  EXPECT_EQ(result().how, Ended::ended_by_server);
}

// ---------------------------------------------------------------------------------------
// Back-pressure
// ---------------------------------------------------------------------------------------

// The upstream sends 64 MiB while the client reads nothing: once the buffers on the way
// are full, what the tunnel has written to the client stops growing and the upstream's
// writes stop completing — for 2 s in a row, far below 64 MiB. Then the client reads
// everything, intact.
TEST_F(TunnelTest, SlowClientStallsTheUpstream) {
  tunnel_options.idle_timeout = 600s;  // however long the machine takes to fill the buffers
  constexpr std::size_t kFrame = 64 * 1024;
  constexpr int kFrames = 1024;  // 64 MiB
  std::uint64_t upstream_written = 0;
  std::uint64_t sent_hash = kFnvBasis;
  start_upstream([&](Ws& ws) -> net::awaitable<void> {
    std::string frame(kFrame, '\0');
    ws.binary(true);
    for (int k = 0; k < kFrames; ++k) {
      fill_random(frame, static_cast<std::uint64_t>(k));
      sent_hash = fnv1a(sent_hash, frame);
      co_await ws.async_write(net::buffer(frame), net::use_awaitable);
      upstream_written += frame.size();
    }
    upstream_ends.push_back(co_await read_message(ws));
  });
  start_door();

  bool stalled = false;
  std::uint64_t written_at_stall = 0, queued_at_stall = 0;
  std::uint64_t received_hash = kFnvBasis, received_bytes = 0;
  int received_frames = 0;
  bool done = false;
  spawn([&]() -> net::awaitable<void> {
    Ws client = co_await connect_client();
    auto& socket = beast::get_lowest_layer(client).socket();
    // Sample once a second until two samples in a row saw no progress (a loaded machine may
    // need a while to fill the buffers; no wall-clock speed is assumed).
    std::uint64_t written = 0, queued = 0;
    int unchanged = 0;
    for (int i = 0; i < 60 && unchanged < 2; ++i) {
      co_await sleep_for(1000ms);
      const std::uint64_t written_now = upstream_written;
      const std::uint64_t queued_now = socket.available();
      unchanged = written_now > 0 && written_now == written && queued_now == queued ? unchanged + 1 : 0;
      written = written_now;
      queued = queued_now;
    }
    stalled = unchanged >= 2;
    written_at_stall = written;
    queued_at_stall = queued;
    for (int k = 0; k < kFrames; ++k) {
      Message m = co_await read_message(client);
      if (m.ec || m.text || m.data.size() != kFrame) break;
      received_hash = fnv1a(received_hash, m.data);
      received_bytes += m.data.size();
      ++received_frames;
    }
    co_await client.async_close(close_reason(1000), net::use_awaitable);
    done = true;
  });
  ASSERT_TRUE(run_until([&] { return done && ended() && upstream_ends.size() == 1; }, 240s));

  constexpr std::uint64_t kTotal = std::uint64_t{kFrame} * kFrames;
  std::printf("[ stalled  ] upstream had written %llu bytes, %llu waited in the client's socket\n",
              static_cast<unsigned long long>(written_at_stall), static_cast<unsigned long long>(queued_at_stall));
  EXPECT_TRUE(stalled) << "the upstream's writes and the tunnel's writes to the client kept completing";
  EXPECT_LT(written_at_stall, kTotal / 2);
  EXPECT_EQ(received_frames, kFrames);
  EXPECT_EQ(received_bytes, kTotal);
  EXPECT_EQ(received_hash, sent_hash);
  EXPECT_EQ(result().bytes_to_client, kTotal);
  EXPECT_EQ(result().messages_to_client, static_cast<std::uint64_t>(kFrames));
}

// A client that stops reading but keeps talking, in front of a healthy upstream that
// streams: the tunnel stops reading the upstream meanwhile, and must not take that for the
// upstream's silence. After idle_timeout without taking a byte the client is the one
// dropped, and the upstream gets a clean close.
TEST_F(TunnelTest, NonReadingClientIsBlamedNotTheUpstream) {
  tunnel_options.idle_timeout = 2s;
  int upstream_got = 0;
  start_upstream([&](Ws& ws) -> net::awaitable<void> {
    bool reader_done = false;
    spawn([&]() -> net::awaitable<void> {  // reads (and so answers pings) all along
      for (;;) {
        Message m = co_await read_message(ws);
        if (m.ec) {
          upstream_ends.push_back(m);
          break;
        }
        ++upstream_got;
      }
      reader_done = true;
    });
    std::string frame(64 * 1024, 'u');
    for (int k = 0; k < 256; ++k) {  // 16 MiB: more than the socket buffers hold
      beast::error_code ec;
      ws.binary(true);
      co_await ws.async_write(net::buffer(frame), net::redirect_error(net::use_awaitable, ec));
      if (ec) break;
    }
    while (!reader_done) co_await sleep_for(10ms);
  });
  start_door();
  bool talker_done = false;
  spawn([&]() -> net::awaitable<void> {
    Ws client = co_await connect_client();
    spawn([&]() -> net::awaitable<void> {
      for (int i = 0; i < 40 && !ended(); ++i) {
        co_await sleep_for(250ms);
        beast::error_code ec;
        client.text(true);
        co_await client.async_write(net::buffer(std::string_view("still here")),
                                    net::redirect_error(net::use_awaitable, ec));
        if (ec) break;
      }
      talker_done = true;
    });
    while (!talker_done) co_await sleep_for(10ms);  // reads nothing
  });
  ASSERT_TRUE(run_until([&] { return ended() && talker_done && upstream_ends.size() == 1; }, 60s));
  EXPECT_EQ(result().how, Ended::client_error);
  EXPECT_GE(upstream_got, 1);
  EXPECT_EQ(upstream_ends[0].ec, websocket::error::closed) << upstream_ends[0].ec.message();
  EXPECT_EQ(upstream_ends[0].close_code, 1001);
  EXPECT_EQ(upstream_ends[0].close_reason, "Client gone");
}

// Both peers stop reading while each has a large message on its way: both of the tunnel's
// reads are paused behind stuck writes. The session still ends — on its own, or when
// end() is called (its close frames would otherwise wait for the stuck writes forever).
TEST_F(TunnelTest, PeersThatBothStopReadingAreDropped) {
  tunnel_options.idle_timeout = 2s;
  auto flood = [](Ws& ws) -> net::awaitable<void> {
    std::string frame(64 * 1024, 'f');
    ws.binary(true);
    for (int k = 0; k < 256; ++k) {
      beast::error_code ec;
      co_await ws.async_write(net::buffer(frame), net::redirect_error(net::use_awaitable, ec));
      if (ec) break;
    }
  };
  start_upstream(flood);
  start_door();
  bool client_done[2] = {false, false};
  spawn([&]() -> net::awaitable<void> {
    for (int round = 0; round < 2; ++round) {
      Ws client = co_await connect_client();
      Session* session = co_await session_started(static_cast<std::size_t>(round));
      spawn([&, round, session]() -> net::awaitable<void> {
        if (round == 1) {
          co_await sleep_for(1000ms);
          session->tunnel->end(4000, "bye", "final");
        }
      });
      co_await flood(client);  // returns when the tunnel has dropped us
      client_done[round] = true;
    }
  });
  ASSERT_TRUE(run_until([&] { return client_done[1] && ended(0) && ended(1); }, 90s));
  EXPECT_TRUE(result(0).how == Ended::client_error || result(0).how == Ended::upstream_error)
      << static_cast<int>(result(0).how);
  EXPECT_EQ(result(1).how, Ended::ended_by_server);
  EXPECT_EQ(sessions[0]->end_calls, 1);
  EXPECT_EQ(sessions[1]->end_calls, 1);
}

// ---------------------------------------------------------------------------------------
// Keep-alive
// ---------------------------------------------------------------------------------------

// A quiet client that answers pings outlives idle_timeout.
TEST_F(TunnelTest, ClientAnsweringPingsStaysConnected) {
  tunnel_options.idle_timeout = 2s;
  start_upstream(echo_script());
  start_door();
  int pings = 0;
  bool alive_after_5s = false, writer_done = false, done = false;
  Message echo;
  spawn([&]() -> net::awaitable<void> {
    Ws client = co_await connect_client();
    client.control_callback([&](websocket::frame_type kind, beast::string_view) {
      if (kind == websocket::frame_type::ping) ++pings;
    });
    spawn([&]() -> net::awaitable<void> {
      co_await sleep_for(5s);
      alive_after_5s = !ended();
      co_await write_message(client, "still here", true);
      writer_done = true;
    });
    echo = co_await read_message(client);  // Beast answers pings while this read waits
    while (!writer_done) co_await sleep_for(10ms);
    co_await client.async_close(close_reason(1000), net::use_awaitable);
    done = true;
  });
  ASSERT_TRUE(run_until([&] { return done && ended(); }));
  EXPECT_TRUE(alive_after_5s);
  EXPECT_EQ(echo.data, "still here");
  EXPECT_GE(pings, 2);
  EXPECT_EQ(result().how, Ended::client_closed);
}

// A client that never reads again (so never answers a ping) is dropped after idle_timeout.
TEST_F(TunnelTest, SilentClientIsDropped) {
  tunnel_options.idle_timeout = 2s;
  start_upstream(echo_script());
  start_door();
  spawn([&]() -> net::awaitable<void> {
    Ws client = co_await connect_client();
    co_await sleep_for(60s);  // holds the connection, reads nothing
  });
  ASSERT_TRUE(run_until([&] { return ended() && upstream_ends.size() == 1; }));
  EXPECT_EQ(result().how, Ended::client_error);
  EXPECT_EQ(upstream_ends[0].close_code, 1001);
  EXPECT_EQ(upstream_ends[0].close_reason, "Client gone");
}

TEST_F(TunnelTest, SilentUpstreamIsDropped) {
  tunnel_options.idle_timeout = 2s;
  start_upstream([](Ws&) -> net::awaitable<void> { co_await sleep_for(60s); });
  start_door();
  Message end;
  spawn([&]() -> net::awaitable<void> {
    Ws client = co_await connect_client();
    end = co_await read_message(client);
  });
  ASSERT_TRUE(run_until([&] { return end.ec && ended(); }));
  EXPECT_EQ(end.close_code, 1011);
  EXPECT_EQ(result().how, Ended::upstream_error);
}

}  // namespace
}  // namespace bouncer::relay::testing
