// Keeps this node's places under the cluster-wide session caps (store::SessionLeases, for a
// store that several nodes share). Every ttl/3 it renews the leases of this node's live
// sessions and takes back the places of sessions whose lease was lost: admitted while the
// store was out of reach, or run out during an outage. A node that dies stops renewing, so
// its sessions' places come free within one ttl, never later.
#pragma once

#include "server/sessions.h"
#include "store/store.h"

#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <thread>

namespace bouncer::server {

class LeaseKeeper {
 public:
  LeaseKeeper(store::SessionLeases& leases, SessionRegistry& registry);
  ~LeaseKeeper();
  LeaseKeeper(const LeaseKeeper&) = delete;
  LeaseKeeper& operator=(const LeaseKeeper&) = delete;

  void start();
  // Stops the thread, then waits (bounded) for the store to answer what is in flight, so no
  // answer reaches a registry that is gone.
  void stop();

  // One round: renew the held leases, take back the lost ones. Public for tests.
  void tick();

 private:
  void run();
  void begin_call();
  void end_call();

  store::SessionLeases& leases_;
  SessionRegistry& registry_;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::size_t in_flight_ = 0;
  std::thread thread_;
};

}  // namespace bouncer::server
