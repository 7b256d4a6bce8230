// The only file in Bouncer that includes <sodium.h>: every primitive below is a thin,
// checked wrapper over libsodium so the rest of the code never sees a raw C API.
#include "crypto/crypto.h"

#include <sodium.h>

#include <array>
#include <cstring>

#include <stdexcept>
#include <vector>

namespace bouncer::crypto {

static_assert(crypto_sign_PUBLICKEYBYTES == kPublicKeyBytes);
static_assert(crypto_sign_SEEDBYTES == kSeedBytes);
static_assert(crypto_sign_BYTES == kSignatureBytes);
static_assert(crypto_sign_SECRETKEYBYTES == 64);
static_assert(crypto_generichash_BYTES == std::tuple_size_v<Digest>);

namespace {

// sodium_init() is itself idempotent and thread-safe; the function-local static makes the
// common path a single guard check. Every entry point calls this, so callers that forget
// init() still get a correctly seeded RNG.
void ensure_init() {
  static const int rc = sodium_init();  // 0: initialised now, 1: already, -1: failure
  if (rc < 0) {
    throw std::runtime_error("libsodium could not be initialised (sodium_init failed)");
  }
}

}  // namespace

void init() { ensure_init(); }

SecretKey::SecretKey(const Seed& seed) {
  ensure_init();
  if (crypto_sign_seed_keypair(public_.data(), bytes_.data(), seed.data()) != 0) {
    throw std::runtime_error("crypto_sign_seed_keypair failed");
  }
}

SecretKey::~SecretKey() { wipe(bytes_); }

Seed SecretKey::seed() const {
  Seed out{};
  // libsodium's secret key is seed || public key.
  crypto_sign_ed25519_sk_to_seed(out.data(), bytes_.data());
  return out;
}

Signature SecretKey::sign(std::string_view message) const {
  ensure_init();
  Signature sig{};
  crypto_sign_detached(sig.data(), nullptr, reinterpret_cast<const unsigned char*>(message.data()),
                       message.size(), bytes_.data());
  return sig;
}

SecretKey generate_key() {
  Seed seed{};
  random_bytes(seed);
  SecretKey key(seed);
  wipe(seed);
  return key;
}

bool verify(const PublicKey& key, std::string_view message, std::span<const std::uint8_t> signature) {
  // A truncated or padded signature is never "close enough" (Wycheproof tests both).
  if (signature.size() != kSignatureBytes) return false;
  ensure_init();
  // libsodium 1.0.18 rejects non-canonical S (malleability, RFC 8032 §5.1.7 step 1),
  // small-order R and small-order / non-canonical public keys.
  return crypto_sign_verify_detached(signature.data(),
                                     reinterpret_cast<const unsigned char*>(message.data()),
                                     message.size(), key.data()) == 0;
}

void random_bytes(std::span<std::uint8_t> out) {
  if (out.empty()) return;
  ensure_init();
  // Ids and nonces are drawn on every mint and session: take them from a per-thread pool
  // refilled from the OS a kilobyte at a time, not one getrandom() system call each. The
  // bytes are the OS's all the same; each is handed out once and wiped as it leaves. (The
  // process never forks without exec, so no two processes share a pool.)
  constexpr std::size_t kPool = 1024;
  constexpr std::size_t kFromPoolAtMost = 64;
  if (out.size() > kFromPoolAtMost) return randombytes_buf(out.data(), out.size());
  thread_local std::array<std::uint8_t, kPool> pool{};
  thread_local std::size_t left = 0;
  if (left < out.size()) {
    randombytes_buf(pool.data(), pool.size());
    left = pool.size();
  }
  std::uint8_t* from = pool.data() + (pool.size() - left);
  std::memcpy(out.data(), from, out.size());
  sodium_memzero(from, out.size());
  left -= out.size();
}

std::string random_base64url(std::size_t bytes) {
  ensure_init();
  std::vector<std::uint8_t> raw(bytes);  // NOLINT: ids are short; a vector keeps any size right
  random_bytes(raw);
  constexpr int variant = sodium_base64_VARIANT_URLSAFE_NO_PADDING;
  const std::size_t encoded_len = sodium_base64_ENCODED_LEN(bytes, variant);  // includes NUL
  std::string out(encoded_len, '\0');
  sodium_bin2base64(out.data(), out.size(), raw.data(), raw.size(), variant);
  out.resize(encoded_len - 1);
  wipe(raw);  // the caller may use the result as a secret; leave no copy of its source
  return out;
}

Digest hash(std::string_view data) {
  ensure_init();
  Digest out{};
  crypto_generichash(out.data(), out.size(), reinterpret_cast<const unsigned char*>(data.data()),
                     data.size(), nullptr, 0);
  return out;
}

bool equal_constant_time(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b) {
  // Lengths are not secret (a hash or a fixed-size key); contents are. Different lengths
  // answer false without looking at any byte.
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

bool equal_constant_time(std::string_view a, std::string_view b) {
  return equal_constant_time(
      std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(a.data()), a.size()),
      std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(b.data()), b.size()));
}

void wipe(std::span<std::uint8_t> data) {
  if (data.empty()) return;
  sodium_memzero(data.data(), data.size());
}

}  // namespace bouncer::crypto
