#include "server/stream_session.h"

#include "crypto/crypto.h"
#include "log/log.h"
#include "server/counting.h"
#include "server/other_url_tokens.h"
#include "server/query.h"
#include "server/verdict.h"
#include "relay/upstream_session.h"
#include "token/jwt.h"

#include <boost/asio/post.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/write.hpp>
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

std::string session_ended_frame(std::int64_t seconds) {
  return R"({"type":"session_ended","reason":"max_session_duration","seconds":)" + std::to_string(seconds) + "}";
}

}  // namespace

OfferedProtocols parse_offered_protocols(std::string_view header) {
  OfferedProtocols out;
  for (auto& item : relay::handshake::split_protocols(header)) {
    if (item.starts_with(kCredentialProtocolPrefix)) {
      if (out.credential.empty()) out.credential = item.substr(kCredentialProtocolPrefix.size());
    } else if (item == relay::handshake::kBouncerProtocol) {
      out.bouncer_protocol = true;
    } else if (!log::contains_secret(item)) {
      // A key offered without its prefix goes nowhere: not upstream, not back in a 101 (nor to
      // whatever logs it on the way).
      out.forwarded.push_back(std::move(item));
    }
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

StreamSession::StreamSession(relay::ByteStream stream, const net::ip::address& client, Request request,
                             DoorContext& door, AddressLimits::Slot slot)
    : stream_(std::move(stream)),
      request_(std::move(request)),
      door_(door),
      slot_(std::move(slot)),
      client_address_(client.to_string()),
      deadline_(stream_.get_executor()),
      expiry_warning_(stream_.get_executor()),
      arrived_(std::chrono::steady_clock::now()) {
  session_id_ = "sess_" + crypto::random_base64url(12);
  ++door_.gauges.connections;  // a WebSocket is a connection too (--max-connections)
}

StreamSession::~StreamSession() {
  finish_use(false);
  release_cluster_place();
  door_.gauges.upstream_descriptors -= upstream_descriptors_;
  --door_.gauges.connections;
}

void StreamSession::run() {
  if (const auto defect = relay::handshake::find_defect(request_)) {
    slot_.finish_handshake();
    return answer_defect(*defect);
  }
  const auto refusal = admit();
  slot_.finish_handshake();
  if (refusal != Refusal::none) return refuse(refusal);
  take_cluster_place();
}

// Not a WebSocket handshake: no WebSocket to tell it in, so an HTTP error, then the end.
void StreamSession::answer_defect(const relay::handshake::Defect& defect) {
  const bool version = defect.status == 426;
  auto error = policy::ApiError::invalid_request(version ? "unsupported_websocket_version" : "bad_websocket_upgrade",
                                                 defect.message);
  error.http_status = static_cast<int>(defect.status);
  auto response = std::make_shared<Response>(error_response(error, request_.version(), false));
  response->set(http::field::server, "bouncer");
  if (version) response->set(http::field::sec_websocket_version, "13");
  stream_.tcp().expires_after(door_.options.handshake_timeout);
  log::info("upgrade_refused", {{"session_id", session_id_}, {"status", static_cast<std::int64_t>(defect.status)},
                                {"error", defect.message}, {"client", client_address_}});
  stream_.visit([&](auto& s) {
    http::async_write(s, *response, [self = shared_from_this(), response](beast::error_code, std::size_t) {
      beast::error_code ignored;
      self->stream_.socket().shutdown(net::ip::tcp::socket::shutdown_send, ignored);
      self->stream_.socket().close(ignored);
    });
  });
}

// ---- admission: every check of docs/API.md "Admission", in order, on the upgrade request alone ----

// The token's signature and claims, from the cache when this exact token was verified
// before (a remembered refusal carries no detail: it was logged the first time).
token::Verified StreamSession::verify_token(std::string_view jwt, const State& state) {
  const auto key = TokenCache::key_of(jwt);
  if (auto hit = door_.token_cache.find(key, state)) {
    token::Verified remembered;
    if (hit->valid) {
      remembered.status = token::Status::ok;
      remembered.claims = std::move(hit->claims);
    } else {
      remembered.status = token::Status::bad_signature;  // any refusal: the door says only "Invalid API key"
      remembered.detail = "refused when first presented (see that token_refused line)";
    }
    return remembered;
  }
  auto verified = verify_against(state, door_.options, jwt);
  door_.token_cache.remember(key, state, verified);
  if (verified.status != token::Status::ok) {
    // The reason stays in our log; the client learns only "Invalid API key".
    log::debug("token_refused", {{"session_id", session_id_}, {"status", token::to_string(verified.status)},
                                 {"detail", verified.detail}});
    if (verified.status == token::Status::wrong_issuer || verified.status == token::Status::wrong_audience) {
      log_token_from_other_url(state.public_url_of(verified.kid), door_.options.public_url, verified.kid);
    }
  }
  return verified;
}

Refusal StreamSession::admit() {
  // An address that sent too many invalid credentials lately is refused before anything of its
  // request is looked at: a flood of forged tokens costs no signature check once penalised.
  if (door_.address_limits && door_.address_limits->penalised(slot_.address())) return Refusal::address_penalised;

  const auto target = request_.target();
  model_ = query_param(target, "model").value_or("");
  if (const auto it = request_.find(http::field::origin); it != request_.end()) origin_ = std::string(it->value());

  std::string credential = query_param(target, "api_key").value_or("");
  if (credential.empty()) credential = query_param(target, "token").value_or("");
  auto offered = parse_offered_protocols(relay::handshake::joined_values(request_, http::field::sec_websocket_protocol));
  if (credential.empty()) credential = std::move(offered.credential);
  offer_.key = std::string(request_[http::field::sec_websocket_key]);
  offer_.protocols = std::move(offered.forwarded);
  offer_.wants_bouncer_protocol = offered.bouncer_protocol;
  // A client that speaks to Bouncer (bouncer.v1) may renew its session in place, which Bouncer
  // reads in the client's messages: they must not be compressed, so its extensions stay here.
  if (!offer_.wants_bouncer_protocol) {
    offer_.extensions = relay::handshake::joined_values(request_, http::field::sec_websocket_extensions);
  }
  // The models it serves now (a reload may change them; this session keeps the table it saw).
  models_ = door_.models.current();
  auto verdict = judge(credential);
  grant_ = std::move(verdict.grant);
  if (verdict.refusal == Refusal::invalid_api_key) note_invalid_credential();
  if (verdict.refusal != Refusal::none) return verdict.refusal;
  resume_id_ = query_param(target, "resume");
  if (resume_id_ && resume_id_->empty()) resume_id_.reset();  // as an empty api_key is no credential
  if (resume_id_ && !policy::valid_resume_id(*resume_id_)) return Refusal::resume_not_allowed;

  route_ = models_->find(model_);

  caps_ = {door_.options.max_sessions_per_key, route_->max_sessions,
           policy::token_session_cap(grant_, door_.options.max_sessions_per_token)};
  switch (door_.registry.reserve(session_id_, {grant_.key_id, model_, grant_.token_id}, caps_, ticket_)) {
    case SessionRegistry::Outcome::reserved:
      // Reachable from now on: a revocation or a shutdown during the upstream connect must
      // end this session too (end() holds it until the relay starts).
      door_.registry.attach(*ticket_, weak_from_this());
      return Refusal::none;
    case SessionRegistry::Outcome::closed: return Refusal::shutting_down;
    case SessionRegistry::Outcome::key_cap:
    case SessionRegistry::Outcome::model_cap: return Refusal::capacity;
    case SessionRegistry::Outcome::token_cap: return Refusal::token_capacity;
  }
  return Refusal::capacity;
}

// The verdict `bouncer tokens inspect` gives too, on this server's current state.
policy::AdmissionVerdict StreamSession::judge(std::string_view credential) {
  const auto state = door_.cache.current();
  auto facts = admission_facts(*state, door_.options, door_.cache.fresh_within(door_.options.store_staleness),
                               unix_now(), [&](std::string_view jwt) { return verify_token(jwt, *state); });
  facts.serves_model = [this](std::string_view model) { return models_->find(model) != nullptr; };
  return policy::judge_admission({credential, model_, origin_}, facts);
}

// A refusal's WebSocket answers a protocol the client offered, or a browser would fail the
// connection before reading why: Bouncer's own when offered, else the first one.
std::string StreamSession::refusal_protocol() const {
  if (offer_.wants_bouncer_protocol) return std::string(relay::handshake::kBouncerProtocol);
  return offer_.protocols.empty() ? std::string() : offer_.protocols.front();
}

void StreamSession::note_invalid_credential() {
  if (!door_.address_limits || !door_.address_limits->note_invalid_credential(slot_.address())) return;
  if (door_.refusals) door_.refusals->note("penalty_started", slot_.address());
}

// An upstream connection takes a descriptor (two for a built-in model, whose server end is
// in this process too): taken only within the budget, so that client load never takes the
// descriptors the store and the state poll need.
bool StreamSession::take_upstream_descriptors() {
  const std::size_t wanted = route_->builtin ? 2 : 1;
  const auto budget = door_.descriptor_budget;
  if (budget > 0 && door_.gauges.connections + door_.gauges.upstream_descriptors + wanted > budget) return false;
  door_.gauges.upstream_descriptors += wanted;
  upstream_descriptors_ += wanted;
  return true;
}

void StreamSession::refuse(Refusal refusal, std::string_view flood_reason) {
  finish_use(true);
  count_refusal(refusal);
  const auto reason = policy::close_reason(refusal);
  if (refusal == Refusal::address_penalised) flood_reason = "address_penalised";
  if (!flood_reason.empty() && door_.refusals) {
    // Refusals that come in floods are counted, and logged at most once a second.
    door_.refusals->note(flood_reason, slot_.address());
  } else {
    log_refusal(refusal);
  }
  ticket_.reset();
  release_cluster_place();
  auto& ws = refusal_ws_.emplace(std::move(stream_).into_websocket());
  ws.tcp().expires_never();  // the WebSocket's own handshake and close timeouts apply
  websocket::stream_base::timeout timeouts{};
  timeouts.handshake_timeout = door_.options.handshake_timeout;
  timeouts.idle_timeout = door_.options.handshake_timeout;
  ws.set_option(timeouts);
  ws.set_option(websocket::stream_base::decorator([protocol = refusal_protocol()](websocket::response_type& res) {
    res.set(http::field::server, "bouncer");
    if (!protocol.empty()) res.set(http::field::sec_websocket_protocol, protocol);
  }));
  ws.async_accept(request_, [self = shared_from_this(), refusal, reason](beast::error_code ec) {
    if (ec) return;  // the client left during the handshake: nobody to tell
    auto frame = std::make_shared<std::string>(policy::error_frame(refusal));
    self->refusal_ws_->async_write(true, net::buffer(*frame), [self, frame, reason](beast::error_code write_ec, std::size_t) {
      if (write_ec) return;
      self->refusal_ws_->async_close(websocket::close_reason(static_cast<websocket::close_code>(reason.code), reason.message),
                                     [self](beast::error_code) {});
    });
  });
}

void StreamSession::log_refusal(Refusal refusal) const {
  log::info("session_refused", {{"session_id", session_id_},
                                {"reason", policy::counter_name(refusal)},
                                {"target", log::redact_url(request_.target())},
                                {"key_id", grant_.key_id},
                                {"model", model_},
                                {"client", client_address_}});
}

// ---- capacity across the cluster: the last check, when the store is shared ----

store::SessionLeases::Lease StreamSession::lease() const {
  return {session_id_, grant_.key_id, model_, grant_.token_id};
}

void StreamSession::release_cluster_place() {
  if (!lease_asked_) return;
  lease_asked_ = false;
  if (!door_.store_closed.load()) door_.store.session_leases()->release(lease());
}

// The local registry has checked this node's share; a shared store holds every node's
// sessions, so the caps are checked there too, without blocking this I/O thread.
void StreamSession::take_cluster_place() {
  auto* leases = door_.store.session_leases();
  if (!leases) return claim_use();
  lease_asked_ = true;
  leases->acquire(lease(), caps_,
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
    return claim_use();
  }
  switch (outcome) {
    case Outcome::granted: break;
    case Outcome::key_cap:
    case Outcome::model_cap: return refuse(Refusal::capacity);
    case Outcome::token_cap: return refuse(Refusal::token_capacity);
  }
  door_.registry.set_lease(session_id_, SessionRegistry::Lease::held);
  claim_use();
}

// ---- the token's uses (maxUses) and the resume id: after the caps, before the upstream ----

void StreamSession::claim_use() {
  // A permanent key has no uses to count; a token without maxUses or a resume id neither.
  if (grant_.token_id.empty() || (!grant_.max_uses && !resume_id_)) return connect_upstream();
  use_ = token_use(grant_, resume_id_.value_or(""));
  door_.store.use_token(use_, [self = shared_from_this()](std::error_code ec, store::UseOutcome outcome) {
    net::post(self->deadline_.get_executor(), [self, ec, outcome] { self->on_use(ec, outcome); });
  });
}

store::TokenUse StreamSession::token_use(const policy::Grant& grant, std::string resume_id) const {
  store::TokenUse use;
  use.jti = grant.token_id;
  use.max_uses = grant.max_uses.value_or(0);
  use.resume_id = std::move(resume_id);
  use.session_id = session_id_;
  use.expires_at = grant.expires_at;
  return use;
}

void StreamSession::on_use(std::error_code ec, store::UseOutcome outcome) {
  using store::UseOutcome;
  if (!ec && (outcome == UseOutcome::used || outcome == UseOutcome::resumed)) use_outcome_ = outcome;
  if (pending_end_) {
    const auto code = std::get<0>(*pending_end_);
    return refuse(code == 1001 ? Refusal::shutting_down : Refusal::token_revoked);
  }
  if (ec) {
    // Uses are counted in the store alone: without it, a use cannot be taken exactly.
    log::warn("token_use_unavailable", {{"session_id", session_id_}, {"error", ec.message()}});
    return refuse(Refusal::store_unavailable);
  }
  switch (outcome) {
    case UseOutcome::used:
    case UseOutcome::resumed: return connect_upstream();
    case UseOutcome::used_up: return refuse(Refusal::token_used_up);
    case UseOutcome::resume_in_use: return refuse(Refusal::resume_in_use);
  }
}

void StreamSession::finish_use(bool give_back) {
  if (!use_outcome_) return;
  const auto outcome = *use_outcome_;
  use_outcome_.reset();
  // Only a use taken is given back; a resumed connection's window starts again.
  if (!door_.store_closed.load()) door_.store.end_use(use_, outcome, give_back && outcome == store::UseOutcome::used);
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
    // metadata may go on (the outage policy of docs/CLUSTER.md admits it).
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
  if (!take_upstream_descriptors()) return refuse(Refusal::capacity, "descriptors");
  relay::ConnectOptions options;
  options.timeout = door_.options.upstream_connect_timeout;
  if (url->tls) options.tls = models_->tls_of(model_);
  // The upstream runs on this session's executor: the tunnel needs no strand.
  relay::async_connect(stream_.get_executor(), *url, offer_, upstream_headers(metadata_json), options,
                       [self = shared_from_this()](std::error_code ec, std::string detail,
                                                   std::unique_ptr<relay::UpstreamSession> upstream) {
                         self->on_upstream(ec, detail, std::move(upstream));
                       });
}

void StreamSession::on_upstream(std::error_code ec, const std::string& detail,
                                std::unique_ptr<relay::UpstreamSession> upstream) {
  if (pending_end_) {
    // Ended (revocation, shutdown) while the upstream was connecting: that is the answer,
    // whatever the connect gave.
    if (upstream) relay::close_abandoned(std::move(upstream));
    const auto code = std::get<0>(*pending_end_);
    return refuse(code == 1001 ? Refusal::shutting_down : Refusal::token_revoked);
  }
  if (ec) {
    metrics::catalog().upstream_connect_failures.add();
    log::warn("upstream_connect_failed",
              {{"session_id", session_id_}, {"model", model_}, {"error", ec.message()}, {"detail", detail}});
    return refuse(Refusal::upstream_unavailable);
  }
  // The client gets the upstream's 101: its protocol and extensions hold end to end.
  stream_.tcp().expires_after(door_.options.handshake_timeout);
  auto answer = std::make_shared<http::response<http::empty_body>>(relay::handshake::client_answer(offer_, upstream->answer));
  stream_.visit([&](auto& s) {
    http::async_write(s, *answer, [self = shared_from_this(), answer, upstream = std::move(upstream)](
                                      beast::error_code write_ec, std::size_t) mutable {
      self->on_answered(write_ec, std::move(upstream));
    });
  });
}

void StreamSession::on_answered(beast::error_code ec, std::unique_ptr<relay::UpstreamSession> upstream) {
  // The upgrade request (its URL holds the credential) is not needed for the rest of the
  // session: an idle session should not keep its headers' memory for hours.
  request_ = {};
  if (ec) {
    log::info("session_handshake_failed", {{"session_id", session_id_}, {"error", ec.message()}});
    // The upstream accepted a session nobody will use: it gets a close frame, not a bare reset.
    relay::close_abandoned(std::move(upstream));
    return;
  }
  start_tunnel(std::move(upstream));
}

void StreamSession::start_tunnel(std::unique_ptr<relay::UpstreamSession> upstream) {
  relay::TunnelOptions options;
  options.max_message_bytes = door_.options.max_message_bytes;
  options.idle_timeout = door_.options.session_idle_timeout;
  options.permessage_deflate = upstream->answer.permessage_deflate;
  options.take_client_text = [weak = weak_from_this()](std::string& text) {
    const auto self = weak.lock();
    return self && self->take_client_text(text);
  };
  // A client that reconnects once it has seen its close finds its resume id free already.
  options.on_stop = [weak = weak_from_this()] {
    if (const auto self = weak.lock()) self->finish_use(false);
  };
  tunnel_ = std::make_shared<relay::Tunnel>(std::move(stream_), std::move(upstream->stream), options,
                                            std::move(upstream->early));
  upstream.reset();
  started_ = std::chrono::steady_clock::now();
  metrics::catalog().sessions_admitted.add();
  metrics::catalog().admission_duration.observe(started_ - arrived_);
  log::info("session_started", {{"session_id", session_id_},
                                {"key_id", grant_.key_id},
                                {"token_id", grant_.token_id},
                                {"model", model_},
                                {"client", client_address_}});
  tunnel_->start([self = shared_from_this()](const relay::TunnelResult& result) { self->on_tunnel_end(result); });
  if (grant_.max_session_duration) arm_deadline(std::chrono::seconds(*grant_.max_session_duration));
  if (pending_end_) {
    auto [code, reason, text] = std::move(*pending_end_);
    tunnel_->end(code, std::move(reason), std::move(text));
  }
}

void StreamSession::on_deadline() {
  if (!tunnel_ || !grant_.max_session_duration) return;  // ended, or renewed without a cap, just before
  tunnel_->end(1000, std::string(kMaxSessionDurationReason), session_ended_frame(*grant_.max_session_duration));
}

void StreamSession::arm_deadline(std::chrono::seconds cap) {
  // Re-arming cancels the waits of an earlier deadline (a renewal): their handlers see an error.
  deadline_.expires_after(cap);
  deadline_.async_wait([self = shared_from_this()](beast::error_code ec) {
    if (!ec) self->on_deadline();
  });
  const auto lead = policy::expiry_warning_lead(cap);
  expiry_warning_.expires_after(cap - lead);
  expiry_warning_.async_wait([self = shared_from_this(), lead](beast::error_code ec) {
    if (!ec) self->tell_client(policy::session_expiring_message(lead.count()));
  });
}

// ---- Bouncer's own messages: renewal in place ----

bool StreamSession::take_client_text(std::string& text) {
  auto message = policy::parse_bouncer_message(text);
  if (!message) return false;
  on_bouncer_message(std::move(*message));
  return true;
}

void StreamSession::on_bouncer_message(policy::BouncerMessage message) {
  if (message.type != policy::kRenewType) return tell_client(policy::unknown_message_error());
  if (message.token.empty()) return renew_failed("Invalid renew message: it needs a token");
  if (renewing_) return renew_failed("Renewal in progress");
  auto verdict = judge(message.token);
  if (auto refusal = policy::renewal_refusal(verdict, grant_.key_id)) return renew_failed(*refusal);
  if (!verdict.grant.max_uses) return renew(std::move(verdict.grant));
  // An N-use token renews once per use, like an admission.
  renewing_ = true;
  const auto use = token_use(verdict.grant, "");  // before the grant moves into the callback
  door_.store.use_token(use, [self = shared_from_this(), grant = std::move(verdict.grant)](
                                 std::error_code ec, store::UseOutcome outcome) mutable {
    net::post(self->deadline_.get_executor(), [self, ec, outcome, grant = std::move(grant)]() mutable {
      self->renewing_ = false;
      if (ec) return self->renew_failed(policy::close_reason(Refusal::store_unavailable).message);
      if (outcome == store::UseOutcome::used_up) return self->renew_failed(policy::close_reason(Refusal::token_used_up).message);
      self->renew(std::move(grant));
    });
  });
}

void StreamSession::renew(policy::Grant grant) {
  if (!tunnel_) return;
  grant_.max_session_duration = grant.max_session_duration;
  std::optional<std::string> deadline;
  if (grant.max_session_duration) {
    arm_deadline(std::chrono::seconds(*grant.max_session_duration));
    deadline = rfc3339(unix_now() + *grant.max_session_duration);
  } else {
    deadline_.cancel();
    expiry_warning_.cancel();
  }
  log::info("session_renewed", {{"session_id", session_id_},
                                {"token_id", grant.token_id},
                                {"deadline", deadline.value_or("none")}});
  tell_client(policy::renewed_message(deadline));
}

void StreamSession::renew_failed(std::string_view error) {
  log::info("session_renew_refused", {{"session_id", session_id_}, {"error", error}});
  tell_client(policy::renew_failed_message(error));
}

void StreamSession::tell_client(std::string text) {
  if (tunnel_) tunnel_->send_to_client(std::move(text));
}

void StreamSession::end(std::uint16_t code, std::string reason, std::string final_text) {
  net::post(deadline_.get_executor(), [self = shared_from_this(), code, reason = std::move(reason),
                                       final_text = std::move(final_text)]() mutable {
    if (self->tunnel_) {
      self->tunnel_->end(code, std::move(reason), std::move(final_text));
    } else if (!self->pending_end_) {
      self->pending_end_.emplace(code, std::move(reason), std::move(final_text));
    }
  });
}

void StreamSession::on_tunnel_end(const relay::TunnelResult& result) {
  deadline_.cancel();
  expiry_warning_.cancel();
  metrics::catalog().sessions_ended[end_cause(result)].add();
  const auto lived = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started_);
  log::info("session_ended", {{"session_id", session_id_},
                              {"key_id", grant_.key_id},
                              {"model", model_},
                              {"close_code", static_cast<std::int64_t>(result.close_code)},
                              {"reason", result.reason},
                              {"ms", static_cast<std::int64_t>(lived.count())},
                              {"messages_up", static_cast<std::int64_t>(result.messages_to_upstream)},
                              {"messages_down", static_cast<std::int64_t>(result.messages_to_client)},
                              {"bytes_up", static_cast<std::int64_t>(result.bytes_to_upstream)},
                              {"bytes_down", static_cast<std::int64_t>(result.bytes_to_client)},
                              {"frames_up", static_cast<std::int64_t>(result.frames_to_upstream)},
                              {"frames_down", static_cast<std::int64_t>(result.frames_to_client)}});
  ticket_.reset();
  finish_use(false);
  release_cluster_place();
  tunnel_.reset();
}

}  // namespace bouncer::server
