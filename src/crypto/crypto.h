// Ed25519, randomness, hashing and constant-time comparison: the only layer that knows
// libsodium (crypto.cpp is the only file that includes <sodium.h>).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace bouncer::crypto {

inline constexpr std::size_t kPublicKeyBytes = 32;
inline constexpr std::size_t kSeedBytes = 32;
inline constexpr std::size_t kSignatureBytes = 64;

using PublicKey = std::array<std::uint8_t, kPublicKeyBytes>;
using Seed = std::array<std::uint8_t, kSeedBytes>;
using Signature = std::array<std::uint8_t, kSignatureBytes>;
using Digest = std::array<std::uint8_t, 32>;

// Initialises libsodium once; throws std::runtime_error if the library cannot start.
void init();

// An Ed25519 private key (libsodium's 64-byte seed||public form). Wiped on destruction.
class SecretKey {
 public:
  SecretKey() = default;
  explicit SecretKey(const Seed& seed);  // derives the key pair from a 32-byte seed
  SecretKey(const SecretKey&) = default;
  SecretKey& operator=(const SecretKey&) = default;
  ~SecretKey();

  const PublicKey& public_key() const { return public_; }
  Seed seed() const;  // for writing the key file; handle with care
  Signature sign(std::string_view message) const;

 private:
  std::array<std::uint8_t, 64> bytes_{};
  PublicKey public_{};
};

// A fresh key pair from the OS's randomness.
SecretKey generate_key();

// True when `signature` is a valid Ed25519 signature of `message` under `key`.
// Any signature whose size is not 64 bytes is refused.
bool verify(const PublicKey& key, std::string_view message, std::span<const std::uint8_t> signature);

void random_bytes(std::span<std::uint8_t> out);

// `bytes` random bytes encoded as base64url without padding.
std::string random_base64url(std::size_t bytes);

// BLAKE2b-256 of `data`: how permanent-key secrets are stored (they carry 256 bits of
// randomness, so a fast hash suffices; no password KDF is needed).
Digest hash(std::string_view data);

// Compares in time that depends only on the length.
bool equal_constant_time(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b);
bool equal_constant_time(std::string_view a, std::string_view b);

// Overwrites `data` with zeros in a way the optimiser keeps.
void wipe(std::span<std::uint8_t> data);

}  // namespace bouncer::crypto
