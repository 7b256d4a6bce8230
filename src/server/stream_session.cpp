#include "server/stream_session.h"

#include "admin/api_keys.h"
#include "crypto/crypto.h"
#include "log/log.h"
#include "server/other_url_tokens.h"
#include "server/query.h"
#include "token/jwt.h"

#include <boost/asio/post.hpp>
#include <boost/beast/websocket/rfc6455.hpp>

#include <chrono>

namespace bouncer::server {

namespace beast = boost::beast;
namespace net = boost::asio;
namespace websocket = beast::websocket;
using policy::Refusal;

namespace {

constexpr std::string_view kCredentialProtocolPrefix = "bouncer.key.";

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::string session_ended_frame(std::int64_t seconds) {
  return R"({"type":"session_ended","reason":"max_session_duration","seconds":)" + std::to_string(seconds) + "}";
}

}  // namespace

OfferedProtocols parse_offered_protocols(std::string_view header) {
  OfferedProtocols out;
  while (!header.empty()) {
    const auto comma = header.find(',');
    const auto item = trim(header.substr(0, comma));
    if (item.starts_with(kCredentialProtocolPrefix)) {
      if (out.credential.empty()) out.credential = std::string(item.substr(kCredentialProtocolPrefix.size()));
    } else if (!item.empty() && out.answer.empty()) {
      out.answer = std::string(item);
    }
    if (comma == std::string_view::npos) break;
    header.remove_prefix(comma + 1);
  }
  return out;
}

std::string ascii_json(std::string_view json) {
  std::string out;
  out.reserve(json.size());
  for (std::size_t i = 0; i < json.size();) {
    const auto c = static_cast<unsigned char>(json[i]);
    if (c < 0x80) {
      out.push_back(static_cast<char>(c));
      ++i;
      continue;
    }
    // Decode one UTF-8 sequence (the JSON came from our own serialiser: it is valid).
    const int extra = c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : 1;
    std::uint32_t cp = c & (0x3f >> extra);
    for (int k = 1; k <= extra && i + k < json.size(); ++k) cp = (cp << 6) | (static_cast<unsigned char>(json[i + k]) & 0x3f);
    i += 1 + extra;
    auto escape = [&](std::uint32_t unit) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", unit);
      out += buf;
    };
    if (cp >= 0x10000) {
      cp -= 0x10000;
      escape(0xd800 + (cp >> 10));
      escape(0xdc00 + (cp & 0x3ff));
    } else {
      escape(cp);
    }
  }
  return out;
}

StreamSession::StreamSession(net::ip::tcp::socket socket, const net::ip::tcp::endpoint& peer, Request request,
                             DoorContext& door)
    : ws_(std::move(socket)),
      request_(std::move(request)),
      door_(door),
      client_address_(peer.address().to_string()),
      deadline_(ws_.get_executor()) {
  session_id_ = "sess_" + crypto::random_base64url(12);
  ++door_.gauges.connections;  // a WebSocket is a connection too (--max-connections)
}

StreamSession::~StreamSession() {
  release_cluster_place();
  --door_.gauges.connections;
}

void StreamSession::run() {
  beast::get_lowest_layer(ws_).expires_never();
  websocket::stream_base::timeout timeouts{};
  timeouts.handshake_timeout = door_.options.handshake_timeout;
  timeouts.idle_timeout = door_.options.session_idle_timeout;
  timeouts.keep_alive_pings = true;
  ws_.set_option(timeouts);
  ws_.read_message_max(door_.options.max_message_bytes);

  const auto refusal = admit();
  if (refusal != Refusal::none) return refuse(refusal);
  take_cluster_place();
}

// ---- admission: every check of DESIGN §3, in order, on the upgrade request alone ----

Refusal StreamSession::authenticate(std::string_view credential, const State& state) {
  switch (admin::classify_credential(credential)) {
    case admin::CredentialKind::unknown: return Refusal::invalid_api_key;
    case admin::CredentialKind::permanent_key: {
      // Server-to-server: a permanent key opens any model, from no particular origin.
      const auto* key = state.find_key_by_secret(credential);
      if (!key) return Refusal::invalid_api_key;
      if (key->revoked_at) return Refusal::token_revoked;
      grant_ = {};
      grant_.key_id = key->id;
      return Refusal::none;
    }
    case admin::CredentialKind::client_token: break;
  }
  const auto verified = verify_token(admin::jwt_of(credential), state);
  if (!verified) return Refusal::invalid_api_key;
  const auto& claims = *verified;
  const auto* parent = state.find_key(claims.sub);
  if (!parent) return Refusal::invalid_api_key;
  if (parent->revoked_at) return Refusal::token_revoked;
  switch (token::check_time(claims, unix_now(), door_.options.leeway_seconds)) {
    case token::TimeStatus::expired: return Refusal::token_expired;
    case token::TimeStatus::not_yet_valid: return Refusal::invalid_api_key;
    case token::TimeStatus::valid: break;
  }
  grant_.key_id = claims.sub;
  grant_.token_id = claims.jti;
  grant_.models = claims.models;
  grant_.origins = claims.origins;
  grant_.max_session_duration = claims.max_session_duration;
  return Refusal::none;
}

