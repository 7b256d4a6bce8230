// Every name Bouncer uses in Redis, in one place, with its shape. All of them carry the hash
// tag {PREFIX} (default PREFIX "bouncer"), so on Redis Cluster they live in one slot and a
// Lua script may touch several at once. Nothing here holds a secret: a permanent key is kept
// as the BLAKE2b hash of its secret, a signing key as its public half.
#pragma once

#include <string>
#include <string_view>

namespace bouncer::store::redis {

struct Keys {
  explicit Keys(std::string_view prefix)
      : tag(std::string("{").append(prefix).append("}:")),  // appended: GCC 12 -O3 false warning (PR 105329)
        version(tag + "version"),
        changes(tag + "changes"),
        api_keys(tag + "keys"),
        api_key_prefix(tag + "key:"),
        api_key_by_hash(tag + "key-by-hash"),
        signing_keys(tag + "signing-keys"),
        signing_key_prefix(tag + "signing-key:"),
        token_prefix(tag + "token:"),
        token_expiry(tag + "token-expiry"),
        sessions_of_key_prefix(tag + "sessions:key:"),
        sessions_of_model_prefix(tag + "sessions:model:"),
        sessions_of_token_prefix(tag + "sessions:token:"),
        uses_prefix(tag + "uses:") {}

  std::string api_key(std::string_view id) const { return api_key_prefix + std::string(id); }
  std::string signing_key(std::string_view kid) const { return signing_key_prefix + std::string(kid); }
  std::string token(std::string_view jti) const { return token_prefix + std::string(jti); }
  std::string sessions_of_key(std::string_view id) const { return sessions_of_key_prefix + std::string(id); }
  std::string sessions_of_model(std::string_view model) const { return sessions_of_model_prefix + std::string(model); }
  std::string sessions_of_token(std::string_view jti) const { return sessions_of_token_prefix + std::string(jti); }
  std::string uses(std::string_view jti) const { return uses_prefix + std::string(jti); }

  const std::string tag;
  // STRING, an integer: incremented by every change to permanent keys, revocations or signing
  // keys (never by token records, last-use times or purges). What nodes poll.
  const std::string version;
  // Pub/sub channel: the new version, published right after each increment.
  const std::string changes;
  // SET of permanent-key ids.
  const std::string api_keys;
  // + ID: HASH id, name, prefix, secret_hash (32 bytes), created_at, end_sessions (0|1),
  // last_used_at and revoked_at when set. Times are Unix seconds in decimal.
  const std::string api_key_prefix;
  // HASH secret_hash → id: at most one key per secret.
  const std::string api_key_by_hash;
  // SET of signing-key ids (kid).
  const std::string signing_keys;
  // + KID: HASH kid, public_key (32 bytes), created_at, retired_at and publish_until when set,
  // public_url and alive_until once the node signing with it announced itself.
  const std::string signing_key_prefix;
  // + JTI: HASH jti, key_id, kid, issued_at, expires_at, scopes (JSON), metadata (JSON or
  // empty). Expires by itself (EXPIRE) a retention period after the token does.
  const std::string token_prefix;
  // ZSET of jti scored by expires_at: what purge_tokens walks.
  const std::string token_expiry;
  // + KEY_ID: ZSET of the live session ids of one permanent key, on every node, each scored
  // by when its lease runs out (milliseconds, Redis's own clock, so nodes' clocks need not
  // agree). Entries past their score are dropped before every count. The key itself expires
  // (PEXPIRE) with its latest lease, so a key with no live session leaves nothing behind.
  const std::string sessions_of_key_prefix;
  // + MODEL: the same for one model.
  const std::string sessions_of_model_prefix;
  // + JTI: the same for one client token (a permanent key's own sessions have none).
  const std::string sessions_of_token_prefix;
  // + JTI: HASH n (the token's admissions so far, for a token with maxUses) and, per resume id
  // ID, r:ID (the session id of its live connection, or "@" + when it ended, in ms). Expires
  // an hour after the token does.
  const std::string uses_prefix;
};

}  // namespace bouncer::store::redis
