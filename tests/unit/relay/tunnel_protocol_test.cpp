// The tunnel's promises about frames, checked on the wire: protocol errors from either side,
// the message size limit across fragments, close codes, end() against an open fragmented
// message, subprotocols and permessage-deflate end to end, early bytes, and the relay
// buffers a stalled or idle session holds.
//
// Where a Beast peer would hide what is on the wire (or refuse to send it), a raw peer is
// used: a client that performs the upgrade by hand and then writes and reads frame bytes, or
// an upstream script that writes and reads on the Beast stream's TCP layer.
#include "relay/buffer_pool.h"
#include "relay_fixture.h"

#include <boost/asio/write.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/websocket/stream_base.hpp>

#include <array>

namespace bouncer::relay::testing {
namespace {

using Ended = TunnelResult::Ended;

// ---------------------------------------------------------------------------------------
// Frames by hand
// ---------------------------------------------------------------------------------------

constexpr std::uint8_t kFin = 0x80;
constexpr std::uint8_t kRsv1 = 0x40;
constexpr std::uint8_t kRsv2 = 0x20;
constexpr std::uint8_t kCont = 0x0;
constexpr std::uint8_t kText = 0x1;
constexpr std::uint8_t kBinary = 0x2;
constexpr std::uint8_t kClose = 0x8;
constexpr std::uint8_t kPing = 0x9;

constexpr std::array<std::uint8_t, 4> kKey = {0x37, 0xfa, 0x21, 0x3d};

// A frame header: first byte `b0` as given, `length` in its shortest form, masked with kKey
// when `masked`.
std::string header_bytes(std::uint8_t b0, std::uint64_t length, bool masked) {
  std::string out;
  out.push_back(static_cast<char>(b0));
  const auto mask_bit = static_cast<std::uint8_t>(masked ? 0x80 : 0);
  if (length <= 125) {
    out.push_back(static_cast<char>(mask_bit | length));
  } else if (length <= 0xFFFF) {
    out.push_back(static_cast<char>(mask_bit | 126));
    out.push_back(static_cast<char>(length >> 8));
    out.push_back(static_cast<char>(length & 0xFF));
  } else {
    out.push_back(static_cast<char>(mask_bit | 127));
    for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>((length >> shift) & 0xFF));
  }
  if (masked) {
    for (auto k : kKey) out.push_back(static_cast<char>(k));
  }
  return out;
}

// A whole frame: header_bytes() and the payload (masked with kKey when `masked`).
std::string frame_bytes(std::uint8_t b0, std::string_view payload, bool masked) {
  std::string out = header_bytes(b0, payload.size(), masked);
  for (std::size_t i = 0; i < payload.size(); ++i) {
    const auto c = static_cast<std::uint8_t>(payload[i]);
    out.push_back(static_cast<char>(masked ? c ^ kKey[i % 4] : c));
  }
  return out;
}
std::string client_frame(std::uint8_t b0, std::string_view payload) { return frame_bytes(b0, payload, true); }
std::string server_frame(std::uint8_t b0, std::string_view payload) { return frame_bytes(b0, payload, false); }

std::string close_payload(std::uint16_t code, std::string_view reason = {}) {
  std::string p;
  p.push_back(static_cast<char>(code >> 8));
  p.push_back(static_cast<char>(code & 0xFF));
  p.append(reason);
  return p;
}

// One frame read off the wire, unmasked.
struct RawFrame {
  bool fin = false;
  bool rsv1 = false;
  std::uint8_t opcode = 0;
  bool masked = false;
  std::string payload;