// The token's signature and claims, from the cache when this exact token was verified
// before; nullopt when it does not verify.
std::optional<token::Claims> StreamSession::verify_token(std::string_view jwt, const State& state) {
  const auto key = TokenCache::key_of(jwt);
  if (auto hit = door_.token_cache.find(key, state)) {
    if (!hit->valid) return std::nullopt;
    return std::move(hit->claims);
  }
  token::VerifyOptions verify_options{door_.options.public_url, door_.options.public_url};
  auto verified = token::verify(jwt, [&](std::string_view kid) { return state.find_public_key(kid); }, verify_options);
  door_.token_cache.remember(key, state, verified);
  if (verified.status != token::Status::ok) {
    // The reason stays in our log; the client learns only "Invalid API key".
    log::debug("token_refused", {{"session_id", session_id_}, {"status", token::to_string(verified.status)},
                                 {"detail", verified.detail}});
    if (verified.status == token::Status::wrong_issuer || verified.status == token::Status::wrong_audience) {
      log_token_from_other_url(state.public_url_of(verified.kid), door_.options.public_url, verified.kid);
    }
    return std::nullopt;
  }
  return std::move(verified.claims);
}

Refusal StreamSession::admit() {
  const auto target = request_.target();
  model_ = query_param(target, "model").value_or("");
  if (const auto it = request_.find(http::field::origin); it != request_.end()) origin_ = std::string(it->value());

  std::string credential = query_param(target, "api_key").value_or("");
  if (credential.empty()) credential = query_param(target, "token").value_or("");
  if (const auto it = request_.find(http::field::sec_websocket_protocol); it != request_.end()) {
    auto offered = parse_offered_protocols(it->value());
    offered_protocol_ = std::move(offered.answer);
    if (credential.empty()) credential = std::move(offered.credential);
  }
  if (credential.empty() || credential.size() > token::kMaxTokenLength + 3) return Refusal::invalid_api_key;

  // Revocations made while the store is out of reach cannot be seen here: past the
  // staleness window nothing is admitted (fail closed) until the store answers again.
  if (!door_.cache.fresh_within(door_.options.store_staleness)) return Refusal::store_unavailable;
  const auto state = door_.cache.current();
  if (const auto r = authenticate(credential, *state); r != Refusal::none) return r;

  route_ = door_.options.find_model(model_);
  if (const auto r = policy::check_scope(grant_, model_, route_ != nullptr, origin_); r != Refusal::none) return r;

  switch (door_.registry.reserve(session_id_, grant_.key_id, model_, door_.options.max_sessions_per_key,
                                 route_->max_sessions, ticket_)) {
    case SessionRegistry::Outcome::reserved:
      // Reachable from now on: a revocation or a shutdown during the upstream connect must
      // end this session too (end() holds it until the relay starts).
      door_.registry.attach(*ticket_, weak_from_this());
      return Refusal::none;
    case SessionRegistry::Outcome::closed: return Refusal::shutting_down;
    case SessionRegistry::Outcome::key_cap:
    case SessionRegistry::Outcome::model_cap: return Refusal::capacity;
  }
  return Refusal::capacity;
}

void StreamSession::set_accept_decorator() {
  // Answer with a protocol the client offered that is not the credential, or none.
  ws_.set_option(websocket::stream_base::decorator([protocol = offered_protocol_](websocket::response_type& res) {
    res.set(http::field::server, "bouncer");
    if (!protocol.empty()) res.set(http::field::sec_websocket_protocol, protocol);
  }));
}

void StreamSession::refuse(Refusal refusal) {
  const auto reason = policy::close_reason(refusal);
  log::info("session_refused", {{"session_id", session_id_},
                                {"reason", policy::counter_name(refusal)},
                                {"target", log::redact_url(request_.target())},
                                {"key_id", grant_.key_id},
                                {"model", model_},
                                {"client", client_address_}});
  ticket_.reset();
  release_cluster_place();
  set_accept_decorator();
  ws_.async_accept(request_, [self = shared_from_this(), refusal, reason](beast::error_code ec) {
    if (ec) return;  // the client left during the handshake: nobody to tell
    auto frame = std::make_shared<std::string>(policy::error_frame(refusal));
    self->ws_.text(true);
    self->ws_.async_write(net::buffer(*frame), [self, frame, reason](beast::error_code write_ec, std::size_t) {
      if (write_ec) return;
      self->ws_.async_close(websocket::close_reason(static_cast<websocket::close_code>(reason.code), reason.message), [self](beast::error_code) {});
    });
  });
}

