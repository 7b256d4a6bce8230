// Project Wycheproof's JSON Web Signature vectors (tests/data/wycheproof/README.md): 401 cases
// for HS256/ES256/RS256/PS256..., none of them EdDSA. Whatever the file calls valid or invalid,
// an EdDSA-only verifier must refuse every single one, even with a key lookup that hands out
// an Ed25519 key for any kid.
#include "token/jwt.h"

#include "token_test_util.h"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <sstream>

namespace bouncer::token {
namespace {

boost::json::value load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return boost::json::parse(ss.str());
}

TEST(WycheproofJws, EveryCaseIsRefused) {
  const boost::json::value doc = load(std::string(BOUNCER_TEST_DATA) + "/wycheproof/json_web_signature_test.json");
  const crypto::SecretKey any_key(testing::seed_filled(0x42));
  const KeyLookup lookup = [&](std::string_view) -> const crypto::PublicKey* { return &any_key.public_key(); };
  const VerifyOptions options{"https://bouncer.test", "bouncer"};

  std::size_t total = 0;
  std::size_t compact = 0;
  std::size_t json_serialization = 0;
  std::size_t marked_valid = 0;
  std::map<Status, std::size_t> by_status;
  for (const auto& group : doc.at("testGroups").as_array()) {
    for (const auto& test : group.at("tests").as_array()) {
      ++total;
      const std::string_view jws = test.at("jws").as_string();
      // RFC 7515 §7.2 JSON serialization starts with '{'; everything else is (meant as) compact.
      ++(jws.starts_with('{') ? json_serialization : compact);
      if (test.at("result").as_string() == "valid") ++marked_valid;
      const Verified v = verify(jws, lookup, options);
      EXPECT_NE(v.status, Status::ok) << "tcId " << test.at("tcId").as_int64() << ": " << jws;
      ++by_status[v.status];
    }
  }
  EXPECT_EQ(total, 401U);
  EXPECT_EQ(doc.at("numberOfTests").as_int64(), 401);
  EXPECT_EQ(compact + json_serialization, 401U);
  EXPECT_GE(json_serialization, 1U);
  EXPECT_GT(marked_valid, 0U);  // cases another verifier would accept are among them
  EXPECT_EQ(by_status[Status::ok], 0U);
  for (const auto& [status, count] : by_status) {
    RecordProperty(std::string(to_string(status)), static_cast<int>(count));
  }
}

}  // namespace
}  // namespace bouncer::token
