#include "server/sessions.h"

#include <vector>

namespace bouncer::server {

SessionRegistry::Ticket::~Ticket() { registry_.release(id_); }

SessionRegistry::Outcome SessionRegistry::reserve(const std::string& session_id, const std::string& key_id,
                                                  const std::string& model, std::size_t key_cap, std::size_t model_cap,
                                                  std::unique_ptr<Ticket>& ticket) {
  std::lock_guard lock(mutex_);
  if (closed_) return Outcome::closed;
  auto& for_key = per_key_[key_id];
  auto& for_model = per_model_[model];
  if (key_cap && for_key >= key_cap) return Outcome::key_cap;
  if (model_cap && for_model >= model_cap) return Outcome::model_cap;
  ++for_key;
  ++for_model;
  sessions_.emplace(session_id, Entry{key_id, model, {}});
  ticket.reset(new Ticket(*this, session_id));
  return Outcome::reserved;
}

void SessionRegistry::attach(const Ticket& ticket, std::weak_ptr<LiveSession> session) {
  std::lock_guard lock(mutex_);
  if (auto it = sessions_.find(ticket.session_id()); it != sessions_.end()) it->second.session = std::move(session);
}

void SessionRegistry::release(const std::string& session_id) {
  std::lock_guard lock(mutex_);
  const auto it = sessions_.find(session_id);
  if (it == sessions_.end()) return;
  // Counters that reach zero are erased so that the maps stay as small as the live set.
  if (auto k = per_key_.find(it->second.key_id); k != per_key_.end() && --k->second == 0) per_key_.erase(k);
  if (auto m = per_model_.find(it->second.model); m != per_model_.end() && --m->second == 0) per_model_.erase(m);
  sessions_.erase(it);
}

std::size_t SessionRegistry::end_sessions_of_key(const std::string& key_id, std::uint16_t code,
                                                 const std::string& reason, const std::string& final_text) {
  std::vector<std::shared_ptr<LiveSession>> targets;
  {
    std::lock_guard lock(mutex_);
    for (auto& [id, entry] : sessions_) {
      if (entry.key_id != key_id) continue;
      if (auto s = entry.session.lock()) targets.push_back(std::move(s));
    }
  }
  // Outside the lock: ending a session may release its ticket.
  for (auto& s : targets) s->end(code, reason, final_text);
  return targets.size();
}

std::size_t SessionRegistry::close_and_end_all(std::uint16_t code, const std::string& reason) {
  std::vector<std::shared_ptr<LiveSession>> targets;
  {
    std::lock_guard lock(mutex_);
    closed_ = true;
    for (auto& [id, entry] : sessions_) {
      if (auto s = entry.session.lock()) targets.push_back(std::move(s));
    }
  }
  for (auto& s : targets) s->end(code, reason, {});
  return targets.size();
}

bool SessionRegistry::closed() {
  std::lock_guard lock(mutex_);
  return closed_;
}

void SessionRegistry::set_lease(const std::string& session_id, Lease state) {
  std::lock_guard lock(mutex_);
  if (auto it = sessions_.find(session_id); it != sessions_.end()) it->second.lease = state;
}

std::vector<SessionRegistry::LeaseView> SessionRegistry::lease_view() {
  std::vector<LeaseView> out;
  std::lock_guard lock(mutex_);
  out.reserve(sessions_.size());
  for (const auto& [id, entry] : sessions_) {
    if (entry.session.expired()) continue;  // reserved, not yet attached (or already gone)
    out.push_back({id, entry.key_id, entry.model, entry.lease});
  }
  return out;
}

std::size_t SessionRegistry::live() {
  std::lock_guard lock(mutex_);
  return sessions_.size();
}

std::unordered_map<std::string, std::size_t> SessionRegistry::live_by_model() {
  std::lock_guard lock(mutex_);
  return per_model_;
}

std::size_t SessionRegistry::live_for_key(const std::string& key_id) {
  std::lock_guard lock(mutex_);
  const auto it = per_key_.find(key_id);
  return it == per_key_.end() ? 0 : it->second;
}

}  // namespace bouncer::server
