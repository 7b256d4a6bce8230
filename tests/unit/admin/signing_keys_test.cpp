#include "admin/signing_keys.h"

#include <gtest/gtest.h>

#include <sys/stat.h>

namespace bouncer::admin {
namespace {

class SigningKeys : public ::testing::Test {
 protected:
  void SetUp() override {
    crypto::init();
    root_ = std::filesystem::temp_directory_path() / ("bouncer-sk-" + crypto::random_base64url(8));
    dir_ = prepare_data_dir(root_);
    store_ = store::open_sqlite(dir_.database().string());
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(root_);
  }
  std::filesystem::path root_;
  DataDir dir_;
  std::unique_ptr<store::Store> store_;
};

TEST_F(SigningKeys, DataDirIsPrivate) {
  struct stat st {};
  ASSERT_EQ(::stat(dir_.root.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  ASSERT_EQ(::stat(dir_.signing_keys().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
}

TEST_F(SigningKeys, CreatedKeyRoundTripsThroughItsFile) {
  const auto created = create_signing_key(dir_, *store_, 100);
  const auto path = dir_.signing_keys() / (created.kid + ".key");
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  const auto loaded = load_signing_key(dir_, created.kid);
  EXPECT_EQ(loaded.public_key(), created.key.public_key());
  const auto sig = loaded.sign("m");
  EXPECT_TRUE(crypto::verify(created.key.public_key(), "m", sig));
  // The store holds the public half only.
  const auto snap = store_->snapshot();
  ASSERT_EQ(snap.signing_keys.size(), 1u);
  EXPECT_EQ(snap.signing_keys[0].public_key, created.key.public_key());
}

// A signing key that others can read is a leaked key: refuse it, and say how to fix it.
TEST_F(SigningKeys, RefusesAKeyOthersCanRead) {
  const auto created = create_signing_key(dir_, *store_, 100);
  const auto path = dir_.signing_keys() / (created.kid + ".key");
  for (mode_t mode : {0644, 0640, 0604, 0660}) {
    ASSERT_EQ(::chmod(path.c_str(), mode), 0);
    try {
      load_signing_key(dir_, created.kid);
      ADD_FAILURE() << "mode " << std::oct << mode << " accepted";
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find("readable by others"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("chmod 600"), std::string::npos) << e.what();
    }
  }
  ASSERT_EQ(::chmod(path.c_str(), 0400), 0);
  EXPECT_NO_THROW(load_signing_key(dir_, created.kid));
}

TEST_F(SigningKeys, MissingOrMalformedFilesAreClearErrors) {
  EXPECT_THROW(load_signing_key(dir_, "nope"), std::runtime_error);
  const auto path = dir_.signing_keys() / "bad.key";
  FILE* f = std::fopen(path.c_str(), "w");
  std::fputs("not a key\n", f);
  std::fclose(f);
  ::chmod(path.c_str(), 0600);
  EXPECT_THROW(load_signing_key(dir_, "bad"), std::runtime_error);
}

// Rotation: the new key signs; the old one stays published until its last token expired.
TEST_F(SigningKeys, RotateRetiresAndKeepsPublishing) {
  const auto first = create_signing_key(dir_, *store_, 100);
  const auto second = rotate_signing_key(dir_, *store_, 200, 3700);
  const auto keys = store_->snapshot().signing_keys;
  ASSERT_EQ(keys.size(), 2u);
  const auto active = active_signing_key(keys, local_signing_kids(dir_));
  ASSERT_TRUE(active);
  EXPECT_EQ(active->kid, second.kid);
  for (const auto& k : keys) {
    if (k.kid != first.kid) continue;
    ASSERT_TRUE(k.retired_at);
    EXPECT_EQ(*k.retired_at, 200);
    ASSERT_TRUE(k.publish_until);
    EXPECT_EQ(*k.publish_until, 3900);
    EXPECT_TRUE(still_published(k, 3899));
    EXPECT_FALSE(still_published(k, 3900));
  }
}

TEST(ActiveSigningKey, NewestUnretiredLocalWins) {
  store::SigningKeyRecord a{"a", {}, 10, std::nullopt, std::nullopt, {}, std::nullopt};
  store::SigningKeyRecord b{"b", {}, 20, std::nullopt, std::nullopt, {}, std::nullopt};
  store::SigningKeyRecord c{"c", {}, 30, 31, 100, {}, std::nullopt};
  store::SigningKeyRecord d{"d", {}, 40, std::nullopt, std::nullopt, {}, std::nullopt};  // another node's
  EXPECT_EQ(active_signing_key({a, b, c, d}, {"a", "b", "c"})->kid, "b");
  EXPECT_EQ(active_signing_key({a, b, c, d}, {"a", "c"})->kid, "a");
  EXPECT_FALSE(active_signing_key({c, d}, {"c"}));
  EXPECT_FALSE(active_signing_key({a, b}, {}));
  EXPECT_FALSE(active_signing_key({}, {"a"}));
}

// Two nodes share one store, each with its own data directory: each signs with its own key,
// and a rotation on one retires only that node's key.
TEST_F(SigningKeys, EachNodeSignsAndRotatesItsOwn) {
  const auto other_root = std::filesystem::temp_directory_path() / ("bouncer-sk-" + crypto::random_base64url(8));
  const DataDir other = prepare_data_dir(other_root);
  const auto mine = create_signing_key(dir_, *store_, 100);
  const auto theirs = create_signing_key(other, *store_, 150);  // newer, but not ours
  EXPECT_EQ(local_signing_kids(dir_), std::set<std::string>{mine.kid});
  EXPECT_EQ(active_signing_key(store_->snapshot().signing_keys, local_signing_kids(dir_))->kid, mine.kid);
  EXPECT_EQ(active_signing_key(store_->snapshot().signing_keys, local_signing_kids(other))->kid, theirs.kid);

  const auto fresh = rotate_signing_key(dir_, *store_, 200, 3700);
  for (const auto& k : store_->snapshot().signing_keys) {
    EXPECT_EQ(k.retired_at.has_value(), k.kid == mine.kid) << k.kid;
  }
  EXPECT_EQ(active_signing_key(store_->snapshot().signing_keys, local_signing_kids(dir_))->kid, fresh.kid);
  EXPECT_EQ(active_signing_key(store_->snapshot().signing_keys, local_signing_kids(other))->kid, theirs.kid);
  std::filesystem::remove_all(other_root);
}

}  // namespace
}  // namespace bouncer::admin
