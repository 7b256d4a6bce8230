// Fuzzes parse_mint_options with arbitrary bodies, on both endpoints.
// Invariants: never crashes; the same body always gets the same answer; an error is a
// well-formed ApiError (400, or 413 only for an oversized body); accepted options obey every
// limit, and re-encoding them as a body is accepted again with the same result.
#include "origin/origin.h"
#include "policy/mint_options.h"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <boost/json/value_from.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <set>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace {

using bouncer::policy::ApiError;
using bouncer::policy::MintEndpoint;
using bouncer::policy::MintLimits;
using bouncer::policy::MintOptions;

bool known_model(std::string_view name) { return name == "echo" || name == "demo" || name == "gpt-realtime"; }

void require(bool ok) {
  if (!ok) std::abort();
}

bool unique(const std::vector<std::string>& v) { return std::set<std::string>(v.begin(), v.end()).size() == v.size(); }

std::size_t depth(const boost::json::value& v) {
  std::size_t d = 0;
  if (v.is_object()) {
    for (const auto& kv : v.get_object()) d = std::max(d, depth(kv.value()));
    return d + 1;
  }
  if (v.is_array()) {
    for (const auto& e : v.get_array()) d = std::max(d, depth(e));
    return d + 1;
  }
  return 0;
}

// Equal, except that doubles may differ in their last bits: Boost.JSON 1.81's parser is not
// correctly rounded, so serialise → parse can move a double by an ulp or so.
bool near_equal(const boost::json::value& a, const boost::json::value& b) {
  if (a.is_double() && b.is_double()) {
    const double x = a.get_double();
    const double y = b.get_double();
    return x == y || std::fabs(x - y) <= 1e-12 * std::max(std::fabs(x), std::fabs(y));
  }
  if (a.kind() != b.kind()) return false;
  if (a.is_array()) {
    const auto& p = a.get_array();
    const auto& q = b.get_array();
    if (p.size() != q.size()) return false;
    for (std::size_t i = 0; i < p.size(); ++i) {
      if (!near_equal(p[i], q[i])) return false;
    }
    return true;
  }
  if (a.is_object()) {
    const auto& p = a.get_object();
    const auto& q = b.get_object();
    if (p.size() != q.size()) return false;
    for (const auto& kv : p) {
      const auto* other = q.if_contains(kv.key());
      if (!other || !near_equal(kv.value(), *other)) return false;
    }
    return true;
  }
  return a == b;
}

// True when serialise → parse moves a double in the metadata so that it serialises longer
// than the metadata byte limit: the re-encoded body is then rightly refused.
bool drifts_past_limit(const MintOptions& o, const MintLimits& l) {
  if (!o.metadata) return false;
  const boost::json::value reparsed = boost::json::parse(boost::json::serialize(*o.metadata));
  return boost::json::serialize(reparsed).size() > l.max_metadata_bytes;
}

std::string encode(const MintOptions& o) {
  boost::json::object body;
  body["expiresIn"] = o.expires_in;
  if (o.allowed_models) body["allowedModels"] = boost::json::value_from(*o.allowed_models);
  if (o.allowed_origins) body["allowedOrigins"] = boost::json::value_from(*o.allowed_origins);
  if (o.max_session_duration || o.max_concurrent_sessions) {
    boost::json::object realtime;
    if (o.max_session_duration) realtime["maxSessionDuration"] = *o.max_session_duration;
    if (o.max_concurrent_sessions) realtime["maxConcurrentSessions"] = *o.max_concurrent_sessions;
    body["constraints"] = boost::json::object{{"realtime", std::move(realtime)}};
  }
  if (o.metadata) body["metadata"] = *o.metadata;
  if (o.model) body["model"] = *o.model;
  return boost::json::serialize(body);
}

