#include "server/leases.h"

#include "log/log.h"

#include <chrono>
#include <vector>

namespace bouncer::server {

using Lease = store::SessionLeases::Lease;

LeaseKeeper::LeaseKeeper(store::SessionLeases& leases, SessionRegistry& registry) : leases_(leases), registry_(registry) {}

LeaseKeeper::~LeaseKeeper() { stop(); }

void LeaseKeeper::start() {
  thread_ = std::thread([this] { run(); });
}

void LeaseKeeper::stop() {
  std::unique_lock lock(mutex_);
  if (stopping_ && !thread_.joinable()) return;
  stopping_ = true;
  cv_.notify_all();
  if (thread_.joinable()) {
    lock.unlock();
    thread_.join();
    lock.lock();
  }
  // The store answers every command within its timeouts; this bound is a backstop.
  if (!cv_.wait_for(lock, std::chrono::seconds(15), [this] { return in_flight_ == 0; })) {
    log::warn("session_lease_calls_unanswered", {{"calls", in_flight_}});
  }
}

void LeaseKeeper::run() {
  // Three renewals per lifetime: one late or lost renewal never lets a live session's place go.
  const auto period = std::max(leases_.ttl() / 3, std::chrono::milliseconds(100));
  std::unique_lock lock(mutex_);
  while (!cv_.wait_for(lock, period, [this] { return stopping_; })) {
    lock.unlock();
    tick();
    lock.lock();
  }
}

void LeaseKeeper::begin_call() {
  std::lock_guard lock(mutex_);
  ++in_flight_;
}

void LeaseKeeper::end_call() {
  std::lock_guard lock(mutex_);
  if (--in_flight_ == 0) cv_.notify_all();
}

void LeaseKeeper::tick() {
  std::vector<Lease> held;
  std::vector<Lease> lost;
  for (auto& s : registry_.lease_view()) {
    if (s.state == SessionRegistry::Lease::acquiring) continue;  // admission is checking the caps
    auto& list = s.state == SessionRegistry::Lease::held ? held : lost;
    list.push_back({std::move(s.session_id), std::move(s.key_id), std::move(s.model), std::move(s.token_id)});
  }
  if (!held.empty()) {
    begin_call();
    leases_.renew(held, [this, held](std::error_code ec, std::vector<bool> still_held) {
      if (ec) log::warn("session_leases_not_renewed", {{"sessions", held.size()}, {"error", ec.message()}});
      for (std::size_t i = 0; i < held.size(); ++i) {
        if (i >= still_held.size() || !still_held[i]) registry_.set_lease(held[i].session_id, SessionRegistry::Lease::lost);
      }
      end_call();
    });
  }
  for (auto& lease : lost) {
    // No cap: the session is live already; its place is taken back, not asked for.
    begin_call();
    leases_.acquire(lease, {}, [this, id = lease.session_id](std::error_code ec, store::SessionLeases::Outcome) {
      if (!ec) registry_.set_lease(id, SessionRegistry::Lease::held);
      end_call();
    });
  }
}

}  // namespace bouncer::server
