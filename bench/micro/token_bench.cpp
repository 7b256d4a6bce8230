// Full JWT sign (JSON + base64url + Ed25519) and full strict verify of a typical token.
#include "fixtures.h"

#include <benchmark/benchmark.h>

namespace {

using namespace bouncer;

void BM_token_sign(benchmark::State& state) {
  const auto claims = bench::typical_claims();
  const auto& key = bench::signing_key();
  for (auto _ : state) {
    auto jwt = token::sign(claims, bench::kKid, key);
    benchmark::DoNotOptimize(jwt);
  }
  state.SetLabel(std::to_string(bench::typical_token().size()) + " B token");
}
BENCHMARK(BM_token_sign);

void BM_token_verify(benchmark::State& state) {
  const std::string& jwt = bench::typical_token();
  const crypto::PublicKey pub = bench::signing_key().public_key();
  const token::KeyLookup lookup = [&](std::string_view kid) -> const crypto::PublicKey* {
    return kid == bench::kKid ? &pub : nullptr;
  };
  const token::VerifyOptions options{"http://127.0.0.1:8080", "http://127.0.0.1:8080"};
  if (token::verify(jwt, lookup, options).status != token::Status::ok) {
    state.SkipWithError("typical token did not verify");
    return;
  }
  for (auto _ : state) {
    auto verified = token::verify(jwt, lookup, options);
    benchmark::DoNotOptimize(verified);
  }
}
BENCHMARK(BM_token_verify);

}  // namespace
