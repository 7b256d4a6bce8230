// The resume ids of one process's client-token connections, for the SQLite engine (one node:
// its connections are all there is, so memory is the whole truth). A resume id is live while
// its connection runs; once that connection has ended, a reconnect naming the id within
// kResumeWindow takes its place without using anything of the token's maxUses. A restart
// forgets the ids: every connection ended with the process, and a reconnect after it uses one.
#pragma once

#include "store/store.h"

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace bouncer::store::sqlite {

class ResumeBook {
 public:
  enum class Claim {
    charge,   // no id, or none to resume: the connection must take a use (its id is now live)
    resumed,  // the id's connection ended within the window: the connection takes its place
    in_use,   // the id's connection is live
  };

  // `now_ms`: a monotonic clock in milliseconds.
  Claim claim(const TokenUse& use, std::int64_t now_ms);
  // The claim made for `use` did not go through (the use could not be taken): its id is free.
  void withdraw(const TokenUse& use);
  // The connection that claimed `use` ended.
  void ended(const TokenUse& use, std::int64_t now_ms);

 private:
  struct Entry {
    std::string session_id;              // the connection holding the id
    std::optional<std::int64_t> ended_ms;  // when it ended; nullopt while it runs
  };
  static std::string key_of(const TokenUse& use);
  void forget_expired(std::int64_t now_ms);  // with mu_ held

  std::mutex mu_;
  std::unordered_map<std::string, Entry> entries_;
  std::size_t claims_since_sweep_ = 0;
};

}  // namespace bouncer::store::sqlite
