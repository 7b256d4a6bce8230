// Project Wycheproof's Ed25519 verification vectors (tests/data/wycheproof/README.md) run
// through crypto::verify: every case must come out exactly as the file says.
#include "crypto/crypto.h"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace bouncer::crypto {
namespace {

std::optional<std::vector<std::uint8_t>> from_hex(std::string_view s) {
  if (s.size() % 2 != 0) return std::nullopt;
  const auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::vector<std::uint8_t> out;
  for (std::size_t i = 0; i < s.size(); i += 2) {
    const int hi = nibble(s[i]);
    const int lo = nibble(s[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<std::uint8_t>(hi * 16 + lo));
  }
  return out;
}

boost::json::value load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return boost::json::parse(ss.str());
}

// Cases where libsodium's answer differs from the file, with the reason. Each one is still
// run and must disagree exactly as recorded here (so a libsodium upgrade that changes the
// answer makes this test fail and the entry gets revisited). Empty: libsodium 1.0.18 agrees
// with all 151 cases.
const std::map<std::int64_t, std::string> kKnownDisagreements = {};

TEST(WycheproofEd25519, EveryCaseMatches) {
  const boost::json::value doc = load(std::string(BOUNCER_TEST_DATA) + "/wycheproof/ed25519_test.json");
  std::size_t total = 0;
  std::size_t valid_matched = 0;
  std::size_t invalid_matched = 0;
  std::size_t disagreed = 0;
  for (const auto& group : doc.at("testGroups").as_array()) {
    const auto pk_bytes = from_hex(group.at("publicKey").at("pk").as_string());
    ASSERT_TRUE(pk_bytes && pk_bytes->size() == kPublicKeyBytes);
    PublicKey pk{};
    std::copy(pk_bytes->begin(), pk_bytes->end(), pk.begin());
    for (const auto& test : group.at("tests").as_array()) {
      ++total;
      const std::int64_t id = test.at("tcId").as_int64();
      const auto msg = from_hex(test.at("msg").as_string());
      const auto sig = from_hex(test.at("sig").as_string());
      ASSERT_TRUE(msg && sig) << "tcId " << id;
      const std::string_view result = test.at("result").as_string();
      ASSERT_TRUE(result == "valid" || result == "invalid") << "tcId " << id << ": " << result;
      const bool expected = result == "valid";
      const bool got = verify(pk, std::string_view(reinterpret_cast<const char*>(msg->data()), msg->size()), *sig);
      if (kKnownDisagreements.contains(id)) {
        ++disagreed;
        EXPECT_NE(got, expected) << "tcId " << id << " now agrees; remove it from kKnownDisagreements";
        continue;
      }
      EXPECT_EQ(got, expected) << "tcId " << id << " (" << test.at("comment").as_string() << ") expected "
                               << result;
      if (got == expected) ++(expected ? valid_matched : invalid_matched);
    }
  }
  EXPECT_EQ(total, 151U);
  EXPECT_EQ(doc.at("numberOfTests").as_int64(), 151);
  EXPECT_EQ(valid_matched, 88U);
  EXPECT_EQ(invalid_matched, 63U);
  EXPECT_EQ(disagreed, kKnownDisagreements.size());
  RecordProperty("valid_matched", static_cast<int>(valid_matched));
  RecordProperty("invalid_matched", static_cast<int>(invalid_matched));
}

}  // namespace
}  // namespace bouncer::crypto