void check_options(const MintOptions& o, const MintLimits& l, MintEndpoint ep) {
  require(o.expires_in >= l.min_expires_in && o.expires_in <= l.max_expires_in);
  if (o.allowed_models) {
    require(!o.allowed_models->empty() && o.allowed_models->size() <= l.max_models);
    for (const auto& m : *o.allowed_models) {
      require(!m.empty() && m.size() <= l.max_model_name_length && known_model(m));
    }
    require(unique(*o.allowed_models));
  }
  if (o.allowed_origins) {
    require(!o.allowed_origins->empty() && o.allowed_origins->size() <= l.max_origins);
    for (const auto& s : *o.allowed_origins) {
      require(s.size() <= l.max_origin_length);
      require(bouncer::origin::check(s).verdict == bouncer::origin::Verdict::canonical);
    }
    require(unique(*o.allowed_origins));
  }
  if (o.max_session_duration) {
    require(*o.max_session_duration >= l.min_session_duration && *o.max_session_duration <= l.max_session_duration);
  }
  if (o.max_concurrent_sessions) {
    require(*o.max_concurrent_sessions >= l.min_concurrent_sessions &&
            *o.max_concurrent_sessions <= l.max_concurrent_sessions);
    require(l.concurrent_sessions_ceiling == 0 || *o.max_concurrent_sessions <= l.concurrent_sessions_ceiling);
  }
  if (o.metadata) {
    require(o.metadata->size() <= l.max_metadata_keys);
    require(depth(boost::json::value(*o.metadata)) <= l.max_metadata_depth);
    require(boost::json::serialize(*o.metadata).size() <= l.max_metadata_bytes);
  }
  if (ep == MintEndpoint::tokens) {
    require(!o.model);
  } else {
    require(o.model && known_model(*o.model));
    if (o.allowed_models) {
      require(std::find(o.allowed_models->begin(), o.allowed_models->end(), *o.model) != o.allowed_models->end());
    }
  }
}

void check_error(const ApiError& e, std::size_t body_size, const MintLimits& l) {
  require(e.type == "invalid_request_error");
  require(!e.code.empty() && !e.message.empty());
  if (e.http_status == 413) {
    require(e.code == "body_too_large" && body_size > l.max_body_bytes);
  } else {
    require(e.http_status == 400);
  }
}

void run(std::string_view body, MintEndpoint ep, const MintLimits& l) {
  const auto r = bouncer::policy::parse_mint_options(body, known_model, l, ep);
  const auto again = bouncer::policy::parse_mint_options(body, known_model, l, ep);
  require(r.index() == again.index());
  if (const auto* e = std::get_if<ApiError>(&r)) {
    check_error(*e, body.size(), l);
    const auto& e2 = std::get<ApiError>(again);
    require(e->code == e2.code && e->message == e2.message && e->param == e2.param);
    return;
  }
  const MintOptions& o = std::get<MintOptions>(r);
  require(o == std::get<MintOptions>(again));
  check_options(o, l, ep);
  // Round trip: the options, re-encoded, are accepted and mean the same — unless that drift
  // (see near_equal) lengthens the metadata's serialization past its byte limit.
  const std::string encoded = encode(o);
  if (encoded.size() <= l.max_body_bytes && !drifts_past_limit(o, l)) {
    const auto back = bouncer::policy::parse_mint_options(encoded, known_model, l, ep);
    require(std::holds_alternative<MintOptions>(back));
    MintOptions b = std::get<MintOptions>(back);
    require(b.metadata.has_value() == o.metadata.has_value());
    if (o.metadata) require(near_equal(boost::json::value(*b.metadata), boost::json::value(*o.metadata)));
    b.metadata = o.metadata;
    require(b == o);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  static const MintLimits defaults{};
  run(body, MintEndpoint::tokens, defaults);
  run(body, MintEndpoint::urls, defaults);
  // Tight limits reach every bound with small inputs.
  static const MintLimits tight = [] {
    MintLimits l;
    l.min_expires_in = 5;
    l.max_expires_in = 50;
    l.default_expires_in = 7;
    l.max_models = 2;
    l.max_model_name_length = 4;
    l.max_origins = 2;
    l.max_origin_length = 30;
    l.min_session_duration = 10;
    l.max_session_duration = 20;
    l.concurrent_sessions_ceiling = 3;
    l.max_metadata_bytes = 40;
    l.max_metadata_keys = 3;
    l.max_metadata_depth = 2;
    l.max_body_bytes = 512;
    return l;
  }();
  run(body, MintEndpoint::tokens, tight);
  return 0;
}
