// libFuzzer target for the token layer's untrusted-input parsers. Each input goes to:
//   1. token::verify with a fixed key (kid "fuzz"); an accepted token must re-sign and
//      re-verify to the same claims (verify never accepts what sign would refuse);
//   2. json::parse_strict; an accepted document must serialize and re-parse to the same value
//      (non-integers within a few ulps: Boost.JSON 1.81 does not always round decimal input
//      correctly, e.g. 19e31, so its own output can re-parse one ulp away);
//   3. base64url_decode; an accepted text must re-encode to exactly itself (one spelling per
//      byte string).
// Seeds: tests/fuzz/corpus/jwt/ (valid tokens signed with the key below, and near-misses).
#include "json/strict.h"
#include "token/base64url.h"
#include "token/jwt.h"

#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

namespace {

using namespace bouncer;

const crypto::SecretKey& fuzz_key() {
  static const crypto::SecretKey key = [] {
    crypto::Seed seed{};
    seed.fill(0x5A);
    return crypto::SecretKey(seed);
  }();
  return key;
}

const token::VerifyOptions& fuzz_options() {
  static const token::VerifyOptions options{"https://bouncer.fuzz", "bouncer"};
  return options;
}

const token::KeyLookup& fuzz_lookup() {
  static const token::KeyLookup lookup = [](std::string_view kid) -> const crypto::PublicKey* {
    return kid == "fuzz" ? &fuzz_key().public_key() : nullptr;
  };
  return lookup;
}

void check_verify(std::string_view input) {
  const token::Verified v = token::verify(input, fuzz_lookup(), fuzz_options());
  if (v.detail.empty()) __builtin_trap();
  if (v.status != token::Status::ok) return;
  if (v.kid != "fuzz") __builtin_trap();
  // sign() throws on claims it would not emit; an accepted token's claims must all be signable.
  const std::string again = token::sign(v.claims, v.kid, fuzz_key());
  const token::Verified v2 = token::verify(again, fuzz_lookup(), fuzz_options());
  if (v2.status != token::Status::ok || !(v2.claims == v.claims)) __builtin_trap();
  (void)token::check_time(v.claims, 1700000000, 30);
}

bool same_value(const boost::json::value& a, const boost::json::value& b) {
  if (a.is_double() && b.is_double()) {
    const double x = a.get_double();
    const double y = b.get_double();
    return x == y || std::fabs(x - y) <= 4 * std::numeric_limits<double>::epsilon() * std::fmax(std::fabs(x), std::fabs(y));
  }
  if (a.kind() != b.kind()) return false;
  if (a.is_array()) {
    const auto& x = a.get_array();
    const auto& y = b.get_array();
    if (x.size() != y.size()) return false;
    for (std::size_t i = 0; i < x.size(); ++i) {
      if (!same_value(x[i], y[i])) return false;
    }
    return true;
  }
  if (a.is_object()) {
    const auto& x = a.get_object();
    const auto& y = b.get_object();
    if (x.size() != y.size()) return false;
    for (auto i = x.begin(), j = y.begin(); i != x.end(); ++i, ++j) {
      if (i->key() != j->key() || !same_value(i->value(), j->value())) return false;
    }
    return true;
  }
  return a == b;
}

void check_json(std::string_view input) {
  const json::ParseResult r = json::parse_strict(input);
  if (!r.value) {
    if (r.error.empty()) __builtin_trap();
    return;
  }
  json::Limits unbounded;
  unbounded.max_bytes = std::numeric_limits<std::size_t>::max();
  const std::string text = boost::json::serialize(*r.value);
  const json::ParseResult again = json::parse_strict(text, unbounded);
  if (!again.value || !same_value(*again.value, *r.value)) __builtin_trap();
}

void check_base64url(std::string_view input) {
  const auto decoded = token::base64url_decode(input);
  if (decoded && token::base64url_encode(*decoded) != input) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  check_verify(input);
  check_json(input);
  check_base64url(input);
  return 0;
}
