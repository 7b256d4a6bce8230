// origin::check on what a mint body carries: an already canonical origin (the common case,
// accepted), and non-canonical ones (rejected with the canonical form in the message).
#include "origin/origin.h"

#include <benchmark/benchmark.h>

#include <string>

namespace {

using namespace bouncer;

void run_check(benchmark::State& state, const std::string& input, origin::Verdict expected) {
  if (origin::check(input).verdict != expected) {
    state.SkipWithError("unexpected verdict");
    return;
  }
  for (auto _ : state) {
    auto result = origin::check(input);
    benchmark::DoNotOptimize(result);
  }
}

void BM_origin_check_canonical(benchmark::State& state) {
  run_check(state, "https://app.example.com", origin::Verdict::canonical);
}
BENCHMARK(BM_origin_check_canonical);

// Upper case, default port and a trailing slash: repaired to https://app.example.com.
void BM_origin_check_not_canonical(benchmark::State& state) {
  run_check(state, "HTTPS://App.Example.COM:443/", origin::Verdict::not_canonical);
}
BENCHMARK(BM_origin_check_not_canonical);

// An IDN host: goes through IDNA (ICU) to reach its punycode form.
void BM_origin_check_not_canonical_idn(benchmark::State& state) {
  run_check(state, "https://bücher.example", origin::Verdict::not_canonical);
}
BENCHMARK(BM_origin_check_not_canonical_idn);

}  // namespace
