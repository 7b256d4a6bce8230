// The Lua scripts behind every change that touches more than one key: Redis runs each one
// atomically, so a check and its write cannot interleave with another node's. KEYS and ARGV
// are documented above each; key shapes are in keys.h.
#pragma once

#include <string_view>

namespace bouncer::store::redis::scripts {

// KEYS: api_keys, api_key(id), api_key_by_hash, version.
// ARGV: id, name, prefix, secret_hash, created_at, last_used_at|"", revoked_at|"", end_sessions, changes.
inline constexpr std::string_view kCreateKey = R"lua(
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 1 then
  return redis.error_reply('a permanent key with id ' .. ARGV[1] .. ' already exists')
end
if redis.call('HSETNX', KEYS[3], ARGV[4], ARGV[1]) == 0 then
  return redis.error_reply('a permanent key with the same secret already exists')
end
redis.call('SADD', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[2], 'id', ARGV[1], 'name', ARGV[2], 'prefix', ARGV[3], 'secret_hash', ARGV[4],
           'created_at', ARGV[5], 'end_sessions', ARGV[8])
if ARGV[6] ~= '' then redis.call('HSET', KEYS[2], 'last_used_at', ARGV[6]) end
if ARGV[7] ~= '' then redis.call('HSET', KEYS[2], 'revoked_at', ARGV[7]) end
redis.call('PUBLISH', ARGV[9], redis.call('INCR', KEYS[4]))
return 1
)lua";

// The first revocation time stays; end_sessions can be raised, never lowered.
// KEYS: api_key(id), version.  ARGV: at, end_sessions (0|1), changes.  Returns 0 for no such key.
inline constexpr std::string_view kRevokeKey = R"lua(
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local changed = false
if not redis.call('HGET', KEYS[1], 'revoked_at') then
  redis.call('HSET', KEYS[1], 'revoked_at', ARGV[1])
  changed = true
end
if ARGV[2] == '1' and redis.call('HGET', KEYS[1], 'end_sessions') ~= '1' then
  redis.call('HSET', KEYS[1], 'end_sessions', '1')
  changed = true
end
if changed then redis.call('PUBLISH', ARGV[3], redis.call('INCR', KEYS[2])) end
return 1
)lua";

// Last use only moves forward (nodes report out of order). Not a state change: no version bump.
// KEYS: api_key(id).  ARGV: at.
inline constexpr std::string_view kTouchKey = R"lua(
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local last = redis.call('HGET', KEYS[1], 'last_used_at')
if not last or tonumber(last) < tonumber(ARGV[1]) then redis.call('HSET', KEYS[1], 'last_used_at', ARGV[1]) end
return 1
)lua";

// KEYS: signing_keys, signing_key(kid), version.
// ARGV: kid, public_key, created_at, retired_at|"", publish_until|"", changes, public_url|"",
// alive_until|"".
inline constexpr std::string_view kAddSigningKey = R"lua(
if redis.call('SADD', KEYS[1], ARGV[1]) == 0 then
  return redis.error_reply('a signing key with kid ' .. ARGV[1] .. ' already exists')
end
redis.call('HSET', KEYS[2], 'kid', ARGV[1], 'public_key', ARGV[2], 'created_at', ARGV[3])
if ARGV[4] ~= '' then redis.call('HSET', KEYS[2], 'retired_at', ARGV[4]) end
if ARGV[5] ~= '' then redis.call('HSET', KEYS[2], 'publish_until', ARGV[5]) end
if ARGV[7] ~= '' then redis.call('HSET', KEYS[2], 'public_url', ARGV[7]) end
if ARGV[8] ~= '' then redis.call('HSET', KEYS[2], 'alive_until', ARGV[8]) end
redis.call('PUBLISH', ARGV[6], redis.call('INCR', KEYS[3]))
return 1
)lua";

// The first retirement time stays; publication may be extended, never shortened (a token the
// key signed must stay verifiable until it expires).
// KEYS: signing_key(kid), version.  ARGV: at, publish_until, changes.  Returns 0 for no such key.
inline constexpr std::string_view kRetireSigningKey = R"lua(
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local changed = false
if not redis.call('HGET', KEYS[1], 'retired_at') then
  redis.call('HSET', KEYS[1], 'retired_at', ARGV[1])
  changed = true
