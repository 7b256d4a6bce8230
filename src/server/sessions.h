// The live WebSocket sessions: concurrent-session caps per key, per model and per token, and ending
// sessions from outside (revocation with --end-sessions, shutdown). Admission takes one
// short lock here; relaying frames never touches it.
#pragma once

#include "store/store.h"

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace bouncer::server {

// A session that can be ended from another thread.
class LiveSession {
 public:
  virtual ~LiveSession() = default;
  // Sends `final_text` (when not empty) then closes with code/reason. Thread-safe.
  virtual void end(std::uint16_t code, std::string reason, std::string final_text) = 0;
};

class SessionRegistry {
 public:
  // A reserved place; releasing it (destruction) frees the caps and forgets the session.
  class Ticket {
   public:
    ~Ticket();
    Ticket(const Ticket&) = delete;
    Ticket& operator=(const Ticket&) = delete;
    const std::string& session_id() const { return id_; }

   private:
    friend class SessionRegistry;
    Ticket(SessionRegistry& registry, std::string id) : registry_(registry), id_(std::move(id)) {}
    SessionRegistry& registry_;
    std::string id_;
  };

  enum class Outcome { reserved, key_cap, model_cap, token_cap, closed };

  // Who a session counts against: its permanent key, its model and, for a client token, the
  // token (jti; empty for a permanent key at the door, which counts against no token).
  struct Owner {
    std::string key_id;
    std::string model;
    std::string token_id;
  };

  // Reserves a session for `owner` unless the registry is closed or a cap is reached (checked
  // key, then model, then token; 0 = no cap).
  Outcome reserve(const std::string& session_id, const Owner& owner, const store::SessionCaps& caps,
                  std::unique_ptr<Ticket>& ticket);

  // Makes a reserved session reachable by end_sessions_of_key / end_all.
  void attach(const Ticket& ticket, std::weak_ptr<LiveSession> session);

  // Returns how many sessions were told to end.
  std::size_t end_sessions_of_key(const std::string& key_id, std::uint16_t code, const std::string& reason,
                                  const std::string& final_text);
  // Stops admitting and ends every session.
  std::size_t close_and_end_all(std::uint16_t code, const std::string& reason);

  std::size_t live();
  std::size_t live_for_key(const std::string& key_id);
  // Live sessions per model; a model with none is absent. A copy, for /metrics.
  std::unordered_map<std::string, std::size_t> live_by_model();
  bool closed();

  // ---- cluster-wide caps (a shared store's SessionLeases; see server/leases.h) ----
  // Where a session's place in the shared store stands: being taken at admission (the caps
  // are checked then), held (renewed), or lost (not taken while the store was out of reach,
  // or ran out meanwhile: the session is live, so its place is taken back).
  enum class Lease { acquiring, held, lost };
  void set_lease(const std::string& session_id, Lease state);
  struct LeaseView {
    std::string session_id;
    std::string key_id;
    std::string model;
    std::string token_id;
    Lease state = Lease::acquiring;
  };
  // Every attached session (admitted, upstream connecting or relaying).
  std::vector<LeaseView> lease_view();

 private:
  struct Entry {
    Owner owner;
    std::weak_ptr<LiveSession> session;
    Lease lease = Lease::acquiring;
  };
  void release(const std::string& session_id);

  std::mutex mutex_;
  bool closed_ = false;
  std::unordered_map<std::string, Entry> sessions_;
  std::unordered_map<std::string, std::size_t> per_key_;
  std::unordered_map<std::string, std::size_t> per_model_;
  std::unordered_map<std::string, std::size_t> per_token_;
};

}  // namespace bouncer::server
