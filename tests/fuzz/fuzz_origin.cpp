// libFuzzer target for origin::check(): no crash, no sanitizer report, and these invariants:
// - canonical  <=> the answer's `canonical` is the input itself, with no problem given;
// - not_canonical: a problem is given, and `canonical` is an ASCII http(s) origin that check()
//   accepts as canonical (the suggestion a 400 message makes is one the server would take);
// - the URL parser's repairs do not move the origin: surrounding spaces or a trailing "/"
//   change the verdict at most, never the origin (the slash only after a visible character:
//   "http://h " + "/" puts the space inside the host);
// - invalid: no origin, a problem given.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "origin/origin.h"

namespace {

using bouncer::origin::Check;
using bouncer::origin::Verdict;

[[noreturn]] void fail(const char* what, std::string_view input, const Check& got) {
  std::fprintf(stderr, "invariant broken: %s\n  input size %zu\n  verdict %d canonical \"%s\" problem \"%s\"\n",
               what, input.size(), static_cast<int>(got.verdict), got.canonical.c_str(), got.problem.c_str());
  std::abort();
}

bool is_ascii_origin(std::string_view s) {
  if (!(s.starts_with("http://") || s.starts_with("https://"))) return false;
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7F) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const Check got = bouncer::origin::check(input);

  switch (got.verdict) {
    case Verdict::invalid:
      if (!got.canonical.empty()) fail("invalid with an origin", input, got);
      if (got.problem.empty()) fail("invalid without a problem", input, got);
      return 0;
    case Verdict::canonical:
      if (got.canonical != input) fail("canonical but not the input", input, got);
      if (!got.problem.empty()) fail("canonical with a problem", input, got);
      break;
    case Verdict::not_canonical:
      if (got.canonical == input) fail("not_canonical but equal to the input", input, got);
      if (got.problem.empty()) fail("not_canonical without a problem", input, got);
      break;
  }
  if (!is_ascii_origin(got.canonical)) fail("origin is not ASCII http(s)", input, got);

  const Check again = bouncer::origin::check(got.canonical);
  if (again.verdict != Verdict::canonical || again.canonical != got.canonical) {
    fail("the origin suggested is not itself canonical", input, again);
  }

  if (input.size() + 2 <= bouncer::origin::kMaxInputLength) {
    const Check padded = bouncer::origin::check(" " + std::string(input) + "\t");
    if (padded.verdict != Verdict::not_canonical || padded.canonical != got.canonical) {
      fail("surrounding whitespace moved the origin", input, padded);
    }
    if (static_cast<unsigned char>(input.back()) > 0x20) {
      const Check slashed = bouncer::origin::check(std::string(input) + "/");
      if (slashed.verdict != Verdict::not_canonical || slashed.canonical != got.canonical) {
        fail("a trailing slash moved the origin", input, slashed);
      }
    }
  }
  return 0;
}
