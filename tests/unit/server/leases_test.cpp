// The lease keeper's rounds, against a recording SessionLeases (the Redis engine itself is
// tested against a real redis-server in tests/unit/store/redis_store_test.cpp, and whole
// nodes in tests/integration/cluster/).
#include "server/leases.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace bouncer::server {
namespace {

using Lease = store::SessionLeases::Lease;
using State = SessionRegistry::Lease;

class LiveStub : public LiveSession {
 public:
  void end(std::uint16_t, std::string, std::string) override {}
};

// Answers at once, as told; remembers every call.
class RecordingLeases : public store::SessionLeases {
 public:
  std::chrono::milliseconds ttl() const override { return std::chrono::milliseconds(3000); }
  void acquire(const Lease& lease, const store::SessionCaps& asked, Acquired done) override {
    acquired.push_back(lease.session_id);
    acquired_tokens.push_back(lease.token_id);
    caps.push_back(asked);
    done(fail ? std::make_error_code(std::errc::not_connected) : std::error_code(), Outcome::granted);
  }
  void renew(const std::vector<Lease>& live, Renewed done) override {
    std::vector<bool> held;
    for (const auto& l : live) {
      renewed.push_back(l.session_id);
      renewed_tokens.push_back(l.token_id);
      held.push_back(!fail && l.session_id != lapsed);
    }
    done(fail ? std::make_error_code(std::errc::not_connected) : std::error_code(), held);
  }
  void release(const Lease& lease) override { released.push_back(lease.session_id); }

  bool fail = false;
  std::string lapsed;  // renew says this one ran out
  std::vector<std::string> acquired, renewed, released;
  std::vector<std::string> acquired_tokens, renewed_tokens;
  std::vector<store::SessionCaps> caps;
};

class Keeper : public ::testing::Test {
 protected:
  std::unique_ptr<SessionRegistry::Ticket> admit(const std::string& id, State state,
                                                 const std::string& token = "jti_a") {
    std::unique_ptr<SessionRegistry::Ticket> t;
    EXPECT_EQ(registry_.reserve(id, {"key_a", "m", token}, {}, t), SessionRegistry::Outcome::reserved);
    registry_.attach(*t, live_);
    registry_.set_lease(id, state);
    return t;
  }
  State state_of(const std::string& id) {
    for (const auto& v : registry_.lease_view()) {
      if (v.session_id == id) return v.state;
    }
    ADD_FAILURE() << id << " is not in the registry";
    return State::acquiring;
  }
  static bool has(const std::vector<std::string>& v, const std::string& id) {
    return std::find(v.begin(), v.end(), id) != v.end();
  }

  SessionRegistry registry_;
  RecordingLeases leases_;
  LeaseKeeper keeper_{leases_, registry_};
  std::shared_ptr<LiveStub> live_ = std::make_shared<LiveStub>();
};

// Held leases are renewed; lost ones are taken back with no cap (the session is live
// already); a session still being admitted is left to admission, which checks the caps.
TEST_F(Keeper, RenewsHeldTakesBackLostLeavesAdmissionAlone) {
  auto a = admit("held", State::held);
  auto b = admit("lost", State::lost);
  auto c = admit("acquiring", State::acquiring);
  keeper_.tick();
  EXPECT_EQ(leases_.renewed, std::vector<std::string>{"held"});
  EXPECT_EQ(leases_.acquired, std::vector<std::string>{"lost"});
  const auto& taken_back = leases_.caps.front();
  EXPECT_EQ(taken_back.per_key + taken_back.per_model + taken_back.per_token, 0u) << "taken back with no cap";
  EXPECT_EQ(state_of("lost"), State::held);
  EXPECT_EQ(state_of("acquiring"), State::acquiring);
}

// A lease found run out (an outage outlasted it) becomes lost, and is taken back next round.
TEST_F(Keeper, ALapsedLeaseIsTakenBackNextRound) {
  auto a = admit("s1", State::held);
  leases_.lapsed = "s1";
  keeper_.tick();
  EXPECT_EQ(state_of("s1"), State::lost);
  EXPECT_TRUE(leases_.acquired.empty());
  leases_.lapsed.clear();
  keeper_.tick();
  EXPECT_TRUE(has(leases_.acquired, "s1"));
  EXPECT_EQ(state_of("s1"), State::held);
}

// While the store cannot answer, leases stay lost and are retried every round.
TEST_F(Keeper, StoreDownKeepsRetrying) {
  auto a = admit("s1", State::held);
  leases_.fail = true;
  keeper_.tick();
  EXPECT_EQ(state_of("s1"), State::lost);
  keeper_.tick();
  EXPECT_EQ(state_of("s1"), State::lost);
  EXPECT_EQ(leases_.acquired.size(), 1u);
  leases_.fail = false;
  keeper_.tick();
  EXPECT_EQ(state_of("s1"), State::held);
}

// A session's token goes with its lease to the store, so the token's place is renewed and
// taken back with the others (a permanent key's own session has none).
TEST_F(Keeper, LeasesCarryTheSessionsToken) {
  auto a = admit("held", State::held, "jti_held");
  auto b = admit("lost", State::lost, "jti_lost");
  auto c = admit("by_key", State::held, "");
  keeper_.tick();
  ASSERT_EQ(leases_.renewed.size(), 2u);
  for (std::size_t i = 0; i < leases_.renewed.size(); ++i) {
    EXPECT_EQ(leases_.renewed_tokens[i], leases_.renewed[i] == "held" ? "jti_held" : "") << leases_.renewed[i];
  }
  EXPECT_EQ(leases_.acquired_tokens, std::vector<std::string>{"jti_lost"});
}

// Ended sessions leave the registry and are never renewed again.
TEST_F(Keeper, EndedSessionsAreNotRenewed) {
  auto a = admit("s1", State::held);
  a.reset();
  keeper_.tick();
  EXPECT_TRUE(leases_.renewed.empty());
}

}  // namespace
}  // namespace bouncer::server
