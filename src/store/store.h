// The state Bouncer keeps (docs/ARCHITECTURE.md), behind one interface with two engines: SQLite (the
// embedded default, store/sqlite/) and Redis (several nodes). Records hold no secret: a
// permanent key is kept only as the hash of its secret; signing keys only as public halves.
#pragma once

#include "crypto/crypto.h"

#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace bouncer::store {

// Times are Unix seconds (UTC).
struct KeyRecord {
  std::string id;      // public id, "key_" + 16 hex chars
  std::string name;
  std::string prefix;  // the first characters of the secret, for humans to recognise it ("sk_AbCd1234")
  crypto::Digest secret_hash{};
  std::int64_t created_at = 0;
  std::optional<std::int64_t> last_used_at;
  std::optional<std::int64_t> revoked_at;
  bool end_sessions = false;  // the revocation also ends the key's live sessions

  bool operator==(const KeyRecord&) const = default;
};

struct TokenRecord {
  std::string jti;
  std::string key_id;
  std::string kid;            // signing key that signed it
  std::int64_t issued_at = 0;
  std::int64_t expires_at = 0;
  // {"models":[…],"origins":[…],"maxSessionDuration":N,"maxConcurrentSessions":N}, fields only when set
  std::string scopes_json;
  std::string metadata_json;  // the token's metadata object, empty when none

  bool operator==(const TokenRecord&) const = default;
};

struct SigningKeyRecord {
  std::string kid;
  crypto::PublicKey public_key{};
  std::int64_t created_at = 0;
  std::optional<std::int64_t> retired_at;     // when it stopped signing (a newer key took over)
  std::optional<std::int64_t> publish_until;  // set on retirement: last expiry it could have signed + leeway
  // The public URL (the iss and aud of its tokens) of the node that signs with it, as that
  // node announced it; empty until then. Nodes sharing a store must share one public URL.
  std::string public_url;
  // Until when that node is known to run: it renews this while it runs and clears it when it
  // stops, so a node that died is no longer "running" once this has passed.
  std::optional<std::int64_t> alive_until;

  bool operator==(const SigningKeyRecord&) const = default;
};

// Everything the server caches in memory, read in one consistent view.
struct Snapshot {
  std::uint64_t version = 0;
  std::vector<KeyRecord> keys;
  std::vector<SigningKeyRecord> signing_keys;
};

class SessionLeases;

// A reconnect that names the resume id of a connection of the same token that ended at most
// this long ago uses nothing of the token's maxUses.
inline constexpr std::chrono::seconds kResumeWindow{30};

// One connection's claim on a client token's uses (maxUses) and on its resume id.
struct TokenUse {
  std::string jti;
  std::int64_t max_uses = 0;  // 0: no limit (only the resume id is checked)
  std::string resume_id;      // empty: none
  std::string session_id;     // the connection making the claim
  std::int64_t expires_at = 0;  // the token's exp (Unix seconds): how long the count must be kept
};

enum class UseOutcome {
  used,           // one use taken (or none needed: no maxUses)
  resumed,        // the resume id's connection ended within kResumeWindow: nothing taken
  used_up,        // every use is taken
  resume_in_use,  // another connection with this resume id is live
};

class Store {
 public:
  virtual ~Store() = default;

  // ---- Permanent keys. Synchronous; durable when they return. ----
  virtual void create_key(const KeyRecord& key) = 0;
  virtual std::vector<KeyRecord> list_keys() = 0;
  virtual std::optional<KeyRecord> find_key(std::string_view id) = 0;
  // Returns false when no key has that id. Revoking a revoked key keeps the first time
  // but may raise end_sessions.
  virtual bool revoke_key(std::string_view id, std::int64_t at, bool end_sessions) = 0;
  // Best effort, batched by the caller: last-use times are advisory.
  virtual void touch_keys(const std::vector<std::pair<std::string, std::int64_t>>& last_used) = 0;

  // ---- Token records. Group commit: concurrent calls share one transaction. ----
  // `done` runs on the store's writer thread once the record is durable (or failed); the
  // caller must not answer the client before it runs.
  using Done = std::function<void(std::error_code)>;
  virtual void record_token(TokenRecord record, Done done) = 0;
  virtual std::optional<TokenRecord> find_token(std::string_view jti) = 0;
  // The same lookup for a server's I/O threads, which must never wait on a network: `found`
  // runs on the store's own thread when the engine is networked (Redis), or at once when the
  // read is local (SQLite, a few microseconds). An error_code when the store cannot answer.
  using Found = std::function<void(std::error_code, std::optional<TokenRecord>)>;
  virtual void find_token_async(std::string_view jti, Found found) {
    std::optional<TokenRecord> record;
    try {
      record = find_token(jti);
    } catch (const std::exception&) {
      return found(std::make_error_code(std::errc::io_error), std::nullopt);
    }
    found({}, std::move(record));
  }
  // ---- Uses of client tokens (maxUses) and resume ids. ----
  // Claims a use for a new connection, atomically across every process sharing the store:
  // none when `use.resume_id` names a connection of this token that ended within kResumeWindow
  // (resumed); refused while a connection with that id is live (resume_in_use) or when every
  // use is taken (used_up). A taken use is durable before `done` runs, on the store's thread or
  // at once. An error_code when the store cannot answer (nothing was taken).
  using Used = std::function<void(std::error_code, UseOutcome)>;
  virtual void use_token(const TokenUse& use, Used done) = 0;
  // The connection that claimed `use` ended (its resume id's window starts now). `give_back`:
  // it was never relayed (its upstream could not be opened), so the use it took is returned.
  // Best effort.
  virtual void end_use(const TokenUse& use, UseOutcome outcome, bool give_back) = 0;