  bool is_close() const { return opcode == kClose; }
  std::uint16_t close_code() const {  // 1005 when none
    if (payload.size() < 2) return 1005;
    return static_cast<std::uint16_t>((static_cast<std::uint8_t>(payload[0]) << 8) | static_cast<std::uint8_t>(payload[1]));
  }
  std::string close_reason() const { return payload.size() > 2 ? payload.substr(2) : std::string(); }
};

// Takes the whole frame at the front of `bytes`, if there is one.
std::optional<RawFrame> take_frame(std::string& bytes) {
  if (bytes.size() < 2) return std::nullopt;
  const auto b0 = static_cast<std::uint8_t>(bytes[0]);
  const auto b1 = static_cast<std::uint8_t>(bytes[1]);
  RawFrame f;
  f.fin = (b0 & 0x80) != 0;
  f.rsv1 = (b0 & 0x40) != 0;
  f.opcode = static_cast<std::uint8_t>(b0 & 0x0F);
  f.masked = (b1 & 0x80) != 0;
  std::uint64_t length = b1 & 0x7F;
  std::size_t at = 2;
  if (length == 126) {
    if (bytes.size() < 4) return std::nullopt;
    length = (std::uint64_t{static_cast<std::uint8_t>(bytes[2])} << 8) | static_cast<std::uint8_t>(bytes[3]);
    at = 4;
  } else if (length == 127) {
    if (bytes.size() < 10) return std::nullopt;
    length = 0;
    for (std::size_t i = 2; i < 10; ++i) length = (length << 8) | static_cast<std::uint8_t>(bytes[i]);
    at = 10;
  }
  std::array<std::uint8_t, 4> key{};
  if (f.masked) {
    if (bytes.size() < at + 4) return std::nullopt;
    for (std::size_t i = 0; i < 4; ++i) key[i] = static_cast<std::uint8_t>(bytes[at + i]);
    at += 4;
  }
  if (bytes.size() < at + length) return std::nullopt;
  f.payload = bytes.substr(at, static_cast<std::size_t>(length));
  if (f.masked) {
    for (std::size_t i = 0; i < f.payload.size(); ++i) {
      f.payload[i] = static_cast<char>(static_cast<std::uint8_t>(f.payload[i]) ^ key[i % 4]);
    }
  }
  bytes.erase(0, at + static_cast<std::size_t>(length));
  return f;
}

// A connection read frame by frame: its TCP stream (or socket) and the bytes read past the
// last whole frame.
template <class Stream>
struct RawPeer {
  Stream& stream;
  std::string in;
  beast::error_code end;  // how the stream ended, once it has
};

// The next whole frame, or nullopt once the stream has ended (`end` says how).
template <class Stream>
net::awaitable<std::optional<RawFrame>> next_frame(RawPeer<Stream>& peer) {
  for (;;) {
    if (auto f = take_frame(peer.in)) co_return f;
    if (peer.end) co_return std::nullopt;
    std::array<char, 16 * 1024> chunk;
    beast::error_code ec;
    const std::size_t n = co_await peer.stream.async_read_some(net::buffer(chunk), net::redirect_error(net::use_awaitable, ec));
    peer.in.append(chunk.data(), n);
    if (ec) peer.end = ec;
  }
}

// How a raw peer answers the first close frame it reads: not at all (it sent its own close
// already), or with an echo of its code, masked (a client) or not (a server).
enum class Answer { none, masked, unmasked };

// Reads every frame until the stream ends, answering the first close as `answer` says.
template <class Stream>
net::awaitable<std::vector<RawFrame>> read_to_end(RawPeer<Stream>& peer, Answer answer) {
  std::vector<RawFrame> frames;
  bool answered = answer == Answer::none;
  const bool answer_masked = answer == Answer::masked;
  while (auto f = co_await next_frame(peer)) {
    frames.push_back(*f);
    if (f->is_close() && !answered) {
      answered = true;
      const std::string reply =
          frame_bytes(kFin | kClose, f->payload.size() >= 2 ? f->payload.substr(0, 2) : std::string(), answer_masked);
      beast::error_code ignored;
      co_await net::async_write(peer.stream, net::buffer(reply), net::redirect_error(net::use_awaitable, ignored));
    }
  }
  co_return frames;
}

std::string describe(const std::vector<RawFrame>& frames) {
  std::string s;
  for (const auto& f : frames) {
    s += "[op " + std::to_string(f.opcode) + (f.fin ? " fin" : "") + " len " + std::to_string(f.payload.size());
    if (f.is_close()) s += " code " + std::to_string(f.close_code()) + " '" + f.close_reason() + "'";
    s += "] ";
  }
  return s;
}

// The data messages a client would assemble from `frames` (up to the first close), or an
// error when the frames are not a valid sequence: a data frame inside an open message, a
// continuation with none open, anything after the close, a message left open. (Control
// frames between two fragments are valid.)
struct Assembled {
  std::vector<std::pair<bool, std::string>> messages;  // text?, data
  std::optional<RawFrame> close;
  std::string error;
};
Assembled assemble(const std::vector<RawFrame>& frames) {
  Assembled a;
  bool open = false;
  bool text = false;
  std::string data;
  for (const auto& f : frames) {
    if (a.close) {
      a.error = "a frame after the close";
      break;
    }
    if (f.opcode == kClose) {
      a.close = f;
      continue;
    }
    if (f.opcode & 0x08) continue;  // ping / pong
    if (f.opcode == kCont) {
      if (!open) {
        a.error = "a continuation with no message open";
        break;
      }
    } else {
      if (open) {
        a.error = "a new data frame inside an open message";
        break;
      }
      open = true;
      text = f.opcode == kText;
      data.clear();
    }
    data += f.payload;
    if (f.fin) {
      a.messages.emplace_back(text, data);
      open = false;
    }
  }
  if (open && a.error.empty()) a.error = "a message left open";
  return a;
}


// How many relay buffers the sessions have borrowed (on this thread, the only one the tests
// relay on): every buffer the pool keeps is taken first, so what is alive beyond the ones
// taken here is lent.
std::size_t relay_buffers_lent() {
  std::vector<RelayBuffer> taken;
  for (std::size_t i = 0; i < kRelayBuffersKeptPerThread; ++i) taken.push_back(borrow_relay_buffer());
  return relay_buffers_alive() - taken.size();
}

class TunnelProtocolTest : public RelayFixture {
 protected:
  // A client that performs the upgrade by hand; `extra` goes in the request (CRLF-ended lines).
  struct RawClient {
    tcp::socket socket;
    RawPeer<tcp::socket> peer;
    explicit RawClient(tcp::socket s) : socket(std::move(s)), peer{socket, {}, {}} {}
    RawClient(const RawClient&) = delete;
  };

