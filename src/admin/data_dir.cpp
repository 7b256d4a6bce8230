#include "admin/data_dir.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

namespace bouncer::admin {
namespace {

void make_private_dir(const std::filesystem::path& dir) {
  if (::mkdir(dir.c_str(), 0700) == 0) return;
  if (errno == EEXIST && std::filesystem::is_directory(dir)) return;
  throw std::runtime_error("cannot create directory " + dir.string() + ": " + std::strerror(errno));
}

}  // namespace

DataDir prepare_data_dir(const std::filesystem::path& root) {
  std::error_code ec;
  if (!root.parent_path().empty() && !std::filesystem::exists(root.parent_path(), ec)) {
    throw std::runtime_error("cannot create data directory " + root.string() + ": parent directory does not exist");
  }
  DataDir dir{root};
  make_private_dir(dir.root);
  make_private_dir(dir.signing_keys());
  return dir;
}

}  // namespace bouncer::admin