  // Deletes token records whose expires_at is before `before`; returns how many.
  virtual std::size_t purge_tokens(std::int64_t before) = 0;

  // ---- Signing keys (public halves only). ----
  virtual void add_signing_key(const SigningKeyRecord& key) = 0;
  virtual bool retire_signing_key(std::string_view kid, std::int64_t at, std::int64_t publish_until) = 0;
  // The node that signs with `kid` serves `public_url` and runs until `alive_until` (nullopt:
  // it stopped). A changed URL is a state change (other nodes' caches learn it); renewing
  // alive_until alone is not, so a node's heartbeat does not make every node reload. Returns
  // false when no signing key has that kid.
  virtual bool announce_signing_key(std::string_view kid, std::string_view public_url,
                                    std::optional<std::int64_t> alive_until) = 0;

  // ---- Change detection for the server's caches. ----
  // A number that changes whenever any process changes keys, revocations or signing keys
  // (not on token records). Cheap: the server polls it several times a second.
  virtual std::uint64_t state_version() = 0;
  virtual Snapshot snapshot() = 0;
  // Calls `changed` soon after any process bumps the state version, so that a revocation
  // reaches this node faster than the next poll. A hint, never the only path: a push lost
  // with a dropped connection is caught by polling state_version. Runs on the store's own
  // thread; keep it short. Engines without a push (SQLite, one machine) never call it.
  virtual void watch_changes(std::function<void()> changed) { (void)changed; }

  // Cluster-wide session caps, for engines that several nodes share (Redis); nullptr when
  // the store serves one node, whose own session registry is then the whole truth.
  virtual SessionLeases* session_leases() { return nullptr; }
};

// Caps on concurrent sessions; 0 = no cap.
struct SessionCaps {
  std::size_t per_key = 0;
  std::size_t per_model = 0;
  std::size_t per_token = 0;  // the sessions of one client token (jti)
};

// A lease per live WebSocket session, held in the shared store so that caps on concurrent
// sessions per key, per model and per token hold across every node. The node holding a
// session renews its lease; a node that dies stops renewing, and its sessions' places come
// free when their leases run out (ttl), never later.
class SessionLeases {
 public:
  struct Lease {
    std::string session_id;
    std::string key_id;
    std::string model;
    std::string token_id = {};  // jti; empty for a permanent key at the door (no token to count)
  };
  enum class Outcome { granted, key_cap, model_cap, token_cap };
  using Acquired = std::function<void(std::error_code, Outcome)>;

  virtual ~SessionLeases() = default;
  // How long a lease lives unless renewed.
  virtual std::chrono::milliseconds ttl() const = 0;
  // Takes a place for `lease` unless its key already holds `caps.per_key` live leases, its
  // model `caps.per_model` or its token `caps.per_token`, checked in that order (all 0: a
  // session admitted while the store was unreachable takes its place back this way). Taking
  // a place the session already holds counts it once. `done` runs on the store's thread; an
  // error_code when the store cannot answer (nothing was taken).
  virtual void acquire(const Lease& lease, const SessionCaps& caps, Acquired done) = 0;
  // Extends the leases in `live` (this node's sessions) by ttl(). A lease that ran out
  // meanwhile is not taken back here (its place may be another's now): `held[i]` is false
  // for it, and the caller takes it back with acquire(). `done` runs on the store's thread.
  using Renewed = std::function<void(std::error_code, std::vector<bool> held)>;
  virtual void renew(const std::vector<Lease>& live, Renewed done) = 0;
  // Frees a place at once (best effort: a lost release runs out with its lease).
  virtual void release(const Lease& lease) = 0;
};

struct SqliteOptions {
  std::size_t max_batch = 1024;  // token records per group-commit transaction
  int busy_timeout_ms = 5000;    // how long to wait for another process's write lock
};

// Opens (creating if needed) the SQLite database at `path`, in WAL mode with
// synchronous=FULL. Throws std::runtime_error with a clear message on failure.
std::unique_ptr<Store> open_sqlite(const std::string& path, const SqliteOptions& options = {});

struct RedisOptions {
  std::string url;                 // redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]
  std::string prefix = "bouncer";  // every key is "{PREFIX}:…": several deployments can share a Redis
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds command_timeout{5000};
  // A token record stays this long after the token expires (then Redis deletes it by itself).
  std::int64_t token_retention_seconds = 7 * 86400;
  // A session's place under the cluster-wide caps lives this long unless its node renews it.
  std::chrono::milliseconds session_lease_ttl{30000};
};

// Connects to Redis (docs/CLUSTER.md: several nodes share it). Acknowledged means durable only when
// Redis itself is run with `appendonly yes` and `appendfsync always`. Throws
// std::runtime_error with a clear message (never the password) when Redis cannot be reached.
// The synchronous members block their caller until Redis answers: call them from the
// command line or from background threads, never from a server's I/O threads.
std::unique_ptr<Store> open_redis(const RedisOptions& options);

}  // namespace bouncer::store
