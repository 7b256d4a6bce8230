// The data directory: where the SQLite database and the private signing keys live.
#pragma once

#include <filesystem>

namespace bouncer::admin {

struct DataDir {
  std::filesystem::path root;

  std::filesystem::path database() const { return root / "bouncer.db"; }
  std::filesystem::path signing_keys() const { return root / "signing-keys"; }
};

// Creates the directory and its signing-keys folder (mode 0700) when missing; throws
// std::runtime_error naming the path when it cannot.
DataDir prepare_data_dir(const std::filesystem::path& root);

}  // namespace bouncer::admin
