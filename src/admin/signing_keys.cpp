#include "admin/signing_keys.h"

#include "token/base64url.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace bouncer::admin {
namespace {

std::filesystem::path key_file(const DataDir& dir, const std::string& kid) {
  return dir.signing_keys() / (kid + ".key");
}

[[noreturn]] void fail(const std::string& what, const std::filesystem::path& path) {
  throw std::runtime_error(what + " " + path.string() + ": " + std::strerror(errno));
}

void write_private_file(const std::filesystem::path& path, const std::string& content) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) fail("cannot create signing key file", path);
  const bool ok = ::write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size()) && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) fail("cannot write signing key file", path);
  // The directory entry must be durable too, or a crash could lose a key whose public half
  // the store already publishes.
  const int dfd = ::open(path.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

}  // namespace

SigningKey create_signing_key(const DataDir& dir, store::Store& store, std::int64_t now) {
  SigningKey out{crypto::random_base64url(12), crypto::generate_key()};
  const auto seed = out.key.seed();
  std::string content = token::base64url_encode(seed) + "\n";
  write_private_file(key_file(dir, out.kid), content);
  crypto::wipe({reinterpret_cast<std::uint8_t*>(content.data()), content.size()});

  store::SigningKeyRecord record;
  record.kid = out.kid;
  record.public_key = out.key.public_key();
  record.created_at = now;
  store.add_signing_key(record);
  return out;
}

crypto::SecretKey load_signing_key(const DataDir& dir, const std::string& kid) {
  const auto path = key_file(dir, kid);
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) fail("cannot read signing key file", path);
  if ((st.st_mode & 077) != 0) {
    std::ostringstream msg;
    msg << "refusing signing key file " << path.string() << ": it is readable by others (mode 0" << std::oct
        << (st.st_mode & 0777) << "); run: chmod 600 " << path.string();
    throw std::runtime_error(msg.str());
  }
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  auto seed_bytes = token::base64url_decode(line);
  crypto::wipe({reinterpret_cast<std::uint8_t*>(line.data()), line.size()});
  if (!seed_bytes || seed_bytes->size() != crypto::kSeedBytes) {
    throw std::runtime_error("signing key file " + path.string() + " is malformed");
  }
  crypto::Seed seed{};
  std::copy(seed_bytes->begin(), seed_bytes->end(), reinterpret_cast<char*>(seed.data()));
  crypto::wipe({reinterpret_cast<std::uint8_t*>(seed_bytes->data()), seed_bytes->size()});
  crypto::SecretKey key(seed);
  crypto::wipe(seed);
  return key;
}

std::set<std::string> local_signing_kids(const DataDir& dir) {
  std::set<std::string> kids;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir.signing_keys(), ec)) {
    const auto& path = entry.path();
    if (path.extension() == ".key") kids.insert(path.stem().string());
  }
  if (ec) throw std::runtime_error("cannot list " + dir.signing_keys().string() + ": " + ec.message());
  return kids;
}

std::optional<store::SigningKeyRecord> active_signing_key(const std::vector<store::SigningKeyRecord>& keys,
                                                          const std::set<std::string>& local_kids) {
  std::optional<store::SigningKeyRecord> best;
  for (const auto& k : keys) {
    if (k.retired_at || !local_kids.contains(k.kid)) continue;
    if (!best || k.created_at > best->created_at || (k.created_at == best->created_at && k.kid > best->kid)) best = k;
  }
  return best;
}

bool still_published(const store::SigningKeyRecord& key, std::int64_t now) {
  return !key.retired_at || !key.publish_until || *key.publish_until > now;
}

SigningKey rotate_signing_key(const DataDir& dir, store::Store& store, std::int64_t now,
                              std::int64_t publish_grace_seconds) {
  const auto before = store.snapshot().signing_keys;
  const auto mine = local_signing_kids(dir);
  auto fresh = create_signing_key(dir, store, now);
  for (const auto& k : before) {
    if (!k.retired_at && mine.contains(k.kid)) store.retire_signing_key(k.kid, now, now + publish_grace_seconds);
  }
  return fresh;
}

}  // namespace bouncer::admin
