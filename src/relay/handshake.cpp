// The WebSocket opening handshake, forwarded (RFC 6455 §4): the client's request checked, the
// upstream's request built, the upstream's 101 checked and the client's 101 built.
#include "relay/handshake.h"

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/http/verb.hpp>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <utility>

namespace bouncer::relay::handshake {

namespace {

constexpr std::string_view kGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";  // RFC 6455 §1.3

using boost::beast::iequals;

bool istarts_with(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

bool is_ows(char c) { return c == ' ' || c == '\t'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
  return s;
}

// tchar (RFC 9110 §5.6.2).
bool is_token_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool is_base64_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
}

// The items of a comma-separated list (RFC 9110 §5.6.1), each trimmed of spaces and tabs,
// empty ones dropped. No quoted strings: for lists of tokens only.
std::vector<std::string_view> split_list(std::string_view list) {
  std::vector<std::string_view> items;
  while (true) {
    const auto comma = list.find(',');
    const auto item = trim(list.substr(0, comma));
    if (!item.empty()) items.push_back(item);
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return items;
}

// Whether the comma-separated list of tokens `list` holds `token` (ASCII case-insensitive).
bool list_has_token(std::string_view list, std::string_view token) {
  const auto items = split_list(list);
  return std::any_of(items.begin(), items.end(), [&](std::string_view item) { return iequals(item, token); });
}

// A Sec-WebSocket-Key is base64 of 16 bytes: 22 base64 characters and "==" (RFC 6455 §4.1,
// item 7). The two pad bits of the 22nd character are not checked: the key is only ever used
// as text (hashed as sent), and other servers (Go's, Node's ws) accept them set as well.
bool is_valid_key(std::string_view key) {
  return key.size() == 24 && key.substr(22) == "==" &&
         std::all_of(key.begin(), key.begin() + 22, is_base64_char);
}

// The Host header: host[:port], IPv6 bracketed, default ports left out. (Appended piece by
// piece: GCC 12 at -O3 warns falsely on `"[" + std::string&&`, its bug 105329.)
std::string host_field(const UpstreamUrl& url) {
  std::string host;
  if (url.host.find(':') != std::string::npos) {
    host += '[';
    host += url.host;
    host += ']';
  } else {
    host = url.host;
  }
  const std::uint16_t default_port = url.tls ? 443 : 80;
  if (url.port != default_port) {
    host += ':';
    host += std::to_string(url.port);
  }
  return host;
}

// Header names the WebSocket handshake owns; a caller's value would break or spoof it. Every
// Sec-WebSocket-* name among them (Protocol too: the offer's protocols are the only ones to go
// upstream).
bool is_handshake_field(std::string_view name) {
  static constexpr std::string_view owned[] = {"host", "upgrade", "connection", "content-length",
                                               "transfer-encoding"};
  return istarts_with(name, "sec-websocket-") ||
         std::any_of(std::begin(owned), std::end(owned), [&](std::string_view o) { return iequals(name, o); });
}

// A parser for Sec-WebSocket-Extensions (RFC 6455 §9.1):
//   extension-list = 1#extension
//   extension      = extension-token *( OWS ";" OWS extension-param )
//   extension-param = token [ OWS "=" OWS ( token / quoted-string ) ]
// Empty list items are allowed (RFC 9110 §5.6.1). Yields the extension names in order, or
// nullopt when the text is not such a list.
class ExtensionParser {
 public:
  explicit ExtensionParser(std::string_view text) : text_(text) {}

  std::optional<std::vector<std::string_view>> names() {
    std::vector<std::string_view> out;
    while (true) {
      skip_ows();
      if (at_end()) break;
      if (peek() == ',') {  // an empty item
        ++pos_;
        continue;
      }
      const auto name = token();
      if (name.empty()) return std::nullopt;
      out.push_back(name);
      skip_ows();
      while (!at_end() && peek() == ';') {
        ++pos_;
        skip_ows();
        if (token().empty()) return std::nullopt;
        skip_ows();
        if (!at_end() && peek() == '=') {
          ++pos_;
          skip_ows();
          if (!at_end() && peek() == '"') {
            if (!quoted_string()) return std::nullopt;
          } else if (token().empty()) {
            return std::nullopt;
          }
          skip_ows();
        }
      }
      if (at_end()) break;
      if (peek() != ',') return std::nullopt;
      ++pos_;
    }
    return out;
  }

 private:
  bool at_end() const { return pos_ >= text_.size(); }
  char peek() const { return text_[pos_]; }

  void skip_ows() {
    while (!at_end() && is_ows(peek())) ++pos_;
  }

  std::string_view token() {
    const auto start = pos_;
    while (!at_end() && is_token_char(peek())) ++pos_;
    return text_.substr(start, pos_ - start);
  }

  // quoted-string (RFC 9110 §5.6.4), the opening quote at pos_.
  bool quoted_string() {
    ++pos_;
    while (!at_end()) {
      const auto c = static_cast<unsigned char>(peek());
      ++pos_;
      if (c == '"') return true;
      if (c == '\\') {
        if (at_end()) return false;
        const auto escaped = static_cast<unsigned char>(peek());
        if (escaped != '\t' && (escaped < 0x20 || escaped == 0x7f)) return false;
        ++pos_;
      } else if (c != '\t' && (c < 0x20 || c == 0x7f)) {
        return false;
      }
    }
    return false;  // unterminated
  }

  std::string_view text_;
  std::size_t pos_ = 0;
};

// For messages: a value from the upstream, cut short.
std::string shown(std::string_view value) {
  constexpr std::size_t kMax = 64;
  std::string out(1, '"');
  out += value.substr(0, kMax);
  if (value.size() > kMax) out += "...";
  out += '"';
  return out;
}

Defect defect(std::string message, unsigned status = 400) { return Defect{status, std::move(message)}; }

}  // namespace

std::string joined_values(const http::fields& fields, http::field name) {
  std::string out;
  for (auto [it, end] = fields.equal_range(name); it != end; ++it) {
    const auto value = trim(std::string_view(it->value().data(), it->value().size()));
    if (value.empty()) continue;
    if (!out.empty()) out += ", ";
    out += value;
  }
  return out;
}

std::optional<Defect> find_defect(const http::request_header<>& request) {
  if (request.method() != http::verb::get) return defect("Method must be GET");
  if (request.version() < 11) return defect("HTTP/1.1 is required");

  const auto hosts = request.count(http::field::host);
  if (hosts > 1) return defect("Repeated Host header");
  if (hosts == 0 || trim(std::string_view(request[http::field::host])).empty()) return defect("Missing Host header");

  if (!list_has_token(joined_values(request, http::field::upgrade), "websocket")) {
    return defect("Not a WebSocket upgrade (Upgrade: websocket)");
  }
  if (!list_has_token(joined_values(request, http::field::connection), "upgrade")) {
    return defect("Connection must include upgrade");
  }

  const auto versions = request.count(http::field::sec_websocket_version);
  if (versions > 1) return defect("Repeated Sec-WebSocket-Version header");
  const auto version = trim(std::string_view(request[http::field::sec_websocket_version]));
  if (version.empty()) return defect("Missing Sec-WebSocket-Version");
  if (version != "13") return defect("Unsupported Sec-WebSocket-Version (13 is supported)", 426);

  const auto keys = request.count(http::field::sec_websocket_key);
  if (keys > 1) return defect("Repeated Sec-WebSocket-Key header");
  if (!is_valid_key(trim(std::string_view(request[http::field::sec_websocket_key])))) {
    return defect("Missing or invalid Sec-WebSocket-Key");
  }
  return std::nullopt;
}

std::vector<std::string> split_protocols(std::string_view header) {
  const auto items = split_list(header);
  return {items.begin(), items.end()};
}

bool headers_are_safe(const Headers& headers) {
  return std::all_of(headers.begin(), headers.end(), [](const auto& h) {
    return !h.first.empty() && std::all_of(h.first.begin(), h.first.end(), is_token_char) &&
           h.second.find_first_of(std::string_view("\r\n\0", 3)) == std::string::npos;
  });
}

http::request<http::empty_body> upstream_request(const UpstreamUrl& url, const Offer& offer, const Headers& extra) {
  http::request<http::empty_body> request{http::verb::get, url.target, 11};
  request.set(http::field::host, host_field(url));
  request.set(http::field::upgrade, "websocket");
  request.set(http::field::connection, "Upgrade");
  request.set(http::field::sec_websocket_key, offer.key);
  request.set(http::field::sec_websocket_version, "13");
  if (!offer.protocols.empty()) {
    std::string protocols;
    for (const auto& protocol : offer.protocols) {
      if (!protocols.empty()) protocols += ", ";
      protocols += protocol;
    }
    request.set(http::field::sec_websocket_protocol, protocols);
  }
  if (!offer.extensions.empty()) request.set(http::field::sec_websocket_extensions, offer.extensions);
  request.set(http::field::user_agent, "bouncer");
  for (const auto& [name, value] : extra) {
    if (!is_handshake_field(name)) request.set(name, value);
  }
  return request;
}

std::variant<Answer, std::string> check_answer(const http::response_header<>& response, const Offer& offer) {
  if (response.result_int() != 101) {
    return "Upstream answered " + std::to_string(response.result_int()) + " instead of 101";
  }
  const auto upgrade_value = joined_values(response, http::field::upgrade);
  const auto upgrade = split_list(upgrade_value);
  if (upgrade.size() != 1 || !iequals(upgrade.front(), "websocket")) {
    return std::string("Upstream's 101 lacks Upgrade: websocket");
  }
  if (!list_has_token(joined_values(response, http::field::connection), "upgrade")) {
    return std::string("Upstream's 101 lacks Connection: upgrade");
  }
  if (response.count(http::field::sec_websocket_accept) != 1 ||
      trim(std::string_view(response[http::field::sec_websocket_accept])) != accept_value(offer.key)) {
    return std::string("Upstream's Sec-WebSocket-Accept does not match the key");
  }

  Answer answer;
  const auto protocol_value = joined_values(response, http::field::sec_websocket_protocol);
  const auto protocols = split_list(protocol_value);
  if (protocols.size() > 1) return std::string("Upstream chose more than one Sec-WebSocket-Protocol");
  if (protocols.size() == 1) {
    if (std::find(offer.protocols.begin(), offer.protocols.end(), protocols.front()) == offer.protocols.end()) {
      return "Upstream chose Sec-WebSocket-Protocol " + shown(protocols.front()) +
             (offer.protocols.empty() ? ", but none was offered" : ", which was not offered");
    }
    answer.protocol = std::string(protocols.front());
  }

  answer.extensions = joined_values(response, http::field::sec_websocket_extensions);
  if (!answer.extensions.empty()) {
    const auto chosen = ExtensionParser(answer.extensions).names();
    if (!chosen) return "Upstream's Sec-WebSocket-Extensions is malformed: " + shown(answer.extensions);
    // An offer that does not parse names nothing: the upstream may then choose nothing.
    const auto offered = ExtensionParser(offer.extensions).names().value_or(std::vector<std::string_view>{});
    for (std::size_t i = 0; i < chosen->size(); ++i) {
      const auto name = (*chosen)[i];
      if (std::none_of(offered.begin(), offered.end(), [&](std::string_view o) { return iequals(o, name); })) {
        return "Upstream chose extension " + shown(name) + ", which was not offered";
      }
      if (std::any_of(chosen->begin(), chosen->begin() + static_cast<std::ptrdiff_t>(i),
                      [&](std::string_view earlier) { return iequals(earlier, name); })) {
        return "Upstream chose extension " + shown(name) + " twice";
      }
      if (iequals(name, "permessage-deflate")) answer.permessage_deflate = true;
    }
  }
  return answer;
}

http::response<http::empty_body> client_answer(const Offer& offer, const Answer& answer) {
  http::response<http::empty_body> response{http::status::switching_protocols, 11};
  response.set(http::field::upgrade, "websocket");
  response.set(http::field::connection, "Upgrade");
  response.set(http::field::sec_websocket_accept, accept_value(offer.key));
  if (!answer.protocol.empty()) {
    response.set(http::field::sec_websocket_protocol, answer.protocol);
  } else if (offer.wants_bouncer_protocol) {
    response.set(http::field::sec_websocket_protocol, kBouncerProtocol);
  }
  if (!answer.extensions.empty()) response.set(http::field::sec_websocket_extensions, answer.extensions);
  response.set(http::field::server, "bouncer");
  return response;
}

std::string accept_value(std::string_view key) {
  std::string input;
  input.reserve(key.size() + kGuid.size());
  input.append(key).append(kGuid);
  std::array<unsigned char, SHA_DIGEST_LENGTH> digest{};
  SHA1(reinterpret_cast<const unsigned char*>(input.data()), input.size(), digest.data());
  // EVP_EncodeBlock writes 4 characters per 3 bytes (padded) and a NUL.
  std::array<unsigned char, 4 * ((SHA_DIGEST_LENGTH + 2) / 3) + 1> encoded{};
  const int length = EVP_EncodeBlock(encoded.data(), digest.data(), static_cast<int>(digest.size()));
  return std::string(reinterpret_cast<const char*>(encoded.data()), static_cast<std::size_t>(length));
}

}  // namespace bouncer::relay::handshake
