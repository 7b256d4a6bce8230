// policy::parse_mint_options on the body bench/mint.lua sends.
#include "fixtures.h"
#include "policy/mint_options.h"

#include <benchmark/benchmark.h>

#include <variant>

namespace {

using namespace bouncer;

void BM_policy_parse_mint_options(benchmark::State& state) {
  const policy::ModelExists model_exists = [](std::string_view name) { return name == "demo" || name == "echo"; };
  const policy::MintLimits limits;
  if (!std::holds_alternative<policy::MintOptions>(policy::parse_mint_options(bench::kMintBody, model_exists, limits))) {
    state.SkipWithError("typical body refused");
    return;
  }
  for (auto _ : state) {
    auto parsed = policy::parse_mint_options(bench::kMintBody, model_exists, limits);
    benchmark::DoNotOptimize(parsed);
  }
  state.SetLabel(std::to_string(bench::kMintBody.size()) + " B body");
}
BENCHMARK(BM_policy_parse_mint_options);

void BM_policy_parse_mint_options_empty(benchmark::State& state) {
  const policy::ModelExists model_exists = [](std::string_view name) { return name == "demo" || name == "echo"; };
  const policy::MintLimits limits;
  for (auto _ : state) {
    auto parsed = policy::parse_mint_options("", model_exists, limits);
    benchmark::DoNotOptimize(parsed);
  }
}
BENCHMARK(BM_policy_parse_mint_options_empty);

}  // namespace
