// The facts a verdict on a credential reads (policy::AdmissionFacts), taken from one snapshot
// of the state. The door and `bouncer tokens inspect` both judge through here and through
// policy::judge_admission, so they cannot disagree: only where the snapshot comes from differs
// (the door's cache, kept current by the state poll; the store itself, read by the CLI).
#pragma once

#include "policy/admission.h"
#include "server/options.h"
#include "server/state.h"
#include "token/jwt.h"

#include <cstdint>
#include <functional>
#include <string_view>

namespace bouncer::server {

using TokenVerifier = std::function<token::Verified(std::string_view jwt)>;

// token::verify against the state's published signing keys, with the options' public URL as
// the required issuer and audience.
token::Verified verify_against(const State& state, const Options& options, std::string_view jwt);

// `state` and `options` must outlive the facts. `verify` replaces verify_against (the door
// remembers verifications); empty, verify_against is used.
policy::AdmissionFacts admission_facts(const State& state, const Options& options, bool state_fresh, std::int64_t now,
                                       TokenVerifier verify = {});

}  // namespace bouncer::server
