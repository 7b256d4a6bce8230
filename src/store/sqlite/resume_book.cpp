#include "store/sqlite/resume_book.h"

#include <chrono>
#include <iterator>

namespace bouncer::store::sqlite {
namespace {

constexpr std::int64_t kWindowMs = std::chrono::duration_cast<std::chrono::milliseconds>(kResumeWindow).count();
// Ended entries are swept every this many claims, so the book holds the live connections and
// those that ended within about the window, not every id ever seen.
constexpr std::size_t kSweepEvery = 256;

}  // namespace

// The jti and the id: an id is only ever resumed with the token that started it.
std::string ResumeBook::key_of(const TokenUse& use) {
  std::string key = use.jti;
  key += '\n';
  key += use.resume_id;
  return key;
}

ResumeBook::Claim ResumeBook::claim(const TokenUse& use, std::int64_t now_ms) {
  if (use.resume_id.empty()) return Claim::charge;
  std::lock_guard lock(mu_);
  if (++claims_since_sweep_ >= kSweepEvery) forget_expired(now_ms);
  auto [it, fresh] = entries_.try_emplace(key_of(use), Entry{use.session_id, std::nullopt});
  if (fresh) return Claim::charge;
  Entry& entry = it->second;
  if (!entry.ended_ms) return Claim::in_use;
  const bool within_window = now_ms - *entry.ended_ms <= kWindowMs;
  entry = Entry{use.session_id, std::nullopt};
  return within_window ? Claim::resumed : Claim::charge;
}

void ResumeBook::withdraw(const TokenUse& use) {
  if (use.resume_id.empty()) return;
  std::lock_guard lock(mu_);
  const auto it = entries_.find(key_of(use));
  if (it != entries_.end() && it->second.session_id == use.session_id && !it->second.ended_ms) entries_.erase(it);
}

void ResumeBook::ended(const TokenUse& use, std::int64_t now_ms) {
  if (use.resume_id.empty()) return;
  std::lock_guard lock(mu_);
  const auto it = entries_.find(key_of(use));
  // Another connection may hold the id by now (this one's claim was refused or withdrawn).
  if (it != entries_.end() && it->second.session_id == use.session_id) it->second.ended_ms = now_ms;
}

void ResumeBook::forget_expired(std::int64_t now_ms) {
  claims_since_sweep_ = 0;
  for (auto it = entries_.begin(); it != entries_.end();) {
    const bool expired = it->second.ended_ms && now_ms - *it->second.ended_ms > kWindowMs;
    it = expired ? entries_.erase(it) : std::next(it);
  }
}

}  // namespace bouncer::store::sqlite
