#include "admin/api_keys.h"

#include "crypto/crypto.h"

#include <stdexcept>

namespace bouncer::admin {
namespace {

constexpr std::size_t kSecretRandomBytes = 32;  // 256 bits (docs/TOKENS.md)
constexpr std::size_t kShownPrefixLength = 11;  // "sk_" + 8 characters

std::string hex(std::span<const std::uint8_t> bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (auto b : bytes) {
    out.push_back(digits[b >> 4]);
    out.push_back(digits[b & 0xf]);
  }
  return out;
}

void validate_name(std::string_view name) {
  if (name.empty() || name.size() > kMaxKeyNameLength) {
    throw std::invalid_argument("key name must be 1 to 64 characters");
  }
  for (unsigned char c : name) {
    if (c < 0x20 || c == 0x7f) throw std::invalid_argument("key name must not contain control characters");
  }
}

}  // namespace

NewApiKey create_api_key(store::Store& store, std::string_view name, std::int64_t now) {
  validate_name(name);
  std::array<std::uint8_t, 8> id_bytes{};
  crypto::random_bytes(id_bytes);

  NewApiKey key;
  key.secret = std::string(kPermanentKeyPrefix) + crypto::random_base64url(kSecretRandomBytes);
  key.record.id = "key_" + hex(id_bytes);
  key.record.name = std::string(name);
  key.record.prefix = key.secret.substr(0, kShownPrefixLength);
  key.record.secret_hash = crypto::hash(key.secret);
  key.record.created_at = now;
  store.create_key(key.record);
  return key;
}

}  // namespace bouncer::admin
