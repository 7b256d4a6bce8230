// A session at Bouncer's door (GET /v1/stream): a WebSocket to a model, relayed by Bouncer.
//
// The API is blocking. A Session is not thread-safe: call it from one thread at a time (no
// two calls may overlap). It answers the server's pings only while a call of yours runs, so a
// long-lived session should call receive_for() regularly (Bouncer's idle timeout is 60 s by
// default). Different Session objects are independent.
#pragma once

#include <bouncer/client/credential.hpp>
#include <bouncer/client/tls.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace bouncer::client {

// Where a token credential goes in the upgrade. A signed URL carries its own.
enum class CredentialPlacement {
  protocol,  // Sec-WebSocket-Protocol: bouncer.key.<credential>, bouncer.v1 (kept out of URLs and logs)
  query,     // ?api_key=<credential>
};

struct ConnectOptions {
  // Bouncer's address: ws://, wss://, http:// or https:// HOST[:PORT]. Not used for a url
  // credential, which names its server.
  std::string base_url;
  // The model to open (a url credential names its own; when set here too, it must match).
  std::string model;
  // Sent as the Origin header, for an origin-scoped token.
  std::optional<std::string> origin;
  CredentialPlacement credential_in = CredentialPlacement::protocol;
  // A resume id (16–64 of [A-Za-z0-9_-]): a reconnect with the same id within 30 s of the
  // previous connection's end does not use up one of the token's maxUses.
  std::optional<std::string> resume_id;
  // Application subprotocols offered to the model server, after Bouncer's own.
  std::vector<std::string> subprotocols;
  TlsOptions tls;
  // Resolve, TCP, TLS and the upgrade together.
  std::chrono::milliseconds connect_timeout{10000};
  // Each send, and a renewal request.
  std::chrono::milliseconds write_timeout{10000};
  // Waiting for the server's answer to our close.
  std::chrono::milliseconds close_timeout{5000};
  // When set, the session renews itself when Bouncer warns that it is about to expire
  // (bouncer.session_expiring): it calls this for a fresh credential (mint one, or ask the
  // backend) and sends it. An exception thrown here becomes a RenewFailed event.
  std::function<ClientCredential()> get_credential;
};

// An application message from the model.
struct Message {
  bool binary = false;
  std::string data;
};

// Bouncer accepted a renewal: the session's new end (RFC 3339), or none when the new
// credential sets no maxSessionDuration.
struct Renewed {
  std::optional<std::string> deadline;
};

// Bouncer refused a renewal; the session goes on with its old deadline.
struct RenewFailed {
  std::string error;
};

// Bouncer warned that the session's deadline is near. `renewing`: the session asked
// get_credential and sent a renewal; its answer comes as Renewed or RenewFailed.
struct SessionExpiring {
  int seconds_left = 0;
  bool renewing = false;
};

// Bouncer did not understand a bouncer.* message this session sent (bouncer.error): a message
// of Bouncer's own protocol that this server does not know. The session goes on.
struct BouncerError {
  std::string error;
};

// The session ended with a close handshake that is not a refusal: the model (or we) closed
// it, the upstream was lost (1011 "Upstream connection lost"), the server shut down (1001), or
// its maxSessionDuration passed (1000 "max_session_duration", with `max_session_duration`
// set to the cap in seconds).
struct Closed {
  int code = 1005;  // 1005: the close frame had no code
  std::string reason;
  std::optional<int> max_session_duration;
};

using Event = std::variant<Message, Renewed, RenewFailed, SessionExpiring, BouncerError, Closed>;

class Session {
 public:
  // Opens a session. Returns once the WebSocket is open. Bouncer tells a refusal inside the
  // WebSocket, right after the upgrade, so a refusal is thrown (RefusedError) by the first
  // receive() or receive_for(), and possibly by a send before it.
  // Throws ConnectionError (TimeoutError) when the WebSocket cannot be opened,
  // std::invalid_argument for unusable options.
  static Session connect(const ClientCredential& credential, const ConnectOptions& options);

  // A moved-from Session is not open; its calls throw SessionClosedError. Assigning over an
  // open session closes it first.
  Session(Session&&) noexcept;
  Session& operator=(Session&&) noexcept;
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;
  // Closes the session (1000) if still open, waiting at most close_timeout.
  ~Session();

  void send_text(std::string_view text);
  void send_binary(std::string_view bytes);

  // The next event: an application message, a renewal's answer, an expiry warning, Bouncer's
  // answer to a bouncer.* message it does not know, or the end of the session (returned once; another call then throws SessionClosedError).
  // Bouncer's own messages (type "bouncer.*") are never delivered as a Message.
  // Throws RefusedError for a refusal (or an end by refusal, such as "Token revoked"),
  // ConnectionError when the connection is lost without a close handshake.
  Event receive();
  // The same, waiting at most `timeout`; nullopt when nothing came in that time (the session
  // goes on).
  std::optional<Event> receive_for(std::chrono::milliseconds timeout);

  // Sends {"type":"bouncer.renew","token":…} with the credential's token (for a url
  // credential, the token in its URL). The answer comes as a Renewed or RenewFailed event.
  void renew(const ClientCredential& credential);

  // Closes with `code` and `reason` and waits (close_timeout) for the answer; returns it.
  // Messages that arrive meanwhile are dropped.
  Closed close(int code = 1000, std::string_view reason = {});

  // The subprotocol the server chose (bouncer.v1 when the model chose none of its own).
  const std::string& subprotocol() const;
  bool is_open() const;

 private:
  struct Impl;
  explicit Session(std::unique_ptr<Impl> impl);
  Impl& impl() const;
  void close_quietly() noexcept;
  std::unique_ptr<Impl> impl_;
};

}  // namespace bouncer::client