// ---- capacity across the cluster: the last check, when the store is shared ----

store::SessionLeases::Lease StreamSession::lease() const { return {session_id_, grant_.key_id, model_}; }

void StreamSession::release_cluster_place() {
  if (!lease_asked_) return;
  lease_asked_ = false;
  if (!door_.store_closed.load()) door_.store.session_leases()->release(lease());
}

// The local registry has checked this node's share; a shared store holds every node's
// sessions, so the caps are checked there too, without blocking this I/O thread.
void StreamSession::take_cluster_place() {
  auto* leases = door_.store.session_leases();
  if (!leases) return connect_upstream();
  lease_asked_ = true;
  leases->acquire(lease(), door_.options.max_sessions_per_key, route_->max_sessions,
                  [self = shared_from_this()](std::error_code ec, store::SessionLeases::Outcome outcome) {
                    net::post(self->deadline_.get_executor(), [self, ec, outcome] { self->on_cluster_place(ec, outcome); });
                  });
}

void StreamSession::on_cluster_place(std::error_code ec, store::SessionLeases::Outcome outcome) {
  using Outcome = store::SessionLeases::Outcome;
  if (pending_end_) {
    const auto code = std::get<0>(*pending_end_);
    return refuse(code == 1001 ? Refusal::shutting_down : Refusal::token_revoked);
  }
  if (ec) {
    // The store is out of reach, but the state is within the staleness window (or admit()
    // would have refused): admit on this node's caps alone. The lease keeper takes the
    // session's place in the store when it answers again.
    if (!door_.cache.fresh_within(door_.options.store_staleness)) return refuse(Refusal::store_unavailable);
    log::warn("session_cap_checked_locally", {{"session_id", session_id_}, {"error", ec.message()}});
    door_.registry.set_lease(session_id_, SessionRegistry::Lease::lost);
    return connect_upstream();
  }
  if (outcome != Outcome::granted) return refuse(Refusal::capacity);
  door_.registry.set_lease(session_id_, SessionRegistry::Lease::held);
  connect_upstream();
}

// ---- admitted: upstream first, then the client, then the pump ----

relay::Headers StreamSession::upstream_headers(const std::optional<std::string>& metadata_json) const {
  relay::Headers headers = route_->headers;
  headers.emplace_back("X-Bouncer-Session-Id", session_id_);
  headers.emplace_back("X-Bouncer-Key-Id", grant_.key_id);
  if (!grant_.token_id.empty()) headers.emplace_back("X-Bouncer-Token-Id", grant_.token_id);
  if (grant_.max_session_duration) {
    headers.emplace_back("X-Bouncer-Session-Deadline", rfc3339(unix_now() + *grant_.max_session_duration));
  }
  if (!metadata_json) {
    // The store was out of reach: the upstream decides whether a session without its
    // metadata may go on (DESIGN §5's outage policy admits it).
    headers.emplace_back("X-Bouncer-Metadata-Status", "unavailable");
  } else if (!metadata_json->empty()) {
    headers.emplace_back("X-Bouncer-Metadata", ascii_json(*metadata_json));
  }
  if (!route_->shared_secret.empty()) headers.emplace_back("X-Bouncer-Upstream-Secret", route_->shared_secret);
  if (!client_address_.empty()) headers.emplace_back("X-Forwarded-For", client_address_);
  return headers;
}

// The token's metadata lives in its record: looked up without blocking this I/O thread (the
// store may be across a network), then the connect goes on on this session's executor.
void StreamSession::connect_upstream() {
  if (grant_.token_id.empty()) return connect_upstream_with(std::string());
  door_.store.find_token_async(grant_.token_id, [self = shared_from_this()](std::error_code ec,
                                                                           std::optional<store::TokenRecord> record) {
    std::optional<std::string> metadata = record ? std::move(record->metadata_json) : std::string();
    if (ec) {
      log::warn("metadata_unavailable", {{"session_id", self->session_id_}, {"error", ec.message()}});
      metadata.reset();
    }
    net::post(self->deadline_.get_executor(),
              [self, metadata = std::move(metadata)] { self->connect_upstream_with(metadata); });
  });
}

