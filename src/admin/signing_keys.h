// Private signing keys live in files under the data directory (one per key, mode 0600);
// their public halves live in the store, where every node and the JWKS endpoint read them.
#pragma once

#include "admin/data_dir.h"
#include "crypto/crypto.h"
#include "store/store.h"

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace bouncer::admin {

struct SigningKey {
  std::string kid;
  crypto::SecretKey key;
};

// Generates a key, writes <data>/signing-keys/<kid>.key (0600, fsynced) and records its
// public half in the store.
SigningKey create_signing_key(const DataDir& dir, store::Store& store, std::int64_t now);

// Reads a private key file. Throws std::runtime_error when it is missing, malformed, or
// readable by anyone but its owner: a signing key others can read is a leaked key.
crypto::SecretKey load_signing_key(const DataDir& dir, const std::string& kid);

// The kids whose private half is in this data directory. With a shared store (Redis) every
// node keeps its own private keys and sees the public halves of all nodes' keys: a node signs
// only with its own, and rotates only its own.
std::set<std::string> local_signing_kids(const DataDir& dir);

// The key this node signs new tokens with: the newest one not retired among `local_kids`.
std::optional<store::SigningKeyRecord> active_signing_key(const std::vector<store::SigningKeyRecord>& keys,
                                                          const std::set<std::string>& local_kids);

// Whether a key's public half must still be published at `now` (it is active, or some
// token it signed may not have expired yet).
bool still_published(const store::SigningKeyRecord& key, std::int64_t now);

// Makes a new active key and retires this node's other active ones (other nodes' keys are
// theirs to rotate); a retired key stays published for `publish_grace_seconds` (the longest
// token lifetime plus leeway).
SigningKey rotate_signing_key(const DataDir& dir, store::Store& store, std::int64_t now,
                              std::int64_t publish_grace_seconds);

}  // namespace bouncer::admin
