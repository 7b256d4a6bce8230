// The behaviour every Store engine must have (docs/ARCHITECTURE.md), written once as a value-parameterised
// GoogleTest suite. An engine's test file instantiates it with an Engine:
//
//   INSTANTIATE_TEST_SUITE_P(Sqlite, StoreSuite, ::testing::Values(Engine{...}), engine_name);
//
// Each test gets a fresh, empty temporary directory; `open` is called on it once or several
// times (several instances on the same directory stand for several processes).
#pragma once

#include "store/store.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <system_error>

namespace bouncer::store::testing {

struct Engine {
  std::string name;
  // Opens (creating if needed) the store that lives in `dir`. Two calls on the same `dir`
  // must reach the same state, as two processes would.
  std::function<std::unique_ptr<Store>(const std::filesystem::path& dir)> open;
  // How many group-commit transactions `store` has committed so far; leave empty when the
  // engine cannot tell (the batching assertion is then skipped).
  std::function<std::uint64_t(Store& store)> commits;
};

void PrintTo(const Engine& engine, std::ostream* os);
std::string engine_name(const ::testing::TestParamInfo<Engine>& info);

// A new empty directory under the system's temporary directory; unique per call.
std::filesystem::path make_temp_dir(const std::string& prefix);
// Removes `dir` and everything in it, restoring write permission first where needed.
void remove_temp_dir(const std::filesystem::path& dir);

// Records whose fields are all distinct and derived from `n`.
KeyRecord make_key(int n, std::int64_t created_at = 1'700'000'000);
SigningKeyRecord make_signing_key(int n, std::int64_t created_at = 1'700'000'000);
TokenRecord make_token(const std::string& jti, const std::string& key_id,
                       std::int64_t expires_at = 1'700'000'600);

// Calls record_token and waits for its `done` (fails the test if it never runs).
std::error_code record_and_wait(Store& store, TokenRecord record,
                                std::chrono::seconds timeout = std::chrono::seconds(30));

class StoreSuite : public ::testing::TestWithParam<Engine> {
 protected:
  void SetUp() override;
  void TearDown() override;
  std::unique_ptr<Store> open() const { return GetParam().open(dir_); }

  std::filesystem::path dir_;
};

}  // namespace bouncer::store::testing
