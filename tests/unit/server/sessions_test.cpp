// The session registry's caps on one node: per key, per model and per token, each counted on
// its own, checked in that order, and given back when a session ends.
#include "server/sessions.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

namespace bouncer::server {
namespace {

using Outcome = SessionRegistry::Outcome;
using Ticket = std::unique_ptr<SessionRegistry::Ticket>;

class Registry : public ::testing::Test {
 protected:
  Outcome reserve(const std::string& id, const SessionRegistry::Owner& owner, const store::SessionCaps& caps) {
    Ticket t;
    const auto outcome = registry_.reserve(id, owner, caps, t);
    EXPECT_EQ(outcome == Outcome::reserved, t != nullptr) << id;
    if (t) tickets_.push_back(std::move(t));
    return outcome;
  }
  // Ends the session holding ticket number `i`.
  void end(std::size_t i) { tickets_.at(i).reset(); }

  SessionRegistry registry_;
  std::vector<Ticket> tickets_;
};

constexpr store::SessionCaps kTokenCapTwo{0, 0, 2};

TEST_F(Registry, ATokensCapCountsOnlyThatToken) {
  EXPECT_EQ(reserve("s1", {"key_a", "m", "jti_1"}, kTokenCapTwo), Outcome::reserved);
  EXPECT_EQ(reserve("s2", {"key_a", "n", "jti_1"}, kTokenCapTwo), Outcome::reserved);
  EXPECT_EQ(reserve("s3", {"key_a", "m", "jti_1"}, kTokenCapTwo), Outcome::token_cap) << "on any model";
  // Another token of the same key, and the key itself, are not held back by jti_1's cap.
  EXPECT_EQ(reserve("s4", {"key_a", "m", "jti_2"}, kTokenCapTwo), Outcome::reserved);
  EXPECT_EQ(reserve("s5", {"key_a", "m", ""}, kTokenCapTwo), Outcome::reserved);
  EXPECT_EQ(reserve("s6", {"key_a", "m", ""}, kTokenCapTwo), Outcome::reserved);
  EXPECT_EQ(reserve("s7", {"key_a", "m", ""}, kTokenCapTwo), Outcome::reserved) << "no token: no token cap";
  EXPECT_EQ(registry_.live(), 6u);
}

TEST_F(Registry, AnEndedSessionGivesItsTokensPlaceBack) {
  EXPECT_EQ(reserve("s1", {"key_a", "m", "jti_1"}, kTokenCapTwo), Outcome::reserved);
  EXPECT_EQ(reserve("s2", {"key_a", "m", "jti_1"}, kTokenCapTwo), Outcome::reserved);
  EXPECT_EQ(reserve("s3", {"key_a", "m", "jti_1"}, kTokenCapTwo), Outcome::token_cap);
  end(0);
  EXPECT_EQ(reserve("s3", {"key_a", "m", "jti_1"}, kTokenCapTwo), Outcome::reserved);
  EXPECT_EQ(reserve("s4", {"key_a", "m", "jti_1"}, kTokenCapTwo), Outcome::token_cap);
}

// Key, then model, then token: the first cap reached is the one reported.
TEST_F(Registry, CapsAreCheckedKeyThenModelThenToken) {
  const store::SessionCaps ones{1, 1, 1};
  EXPECT_EQ(reserve("s1", {"key_a", "m", "jti_1"}, ones), Outcome::reserved);
  EXPECT_EQ(reserve("s2", {"key_a", "m", "jti_1"}, ones), Outcome::key_cap);
  EXPECT_EQ(reserve("s2", {"key_b", "m", "jti_1"}, ones), Outcome::model_cap);
  EXPECT_EQ(reserve("s2", {"key_b", "n", "jti_1"}, ones), Outcome::token_cap);
  EXPECT_EQ(reserve("s2", {"key_b", "n", "jti_2"}, ones), Outcome::reserved);
}

TEST_F(Registry, ZeroMeansNoCap) {
  for (int i = 0; i < 50; ++i) {
    // Appended, not `"s" + std::to_string(i)`: GCC 12 -O3 warns falsely on that (PR 105329).
    std::string id = "s";
    id += std::to_string(i);
    EXPECT_EQ(reserve(id, {"key_a", "m", "jti_1"}, {}), Outcome::reserved);
  }
}

// A refusal leaves no counter behind (the maps stay as small as the live set).
TEST_F(Registry, ARefusalCountsNothing) {
  EXPECT_EQ(reserve("s1", {"key_a", "m", "jti_1"}, {0, 1, 0}), Outcome::reserved);
  EXPECT_EQ(reserve("s2", {"key_b", "m", "jti_2"}, {0, 1, 0}), Outcome::model_cap);
  end(0);
  EXPECT_EQ(registry_.live_for_key("key_b"), 0u);
  EXPECT_EQ(reserve("s2", {"key_b", "m", "jti_2"}, {1, 1, 1}), Outcome::reserved);
}

TEST_F(Registry, LeaseViewCarriesTheToken) {
  struct Stub : LiveSession {
    void end(std::uint16_t, std::string, std::string) override {}
  };
  auto stub = std::make_shared<Stub>();
  EXPECT_EQ(reserve("s1", {"key_a", "m", "jti_1"}, {}), Outcome::reserved);
  registry_.attach(*tickets_.back(), stub);
  const auto view = registry_.lease_view();
  ASSERT_EQ(view.size(), 1u);
  EXPECT_EQ(view[0].token_id, "jti_1");
  EXPECT_EQ(view[0].key_id, "key_a");
  EXPECT_EQ(view[0].model, "m");
}

}  // namespace
}  // namespace bouncer::server
