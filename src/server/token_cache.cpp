#include "server/token_cache.h"

namespace bouncer::server {

TokenCache::TokenCache(std::size_t capacity) : per_shard_((capacity + kShards - 1) / kShards) {}

std::optional<TokenCache::Hit> TokenCache::find(const Key& key, const State& state) {
  if (per_shard_ == 0) return std::nullopt;
  Shard& shard = shard_of(key);
  std::lock_guard lock(shard.mutex);
  const auto it = shard.entries.find(key);
  if (it == shard.entries.end()) return std::nullopt;
  const Entry& e = it->second;
  // A newer state may hold other keys; and the state rebuilt within one version (the JWKS,
  // once a minute) may have dropped a retired signing key whose window ended.
  if (e.version != state.version || (e.valid && !state.find_public_key(e.kid))) {
    shard.entries.erase(it);
    return std::nullopt;
  }
  return Hit{e.valid, e.valid ? e.claims : token::Claims{}};
}

void TokenCache::remember(const Key& key, const State& state, const token::Verified& verified) {
  if (per_shard_ == 0) return;
  Shard& shard = shard_of(key);
  std::lock_guard lock(shard.mutex);
  if (shard.entries.size() >= per_shard_ && !shard.entries.contains(key)) shard.entries.erase(shard.entries.begin());
  Entry& e = shard.entries[key];
  e.version = state.version;
  e.valid = verified.status == token::Status::ok;
  e.kid = verified.kid;
  e.claims = e.valid ? verified.claims : token::Claims{};
}

}  // namespace bouncer::server
