#include "server/state.h"

#include "admin/public_url.h"
#include "admin/signing_keys.h"
#include "log/log.h"
#include "metrics/catalog.h"
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

std::string State::public_url_of(std::string_view kid) const {
  const auto it = public_urls.find(std::string(kid));
  return it == public_urls.end() ? std::string() : it->second;
}

StateCache::StateCache(store::Store& store, admin::DataDir data_dir, std::chrono::milliseconds poll_interval)
    : store_(store), data_dir_(std::move(data_dir)), poll_interval_(poll_interval) {}

StateCache::~StateCache() { stop(); }

std::shared_ptr<State> admission_state(const store::Snapshot& snapshot, std::int64_t now) {
  auto state = std::make_shared<State>();
  state->version = snapshot.version;
  for (const auto& k : snapshot.keys) {
    const auto [it, inserted] = state->keys_by_hash.emplace(k.secret_hash, k);
    state->keys_by_id.emplace(k.id, &it->second);
  }
  for (const auto& k : snapshot.signing_keys) {
    if (admin::still_published(k, now)) state->public_keys.emplace(k.kid, k.public_key);
    if (!k.public_url.empty()) state->public_urls.emplace(k.kid, k.public_url);
  }
  return state;
}

std::shared_ptr<const State> StateCache::build(const store::Snapshot& snapshot, const State* previous) const {
  const auto now = unix_now();
  auto state = admission_state(snapshot, now);
  state->jwks_json = build_jwks(snapshot.signing_keys, now);
  if (const auto active = admin::active_signing_key(snapshot.signing_keys, admin::local_signing_kids(data_dir_))) {
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
  mark_confirmed();
  last_jwks_minute_ = unix_now() / 60;
  // A push from the store (Redis pub/sub) cuts the wait for the next poll short.
  store_.watch_changes([wake = wake_] {
    {
      std::lock_guard lock(wake->mutex);
      wake->poked = true;
    }
    wake->cv.notify_all();
  });
  thread_ = std::thread([this] { run(); });
}

void StateCache::stop() {
  {
    std::lock_guard lock(wake_->mutex);
    if (wake_->stopping) return;
    wake_->stopping = true;
  }
  wake_->cv.notify_all();
  if (thread_.joinable()) thread_.join();
  flush_touches();
  withdraw_announcement();
}

void StateCache::mark_confirmed() {
  confirmed_at_ns_.store(std::chrono::steady_clock::now().time_since_epoch().count(), std::memory_order_relaxed);
  reachable_.store(true, std::memory_order_relaxed);
}

std::chrono::milliseconds StateCache::state_age() const {
  const auto confirmed = std::chrono::steady_clock::time_point(
      std::chrono::steady_clock::duration(confirmed_at_ns_.load(std::memory_order_relaxed)));
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - confirmed);
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
  // The sync thread and an API revocation may refresh at once: one at a time, so that each
  // change is seen (counted, its sessions ended) once.
  std::lock_guard lock(refresh_mutex_);
  auto previous = current();
  auto next = build(store_.snapshot(), previous.get());
  state_.store(next, std::memory_order_release);
  for (const auto& [id, key] : next->keys_by_id) {
    if (!key->revoked_at) continue;
    const auto* before = previous->find_key(id);
    if (!before || !before->revoked_at) metrics::catalog().revocations_applied.add();
    // A key revoked with end_sessions (by the CLI, the API or another node) ends its live
    // sessions once, when this process first sees it so.
    if (!end_sessions_hook_ || !key->end_sessions) continue;
    if (before && before->revoked_at && before->end_sessions) continue;
    end_sessions_hook_(id);
  }
}

void StateCache::announce(const std::string& public_url) {
  const auto snapshot = store_.snapshot();
  const auto local_kids = admin::local_signing_kids(data_dir_);
  if (const auto other = admin::running_node_with_other_url(snapshot.signing_keys, local_kids, public_url, unix_now())) {
    throw std::runtime_error(admin::other_url_refusal(*other, public_url));
  }
  {
    std::lock_guard lock(announce_mutex_);
    public_url_ = public_url;
    announced_at_ = 0;
  }
  renew_announcement();
}

// On the active signing key (a rotation moves it to the new one), every kAnnounceEverySeconds.
void StateCache::renew_announcement() {
  std::lock_guard lock(announce_mutex_);
  if (public_url_.empty()) return;
  const auto kid = current()->active_kid;
  const auto now = unix_now();
  if (kid.empty() || (kid == announced_kid_ && now - announced_at_ < admin::kAnnounceEverySeconds)) return;
  store_.announce_signing_key(kid, public_url_, now + admin::kAnnouncementLifetimeSeconds);
  announced_kid_ = kid;
  announced_at_ = now;
}

// A clean stop says so at once: a node restarted with another URL need not wait for the
// heartbeat to lapse.
void StateCache::withdraw_announcement() {
  std::lock_guard lock(announce_mutex_);
  if (announced_kid_.empty()) return;
  try {
    store_.announce_signing_key(announced_kid_, public_url_, std::nullopt);
  } catch (const std::exception& e) {
    log::warn("public_url_announcement_not_withdrawn", {{"kid", announced_kid_}, {"error", e.what()}});
  }
  announced_kid_.clear();
  public_url_.clear();
}

void StateCache::poll_once(int tick) {
  // A retired signing key leaves the JWKS when its grace ends, so rebuild once a minute even
  // if nothing else changed.
  const auto minute = unix_now() / 60;
  const auto version = store_.state_version();
  if (version != current()->version || minute != last_jwks_minute_) {
    const auto before = current();
    refresh();
    last_jwks_minute_ = minute;
    if (version != before->version) log::info("state_reloaded", {{"version", static_cast<std::int64_t>(version)}});
  }
  if (!reachable_.load(std::memory_order_relaxed)) log::info("store_reachable_again");
  mark_confirmed();
  if (tick % 5 == 0) flush_touches();
  if (tick % kPurgeEveryTicks == 0) purge_old_token_records();
  renew_announcement();
}

void StateCache::run() {
  int ticks = 0;
  std::unique_lock lock(wake_->mutex);
  while (!wake_->stopping) {
    wake_->cv.wait_for(lock, poll_interval_, [this] { return wake_->stopping || wake_->poked; });
    if (wake_->stopping) break;
    wake_->poked = false;
    lock.unlock();
    try {
      poll_once(++ticks);
    } catch (const std::exception& e) {
      // Keep serving from the last good state (within the staleness window, which the door
      // and /readyz enforce); the next tick tries again.
      if (reachable_.exchange(false, std::memory_order_relaxed)) {
        log::error("store_unreachable", {{"error", e.what()}});
      } else {
        log::debug("state_reload_failed", {{"error", e.what()}});
      }
    }
    lock.lock();
  }
}

}  // namespace bouncer::server