void StreamSession::connect_upstream_with(const std::optional<std::string>& metadata_json) {
  const auto url = relay::parse_upstream_url(route_->upstream);
  if (!url) {
    log::error("upstream_url_invalid", {{"model", model_}});
    return refuse(Refusal::upstream_unavailable);
  }
  relay::ConnectOptions options;
  options.timeout = door_.options.upstream_connect_timeout;
  options.max_message_bytes = door_.options.max_message_bytes;
  if (url->tls) {
    const auto it = door_.tls_by_model.find(model_);
    if (it != door_.tls_by_model.end()) options.tls = it->second;
  }
  // The upstream runs on this session's executor: the pump needs no strand.
  relay::async_connect(ws_.get_executor(), *url, upstream_headers(metadata_json), options,
                       [self = shared_from_this()](std::error_code ec, std::shared_ptr<relay::Upstream> upstream) {
                         self->on_upstream(ec, std::move(upstream));
                       });
}

void StreamSession::on_upstream(std::error_code ec, std::shared_ptr<relay::Upstream> upstream) {
  if (pending_end_) {
    // Ended (revocation, shutdown) while the upstream was connecting: that is the answer,
    // whatever the connect gave.
    const auto code = std::get<0>(*pending_end_);
    return refuse(code == 1001 ? Refusal::shutting_down : Refusal::token_revoked);
  }
  if (ec) {
    log::warn("upstream_connect_failed", {{"session_id", session_id_}, {"model", model_}, {"error", ec.message()}});
    return refuse(Refusal::upstream_unavailable);
  }
  set_accept_decorator();
  ws_.async_accept(request_, [self = shared_from_this(), upstream = std::move(upstream)](beast::error_code accept_ec) {
    self->on_accept(accept_ec, upstream);
  });
}

void StreamSession::on_accept(beast::error_code ec, std::shared_ptr<relay::Upstream> upstream) {
  // The upgrade request (its URL holds the credential) is not needed for the rest of the
  // session: an idle session should not keep its headers' memory for hours.
  request_ = {};
  if (ec) {
    log::info("session_handshake_failed", {{"session_id", session_id_}, {"error", ec.message()}});
    return;  // the upstream closes when its last reference goes
  }
  start_pump(std::move(upstream));
}

void StreamSession::start_pump(std::shared_ptr<relay::Upstream> upstream) {
  relay::PumpOptions options;
  options.max_message_bytes = door_.options.max_message_bytes;
  options.idle_timeout = door_.options.session_idle_timeout;
  pump_ = std::make_shared<relay::Pump>(std::move(ws_), std::move(upstream), options);
  started_ = std::chrono::steady_clock::now();
  log::info("session_started", {{"session_id", session_id_},
                                {"key_id", grant_.key_id},
                                {"token_id", grant_.token_id},
                                {"model", model_},
                                {"client", client_address_}});
  pump_->start([self = shared_from_this()](const relay::PumpResult& result) { self->on_pump_end(result); });
  if (grant_.max_session_duration) {
    deadline_.expires_after(std::chrono::seconds(*grant_.max_session_duration));
    deadline_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (!ec) self->on_deadline();
    });
  }
  if (pending_end_) {
    auto [code, reason, text] = std::move(*pending_end_);
    pump_->end(code, std::move(reason), std::move(text));
  }
}

void StreamSession::on_deadline() {
  if (!pump_) return;  // ended just before the timer fired
  pump_->end(1000, "max_session_duration", session_ended_frame(*grant_.max_session_duration));
}

void StreamSession::end(std::uint16_t code, std::string reason, std::string final_text) {
  net::post(deadline_.get_executor(), [self = shared_from_this(), code, reason = std::move(reason),
                                       final_text = std::move(final_text)]() mutable {
    if (self->pump_) {
      self->pump_->end(code, std::move(reason), std::move(final_text));
    } else if (!self->pending_end_) {
      self->pending_end_.emplace(code, std::move(reason), std::move(final_text));
    }
  });
}

void StreamSession::on_pump_end(const relay::PumpResult& result) {
  deadline_.cancel();
  const auto lived = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started_);
  log::info("session_ended", {{"session_id", session_id_},
                              {"key_id", grant_.key_id},
                              {"model", model_},
                              {"close_code", static_cast<std::int64_t>(result.close_code)},
                              {"reason", result.reason},
                              {"ms", static_cast<std::int64_t>(lived.count())},
                              {"frames_up", static_cast<std::int64_t>(result.frames_to_upstream)},
                              {"frames_down", static_cast<std::int64_t>(result.frames_to_client)}});
  ticket_.reset();
  release_cluster_place();
  pump_.reset();
}

}  // namespace bouncer::server