end
local until_now = redis.call('HGET', KEYS[1], 'publish_until')
if not until_now or tonumber(until_now) < tonumber(ARGV[2]) then
  redis.call('HSET', KEYS[1], 'publish_until', ARGV[2])
  changed = true
end
if changed then redis.call('PUBLISH', ARGV[3], redis.call('INCR', KEYS[2])) end
return 1
)lua";

// A node's public URL and heartbeat on its signing key. Only a changed URL bumps the version:
// a heartbeat alone must not make every node reload its state.
// KEYS: signing_key(kid), version.  ARGV: public_url, alive_until|"" (clears it), changes.
// Returns 0 for no such key.
inline constexpr std::string_view kAnnounceSigningKey = R"lua(
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if ARGV[2] == '' then
  redis.call('HDEL', KEYS[1], 'alive_until')
else
  redis.call('HSET', KEYS[1], 'alive_until', ARGV[2])
end
if redis.call('HGET', KEYS[1], 'public_url') ~= ARGV[1] then
  redis.call('HSET', KEYS[1], 'public_url', ARGV[1])
  redis.call('PUBLISH', ARGV[3], redis.call('INCR', KEYS[2]))
end
return 1
)lua";

// A jti is written once: a duplicate never overwrites. Returns 0 for a duplicate.
// KEYS: token(jti), token_expiry.
// ARGV: jti, key_id, kid, issued_at, expires_at, scopes, metadata, ttl_seconds.
inline constexpr std::string_view kRecordToken = R"lua(
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'jti', ARGV[1], 'key_id', ARGV[2], 'kid', ARGV[3], 'issued_at', ARGV[4],
           'expires_at', ARGV[5], 'scopes', ARGV[6], 'metadata', ARGV[7])
redis.call('EXPIRE', KEYS[1], ARGV[8])
redis.call('ZADD', KEYS[2], ARGV[5], ARGV[1])
return 1
)lua";

// One chunk of a purge: up to ARGV[3] records that expired before ARGV[1].
// KEYS: token_expiry.  ARGV: before (exclusive), token prefix, limit.
// Returns {jtis walked, records deleted} (a record may already be gone through its TTL).
inline constexpr std::string_view kPurgeTokens = R"lua(
local jtis = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
if #jtis == 0 then return {0, 0} end
local deleted = 0
for _, jti in ipairs(jtis) do deleted = deleted + redis.call('DEL', ARGV[2] .. jti) end
redis.call('ZREM', KEYS[1], unpack(jtis))
return {#jtis, deleted}
)lua";

// One consistent view of everything a node caches.
// KEYS: version, api_keys, signing_keys.  ARGV: api_key prefix, signing_key prefix.
// Returns {version, {HGETALL of each key}, {HGETALL of each signing key}}.
inline constexpr std::string_view kSnapshot = R"lua(
local keys = {}
for _, id in ipairs(redis.call('SMEMBERS', KEYS[2])) do keys[#keys + 1] = redis.call('HGETALL', ARGV[1] .. id) end
local signing = {}
for _, kid in ipairs(redis.call('SMEMBERS', KEYS[3])) do signing[#signing + 1] = redis.call('HGETALL', ARGV[2] .. kid) end
return {redis.call('GET', KEYS[1]) or '0', keys, signing}
)lua";

// ---- session leases (cluster-wide caps) ----
// Shared prelude: `now` in milliseconds from Redis's clock, and `hold(set, member)`, which
// sets the member's lease to now + ttl and keeps the set alive at least as long.
#define BOUNCER_LEASE_PRELUDE \
  "local t = redis.call('TIME')\n" \
  "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n" \
  "local function hold(set, member, ttl)\n" \
  "  redis.call('ZADD', set, now + ttl, member)\n" \
  "  if redis.call('PTTL', set) < ttl then redis.call('PEXPIRE', set, ttl) end\n" \
  "end\n"

// KEYS: sessions_of_key(id), sessions_of_model(model)[, sessions_of_token(jti)].
// ARGV: session_id, key_cap, model_cap, ttl_ms, token_cap (each cap 0 = none; token_cap only
// counts with the third key: a permanent key's own session has no token).
// Returns 0 granted, 1 key cap reached, 2 model cap reached, 3 token cap reached. Taking a
// place the session already holds (a retry) is granted without counting it twice.
inline constexpr std::string_view kAcquireSession = BOUNCER_LEASE_PRELUDE R"lua(
local ttl = tonumber(ARGV[4])
for i = 1, #KEYS do redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now) end
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  local caps = {tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[5])}
  for i = 1, #KEYS do
    if caps[i] > 0 and redis.call('ZCARD', KEYS[i]) >= caps[i] then return i end
  end
