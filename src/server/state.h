// The server's read-mostly view of the store: permanent keys by secret hash, public
// signing keys by kid, the active private signing key and the JWKS document. Readers take
// an immutable snapshot with one atomic load (never a lock on the hot path); one sync
// thread rebuilds it whenever the store's state_version changes (another process revoked
// a key, rotated a signing key…), and flushes last-use times.
#pragma once

#include "admin/data_dir.h"
#include "crypto/crypto.h"
#include "store/store.h"

#include <atomic>
#include <condition_variable>
#include <cstring>
#include <functional>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>

namespace bouncer::server {

struct DigestHash {
  std::size_t operator()(const crypto::Digest& d) const noexcept {
    std::size_t h;
    std::memcpy(&h, d.data(), sizeof h);  // the digest is already uniformly random
    return h;
  }
};

struct State {
  std::uint64_t version = 0;
  std::unordered_map<crypto::Digest, store::KeyRecord, DigestHash> keys_by_hash;
  std::unordered_map<std::string, const store::KeyRecord*> keys_by_id;  // into keys_by_hash
  std::unordered_map<std::string, crypto::PublicKey> public_keys;  // published kid → key
  std::unordered_map<std::string, std::string> public_urls;       // kid → the URL its node announced
  std::string active_kid;
  std::shared_ptr<const crypto::SecretKey> active_key;
  std::string jwks_json;

  // The permanent key whose secret is `secret`, or nullptr.
  const store::KeyRecord* find_key_by_secret(std::string_view secret) const;
  const crypto::PublicKey* find_public_key(std::string_view kid) const;
  const store::KeyRecord* find_key(std::string_view id) const;
  // The public URL the node signing with `kid` announced; empty when unknown.
  std::string public_url_of(std::string_view kid) const;
};

// The keys and the signing keys published at `now` of a store snapshot, as admission reads
// them; without the active private key and the JWKS, which only a serving process needs.
std::shared_ptr<State> admission_state(const store::Snapshot& snapshot, std::int64_t now);

class StateCache {
 public:
  StateCache(store::Store& store, admin::DataDir data_dir, std::chrono::milliseconds poll_interval);
  ~StateCache();
  StateCache(const StateCache&) = delete;
  StateCache& operator=(const StateCache&) = delete;

  // Loads the first snapshot (throws if the active signing key cannot be loaded) and
  // starts the sync thread.
  void start();
  void stop();

  std::shared_ptr<const State> current() const { return state_.load(std::memory_order_acquire); }

  // Remembers that a key was used; written to the store by the sync thread.
  void touch(const std::string& key_id, std::int64_t now);

  // Rebuilds now (tests, and after this process changed the store itself).
  void refresh();

  // Announces this node's public URL with its active signing key, then renews it from the
  // sync thread while the cache runs and clears it on stop() (admin/public_url.h). Throws
  // std::runtime_error, naming both URLs, when another running node announced another URL.
  void announce(const std::string& public_url);

  // Called (on the sync thread) for each key newly seen revoked with end_sessions.
  void on_end_sessions(std::function<void(const std::string& key_id)> hook) { end_sessions_hook_ = std::move(hook); }

  // How the store looks from here: whether the latest poll reached it, and how long ago the
  // state in memory was last confirmed current. While the store is out of reach the state
  // grows stale; the door admits from it only within the staleness window (docs/ARCHITECTURE.md).
  bool store_reachable() const { return reachable_.load(std::memory_order_relaxed); }
  std::chrono::milliseconds state_age() const;
  bool fresh_within(std::chrono::milliseconds window) const { return state_age() <= window; }

 private:
  void run();
  void poll_once(int tick);
  void mark_confirmed();
  std::shared_ptr<const State> build(const store::Snapshot& snapshot, const State* previous) const;
  void flush_touches();
  void purge_old_token_records();
  void renew_announcement();
  void withdraw_announcement();

  store::Store& store_;
  admin::DataDir data_dir_;
  std::chrono::milliseconds poll_interval_;
  std::atomic<std::shared_ptr<const State>> state_;
  std::mutex refresh_mutex_;  // rebuilds only; readers never take it

  std::mutex touch_mutex_;
  std::unordered_map<std::string, std::int64_t> touched_;

  // The sync thread sleeps here between polls. Shared with the store's change watcher, which
  // may outlive this cache on the store's thread: a push wakes the thread at once.
  struct Wake {
    std::mutex mutex;
    std::condition_variable cv;
    bool stopping = false;
    bool poked = false;
  };
  std::shared_ptr<Wake> wake_ = std::make_shared<Wake>();
  std::atomic<bool> reachable_{true};
  std::atomic<std::int64_t> confirmed_at_ns_{0};  // steady clock: when the state was last known current
  std::thread thread_;
  std::int64_t last_jwks_minute_ = 0;

  std::mutex announce_mutex_;
  std::string public_url_;     // empty: nothing announced
  std::string announced_kid_;  // the signing key that carries the announcement
  std::int64_t announced_at_ = 0;
  std::function<void(const std::string&)> end_sessions_hook_;
};

}  // namespace bouncer::server
