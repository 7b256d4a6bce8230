#include "admin/api_keys.h"

#include "crypto/crypto.h"

#include <gtest/gtest.h>

#include <filesystem>

namespace bouncer::admin {
namespace {

class ApiKeys : public ::testing::Test {
 protected:
  void SetUp() override {
    crypto::init();
    dir_ = std::filesystem::temp_directory_path() / ("bouncer-admin-" + crypto::random_base64url(8));
    std::filesystem::create_directories(dir_);
    store_ = store::open_sqlite((dir_ / "db").string());
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  std::filesystem::path dir_;
  std::unique_ptr<store::Store> store_;
};

// The secret is shown once; only its hash is kept, and it carries 256 bits.
TEST_F(ApiKeys, CreateStoresOnlyTheHash) {
  const auto key = create_api_key(*store_, "ci", 1000);
  EXPECT_TRUE(key.secret.starts_with("sk_"));
  EXPECT_EQ(key.secret.size(), 3u + 43u);  // base64url of 32 bytes
  const auto stored = store_->find_key(key.record.id);
  ASSERT_TRUE(stored);
  EXPECT_EQ(stored->secret_hash, crypto::hash(key.secret));
  EXPECT_EQ(stored->prefix, key.secret.substr(0, 11));
  EXPECT_EQ(stored->name, "ci");
  EXPECT_EQ(stored->created_at, 1000);
  EXPECT_TRUE(key.record.id.starts_with("key_"));
}

TEST_F(ApiKeys, TwoKeysDiffer) {
  const auto a = create_api_key(*store_, "a", 1);
  const auto b = create_api_key(*store_, "a", 1);
  EXPECT_NE(a.secret, b.secret);
  EXPECT_NE(a.record.id, b.record.id);
}

TEST_F(ApiKeys, NameRules) {
  EXPECT_THROW(create_api_key(*store_, "", 1), std::invalid_argument);
  EXPECT_THROW(create_api_key(*store_, std::string(65, 'x'), 1), std::invalid_argument);
  EXPECT_NO_THROW(create_api_key(*store_, std::string(64, 'x'), 1));
  EXPECT_THROW(create_api_key(*store_, "tab\there", 1), std::invalid_argument);
  EXPECT_NO_THROW(create_api_key(*store_, "prod – café", 1));
}

TEST(Credentials, Classify) {
  EXPECT_EQ(classify_credential("sk_abc"), CredentialKind::permanent_key);
  EXPECT_EQ(classify_credential("ek_eyJ.a.b"), CredentialKind::client_token);
  EXPECT_EQ(classify_credential("eyJhbGciOi.x.y"), CredentialKind::client_token);
  EXPECT_EQ(classify_credential("eyJhbGciOi"), CredentialKind::unknown);
  EXPECT_EQ(classify_credential(""), CredentialKind::unknown);
  EXPECT_EQ(classify_credential("Bearer sk_x"), CredentialKind::unknown);
  EXPECT_EQ(jwt_of("ek_a.b.c"), "a.b.c");
  EXPECT_EQ(jwt_of("a.b.c"), "a.b.c");
}

}  // namespace
}  // namespace bouncer::admin