  net::awaitable<std::unique_ptr<RawClient>> connect_raw_client(std::string extra = {}) {
    tcp::socket socket(ioc);
    co_await socket.async_connect(door_acceptor.local_endpoint(), net::use_awaitable);
    const std::string request =
        "GET /v1/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" +
        extra + "\r\n";
    co_await net::async_write(socket, net::buffer(request), net::use_awaitable);
    beast::flat_buffer buffer;
    http::response_parser<http::empty_body> parser;
    co_await http::async_read_header(socket, buffer, parser, net::use_awaitable);
    EXPECT_EQ(parser.get().result_int(), 101u);
    EXPECT_EQ(std::string(parser.get()[http::field::sec_websocket_accept]), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    auto client = std::make_unique<RawClient>(std::move(socket));
    client->peer.in = beast::buffers_to_string(buffer.data());
    co_return client;
  }

  // A Beast client whose request is decorated by `decorate`, returning the door's 101.
  net::awaitable<Ws> connect_client_with(std::function<void(websocket::request_type&)> decorate,
                                         websocket::response_type& response,
                                         std::optional<websocket::permessage_deflate> pmd = std::nullopt) {
    tcp::socket socket(ioc);
    co_await socket.async_connect(door_acceptor.local_endpoint(), net::use_awaitable);
    Ws ws(std::move(socket));
    if (decorate) ws.set_option(websocket::stream_base::decorator(std::move(decorate)));
    if (pmd) ws.set_option(*pmd);
    co_await ws.async_handshake(response, "127.0.0.1", "/v1/stream", net::use_awaitable);
    co_return ws;
  }

  // Test 1's shape: an echo upstream, a raw client that sends `bad` after a valid upgrade.
  // The client must get a close with `code` before its connection ends (an orderly end, not a
  // bare TCP close), the upstream the same close, and the result must say `how`.
  void expect_client_violation(const std::string& bad, std::uint16_t code = 1002, Ended how = Ended::protocol_error) {
    start_upstream(echo_script());
    start_door();
    std::vector<RawFrame> got;
    beast::error_code client_end;
    bool done = false;
    spawn([&]() -> net::awaitable<void> {
      auto client = co_await connect_raw_client();
      co_await net::async_write(client->socket, net::buffer(bad), net::use_awaitable);
      got = co_await read_to_end(client->peer, Answer::masked);
      client_end = client->peer.end;
      done = true;
    });
    ASSERT_TRUE(run_until([&] { return done && ended() && upstream_ends.size() == 1; }));
    ASSERT_FALSE(got.empty()) << "a bare TCP close: " << client_end.message();
    EXPECT_TRUE(got.back().is_close()) << describe(got);
    EXPECT_EQ(got.back().close_code(), code) << describe(got);
    EXPECT_FALSE(got.back().masked);
    EXPECT_EQ(client_end, net::error::eof) << client_end.message();
    EXPECT_EQ(upstream_ends[0].close_code, code) << upstream_ends[0].ec.message();
    EXPECT_EQ(result().how, how);
    EXPECT_EQ(result().close_code, code);
    EXPECT_EQ(sessions[0]->end_calls, 1);
  }
};

// ---------------------------------------------------------------------------------------
// 1. Protocol errors
// ---------------------------------------------------------------------------------------

// RFC 6455 §5.1: a server must close the connection on an unmasked client frame: 1002 to the
// client, and the upstream learns why the session ended.
TEST_F(TunnelProtocolTest, UnmaskedClientFrameIs1002) { expect_client_violation(server_frame(kFin | kText, "hi")); }

// §5.2: opcodes 3–7 are reserved for further non-control frames.
TEST_F(TunnelProtocolTest, ReservedOpcodeFromClientIs1002) { expect_client_violation(client_frame(kFin | 0x3, "hi")); }

// §5.2: RSV2 set with no extension defining it.
TEST_F(TunnelProtocolTest, Rsv2FromClientIs1002) { expect_client_violation(client_frame(kFin | kRsv2 | kText, "hi")); }

// §5.2: RSV1 means a compressed message only when permessage-deflate was negotiated (it was
// not here).
TEST_F(TunnelProtocolTest, Rsv1WithoutDeflateIs1002) {
  expect_client_violation(client_frame(kFin | kRsv1 | kText, "hi"));
}

// §5.5: control frames carry at most 125 payload bytes.
TEST_F(TunnelProtocolTest, PingWith126BytePayloadIs1002) {
  expect_client_violation(client_frame(kFin | kPing, std::string(126, 'p')));
}

// §5.5: control frames must not be fragmented.
TEST_F(TunnelProtocolTest, FragmentedPingIs1002) { expect_client_violation(client_frame(kPing, "p")); }

// §5.4: a continuation frame needs a message to continue.
TEST_F(TunnelProtocolTest, ContinuationWithNoMessageOpenIs1002) {
  expect_client_violation(client_frame(kFin | kCont, "orphan"));
}

// §5.4: the fragments of one message are not interleaved with another data message.
TEST_F(TunnelProtocolTest, TextFrameInsideOpenMessageIs1002) {
  expect_client_violation(client_frame(kText, "first half ") + client_frame(kFin | kText, "intruder"));
}

// §5.1: a client must close the connection on a masked server frame: the tunnel does it for
// the client. The client gets 1002 before the TCP end, the upstream a 1002 too.
TEST_F(TunnelProtocolTest, MaskedUpstreamFrameIs1002) {
  start_upstream([this](Ws& ws) -> net::awaitable<void> {
    const std::string bad = client_frame(kFin | kText, "masked by a server");
    co_await net::async_write(ws.next_layer(), net::buffer(bad), net::use_awaitable);
    upstream_ends.push_back(co_await read_message(ws));
  });
  start_door();
  std::vector<RawFrame> got;
  beast::error_code client_end;
  bool done = false;
  spawn([&]() -> net::awaitable<void> {
    auto client = co_await connect_raw_client();
    got = co_await read_to_end(client->peer, Answer::masked);
    client_end = client->peer.end;
    done = true;
  });
  ASSERT_TRUE(run_until([&] { return done && ended() && upstream_ends.size() == 1; }));
  ASSERT_EQ(got.size(), 1u) << "the masked frame must not reach the client: " << describe(got);
  EXPECT_TRUE(got[0].is_close());
  EXPECT_EQ(got[0].close_code(), 1002);
  EXPECT_EQ(client_end, net::error::eof) << client_end.message();
  EXPECT_EQ(upstream_ends[0].close_code, 1002) << upstream_ends[0].ec.message();
  EXPECT_EQ(result().how, Ended::protocol_error);
  EXPECT_EQ(result().close_code, 1002);
}

// ---------------------------------------------------------------------------------------
// 2. The message size limit across fragments
// ---------------------------------------------------------------------------------------

// Exactly the limit, spread over a 1024-byte fragment and an empty last one, passes whole.
TEST_F(TunnelProtocolTest, FragmentedMessageAtTheLimitPasses) {
  tunnel_options.max_message_bytes = 1024;
  start_upstream(echo_script());
  start_door();
  std::vector<RawFrame> got;
  bool done = false;
  spawn([&]() -> net::awaitable<void> {
    auto client = co_await connect_raw_client();
    const std::string frames = client_frame(kText, std::string(1024, 'a')) + client_frame(kFin | kCont, "");
    co_await net::async_write(client->socket, net::buffer(frames), net::use_awaitable);
    if (auto echo = co_await next_frame(client->peer)) got.push_back(*echo);
    const std::string close = client_frame(kFin | kClose, close_payload(1000));
    co_await net::async_write(client->socket, net::buffer(close), net::use_awaitable);
    for (auto& f : co_await read_to_end(client->peer, Answer::none)) got.push_back(f);
    done = true;
  });
  ASSERT_TRUE(run_until([&] { return done && ended() && upstream_ends.size() == 1; }));
  ASSERT_EQ(upstream_received.size(), 1u);
  EXPECT_EQ(upstream_received[0].data, std::string(1024, 'a'));
  const Assembled a = assemble(got);
  EXPECT_EQ(a.error, "") << describe(got);
  ASSERT_EQ(a.messages.size(), 1u) << describe(got);
  EXPECT_EQ(a.messages[0].second, std::string(1024, 'a'));
  ASSERT_TRUE(a.close) << describe(got);
  EXPECT_EQ(a.close->close_code(), 1000);
  EXPECT_EQ(result().how, Ended::client_closed);
  EXPECT_EQ(result().messages_to_upstream, 1u);
  EXPECT_EQ(result().bytes_to_upstream, 1024u);
}

// One byte over the limit, in the last fragment: 1009 to both, each a close frame first.
TEST_F(TunnelProtocolTest, FragmentTakingTheMessageOverTheLimitIs1009) {
  tunnel_options.max_message_bytes = 1024;
  expect_client_violation(client_frame(kText, std::string(1024, 'a')) + client_frame(kFin | kCont, "b"), 1009,
                          Ended::too_big);
}

// A single 1025-byte frame is refused from its header: its payload is never sent, yet the
// 1009 comes.
TEST_F(TunnelProtocolTest, OversizeFrameRefusedFromItsHeaderAlone) {
  tunnel_options.max_message_bytes = 1024;
  expect_client_violation(header_bytes(kFin | kText, 1025, true), 1009, Ended::too_big);
  EXPECT_TRUE(upstream_received.empty());
}

// ---------------------------------------------------------------------------------------
// 3. Close codes
// ---------------------------------------------------------------------------------------

// Codes a close frame may carry reach the upstream as sent, reason included — 1014 too,
// which Beast would refuse, hence a raw upstream that answers with the same code.
TEST_F(TunnelProtocolTest, ValidCloseCodesPassThroughIntact) {
  const std::vector<std::uint16_t> codes = {1012, 1013, 1014, 4000};
  std::vector<RawFrame> upstream_got;  // each connection's close
  start_upstream([&](Ws& ws) -> net::awaitable<void> {
    RawPeer<beast::tcp_stream> peer{ws.next_layer(), {}, {}};
    for (auto& f : co_await read_to_end(peer, Answer::unmasked)) {
      if (f.is_close()) upstream_got.push_back(f);
    }
  });
  start_door();
  std::vector<std::vector<RawFrame>> client_got;
  bool done = false;
  spawn([&]() -> net::awaitable<void> {
    for (std::size_t i = 0; i < codes.size(); ++i) {
      auto client = co_await connect_raw_client();
      const std::string close =
          client_frame(kFin | kClose, close_payload(codes[i], "reason " + std::to_string(codes[i])));
      co_await net::async_write(client->socket, net::buffer(close), net::use_awaitable);
      client_got.push_back(co_await read_to_end(client->peer, Answer::none));
      client.reset();  // closed after the server's FIN, as a client does
      while (!ended(i)) co_await sleep_for(5ms);
    }
    done = true;
  });
  ASSERT_TRUE(run_until([&] { return done; }));
  ASSERT_EQ(upstream_got.size(), codes.size());
  for (std::size_t i = 0; i < codes.size(); ++i) {
    EXPECT_EQ(upstream_got[i].close_code(), codes[i]);
    EXPECT_EQ(upstream_got[i].close_reason(), "reason " + std::to_string(codes[i]));
    ASSERT_EQ(client_got[i].size(), 1u) << describe(client_got[i]);
    EXPECT_EQ(client_got[i][0].close_code(), codes[i]) << "the upstream's answer";
    EXPECT_EQ(result(i).how, Ended::client_closed);
    EXPECT_EQ(result(i).close_code, codes[i]);
    EXPECT_EQ(result(i).reason, "reason " + std::to_string(codes[i]));
  }
}

// Codes no close frame may carry (≥ 5000, and 1005 and 1015, which only stand for "none"
// and "TLS failed" locally) are a protocol error: 1002 to both sides.
TEST_F(TunnelProtocolTest, InvalidCloseCodesAre1002) {
  const std::vector<std::uint16_t> codes = {5000, 1005, 1015};
  std::vector<RawFrame> upstream_got;
  start_upstream([&](Ws& ws) -> net::awaitable<void> {
    RawPeer<beast::tcp_stream> peer{ws.next_layer(), {}, {}};
    for (auto& f : co_await read_to_end(peer, Answer::unmasked)) {
      if (f.is_close()) upstream_got.push_back(f);
    }
  });
  start_door();
  std::vector<std::vector<RawFrame>> client_got;
  std::vector<beast::error_code> client_ends;
  bool done = false;
  spawn([&]() -> net::awaitable<void> {
    for (std::size_t i = 0; i < codes.size(); ++i) {
      auto client = co_await connect_raw_client();
      const std::string close = client_frame(kFin | kClose, close_payload(codes[i], "bad"));
      co_await net::async_write(client->socket, net::buffer(close), net::use_awaitable);
      client_got.push_back(co_await read_to_end(client->peer, Answer::none));
      client_ends.push_back(client->peer.end);
      client.reset();  // closed after the server's FIN, as a client does
      while (!ended(i)) co_await sleep_for(5ms);
    }
    done = true;
  });
  ASSERT_TRUE(run_until([&] { return done; }));
  ASSERT_EQ(upstream_got.size(), codes.size());
  for (std::size_t i = 0; i < codes.size(); ++i) {
    EXPECT_EQ(upstream_got[i].close_code(), 1002) << "client sent " << codes[i];
    ASSERT_EQ(client_got[i].size(), 1u) << "client sent " << codes[i] << ": " << describe(client_got[i]);
    EXPECT_EQ(client_got[i][0].close_code(), 1002) << "client sent " << codes[i];
    EXPECT_EQ(client_ends[i], net::error::eof) << client_ends[i].message();
    EXPECT_EQ(result(i).how, Ended::protocol_error) << "client sent " << codes[i];
    EXPECT_EQ(result(i).close_code, 1002);
  }
}

// ---------------------------------------------------------------------------------------
// 4. end() against an open fragmented message
// ---------------------------------------------------------------------------------------

// end() while the upstream is half-way through a fragmented message: the client gets the
// whole message, then the final text, then the close — never a frame of Bouncer's between
// two fragments.
TEST_F(TunnelProtocolTest, EndWaitsForTheOpenFragmentedMessage) {
  bool first_sent = false;
  start_upstream([&](Ws& ws) -> net::awaitable<void> {
    ws.text(true);
    co_await ws.async_write_some(false, net::buffer(std::string_view("first half, ")), net::use_awaitable);
    first_sent = true;
    co_await sleep_for(500ms);  // not reading meanwhile
    co_await ws.async_write_some(true, net::buffer(std::string_view("second half")), net::use_awaitable);
    upstream_ends.push_back(co_await read_message(ws));
  });
  start_door();
  std::vector<RawFrame> got;
  bool done = false;
  spawn([&]() -> net::awaitable<void> {
    auto client = co_await connect_raw_client();
    Session* session = co_await session_started();
    auto first = co_await next_frame(client->peer);  // the first fragment has crossed
    if (first) got.push_back(*first);
    session->tunnel->end(4000, "bye", "final");
    for (auto& f : co_await read_to_end(client->peer, Answer::masked)) got.push_back(f);
    done = true;
  });
  ASSERT_TRUE(run_until([&] { return done && ended() && upstream_ends.size() == 1; }));
  EXPECT_TRUE(first_sent);
  const Assembled a = assemble(got);
  EXPECT_EQ(a.error, "") << describe(got);
  ASSERT_EQ(a.messages.size(), 2u) << describe(got);
  EXPECT_EQ(a.messages[0], std::make_pair(true, std::string("first half, second half")));
  EXPECT_EQ(a.messages[1], std::make_pair(true, std::string("final")));
  ASSERT_TRUE(a.close) << describe(got);
  EXPECT_EQ(a.close->close_code(), 4000);
  EXPECT_EQ(a.close->close_reason(), "bye");
  EXPECT_EQ(upstream_ends[0].close_code, 1000);
  EXPECT_EQ(result().how, Ended::ended_by_server);
  EXPECT_EQ(result().close_code, 4000);
}

// The same with an upstream that reads all along, as most do: it answers Bouncer's close to
// it (1000 "Session ended") at once, and so never finishes its message. The client must then
// get Bouncer's close (4000), at a frame boundary, or be cut — never the upstream's answer to
// Bouncer's own close (Beast echoes the 1000) in its place: end() promises the client its
// code.
TEST_F(TunnelProtocolTest, EndWithAnUpstreamThatReadsAllAlong) {
  tunnel_options.close_timeout = 300ms;
  start_upstream([&](Ws& ws) -> net::awaitable<void> {
    bool reader_done = false;
    spawn([&]() -> net::awaitable<void> {
      upstream_ends.push_back(co_await read_message(ws));
      reader_done = true;
    });
    ws.text(true);
    co_await ws.async_write_some(false, net::buffer(std::string_view("first half, ")), net::use_awaitable);
    co_await sleep_for(1000ms);
    beast::error_code ignored;
    co_await ws.async_write_some(true, net::buffer(std::string_view("second half")),
                                 net::redirect_error(net::use_awaitable, ignored));
    while (!reader_done) co_await sleep_for(10ms);
  });
  start_door();
  std::vector<RawFrame> got;
  bool done = false;
  spawn([&]() -> net::awaitable<void> {
    auto client = co_await connect_raw_client();
    Session* session = co_await session_started();
    if (auto first = co_await next_frame(client->peer)) got.push_back(*first);
    session->tunnel->end(4000, "bye", "final");
    for (auto& f : co_await read_to_end(client->peer, Answer::masked)) got.push_back(f);
    done = true;
  });
  ASSERT_TRUE(run_until([&] { return done && ended() && upstream_ends.size() == 1; }));
  EXPECT_EQ(result().how, Ended::ended_by_server);
  for (const auto& f : got) {
    if (f.is_close()) {
      EXPECT_EQ(f.close_code(), 4000) << describe(got);
      EXPECT_NE(f.close_reason(), "Session ended") << "the upstream's echo of Bouncer's own close: " << describe(got);
    }
  }
}

// An upstream that never finishes its message: Bouncer's frames find no boundary, and after
// close_timeout the client's connection is cut and the session ends.
TEST_F(TunnelProtocolTest, EndCutsTheClientWhenTheMessageNeverEnds) {
  tunnel_options.close_timeout = 300ms;
  start_upstream([&](Ws& ws) -> net::awaitable<void> {
    ws.text(true);
    co_await ws.async_write_some(false, net::buffer(std::string_view("never finished")), net::use_awaitable);
    co_await sleep_for(30s);  // neither writes nor reads
  });
  start_door();
  std::vector<RawFrame> got;
  beast::error_code client_end;
  bool done = false;
  std::chrono::steady_clock::duration took{};
  spawn([&]() -> net::awaitable<void> {
    auto client = co_await connect_raw_client();
    Session* session = co_await session_started();
    if (auto first = co_await next_frame(client->peer)) got.push_back(*first);
    const auto t0 = std::chrono::steady_clock::now();
    session->tunnel->end(4000, "bye", "final");
    for (auto& f : co_await read_to_end(client->peer, Answer::masked)) got.push_back(f);
    took = std::chrono::steady_clock::now() - t0;
    client_end = client->peer.end;
    done = true;
  });
  ASSERT_TRUE(run_until([&] { return done && ended(); }, 20s));
  EXPECT_TRUE(client_end) << "the client's connection ended";
  std::printf("[ cut      ] after %lld ms: %s\n",
              static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(took).count()),
              describe(got).c_str());
  EXPECT_LT(took, 10s);  // close_timeout is 300 ms; generous for a loaded machine
  for (const auto& f : got) {
    EXPECT_FALSE(f.opcode == kText && f.payload == "final") << "final text inside the open message: " << describe(got);
  }
  EXPECT_EQ(result().how, Ended::ended_by_server);
}

// ---------------------------------------------------------------------------------------
// 5. Subprotocols and extensions
// ---------------------------------------------------------------------------------------

// The client offers two subprotocols; the upstream picks one; the client's 101 says so.
TEST_F(TunnelProtocolTest, SubprotocolChosenByTheUpstreamReachesTheClient) {
  upstream_setup = [](Ws& ws) {
    ws.set_option(websocket::stream_base::decorator(
        [](websocket::response_type& res) { res.set(http::field::sec_websocket_protocol, "superchat"); }));
  };
  start_upstream(echo_script());
  start_door();
  websocket::response_type response;
  Message echo;
  bool done = false;
  spawn([&]() -> net::awaitable<void> {
    Ws client = co_await connect_client_with(
        [](websocket::request_type& req) { req.set(http::field::sec_websocket_protocol, "chat, superchat"); }, response);
    co_await write_message(client, "hi", true);
    echo = co_await read_message(client);
    co_await client.async_close(close_reason(1000), net::use_awaitable);
    done = true;
  });
  ASSERT_TRUE(run_until([&] { return done && ended(); }));
  EXPECT_EQ(response.result_int(), 101u);
  EXPECT_EQ(std::string(response[http::field::sec_websocket_protocol]), "superchat");
  ASSERT_EQ(upstream_requests.size(), 1u);
  EXPECT_EQ(handshake::split_protocols(std::string(upstream_requests[0][http::field::sec_websocket_protocol])),
            (std::vector<std::string>{"chat", "superchat"}));
  EXPECT_EQ(echo.data, "hi");
}

// permessage-deflate negotiated end to end: compressed messages cross both ways intact (the
// tunnel sees fewer payload bytes than the text has), and end()'s final text, sent
// uncompressed (RSV1 clear), reads fine on a client that negotiated compression.
TEST_F(TunnelProtocolTest, PermessageDeflateEndToEnd) {
  upstream_setup = [](Ws& ws) {
    websocket::permessage_deflate pmd;
    pmd.server_enable = true;
    ws.set_option(pmd);
  };
  start_upstream(echo_script());
  start_door();
  websocket::permessage_deflate client_pmd;
  client_pmd.client_enable = true;
  std::string text;
  for (int i = 0; text.size() < 10 * 1024; ++i) text += "the quick brown fox " + std::to_string(i % 10) + "; ";
  text.resize(10 * 1024);
  websocket::response_type response;
  Message echo, final_text, end;
  spawn([&]() -> net::awaitable<void> {
    Ws client = co_await connect_client_with({}, response, client_pmd);
    co_await write_message(client, text, true);
    echo = co_await read_message(client);
    (co_await session_started())->tunnel->end(4000, "bye", "final text");
    final_text = co_await read_message(client);
    end = co_await read_message(client);
  });
  ASSERT_TRUE(run_until([&] { return end.ec && ended() && upstream_ends.size() == 1; }));
  EXPECT_NE(std::string(response[http::field::sec_websocket_extensions]).find("permessage-deflate"), std::string::npos)
      << response;
  EXPECT_NE(std::string(upstream_requests.at(0)[http::field::sec_websocket_extensions]).find("permessage-deflate"),
            std::string::npos);
  ASSERT_EQ(upstream_received.size(), 1u);
  EXPECT_EQ(upstream_received[0].data, text);
  EXPECT_FALSE(echo.ec) << echo.ec.message();
  EXPECT_EQ(echo.data, text);
  EXPECT_FALSE(final_text.ec) << final_text.ec.message();
  EXPECT_TRUE(final_text.text);
  EXPECT_EQ(final_text.data, "final text");
  EXPECT_EQ(end.ec, websocket::error::closed) << end.ec.message();
  EXPECT_EQ(end.close_code, 4000);
  EXPECT_EQ(result().how, Ended::ended_by_server);
  EXPECT_LT(result().bytes_to_upstream, 10000u) << "not compressed on the wire";
  EXPECT_LT(result().bytes_to_client, 10000u) << "not compressed on the wire";
  EXPECT_EQ(result().messages_to_upstream, 1u);
}

// ---------------------------------------------------------------------------------------
// 6. Early bytes
// ---------------------------------------------------------------------------------------

// An upstream that speaks first, right after accepting: the client reads that message first.
TEST_F(TunnelProtocolTest, UpstreamMessageRightAfterAcceptReachesTheClientFirst) {
  start_upstream([this](Ws& ws) -> net::awaitable<void> {
    co_await write_message(ws, "welcome", true);
    upstream_ends.push_back(co_await echo_until_end(ws, &upstream_received));
  });
  start_door();
  Message first, echo;
  bool done = false;
  spawn([&]() -> net::awaitable<void> {
    Ws client = co_await connect_client();
    first = co_await read_message(client);
    co_await write_message(client, "hi", true);
    echo = co_await read_message(client);
    co_await client.async_close(close_reason(1000), net::use_awaitable);
    done = true;
  });
  ASSERT_TRUE(run_until([&] { return done && ended(); }));
  EXPECT_EQ(first.data, "welcome");
  EXPECT_TRUE(first.text);
  EXPECT_EQ(echo.data, "hi");
  EXPECT_EQ(result().messages_to_client, 2u);
}

// The same with the first frames in the very TCP segment of the 101 (so read with it, and
// handed to the tunnel as early bytes): a whole message and the first half of a fragmented
// one, its second half sent later.
TEST_F(TunnelProtocolTest, FramesInTheSameWriteAsThe101ReachTheClientFirst) {
  raw_upstream_script = [](beast::tcp_stream& stream, const http::request<http::string_body>& request)
      -> net::awaitable<void> {
    const std::string answer = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                               "Sec-WebSocket-Accept: " +
                               handshake::accept_value(std::string(request[http::field::sec_websocket_key])) + "\r\n\r\n" +
                               server_frame(kFin | kText, "early bird") + server_frame(kBinary, "one ") +
                               server_frame(kCont, "two");  // the message's last fragment comes later
    co_await net::async_write(stream, net::buffer(answer), net::use_awaitable);
    co_await sleep_for(100ms);
    const std::string rest = server_frame(kFin | kCont, " three");
    co_await net::async_write(stream, net::buffer(rest), net::use_awaitable);
    RawPeer<beast::tcp_stream> peer{stream, {}, {}};
    co_await read_to_end(peer, Answer::unmasked);
  };
  start_upstream({});  // accepts; raw_upstream_script answers
  start_door();
  Message first, second;
  bool done = false;
  spawn([&]() -> net::awaitable<void> {
    Ws client = co_await connect_client();
    first = co_await read_message(client);
    second = co_await read_message(client);
    co_await client.async_close(close_reason(1000), net::use_awaitable);
    done = true;
  });
  ASSERT_TRUE(run_until([&] { return done && ended(); }));
  EXPECT_EQ(first.data, "early bird");
  EXPECT_TRUE(first.text);
  EXPECT_EQ(second.data, "one two three");
  EXPECT_FALSE(second.text);
  EXPECT_EQ(result().messages_to_client, 2u);
  EXPECT_EQ(result().how, Ended::client_closed);
}

// ---------------------------------------------------------------------------------------
// 7–8. Relay buffers
// ---------------------------------------------------------------------------------------

// 20 clients that do not read while their upstreams send 4 MiB each in 1 MiB messages: once
// everything has stalled, each session holds at most its two directions' buffers (in fact
// the one whose write is stuck). Then the clients read everything, intact.
TEST_F(TunnelProtocolTest, StalledReadersHoldBoundedBuffers) {
  constexpr std::size_t kSessions = 20;
  constexpr std::size_t kMessage = 1 << 20;
  constexpr int kMessages = 4;
  tunnel_options.idle_timeout = 600s;
  std::vector<std::string> sent(kMessages, std::string(kMessage, '\0'));
  for (int k = 0; k < kMessages; ++k) fill_random(sent[static_cast<std::size_t>(k)], static_cast<std::uint64_t>(k) + 100);
  std::uint64_t upstream_written = 0;
  start_upstream([&](Ws& ws) -> net::awaitable<void> {
    ws.binary(true);
    for (const auto& m : sent) {
      co_await ws.async_write(net::buffer(m), net::use_awaitable);
      upstream_written += m.size();
    }
    upstream_ends.push_back(co_await read_message(ws));
  });
  start_door();
  std::vector<Ws> clients;
  bool stalled = false, done = false;
  std::size_t alive_at_stall = 0, lent_at_stall = 0;
  std::vector<int> intact(kSessions, 0);
  spawn([&]() -> net::awaitable<void> {
    for (std::size_t i = 0; i < kSessions; ++i) clients.push_back(co_await connect_client());
    std::uint64_t written = 0;
    int unchanged = 0;
    for (int i = 0; i < 120 && unchanged < 2; ++i) {
      co_await sleep_for(500ms);
      const std::uint64_t now = upstream_written;
      unchanged = now > 0 && now == written ? unchanged + 1 : 0;
      written = now;
    }
    stalled = unchanged >= 2;
    alive_at_stall = relay_buffers_alive();
    lent_at_stall = relay_buffers_lent();
    for (std::size_t i = 0; i < kSessions; ++i) {
      for (int k = 0; k < kMessages; ++k) {
        Message m = co_await read_message(clients[i]);
        if (!m.ec && !m.text && m.data == sent[static_cast<std::size_t>(k)]) ++intact[i];
      }
      co_await clients[i].async_close(close_reason(1000), net::use_awaitable);
    }
    done = true;
  });
  ASSERT_TRUE(run_until(
      [&] {
        if (!done || sessions.size() != kSessions) return false;
        for (std::size_t i = 0; i < kSessions; ++i) {
          if (!ended(i)) return false;
        }
        return true;
      },
      240s));
  std::printf("[ buffers  ] at the stall: %zu alive, %zu lent; upstreams had written %llu bytes\n", alive_at_stall,
              lent_at_stall, static_cast<unsigned long long>(upstream_written));
  EXPECT_TRUE(stalled);
  EXPECT_LE(alive_at_stall, 2 * kSessions + kRelayBuffersKeptPerThread);
  EXPECT_LE(lent_at_stall, 2 * kSessions);
  for (std::size_t i = 0; i < kSessions; ++i) EXPECT_EQ(intact[i], kMessages) << "client " << i;
}

// 50 sessions that exchanged a message and went quiet hold no relay buffer: what is alive is
// at most what the pool keeps, and nothing is lent.
TEST_F(TunnelProtocolTest, IdleSessionsHoldNoBuffer) {
  constexpr std::size_t kSessions = 50;
  start_upstream(echo_script());
  start_door();
  std::vector<Ws> clients;
  std::size_t alive = 0, lent = 0;
  int echoed = 0;
  bool done = false;
  spawn([&]() -> net::awaitable<void> {
    for (std::size_t i = 0; i < kSessions; ++i) {
      clients.push_back(co_await connect_client());
      co_await write_message(clients.back(), "hello " + std::to_string(i), true);
      Message m = co_await read_message(clients.back());
      if (m.data == "hello " + std::to_string(i)) ++echoed;
    }
    co_await sleep_for(200ms);
    alive = relay_buffers_alive();
    lent = relay_buffers_lent();
    for (auto& c : clients) co_await c.async_close(close_reason(1000), net::use_awaitable);
    done = true;
  });
  ASSERT_TRUE(run_until([&] {
    if (!done || sessions.size() != kSessions) return false;
    for (std::size_t i = 0; i < kSessions; ++i) {
      if (!ended(i)) return false;
    }
    return true;
  }));
  std::printf("[ buffers  ] idle: %zu alive, %zu lent\n", alive, lent);
  EXPECT_EQ(echoed, static_cast<int>(kSessions));
  EXPECT_LE(alive, kRelayBuffersKeptPerThread);
  EXPECT_EQ(lent, 0u);
}

}  // namespace
}  // namespace bouncer::relay::testing
