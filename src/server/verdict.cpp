#include "server/verdict.h"

#include <optional>
#include <utility>

namespace bouncer::server {
namespace {

std::optional<policy::KeyStanding> standing(const store::KeyRecord* key) {
  if (!key) return std::nullopt;
  return policy::KeyStanding{key->id, key->revoked_at.has_value()};
}

}  // namespace

token::Verified verify_against(const State& state, const Options& options, std::string_view jwt) {
  const token::VerifyOptions verify_options{options.public_url, options.public_url};
  return token::verify(jwt, [&state](std::string_view kid) { return state.find_public_key(kid); }, verify_options);
}

policy::AdmissionFacts admission_facts(const State& state, const Options& options, bool state_fresh, std::int64_t now,
                                       TokenVerifier verify) {
  policy::AdmissionFacts facts;
  facts.state_fresh = state_fresh;
  facts.key_by_secret = [&state](std::string_view secret) { return standing(state.find_key_by_secret(secret)); };
  facts.key_by_id = [&state](std::string_view id) { return standing(state.find_key(id)); };
  if (verify) {
    facts.verify_token = std::move(verify);
  } else {
    facts.verify_token = [&state, &options](std::string_view jwt) { return verify_against(state, options, jwt); };
  }
  facts.serves_model = [&options](std::string_view model) { return options.find_model(model) != nullptr; };
  facts.now = now;
  facts.leeway_seconds = options.leeway_seconds;
  return facts;
}

}  // namespace bouncer::server