end
for i = 1, #KEYS do hold(KEYS[i], ARGV[1], ttl) end
return 0
)lua";

// KEYS: sessions_of_key(id), sessions_of_model(model)[, sessions_of_token(jti)].
// ARGV: session_id, ttl_ms.
// Extends a lease the session still holds; returns 0, changing nothing, for one that ran out
// (its place may be another session's now: the node takes it back with kAcquireSession).
inline constexpr std::string_view kRenewSession = BOUNCER_LEASE_PRELUDE R"lua(
for i = 1, #KEYS do
  if not redis.call('ZSCORE', KEYS[i], ARGV[1]) then return 0 end
end
local ttl = tonumber(ARGV[2])
for i = 1, #KEYS do hold(KEYS[i], ARGV[1], ttl) end
return 1
)lua";

// ---- uses of client tokens (maxUses) and resume ids ----
// KEYS: uses(jti), sessions_of_token(jti).
// ARGV: max_uses (0 = no limit), resume_id|"", session_id, window_ms, ttl_seconds.
// Returns 0 used, 1 resumed, 2 used up, 3 resume id in use. The hash holds `n` (uses taken) and
// per resume id `r:ID`: the session id of its connection while it runs, "@" + when it ended
// (ms, Redis's clock) after. A connection counts as running while its session lease does (its
// node renews it), so the id of a connection whose node died comes free when the lease runs out.
inline constexpr std::string_view kUseToken = BOUNCER_LEASE_PRELUDE R"lua(
local max, field, session = tonumber(ARGV[1]), nil, ARGV[3]
if ARGV[2] ~= '' then field = 'r:' .. ARGV[2] end
local charge = true
if field then
  local held = redis.call('HGET', KEYS[1], field)
  if held then
    local ended
    if string.sub(held, 1, 1) == '@' then
      ended = tonumber(string.sub(held, 2))
    else
      local lease = redis.call('ZSCORE', KEYS[2], held)
      if lease and tonumber(lease) > now then return 3 end
      ended = lease and tonumber(lease) or now
    end
    charge = now - ended > tonumber(ARGV[4])
  end
end
if charge and max > 0 then
  if tonumber(redis.call('HGET', KEYS[1], 'n') or '0') >= max then return 2 end
  redis.call('HINCRBY', KEYS[1], 'n', 1)
end
if field then redis.call('HSET', KEYS[1], field, session) end
redis.call('EXPIRE', KEYS[1], ARGV[5])
if charge then return 0 end
return 1
)lua";

// KEYS: uses(jti).  ARGV: resume_id|"", session_id, give_back (0|1), gave (0|1: a use was taken).
// The connection ended: its resume id's window starts now. With give_back, it was never relayed:
// its id is freed and the use it took returned.
inline constexpr std::string_view kEndUse = BOUNCER_LEASE_PRELUDE R"lua(
if ARGV[1] ~= '' then
  local field = 'r:' .. ARGV[1]
  if redis.call('HGET', KEYS[1], field) == ARGV[2] then
    if ARGV[3] == '1' then redis.call('HDEL', KEYS[1], field) else redis.call('HSET', KEYS[1], field, '@' .. now) end
  end
end
if ARGV[3] == '1' and ARGV[4] == '1' and tonumber(redis.call('HGET', KEYS[1], 'n') or '0') > 0 then
  redis.call('HINCRBY', KEYS[1], 'n', -1)
end
return 1
)lua";

#undef BOUNCER_LEASE_PRELUDE

}  // namespace bouncer::store::redis::scripts
