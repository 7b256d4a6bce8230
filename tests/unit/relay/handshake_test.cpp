// The forwarded WebSocket opening handshake (RFC 6455 §4): the client's request checked, the
// upstream's request built, the upstream's 101 checked against the offer, the client's 101.
#include "relay/handshake.h"

#include <boost/beast/http/field.hpp>
#include <boost/beast/http/verb.hpp>

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace bouncer::relay::handshake {
namespace {

using Fields = std::vector<std::pair<std::string, std::string>>;

constexpr std::string_view kRfcKey = "dGhlIHNhbXBsZSBub25jZQ==";  // RFC 6455 §1.3
constexpr std::string_view kRfcAccept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

// Every header line, in order, as (name, value).
Fields fields_of(const http::fields& fields) {
  Fields out;
  for (const auto& f : fields) out.emplace_back(std::string(f.name_string()), std::string(f.value()));
  return out;
}

// A browser's upgrade request, as RFC 6455 §1.2 shows it.
http::request<http::empty_body> valid_request() {
  http::request<http::empty_body> request{http::verb::get, "/chat", 11};
  request.set(http::field::host, "server.example.com");
  request.set(http::field::upgrade, "websocket");
  request.set(http::field::connection, "Upgrade");
  request.set(http::field::sec_websocket_key, kRfcKey);
  request.set(http::field::origin, "http://example.com");
  request.set(http::field::sec_websocket_protocol, "chat, superchat");
  request.set(http::field::sec_websocket_version, "13");
  return request;
}

void expect_defect(const http::request_header<>& request, unsigned status, const std::string& message) {
  const auto defect = find_defect(request);
  ASSERT_TRUE(defect.has_value()) << "accepted";
  EXPECT_EQ(defect->status, status);
  EXPECT_EQ(defect->message, message);
}

void expect_key_refused(std::string_view key) {
  SCOPED_TRACE(std::string("key: ") + std::string(key));
  auto request = valid_request();
  request.set(http::field::sec_websocket_key, key);
  expect_defect(request, 400, "Missing or invalid Sec-WebSocket-Key");
}

Offer offer_of(std::vector<std::string> protocols = {}, std::string extensions = {}) {
  Offer offer;
  offer.key = std::string(kRfcKey);
  offer.protocols = std::move(protocols);
  offer.extensions = std::move(extensions);
  return offer;
}

// The least an upstream's 101 must hold for `offer`.
http::response<http::empty_body> valid_answer(const Offer& offer) {
  http::response<http::empty_body> response{http::status::switching_protocols, 11};
  response.set(http::field::upgrade, "websocket");
  response.set(http::field::connection, "Upgrade");
  response.set(http::field::sec_websocket_accept, accept_value(offer.key));
  return response;
}

Answer accepted(const http::response_header<>& response, const Offer& offer) {
  auto result = check_answer(response, offer);
  if (auto* why = std::get_if<std::string>(&result)) {
    ADD_FAILURE() << "refused: " << *why;
    return {};
  }
  return std::get<Answer>(result);
}

std::string refused(const http::response_header<>& response, const Offer& offer) {
  auto result = check_answer(response, offer);
  if (std::holds_alternative<Answer>(result)) {
    ADD_FAILURE() << "accepted";
    return {};
  }
  return std::get<std::string>(result);
}

// ---------------------------------------------------------------------------------------
// accept_value
// ---------------------------------------------------------------------------------------

// RFC 6455 §1.3's worked example.
TEST(Handshake, AcceptValueOfRfcExample) { EXPECT_EQ(accept_value(kRfcKey), kRfcAccept); }

// The key is hashed as sent, whatever it is: a different key, a different value.
TEST(Handshake, AcceptValueDependsOnKey) {
  EXPECT_NE(accept_value("AAAAAAAAAAAAAAAAAAAAAA=="), kRfcAccept);
  EXPECT_EQ(accept_value("AAAAAAAAAAAAAAAAAAAAAA==").size(), 28u);  // base64 of 20 bytes
}

// ---------------------------------------------------------------------------------------
// find_defect
// ---------------------------------------------------------------------------------------

// RFC 6455 §1.2's request is a handshake.
TEST(Handshake, ValidRequestPasses) { EXPECT_FALSE(find_defect(valid_request()).has_value()); }

// Upgrade and Connection hold case-insensitive tokens; Connection may list others, on one
// line or several; header names are case-insensitive too.
TEST(Handshake, MixedCaseValuesPass) {
  auto request = valid_request();
  request.set(http::field::upgrade, "WebSocket");
  request.set(http::field::connection, "keep-alive, UPGRADE");
  EXPECT_FALSE(find_defect(request).has_value());

  request.set(http::field::connection, "keep-alive,Upgrade");
  EXPECT_FALSE(find_defect(request).has_value());

  request.erase(http::field::connection);
  request.insert("CONNECTION", "keep-alive");
  request.insert("connection", "upgrade");
  request.set(http::field::upgrade, "WEBSOCKET");
  EXPECT_FALSE(find_defect(request).has_value());
}

// Upgrade is a list (RFC 9110 §7.8): websocket among other protocols still asks for it.
TEST(Handshake, UpgradeListingWebSocketPasses) {
  auto request = valid_request();
  request.set(http::field::upgrade, "h2c, websocket");
  EXPECT_FALSE(find_defect(request).has_value());
}

// A key whose pad bits are set is still 16 bytes: it is only hashed as sent (Node's ws and
// Go's servers accept it too).
TEST(Handshake, KeyWithPadBitsSetPasses) {
  auto request = valid_request();
  request.set(http::field::sec_websocket_key, "AAAAAAAAAAAAAAAAAAAAAB==");
  EXPECT_FALSE(find_defect(request).has_value());
  request.set(http::field::sec_websocket_key, "+/+/+/+/+/+/+/+/+/+/+w==");
  EXPECT_FALSE(find_defect(request).has_value());
}

// Later HTTP/1.x versions are "HTTP/1.1 or higher".
TEST(Handshake, LaterHttpVersionPasses) {
  auto request = valid_request();
  request.version(12);
  EXPECT_FALSE(find_defect(request).has_value());
}

TEST(Handshake, KeyMissing) {
  auto request = valid_request();
  request.erase(http::field::sec_websocket_key);
  expect_defect(request, 400, "Missing or invalid Sec-WebSocket-Key");
}

// Only base64 of exactly 16 bytes, standard alphabet, with its "==", is a key.
TEST(Handshake, KeyMalformed) {
  expect_key_refused("");
  expect_key_refused("dGhlIHNhbXBsZSBub25j");              // short
  expect_key_refused("dGhlIHNhbXBsZSBub25jZQ");            // no padding
  expect_key_refused("dGhlIHNhbXBsZSBub25jZQ=");           // half the padding
  expect_key_refused("dGhlIHNhbXBsZSBub25jZQ==AAAA");       // long
  expect_key_refused("dGhlIHNhbXBsZSBub25jZQ==dGhlIHNh");   // long, 32 characters
  expect_key_refused("AAAAAAAAAAAAAAAAAAAA");              // 15 bytes
  expect_key_refused("AAAAAAAAAAAAAAAAAAAAAAA=");          // 17 bytes
  expect_key_refused("AAAAAAAAAAAAAAAAAAAAAAAA");          // 18 bytes, 24 characters
  expect_key_refused("AAAAAAAAAAAAAAAAAAAAAAAAAA==");      // 19 bytes
  expect_key_refused("dGhlIHNhbXBsZSBub25jZ-==");          // base64url
  expect_key_refused("dGhlIHNhbXBsZSBub25jZ_==");          // base64url
  expect_key_refused("dGhlIHNhbXBsZS Bub25jZQ=");          // a space
  expect_key_refused("dGhlIHNhbXBsZSBub25jZ===");          // padding in the data
  expect_key_refused("dGhlIHNhbXBsZSBub25j*Q==");          // not base64
  expect_key_refused("========================");
}

TEST(Handshake, KeyRepeated) {
  auto request = valid_request();
  request.insert(http::field::sec_websocket_key, kRfcKey);
  expect_defect(request, 400, "Repeated Sec-WebSocket-Key header");
}

// Another version is 426 (RFC 6455 §4.2.2), for the caller to answer with
// `Sec-WebSocket-Version: 13`.
TEST(Handshake, VersionUnsupported) {
  for (std::string_view version : {"8", "7", "12", "14", "013", "13, 8", "thirteen"}) {
    SCOPED_TRACE(version);
    auto request = valid_request();
    request.set(http::field::sec_websocket_version, version);
    expect_defect(request, 426, "Unsupported Sec-WebSocket-Version (13 is supported)");
  }
}

// Decision: a request without a version is not one for another version but an incomplete
// request: 400 like any other missing header (RFC 6455 §4.2.1 item 6, §4.2.2), as Beast does.
TEST(Handshake, VersionMissing) {
  auto request = valid_request();
  request.erase(http::field::sec_websocket_version);
  expect_defect(request, 400, "Missing Sec-WebSocket-Version");
  request.set(http::field::sec_websocket_version, "");
  expect_defect(request, 400, "Missing Sec-WebSocket-Version");
}

TEST(Handshake, VersionRepeated) {
  auto request = valid_request();
  request.insert(http::field::sec_websocket_version, "13");
  expect_defect(request, 400, "Repeated Sec-WebSocket-Version header");
}

// An empty Host names no host either.
TEST(Handshake, HostMissing) {
  auto request = valid_request();
  request.erase(http::field::host);
  expect_defect(request, 400, "Missing Host header");
  request.set(http::field::host, "");
  expect_defect(request, 400, "Missing Host header");
}

TEST(Handshake, HostRepeated) {
  auto request = valid_request();
  request.insert(http::field::host, "other.example.com");
  expect_defect(request, 400, "Repeated Host header");
}

TEST(Handshake, UpgradeMissingOrOther) {
  auto request = valid_request();
  request.erase(http::field::upgrade);
  expect_defect(request, 400, "Not a WebSocket upgrade (Upgrade: websocket)");
  for (std::string_view upgrade : {"h2c", "websockets", "websocket/13", "", "web socket"}) {
    SCOPED_TRACE(upgrade);
    request.set(http::field::upgrade, upgrade);
    expect_defect(request, 400, "Not a WebSocket upgrade (Upgrade: websocket)");
  }
}

// The token must be `upgrade` itself, not a word that contains it.
TEST(Handshake, ConnectionWithoutUpgrade) {
  auto request = valid_request();
  request.erase(http::field::connection);
  expect_defect(request, 400, "Connection must include upgrade");
  for (std::string_view connection : {"keep-alive", "close", "upgraded", "keep-alive upgrade", ""}) {
    SCOPED_TRACE(connection);
    request.set(http::field::connection, connection);
    expect_defect(request, 400, "Connection must include upgrade");
  }
}

TEST(Handshake, MethodNotGet) {
  auto request = valid_request();
  request.method(http::verb::post);
  expect_defect(request, 400, "Method must be GET");
  request.method(http::verb::head);
  expect_defect(request, 400, "Method must be GET");
  request.method_string("get");  // methods are case-sensitive
  expect_defect(request, 400, "Method must be GET");
}

TEST(Handshake, Http10Refused) {
  auto request = valid_request();
  request.version(10);
  expect_defect(request, 400, "HTTP/1.1 is required");
}

// ---------------------------------------------------------------------------------------
// split_protocols, joined_values
// ---------------------------------------------------------------------------------------

// Comma-separated, spaces and tabs trimmed, empty items dropped, order and case kept.
TEST(Handshake, SplitProtocols) {
  using List = std::vector<std::string>;
  EXPECT_EQ(split_protocols(""), List{});
  EXPECT_EQ(split_protocols(" \t "), List{});
  EXPECT_EQ(split_protocols(",, ,"), List{});
  EXPECT_EQ(split_protocols("chat"), List{"chat"});
  EXPECT_EQ(split_protocols("chat, superchat"), (List{"chat", "superchat"}));
  EXPECT_EQ(split_protocols(" a ,b\t,\tc "), (List{"a", "b", "c"}));
  EXPECT_EQ(split_protocols("a,,b,"), (List{"a", "b"}));
  EXPECT_EQ(split_protocols(",a"), List{"a"});
  EXPECT_EQ(split_protocols("Chat, chat, chat"), (List{"Chat", "chat", "chat"}));
  EXPECT_EQ(split_protocols("bouncer.v1, bouncer.key.abc_DEF-123"), (List{"bouncer.v1", "bouncer.key.abc_DEF-123"}));
}

// Repeated lines are one list (RFC 9110 §5.3); empty lines add nothing.
TEST(Handshake, JoinedValues) {
  auto request = valid_request();
  EXPECT_EQ(joined_values(request, http::field::sec_websocket_extensions), "");
  EXPECT_EQ(joined_values(request, http::field::sec_websocket_protocol), "chat, superchat");
  request.insert(http::field::sec_websocket_protocol, "");
  request.insert(http::field::sec_websocket_protocol, "bouncer.v1");
  EXPECT_EQ(joined_values(request, http::field::sec_websocket_protocol), "chat, superchat, bouncer.v1");
  EXPECT_EQ(split_protocols(joined_values(request, http::field::sec_websocket_protocol)),
            (std::vector<std::string>{"chat", "superchat", "bouncer.v1"}));
  request.insert(http::field::sec_websocket_extensions, "permessage-deflate; client_max_window_bits");
  request.insert("sec-websocket-extensions", "x-foo; a=\"1,2\"");
  EXPECT_EQ(joined_values(request, http::field::sec_websocket_extensions),
            "permessage-deflate; client_max_window_bits, x-foo; a=\"1,2\"");
}

// ---------------------------------------------------------------------------------------
// upstream_request
// ---------------------------------------------------------------------------------------

// Every header, in order: the handshake's own, the offer's, User-Agent, then the extras.
TEST(Handshake, UpstreamRequestHeadersExactly) {
  const UpstreamUrl url{false, "model.internal", 8081, "/v1/realtime?model=mirage"};
  const auto offer = offer_of({"chat", "superchat"}, "permessage-deflate; client_max_window_bits");
  const auto request = upstream_request(url, offer, {{"X-Bouncer-Model", "mirage"}, {"X-Bouncer-Subject", "u1"}});
  EXPECT_EQ(request.method(), http::verb::get);
  EXPECT_EQ(request.target(), "/v1/realtime?model=mirage");
  EXPECT_EQ(request.version(), 11u);
  EXPECT_EQ(fields_of(request), (Fields{
                                    {"Host", "model.internal:8081"},
                                    {"Upgrade", "websocket"},
                                    {"Connection", "Upgrade"},
                                    {"Sec-WebSocket-Key", std::string(kRfcKey)},
                                    {"Sec-WebSocket-Version", "13"},
                                    {"Sec-WebSocket-Protocol", "chat, superchat"},
                                    {"Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits"},
                                    {"User-Agent", "bouncer"},
                                    {"X-Bouncer-Model", "mirage"},
                                    {"X-Bouncer-Subject", "u1"},
                                }));
}

// What Bouncer sends upstream is itself a handshake its own door would take.
TEST(Handshake, UpstreamRequestIsAHandshake) {
  const auto request = upstream_request(UpstreamUrl{true, "api.example.com", 443, "/"}, offer_of({"a"}), {});
  EXPECT_FALSE(find_defect(request).has_value());
}

// No offered protocols or extensions: no such headers at all, not empty ones.
TEST(Handshake, UpstreamRequestWithoutProtocolsOrExtensions) {
  const auto request = upstream_request(UpstreamUrl{false, "h", 80, "/"}, offer_of(), {});
  EXPECT_EQ(request.count(http::field::sec_websocket_protocol), 0u);
  EXPECT_EQ(request.count(http::field::sec_websocket_extensions), 0u);
  EXPECT_EQ(fields_of(request), (Fields{
                                    {"Host", "h"},
                                    {"Upgrade", "websocket"},
                                    {"Connection", "Upgrade"},
                                    {"Sec-WebSocket-Key", std::string(kRfcKey)},
                                    {"Sec-WebSocket-Version", "13"},
                                    {"User-Agent", "bouncer"},
                                }));
}

// Host: default ports (80 for ws, 443 for wss) left out, any other kept, IPv6 bracketed.
TEST(Handshake, UpstreamRequestHost) {
  const auto host = [](bool tls, std::string name, std::uint16_t port) {
    return std::string(upstream_request(UpstreamUrl{tls, std::move(name), port, "/"}, offer_of(), {})[http::field::host]);
  };
  EXPECT_EQ(host(false, "model.internal", 80), "model.internal");
  EXPECT_EQ(host(true, "model.internal", 443), "model.internal");
  EXPECT_EQ(host(false, "model.internal", 443), "model.internal:443");
  EXPECT_EQ(host(true, "model.internal", 80), "model.internal:80");
  EXPECT_EQ(host(false, "10.0.0.7", 9000), "10.0.0.7:9000");
  EXPECT_EQ(host(false, "::1", 80), "[::1]");
  EXPECT_EQ(host(true, "2001:db8::7", 443), "[2001:db8::7]");
  EXPECT_EQ(host(true, "2001:db8::7", 9443), "[2001:db8::7]:9443");
}

// Extras cannot break or spoof the handshake: names it owns are dropped, in any case; the
// rest go as given.
TEST(Handshake, UpstreamRequestDropsOwnedNames) {
  const Headers extra{
      {"host", "evil.example"},
      {"UPGRADE", "h2c"},
      {"Connection", "close"},
      {"sec-websocket-key", "AAAAAAAAAAAAAAAAAAAAAA=="},
      {"Sec-WebSocket-Version", "8"},
      {"SEC-WEBSOCKET-PROTOCOL", "injected"},
      {"Sec-WebSocket-Extensions", "x-evil"},
      {"Sec-WebSocket-Accept", "x"},
      {"Sec-WebSocket-Whatever", "x"},
      {"content-length", "5"},
      {"Transfer-Encoding", "chunked"},
      {"X-Bouncer-Model", "mirage"},
      {"X-Sec-WebSocket-Note", "kept: the prefix is not at the start"},
  };
  const auto request = upstream_request(UpstreamUrl{false, "h", 80, "/"}, offer_of(), extra);
  EXPECT_EQ(fields_of(request), (Fields{
                                    {"Host", "h"},
                                    {"Upgrade", "websocket"},
                                    {"Connection", "Upgrade"},
                                    {"Sec-WebSocket-Key", std::string(kRfcKey)},
                                    {"Sec-WebSocket-Version", "13"},
                                    {"User-Agent", "bouncer"},
                                    {"X-Bouncer-Model", "mirage"},
                                    {"X-Sec-WebSocket-Note", "kept: the prefix is not at the start"},
                                }));
}

// Extras are set, as relay/upstream.cpp's decorator does: a later one replaces an earlier one
// of the same name, and an extra User-Agent replaces Bouncer's.
TEST(Handshake, UpstreamRequestExtrasReplace) {
  const auto request = upstream_request(UpstreamUrl{false, "h", 80, "/"}, offer_of(),
                                        {{"X-Bouncer-Model", "a"}, {"x-bouncer-model", "b"}, {"User-Agent", "model/1"}});
  EXPECT_EQ(request.count("X-Bouncer-Model"), 1u);
  EXPECT_EQ(request["X-Bouncer-Model"], "b");
  EXPECT_EQ(request[http::field::user_agent], "model/1");
}

// ---------------------------------------------------------------------------------------
// check_answer
// ---------------------------------------------------------------------------------------

// 101, Upgrade, Connection and the right Accept: nothing chosen.
TEST(Handshake, AnswerMinimal) {
  const auto offer = offer_of({"chat"}, "permessage-deflate");
  const auto answer = accepted(valid_answer(offer), offer);
  EXPECT_EQ(answer.protocol, "");
  EXPECT_EQ(answer.extensions, "");
  EXPECT_FALSE(answer.permessage_deflate);
}

// Upgrade and Connection are case-insensitive; Connection may list more.
TEST(Handshake, AnswerMixedCase) {
  const auto offer = offer_of();
  auto response = valid_answer(offer);
  response.set(http::field::upgrade, "WebSocket");
  response.set(http::field::connection, "keep-alive, upgrade");
  accepted(response, offer);
}

TEST(Handshake, AnswerWrongStatus) {
  const auto offer = offer_of();
  auto response = valid_answer(offer);
  response.result(http::status::forbidden);
  EXPECT_EQ(refused(response, offer), "Upstream answered 403 instead of 101");
  response.result(http::status::ok);
  EXPECT_EQ(refused(response, offer), "Upstream answered 200 instead of 101");
  response.result(http::status::upgrade_required);
  EXPECT_EQ(refused(response, offer), "Upstream answered 426 instead of 101");
}

TEST(Handshake, AnswerUpgradeMissingOrOther) {
  const auto offer = offer_of();
  auto response = valid_answer(offer);
  response.erase(http::field::upgrade);
  EXPECT_EQ(refused(response, offer), "Upstream's 101 lacks Upgrade: websocket");
  for (std::string_view upgrade : {"h2c", "websocket, h2c", "websockets", ""}) {
    SCOPED_TRACE(upgrade);
    response.set(http::field::upgrade, upgrade);
    EXPECT_EQ(refused(response, offer), "Upstream's 101 lacks Upgrade: websocket");
  }
}

TEST(Handshake, AnswerConnectionWithoutUpgrade) {
  const auto offer = offer_of();
  auto response = valid_answer(offer);
  response.erase(http::field::connection);
  EXPECT_EQ(refused(response, offer), "Upstream's 101 lacks Connection: upgrade");
  response.set(http::field::connection, "keep-alive");
  EXPECT_EQ(refused(response, offer), "Upstream's 101 lacks Connection: upgrade");
}

// Missing, for another key, in another case, or twice: all fail.
TEST(Handshake, AnswerWrongAccept) {
  const auto offer = offer_of();
  auto response = valid_answer(offer);
  const std::string why = "Upstream's Sec-WebSocket-Accept does not match the key";
  response.erase(http::field::sec_websocket_accept);
  EXPECT_EQ(refused(response, offer), why);
  response.set(http::field::sec_websocket_accept, accept_value("AAAAAAAAAAAAAAAAAAAAAA=="));
  EXPECT_EQ(refused(response, offer), why);
  response.set(http::field::sec_websocket_accept, "S3PPLMBITXAQ9KYGZZHZRBK+XOO=");
  EXPECT_EQ(refused(response, offer), why);
  response.set(http::field::sec_websocket_accept, kRfcAccept);
  response.insert(http::field::sec_websocket_accept, kRfcAccept);
  EXPECT_EQ(refused(response, offer), why);
}

// The upstream picks one of the offered protocols.
TEST(Handshake, AnswerProtocolOffered) {
  const auto offer = offer_of({"chat", "superchat"});
  auto response = valid_answer(offer);
  response.set(http::field::sec_websocket_protocol, "superchat");
  EXPECT_EQ(accepted(response, offer).protocol, "superchat");
}

// Protocols are compared exactly: another case is another protocol. Bouncer's own was never
// forwarded, so the upstream cannot choose it.
TEST(Handshake, AnswerProtocolNotOffered) {
  auto offer = offer_of({"chat"});
  offer.wants_bouncer_protocol = true;
  auto response = valid_answer(offer);
  response.set(http::field::sec_websocket_protocol, "superchat");
  EXPECT_EQ(refused(response, offer), "Upstream chose Sec-WebSocket-Protocol \"superchat\", which was not offered");
  response.set(http::field::sec_websocket_protocol, "Chat");
  EXPECT_EQ(refused(response, offer), "Upstream chose Sec-WebSocket-Protocol \"Chat\", which was not offered");
  response.set(http::field::sec_websocket_protocol, kBouncerProtocol);
  EXPECT_EQ(refused(response, offer), "Upstream chose Sec-WebSocket-Protocol \"bouncer.v1\", which was not offered");
}

// One value only, on one line or two.
TEST(Handshake, AnswerTwoProtocols) {
  const auto offer = offer_of({"chat", "superchat"});
  auto response = valid_answer(offer);
  response.set(http::field::sec_websocket_protocol, "chat, superchat");
  EXPECT_EQ(refused(response, offer), "Upstream chose more than one Sec-WebSocket-Protocol");
  response.set(http::field::sec_websocket_protocol, "chat");
  response.insert(http::field::sec_websocket_protocol, "chat");
  EXPECT_EQ(refused(response, offer), "Upstream chose more than one Sec-WebSocket-Protocol");
}

TEST(Handshake, AnswerProtocolWhenNoneOffered) {
  const auto offer = offer_of();
  auto response = valid_answer(offer);
  response.set(http::field::sec_websocket_protocol, "chat");
  EXPECT_EQ(refused(response, offer), "Upstream chose Sec-WebSocket-Protocol \"chat\", but none was offered");
}

// Decision: an empty Sec-WebSocket-Protocol names no protocol, and is taken as none (the
// client's 101 is Bouncer's own, so the client never sees it).
TEST(Handshake, AnswerEmptyProtocolIsNone) {
  const auto offer = offer_of({"chat"});
  auto response = valid_answer(offer);
  response.set(http::field::sec_websocket_protocol, "");
  EXPECT_EQ(accepted(response, offer).protocol, "");
}

TEST(Handshake, AnswerExtensionNotOffered) {
  auto offer = offer_of({}, "permessage-deflate; client_max_window_bits");
  auto response = valid_answer(offer);
  response.set(http::field::sec_websocket_extensions, "x-webkit-deflate-frame");
  EXPECT_EQ(refused(response, offer), "Upstream chose extension \"x-webkit-deflate-frame\", which was not offered");
  offer.extensions.clear();
  response.set(http::field::sec_websocket_extensions, "permessage-deflate");
  EXPECT_EQ(refused(response, offer), "Upstream chose extension \"permessage-deflate\", which was not offered");
}

// Names compare case-insensitively; parameters (quoted strings with commas among them) are the
// two ends' business and go back as sent.
TEST(Handshake, AnswerExtensionOfferedWithParams) {
  const auto offer = offer_of({}, "permessage-deflate; client_max_window_bits, x-foo; level=\"1,2\"");
  auto response = valid_answer(offer);
  response.set(http::field::sec_websocket_extensions, "X-Foo; a=1; b=\"x, \\\"y\\\"\";c");
  const auto answer = accepted(response, offer);
  EXPECT_EQ(answer.extensions, "X-Foo; a=1; b=\"x, \\\"y\\\"\";c");
  EXPECT_FALSE(answer.permessage_deflate);
}

// Each extension at most once, whatever its parameters or case, on one line or two.
TEST(Handshake, AnswerDuplicateExtension) {
  const auto offer = offer_of({}, "permessage-deflate; client_max_window_bits, permessage-deflate");
  auto response = valid_answer(offer);
  response.set(http::field::sec_websocket_extensions,
               "permessage-deflate; server_no_context_takeover, permessage-deflate");
  EXPECT_EQ(refused(response, offer), "Upstream chose extension \"permessage-deflate\" twice");
  response.set(http::field::sec_websocket_extensions, "permessage-deflate");
  response.insert(http::field::sec_websocket_extensions, "Permessage-Deflate");
  EXPECT_EQ(refused(response, offer), "Upstream chose extension \"Permessage-Deflate\" twice");
}

// permessage-deflate with its parameters (RFC 7692 §7.1) allows RSV1 both ways.
TEST(Handshake, AnswerPermessageDeflate) {
  const auto offer = offer_of({}, "permessage-deflate; client_max_window_bits");
  auto response = valid_answer(offer);
  response.set(http::field::sec_websocket_extensions,
               "permessage-deflate; server_no_context_takeover; client_max_window_bits=10");
  const auto answer = accepted(response, offer);
  EXPECT_TRUE(answer.permessage_deflate);
  EXPECT_EQ(answer.extensions, "permessage-deflate; server_no_context_takeover; client_max_window_bits=10");

  response.set(http::field::sec_websocket_extensions, "PerMessage-Deflate");
  EXPECT_TRUE(accepted(response, offer).permessage_deflate);
}

// Several extension lines make one list, as sent.
TEST(Handshake, AnswerExtensionsJoined) {
  const auto offer = offer_of({}, "permessage-deflate, x-foo");
  auto response = valid_answer(offer);
  response.insert(http::field::sec_websocket_extensions, "x-foo");
  response.insert(http::field::sec_websocket_extensions, "permessage-deflate; client_max_window_bits=15");
  const auto answer = accepted(response, offer);
  EXPECT_EQ(answer.extensions, "x-foo, permessage-deflate; client_max_window_bits=15");
  EXPECT_TRUE(answer.permessage_deflate);
}

// An extension list that does not parse (RFC 6455 §9.1) fails rather than being guessed at.
TEST(Handshake, AnswerExtensionsMalformed) {
  const auto offer = offer_of({}, "permessage-deflate");
  for (std::string_view bad : {
           "; permessage-deflate",
           "permessage-deflate; =10",
           "permessage-deflate; client_max_window_bits=",
           "permessage-deflate; a=\"unterminated",
           "permessage-deflate; a=\"x\\",
           "permessage-deflate client_max_window_bits",
           "permessage-deflate; a=b c",
           "\"permessage-deflate\"",
       }) {
    SCOPED_TRACE(bad);
    auto response = valid_answer(offer);
    response.set(http::field::sec_websocket_extensions, bad);
    EXPECT_EQ(refused(response, offer).rfind("Upstream's Sec-WebSocket-Extensions is malformed: ", 0), 0u);
  }
}

// ---------------------------------------------------------------------------------------
// client_answer
// ---------------------------------------------------------------------------------------

// No protocol chosen and Bouncer's not offered: no Sec-WebSocket-Protocol at all.
TEST(Handshake, ClientAnswerPlain) {
  const auto response = client_answer(offer_of(), Answer{});
  EXPECT_EQ(response.result_int(), 101u);
  EXPECT_EQ(response.version(), 11u);
  EXPECT_EQ(fields_of(response), (Fields{
                                     {"Upgrade", "websocket"},
                                     {"Connection", "Upgrade"},
                                     {"Sec-WebSocket-Accept", std::string(kRfcAccept)},
                                     {"Server", "bouncer"},
                                 }));
}

// A client that offered bouncer.v1 gets it back when the upstream chose none.
TEST(Handshake, ClientAnswerBouncerProtocol) {
  auto offer = offer_of({"chat"}, "permessage-deflate");
  offer.wants_bouncer_protocol = true;
  Answer answer;
  answer.extensions = "permessage-deflate; server_no_context_takeover";
  answer.permessage_deflate = true;
  EXPECT_EQ(fields_of(client_answer(offer, answer)),
            (Fields{
                {"Upgrade", "websocket"},
                {"Connection", "Upgrade"},
                {"Sec-WebSocket-Accept", std::string(kRfcAccept)},
                {"Sec-WebSocket-Protocol", "bouncer.v1"},
                {"Sec-WebSocket-Extensions", "permessage-deflate; server_no_context_takeover"},
                {"Server", "bouncer"},
            }));
}

// The upstream's choice wins over bouncer.v1.
TEST(Handshake, ClientAnswerUpstreamProtocolFirst) {
  auto offer = offer_of({"chat"});
  offer.wants_bouncer_protocol = true;
  Answer answer;
  answer.protocol = "chat";
  const auto response = client_answer(offer, answer);
  EXPECT_EQ(response.count(http::field::sec_websocket_protocol), 1u);
  EXPECT_EQ(response[http::field::sec_websocket_protocol], "chat");
  EXPECT_EQ(response.count(http::field::sec_websocket_extensions), 0u);
}

// What Bouncer answers is what a client checking as RFC 6455 §4.1 says would accept.
TEST(Handshake, ClientAnswerPassesTheClientsCheck) {
  const auto offer = offer_of({"chat", "superchat"}, "permessage-deflate; client_max_window_bits");
  Answer answer;
  answer.protocol = "superchat";
  answer.extensions = "permessage-deflate; client_max_window_bits=12";
  answer.permessage_deflate = true;
  const auto again = accepted(client_answer(offer, answer), offer);
  EXPECT_EQ(again.protocol, answer.protocol);
  EXPECT_EQ(again.extensions, answer.extensions);
  EXPECT_TRUE(again.permessage_deflate);
}

}  // namespace
}  // namespace bouncer::relay::handshake
