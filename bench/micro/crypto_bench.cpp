// Ed25519 over a typical JWT signing input: libsodium itself, and our thin wrapper.
#include "fixtures.h"

#include <benchmark/benchmark.h>
#include <sodium.h>

#include <cstdint>

namespace {

using namespace bouncer;

// The baseline of BENCHMARKS.md ("one libsodium signature"): crypto_sign_detached, no wrapper.
void BM_libsodium_sign(benchmark::State& state) {
  if (sodium_init() < 0) state.SkipWithError("sodium_init failed");
  unsigned char pk[crypto_sign_PUBLICKEYBYTES];
  unsigned char sk[crypto_sign_SECRETKEYBYTES];
  unsigned char seed[crypto_sign_SEEDBYTES] = {1, 2, 3, 4, 5, 6, 7, 8};
  crypto_sign_seed_keypair(pk, sk, seed);
  const std::string_view msg = bench::typical_signing_input();
  unsigned char sig[crypto_sign_BYTES];
  for (auto _ : state) {
    crypto_sign_detached(sig, nullptr, reinterpret_cast<const unsigned char*>(msg.data()), msg.size(), sk);
    benchmark::DoNotOptimize(sig);
    benchmark::ClobberMemory();
  }
  state.SetLabel(std::to_string(msg.size()) + " B message");
}
BENCHMARK(BM_libsodium_sign);

void BM_crypto_sign(benchmark::State& state) {
  const auto& key = bench::signing_key();
  const std::string_view msg = bench::typical_signing_input();
  for (auto _ : state) {
    auto sig = key.sign(msg);
    benchmark::DoNotOptimize(sig);
  }
  state.SetLabel(std::to_string(msg.size()) + " B message");
}
BENCHMARK(BM_crypto_sign);

void BM_crypto_verify(benchmark::State& state) {
  const auto& key = bench::signing_key();
  const std::string_view msg = bench::typical_signing_input();
  const auto sig = key.sign(msg);
  const auto& pub = key.public_key();
  for (auto _ : state) {
    bool ok = crypto::verify(pub, msg, sig);
    benchmark::DoNotOptimize(ok);
  }
  if (!crypto::verify(pub, msg, sig)) state.SkipWithError("signature did not verify");
}
BENCHMARK(BM_crypto_verify);

// Other per-mint crypto: the jti (16 random bytes, base64url) and the sk_ hash that
// authenticates the caller (BLAKE2b-256 of the secret).
void BM_crypto_random_jti(benchmark::State& state) {
  crypto::init();
  for (auto _ : state) {
    auto jti = crypto::random_base64url(16);
    benchmark::DoNotOptimize(jti);
  }
}
BENCHMARK(BM_crypto_random_jti);

void BM_crypto_hash_sk_key(benchmark::State& state) {
  const std::string secret = "sk_" + std::string(43, 'A');  // "sk_" + base64url(32 bytes)
  for (auto _ : state) {
    auto digest = crypto::hash(secret);
    benchmark::DoNotOptimize(digest);
  }
}
BENCHMARK(BM_crypto_hash_sk_key);

}  // namespace
