// Which node blocks a start: one that runs (its heartbeat not lapsed) with another public URL.
#include "admin/public_url.h"

#include <gtest/gtest.h>

namespace bouncer::admin {
namespace {

store::SigningKeyRecord key(const std::string& kid, const std::string& url, std::optional<std::int64_t> alive_until) {
  store::SigningKeyRecord k;
  k.kid = kid;
  k.created_at = 1;
  k.public_url = url;
  k.alive_until = alive_until;
  return k;
}

TEST(PublicUrl, ARunningNodeWithAnotherUrlIsFound) {
  const std::vector<store::SigningKeyRecord> keys{key("a", "https://one.example", 1000),
                                                  key("b", "https://two.example", 1000)};
  const auto other = running_node_with_other_url(keys, {"a"}, "https://one.example", 990);
  ASSERT_TRUE(other);
  EXPECT_EQ(other->kid, "b");
  EXPECT_EQ(running_node_with_other_url(keys, {"a"}, "https://one.example", 1000)->kid, "b") << "alive until included";
}

TEST(PublicUrl, SameUrlStoppedDeadOrSilentNodesDoNotCount) {
  const std::vector<store::SigningKeyRecord> keys{
      key("same", "https://one.example", 5000),
      key("stopped", "https://two.example", std::nullopt),  // a clean stop cleared its heartbeat
      key("dead", "https://three.example", 999),             // lapsed
      key("old", "", 5000),                                   // never announced a URL
  };
  EXPECT_FALSE(running_node_with_other_url(keys, {}, "https://one.example", 1000));
}

// This data directory's own key, announced by this node before it crashed and was restarted
// with a new URL: not another node.
TEST(PublicUrl, ThisNodesOwnKeysDoNotCount) {
  const std::vector<store::SigningKeyRecord> keys{key("mine", "http://127.0.0.1:40001", 5000)};
  EXPECT_FALSE(running_node_with_other_url(keys, {"mine"}, "http://127.0.0.1:40002", 1000));
  EXPECT_TRUE(running_node_with_other_url(keys, {"theirs"}, "http://127.0.0.1:40002", 1000));
}

TEST(PublicUrl, TheRefusalNamesBothUrls) {
  const auto message = other_url_refusal(key("kid-b", "https://two.example", 1000), "http://127.0.0.1:8080");
  EXPECT_NE(message.find("https://two.example"), std::string::npos) << message;
  EXPECT_NE(message.find("http://127.0.0.1:8080"), std::string::npos) << message;
  EXPECT_NE(message.find("--public-url"), std::string::npos) << message;
  EXPECT_NE(message.find("kid-b"), std::string::npos) << message;
}

}  // namespace
}  // namespace bouncer::admin
