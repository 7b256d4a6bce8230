// A bounded memory of tokens this server has already verified, keyed by a hash of the whole
// compact token: a client that reconnects with the same token (a page reload, a retry) skips
// the Ed25519 verification and the JSON parsing, and a forged token presented again (a flood
// replaying the same garbage) is refused without either. Only the verification is remembered;
// everything that can change between two sessions (revocation, expiry, the published keys)
// is checked again on every admission by the caller and by find().
//
// Sharded, each shard behind its own short lock, and bounded: a full shard forgets an
// arbitrary entry to make room. Entries belong to one state version: any change to keys or
// signing keys makes every entry a miss.
#pragma once

#include "crypto/crypto.h"
#include "server/state.h"
#include "token/jwt.h"

#include <array>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string_view>
#include <unordered_map>

namespace bouncer::server {

class TokenCache {
 public:
  // `capacity`: entries kept at most, over all shards (0 turns the cache off).
  explicit TokenCache(std::size_t capacity = 65536);

  struct Hit {
    bool valid = false;    // verified; `claims` set. Otherwise a remembered refusal
    token::Claims claims;
  };

  using Key = crypto::Digest;
  static Key key_of(std::string_view compact) { return crypto::hash(compact); }

  // What verifying the token against `state` gave before, if it is remembered, still belongs
  // to this state version, and (valid tokens) its signing key is still published.
  std::optional<Hit> find(const Key& key, const State& state);

  // Remembers a verification's outcome, acceptance or refusal. A refusal cannot turn into an
  // acceptance without a state change (a newly published key bumps the version).
  void remember(const Key& key, const State& state, const token::Verified& verified);

 private:
  struct Entry {
    std::uint64_t version = 0;
    bool valid = false;
    std::string kid;
    token::Claims claims;
  };
  struct Shard {
    std::mutex mutex;
    std::unordered_map<crypto::Digest, Entry, DigestHash> entries;
  };
  static constexpr std::size_t kShards = 16;

  Shard& shard_of(const crypto::Digest& d) { return shards_[d[0] % kShards]; }

  std::size_t per_shard_;
  std::array<Shard, kShards> shards_;
};

}  // namespace bouncer::server
