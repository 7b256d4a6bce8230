#include <bouncer/client/errors.hpp>
#include <bouncer/client/mint.hpp>
#include <bouncer/client/version.hpp>

#include "endpoint.hpp"
#include "run.hpp"
#include "tls.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/json.hpp>

#include <charconv>
#include <stdexcept>

namespace bouncer::client {

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using tcp = net::ip::tcp;
using Response = http::response<http::string_body>;

json::array string_array(const std::vector<std::string>& values) {
  json::array out;
  for (const auto& v : values) out.emplace_back(v);
  return out;
}

json::object mint_body(const MintRequest& request, const std::string* model) {
  json::object body;
  if (model) body["model"] = *model;
  if (request.expires_in) body["expiresIn"] = *request.expires_in;
  if (!request.allowed_models.empty()) body["allowedModels"] = string_array(request.allowed_models);
  if (!request.allowed_origins.empty()) body["allowedOrigins"] = string_array(request.allowed_origins);
  json::object realtime;
  if (request.max_session_duration) realtime["maxSessionDuration"] = *request.max_session_duration;
  if (request.max_concurrent_sessions) realtime["maxConcurrentSessions"] = *request.max_concurrent_sessions;
  if (!realtime.empty()) body["constraints"] = json::object{{"realtime", std::move(realtime)}};
  if (request.max_uses) body["maxUses"] = *request.max_uses;
  if (!request.metadata_json.empty()) {
    boost::system::error_code ec;
    auto metadata = json::parse(request.metadata_json, ec);
    if (ec || !metadata.is_object()) throw std::invalid_argument("metadata_json must be a JSON object");
    body["metadata"] = std::move(metadata);
  }
  return body;
}

http::request<http::string_body> mint_http_request(const MintRequest& request, const detail::Endpoint& endpoint,
                                                   const char* path, const json::object& body) {
  http::request<http::string_body> req{http::verb::post, path, 11};
  req.set(http::field::host, endpoint.host_header());
  req.set(http::field::user_agent, std::string("bouncer-client-cpp/") + version());
  req.set(http::field::content_type, "application/json");
  req.set(http::field::accept, "application/json");
  req.set("X-API-KEY", request.api_key);
  req.body() = json::serialize(body);
  req.prepare_payload();
  return req;
}

template <class Stream>
net::awaitable<Response> exchange(Stream& stream, tcp::resolver& resolver, const detail::Endpoint& endpoint,
                                  http::request<http::string_body> req) {
  const auto addresses = co_await resolver.async_resolve(endpoint.host, endpoint.port, net::use_awaitable);
  co_await beast::get_lowest_layer(stream).async_connect(addresses, net::use_awaitable);
  if constexpr (!std::is_same_v<Stream, beast::tcp_stream>) {
    detail::expect_peer(stream.native_handle(), endpoint.host);
    co_await stream.async_handshake(net::ssl::stream_base::client, net::use_awaitable);
  }
  co_await http::async_write(stream, req, net::use_awaitable);
  beast::flat_buffer buffer;
  Response res;
  co_await http::async_read(stream, buffer, res, net::use_awaitable);
  co_return res;
}

Response post(const MintRequest& request, const char* path, const json::object& body) {
  const auto endpoint = detail::parse_endpoint(request.base_url);
  auto req = mint_http_request(request, endpoint, path, body);
  net::io_context ioc;
  tcp::resolver resolver(ioc);
  const auto deadline = detail::Clock::now() + request.timeout;
  const auto where = endpoint.host_header();
  try {
    if (!endpoint.secure) {
      beast::tcp_stream stream(ioc);
      auto cancel = [&] { resolver.cancel(); stream.close(); };
      return detail::run_coroutine(ioc, exchange(stream, resolver, endpoint, std::move(req)), deadline, cancel,
                                   "no mint answer from " + where + " in time");
    }
    auto context = detail::make_tls_context(request.tls);
    beast::ssl_stream<beast::tcp_stream> stream(ioc, context);
    auto cancel = [&] { resolver.cancel(); beast::get_lowest_layer(stream).close(); };
    return detail::run_coroutine(ioc, exchange(stream, resolver, endpoint, std::move(req)), deadline, cancel,
                                 "no mint answer from " + where + " in time");
  } catch (const boost::system::system_error& e) {
    throw ConnectionError("cannot mint at " + where + ": " + e.code().message());
  }
}

std::optional<std::chrono::seconds> retry_after(const Response& res) {
  const auto header = res[http::field::retry_after];
  int seconds = 0;
  const auto [end, ec] = std::from_chars(header.data(), header.data() + header.size(), seconds);
  if (header.empty() || ec != std::errc{} || end != header.data() + header.size()) return std::nullopt;
  return std::chrono::seconds(seconds);
}

std::string string_or_empty(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->get_string()) : std::string{};
}

[[noreturn]] void throw_mint_error(const Response& res) {
  const int status = static_cast<int>(res.result_int());
  boost::system::error_code ec;
  const auto value = json::parse(res.body(), ec);
  const json::object* error = nullptr;
  if (!ec && value.is_object()) {
    if (const auto* e = value.get_object().if_contains("error")) error = e->if_object();
  }
  if (!error) throw MintError(status, {}, {}, {}, "the answer is not Bouncer's error body", retry_after(res));
  throw MintError(status, string_or_empty(*error, "type"), string_or_empty(*error, "code"),
                  string_or_empty(*error, "param"), string_or_empty(*error, "message"), retry_after(res));
}

ClientCredential read_credential(const Response& res, CredentialKind kind) {
  if (res.result() != http::status::ok) throw_mint_error(res);
  boost::system::error_code ec;
  const auto value = json::parse(res.body(), ec);
  if (ec || !value.is_object()) throw ConnectionError("the mint answer is not a JSON object");
  const auto& answer = value.get_object();
  ClientCredential credential;
  credential.kind = kind;
  credential.expires_at = string_or_empty(answer, "expiresAt");
  if (kind == CredentialKind::token) {
    credential.token = string_or_empty(answer, "apiKey");
    if (credential.token.empty()) throw ConnectionError("the mint answer has no apiKey");
  } else {
    credential.url = string_or_empty(answer, "url");
    if (credential.url.empty()) throw ConnectionError("the mint answer has no url");
  }
  return credential;
}

void require_key(const MintRequest& request) {
  if (request.api_key.empty()) throw std::invalid_argument("MintRequest::api_key is empty");
}

}  // namespace

ClientCredential mint_token(const MintRequest& request) {
  require_key(request);
  return read_credential(post(request, "/v1/client/tokens", mint_body(request, nullptr)), CredentialKind::token);
}

ClientCredential mint_url(const MintRequest& request, const std::string& model) {
  require_key(request);
  return read_credential(post(request, "/v1/client/urls", mint_body(request, &model)), CredentialKind::url);
}

}  // namespace bouncer::client
