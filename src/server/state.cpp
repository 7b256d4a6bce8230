#include "server/state.h"

#include "admin/signing_keys.h"
#include "log/log.h"
#include "token/base64url.h"

#include <chrono>

namespace bouncer::server {
namespace {

// Token records outlive their tokens by a week, for audits; then they go.
constexpr std::int64_t kTokenRecordRetentionSeconds = 7 * 24 * 3600;
constexpr int kPurgeEveryTicks = 3000;  // ten minutes at the default poll interval

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// RFC 7517 / RFC 8037 §2: {"keys":[{"kty":"OKP","crv":"Ed25519","x":…,"kid":…,"alg":"EdDSA","use":"sig"}]}
std::string build_jwks(const std::vector<store::SigningKeyRecord>& keys, std::int64_t now) {
  std::string out = "{\"keys\":[";
  bool first = true;
  for (const auto& k : keys) {
    if (!admin::still_published(k, now)) continue;
    if (!first) out += ',';
    first = false;
    // kid and x are base64url: nothing to escape.
    out += "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"use\":\"sig\",\"alg\":\"EdDSA\",\"kid\":\"" + k.kid +
           "\",\"x\":\"" + token::base64url_encode(k.public_key) + "\"}";
  }
  out += "]}";
  return out;
}

}  // namespace

const store::KeyRecord* State::find_key_by_secret(std::string_view secret) const {
  const auto digest = crypto::hash(secret);
  const auto it = keys_by_hash.find(digest);
  if (it == keys_by_hash.end()) return nullptr;
  // The map lookup compares digests, not secrets; the final comparison is constant-time anyway.
  if (!crypto::equal_constant_time(it->first, it->second.secret_hash)) return nullptr;
  return &it->second;
}

const store::KeyRecord* State::find_key(std::string_view id) const {
  const auto it = keys_by_id.find(std::string(id));
  return it == keys_by_id.end() ? nullptr : it->second;
}

const crypto::PublicKey* State::find_public_key(std::string_view kid) const {
  const auto it = public_keys.find(std::string(kid));
  return it == public_keys.end() ? nullptr : &it->second;
}

StateCache::StateCache(store::Store& store, admin::DataDir data_dir, std::chrono::milliseconds poll_interval)
    : store_(store), data_dir_(std::move(data_dir)), poll_interval_(poll_interval) {}

StateCache::~StateCache() { stop(); }

std::shared_ptr<const State> StateCache::build(const store::Snapshot& snapshot, const State* previous) const {
  auto state = std::make_shared<State>();
  state->version = snapshot.version;
  for (const auto& k : snapshot.keys) {
    const auto [it, inserted] = state->keys_by_hash.emplace(k.secret_hash, k);
    state->keys_by_id.emplace(k.id, &it->second);
  }
  const auto now = unix_now();
  for (const auto& k : snapshot.signing_keys) {
    if (admin::still_published(k, now)) state->public_keys.emplace(k.kid, k.public_key);
  }
  state->jwks_json = build_jwks(snapshot.signing_keys, now);
  if (const auto active = admin::active_signing_key(snapshot.signing_keys)) {
    state->active_kid = active->kid;
    if (previous && previous->active_kid == active->kid && previous->active_key) {
      state->active_key = previous->active_key;
    } else {
      state->active_key = std::make_shared<const crypto::SecretKey>(admin::load_signing_key(data_dir_, active->kid));
    }
  }
  return state;
}

void StateCache::start() {
  state_.store(build(store_.snapshot(), nullptr), std::memory_order_release);
  last_jwks_minute_ = unix_now() / 60;
  thread_ = std::thread([this] { run(); });
}

void StateCache::stop() {
  {
    std::lock_guard lock(run_mutex_);
    if (stopping_) return;
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  flush_touches();
}

void StateCache::touch(const std::string& key_id, std::int64_t now) {
  std::lock_guard lock(touch_mutex_);
  touched_[key_id] = now;
}

void StateCache::flush_touches() {
  std::unordered_map<std::string, std::int64_t> pending;
  {
    std::lock_guard lock(touch_mutex_);
    pending.swap(touched_);
  }
  if (pending.empty()) return;
  try {
    store_.touch_keys({pending.begin(), pending.end()});
  } catch (const std::exception& e) {
    log::warn("key_last_used_not_saved", {{"error", e.what()}});
  }
}

void StateCache::purge_old_token_records() {
  const auto removed = store_.purge_tokens(unix_now() - kTokenRecordRetentionSeconds);
  if (removed > 0) log::info("token_records_purged", {{"count", removed}});
}

void StateCache::refresh() {
  auto previous = current();
  auto next = build(store_.snapshot(), previous.get());
  state_.store(next, std::memory_order_release);
  if (!end_sessions_hook_) return;
  // A key revoked with end_sessions (by the CLI, the API or another node) ends its live
  // sessions once, when this process first sees it so.
  for (const auto& [id, key] : next->keys_by_id) {
    if (!key->revoked_at || !key->end_sessions) continue;
    const auto* before = previous->find_key(id);
    if (before && before->revoked_at && before->end_sessions) continue;
    end_sessions_hook_(id);
  }
}

void StateCache::run() {
  int ticks = 0;
  std::unique_lock lock(run_mutex_);
  while (!stopping_) {
    wake_.wait_for(lock, poll_interval_);
    if (stopping_) break;
    lock.unlock();
    try {
      // A retired signing key leaves the JWKS when its grace ends, so rebuild once a
      // minute even if nothing else changed.
      const auto minute = unix_now() / 60;
      const auto version = store_.state_version();
      if (version != current()->version || minute != last_jwks_minute_) {
        const auto before = current();
        refresh();
        last_jwks_minute_ = minute;
        if (version != before->version) log::info("state_reloaded", {{"version", static_cast<std::int64_t>(version)}});
      }
      if (++ticks % 5 == 0) flush_touches();
      if (ticks % kPurgeEveryTicks == 0) purge_old_token_records();
    } catch (const std::exception& e) {
      // Keep serving from the last good state; the next tick tries again.
      log::error("state_reload_failed", {{"error", e.what()}});
    }
    lock.lock();
  }
}

}  // namespace bouncer::server
