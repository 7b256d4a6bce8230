// The door (docs/API.md, "GET /v1/stream"): one WebSocket session's life. The upgrade request
// is first checked as a WebSocket handshake (a malformed one gets 400 or 426 and nothing else);
// admission then runs on it alone, in the documented order, before any client frame is read or
// any upstream is contacted; a refusal is told inside the WebSocket (a browser sees nothing of
// a refused HTTP upgrade). An admitted session forwards the upgrade to its upstream, gives the
// client the upstream's 101, and hands both connections to the relay's tunnel until one side
// ends it, its maxSessionDuration passes, its key is revoked with --end-sessions, or the server
// shuts down.
#pragma once

#include "policy/admission.h"
#include "policy/renewal.h"
#include "relay/handshake.h"
#include "relay/tunnel.h"
#include "relay/upstream.h"
#include "server/address_limits.h"
#include "server/gauges.h"
#include "server/model_table.h"
#include "server/options.h"
#include "server/refusal_log.h"
#include "server/responses.h"
#include "server/sessions.h"
#include "server/state.h"
#include "server/token_cache.h"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace bouncer::server {

// What every session of the door shares.
struct DoorContext {
  const Options& options;
  StateCache& cache;
  store::Store& store;
  SessionRegistry& registry;
  Gauges& gauges;
  TokenCache& token_cache;
  const ModelCatalog& models;  // swapped by a reload
  // Set once the server has stopped its threads: sessions destroyed after that (with the I/O
  // contexts, possibly after the store) leave their leases to run out instead.
  std::atomic<bool> store_closed{false};
  // Set by the server before it accepts: the per-address limits (the penalty for invalid
  // credentials), the throttled log of floods of refusals, and how many descriptors client
  // connections and their upstreams may hold together (0 = not checked).
  AddressLimits* address_limits = nullptr;
  RefusalLog* refusals = nullptr;
  std::size_t descriptor_budget = 0;
};

class StreamSession : public LiveSession, public std::enable_shared_from_this<StreamSession> {
 public:
  // `stream`: the client's connection (ws:// or wss://), its upgrade request read, not answered.
  // `client`: the peer, or the address a trusted proxy forwarded (edge/client_address.h).
  // `slot`: the connection's place under its address's limits, still counted as opening
  // until admission has decided.
  StreamSession(relay::ByteStream stream, const boost::asio::ip::address& client, Request request,
                DoorContext& door, AddressLimits::Slot slot = {});
  ~StreamSession() override;

  void run();
  void end(std::uint16_t code, std::string reason, std::string final_text) override;

 private:
  void answer_defect(const relay::handshake::Defect& defect);
  policy::Refusal admit();
  // judge_admission for `credential` with this session's model and Origin, on the current state.
  policy::AdmissionVerdict judge(std::string_view credential);
  token::Verified verify_token(std::string_view jwt, const State& state);
  // `flood_reason`: not empty for a refusal that comes in floods, logged through door.refusals.
  void refuse(policy::Refusal refusal, std::string_view flood_reason = {});
  void log_refusal(policy::Refusal refusal) const;
  bool take_upstream_descriptors();
  void note_invalid_credential();
  void take_cluster_place();
  void on_cluster_place(std::error_code ec, store::SessionLeases::Outcome outcome);
  store::SessionLeases::Lease lease() const;
  void release_cluster_place();
  // The token's maxUses and the resume id, counted in the store once the caps have passed.
  void claim_use();
  // The claim on `grant`'s token that this connection makes, under `resume_id` ("" for none).
  store::TokenUse token_use(const policy::Grant& grant, std::string resume_id) const;
  void on_use(std::error_code ec, store::UseOutcome outcome);
  // The claimed use ends with the session; `give_back`: the session was never relayed.
  void finish_use(bool give_back);
  void connect_upstream();
  // `metadata_json`: the token's metadata ("" for none); nullopt when it could not be read.
  void connect_upstream_with(const std::optional<std::string>& metadata_json);
  void on_upstream(std::error_code ec, const std::string& detail, std::unique_ptr<relay::UpstreamSession> upstream);
  void on_answered(boost::system::error_code ec, std::unique_ptr<relay::UpstreamSession> upstream);
  void start_tunnel(std::unique_ptr<relay::UpstreamSession> upstream);
  void on_deadline();
  // The session ends `cap` from now; the client is warned before (policy::expiry_warning_lead).
  void arm_deadline(std::chrono::seconds cap);
  // Bouncer's own messages from the client (policy/renewal.h): taken out of the relayed stream.
  bool take_client_text(std::string& text);
  void on_bouncer_message(policy::BouncerMessage message);
  void renew(policy::Grant grant);
  void renew_failed(std::string_view error);
  void tell_client(std::string text);
  void on_tunnel_end(const relay::TunnelResult& result);
  relay::Headers upstream_headers(const std::optional<std::string>& metadata_json) const;
  std::string refusal_protocol() const;

  relay::ByteStream stream_;
  std::optional<relay::ClientWebSocket> refusal_ws_;  // made from stream_ to tell a refusal
  Request request_;
  DoorContext& door_;
  AddressLimits::Slot slot_;
  std::size_t upstream_descriptors_ = 0;  // counted in door_.gauges while this session holds them
  std::string client_address_;
  std::string session_id_;
  std::string model_;
  relay::handshake::Offer offer_;  // what the client offered that goes upstream
  std::optional<std::string> origin_;
  policy::Grant grant_;
  // The model table this session was admitted under: a reload that changes or removes the
  // model leaves this session as it started.
  std::shared_ptr<const ModelTable> models_;
  const ModelRoute* route_ = nullptr;  // in models_
  store::SessionCaps caps_;  // this session's caps, on this node and across the cluster
  std::unique_ptr<SessionRegistry::Ticket> ticket_;
  bool lease_asked_ = false;  // a place was asked of the shared store: released at the end
  std::optional<std::string> resume_id_;  // the `resume` query parameter, when given
  store::TokenUse use_;
  std::optional<store::UseOutcome> use_outcome_;  // a use claimed in the store: finished at the end
  std::shared_ptr<relay::Tunnel> tunnel_;
  boost::asio::steady_timer deadline_;
  boost::asio::steady_timer expiry_warning_;
  bool renewing_ = false;  // a renewal waits for the store (its token's maxUses)
  std::chrono::steady_clock::time_point arrived_;  // the upgrade request was read
  std::chrono::steady_clock::time_point started_;  // the relay started
  // An end() that arrived before the tunnel existed (while the upstream was connecting).
  std::optional<std::tuple<std::uint16_t, std::string, std::string>> pending_end_;
};

// Splits Sec-WebSocket-Protocol into the credential (`bouncer.key.<credential>`), whether
// Bouncer's own protocol (bouncer.v1) was offered, and the protocols that go upstream: every
// other one that does not look like a credential (a key offered without its prefix is neither
// forwarded nor answered).
struct OfferedProtocols {
  std::string credential;
  bool bouncer_protocol = false;
  std::vector<std::string> forwarded;
};
OfferedProtocols parse_offered_protocols(std::string_view header);

// JSON with every non-ASCII character as a \u escape, so it travels safely in an HTTP header.
std::string ascii_json(std::string_view json);

}  // namespace bouncer::server
