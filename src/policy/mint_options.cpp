// Validation of the options of POST /v1/client/tokens and POST /v1/client/urls (docs/API.md).
//
// Evaluation order (the first problem found is the one reported, so the answer to a given
// body is deterministic):
//   1. body size (> limits.max_body_bytes: 413 "body_too_large");
//   2. empty / JSON-whitespace-only body: all defaults, done;
//   3. strict JSON parse ("duplicate_key", else "invalid_json"), then "must be an object"
//      ("invalid_body");
//   4. unknown top-level fields, in body order ("unknown_field");
//   5. the known fields in this fixed order, whatever their order in the body:
//        model (urls only) → expiresIn → allowedModels → allowedOrigins → constraints → metadata
//        → maxUses;
//      inside an array: its type, its size, then each entry in index order (type, emptiness,
//      length, existence / canonical form, duplicate of an earlier entry); inside
//      constraints: its type, unknown keys, realtime (type, unknown keys, maxSessionDuration,
//      maxConcurrentSessions: its range 1-1000, then the server's --max-sessions-per-token);
//      inside metadata: type, key count, nesting depth, non-finite numbers, serialized size;
//   6. cross-field rule (urls only): `model` must be one of `allowedModels` when both are given.
//
// `null` for an optional field (expiresIn, allowedModels, allowedOrigins, constraints,
// constraints.realtime, constraints.realtime.maxSessionDuration,
// constraints.realtime.maxConcurrentSessions, metadata, maxUses) means the field is
// absent: clients that serialise unset options as null (`{"expiresIn": null}`) get the
// defaults. `model` on the urls endpoint is required, so `null` there is "missing_field".
//
// Integers: a JSON number with a fraction or exponent (60.0, 1.5, 6e1) is not an integer
// ("invalid_type"), except that a number too large for a 64-bit integer is reported as
// "out_of_range" however it is written (it is outside every range we accept); so is a number
// too large for a double (1e400), in an integer field or in metadata. Messages quote numbers
// as the client wrote them ("got 6e1", not "got 60.0"). The one exception to the order above:
// a number whose exponent does not even fit the JSON parser (1e2147483648) stops the parse,
// and is answered "out_of_range" at once.
#include "policy/mint_options.h"

#include "json/strict.h"
#include "origin/origin.h"

#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cmath>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace bouncer::policy {
namespace {

using boost::json::array;
using boost::json::object;
using boost::json::value;

constexpr std::string_view kModel = "model";
constexpr std::string_view kExpiresIn = "expiresIn";
constexpr std::string_view kAllowedModels = "allowedModels";
constexpr std::string_view kAllowedOrigins = "allowedOrigins";
constexpr std::string_view kConstraints = "constraints";
constexpr std::string_view kMetadata = "metadata";
constexpr std::string_view kRealtime = "realtime";
constexpr std::string_view kMaxSessionDuration = "maxSessionDuration";
constexpr std::string_view kMaxConcurrentSessions = "maxConcurrentSessions";
constexpr std::string_view kMaxUses = "maxUses";

constexpr std::array<std::string_view, 6> kTokenFields{kExpiresIn,   kAllowedModels, kAllowedOrigins,
                                                       kConstraints, kMetadata,      kMaxUses};
constexpr std::array<std::string_view, 7> kUrlFields{kModel,       kExpiresIn, kAllowedModels, kAllowedOrigins,
                                                     kConstraints, kMetadata,  kMaxUses};

constexpr std::string_view kOriginExample = R"("https://app.example.com" or "http://localhost:3000")";

using Error = std::optional<ApiError>;

Error fail(std::string code, std::string message, std::string param) {
  return ApiError::invalid_request(std::move(code), std::move(message), std::move(param));
}

// Quotes user input for a message: JSON-style escaping (so control characters stay visible
// and harmless), cut after `max_bytes` on a UTF-8 boundary with an ellipsis.
std::string quote(std::string_view s, std::size_t max_bytes = 256) {
  bool cut = false;
  if (s.size() > max_bytes) {
    std::size_t n = max_bytes;
    while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;  // don't split a code point
    s = s.substr(0, n);
    cut = true;
  }
  std::string out;
  out.reserve(s.size() + 8);
  out += '"';
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20 || u == 0x7F) {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\u00";
      out += kHex[u >> 4];
      out += kHex[u & 0xF];
    } else {
      out += c;
    }
  }
  if (cut) out += "\xE2\x80\xA6";  // …
  out += '"';
  return out;
}

// "254 characters" for ASCII, "300 bytes" otherwise (limits count bytes).
std::string length_of(std::string_view s) {
  const bool ascii = std::all_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
  return std::to_string(s.size()) + (ascii ? " characters" : " bytes");
}

std::string join(std::span<const std::string_view> names) {
  std::string out;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i) out += ", ";
    out += names[i];
  }
  return out;
}

std::string format_double(double d);

// A number's text for a message, cut when absurdly long (JSON allows 60,000 digits).
std::string shown_number(std::string_view text) {
  constexpr std::size_t kMaxShown = 64;
  if (text.size() <= kMaxShown) return std::string(text);
  return std::string(text.substr(0, kMaxShown)) + "\xE2\x80\xA6";  // …
}

// A number for a message, as the client wrote it, else as it prints.
std::string number_text(const value& v, const json::NumberTexts& numbers) {
  if (const std::string* text = numbers.find(v)) return shown_number(*text);
  if (v.is_int64()) return std::to_string(v.get_int64());
  if (v.is_uint64()) return std::to_string(v.get_uint64());
  return format_double(v.get_double());
}

// The integer a JSON number's text denotes when it is whole and fits 64 bits: "6e1" is 60,
// "1.50e1" is 15; "1.5" and "1e-400" are not whole (the double of 1e-400 is 0.0, whole).
std::optional<std::int64_t> whole_value(std::string_view text) {
  const bool negative = text.starts_with('-');
  if (negative) text.remove_prefix(1);
  std::string digits;
  std::int64_t exponent = 0;
  std::size_t i = 0;
  const auto digit = [&](std::size_t k) { return k < text.size() && text[k] >= '0' && text[k] <= '9'; };
  for (; digit(i); ++i) digits += text[i];
  if (i < text.size() && text[i] == '.') {
    for (++i; digit(i); ++i) {
      digits += text[i];
      --exponent;
    }
  }
  if (i < text.size() && (text[i] == 'e' || text[i] == 'E')) {
    ++i;
    const bool exponent_negative = i < text.size() && text[i] == '-';
    if (i < text.size() && (text[i] == '-' || text[i] == '+')) ++i;
    std::int64_t e = 0;
    for (; digit(i); ++i) e = std::min<std::int64_t>(e * 10 + (text[i] - '0'), std::int64_t{1} << 40);
    exponent += exponent_negative ? -e : e;
  }
  const std::size_t first = digits.find_first_not_of('0');
  if (first == std::string::npos) return 0;
  digits.erase(0, first);
  while (digits.back() == '0') {
    digits.pop_back();
    ++exponent;
  }
  if (exponent < 0) return std::nullopt;  // a fraction is left
  if (static_cast<std::int64_t>(digits.size()) + exponent > 19) return std::nullopt;  // >= 10^19
  std::uint64_t n = 0;
  for (const char c : digits) n = n * 10 + static_cast<std::uint64_t>(c - '0');
  for (std::int64_t k = 0; k < exponent; ++k) n *= 10;
  constexpr auto kMax = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
  if (n > kMax + (negative ? 1 : 0)) return std::nullopt;
  if (negative) return n == kMax + 1 ? std::numeric_limits<std::int64_t>::min() : -static_cast<std::int64_t>(n);
  return static_cast<std::int64_t>(n);
}

std::string format_double(double d) {
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d > 0 ? "a number too large to represent" : "a number too small to represent";
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, d);
  if (ec != std::errc{}) return "a number";
  std::string s(buf, end);
  if (s.find_first_of(".eE") == std::string::npos) s += ".0";
  return s;
}

// What a value is, for "got …" in messages.
std::string describe(const value& v, const json::NumberTexts& numbers) {
  switch (v.kind()) {
    case boost::json::kind::null:
      return "null";
    case boost::json::kind::bool_:
      return v.get_bool() ? "the boolean true" : "the boolean false";
    case boost::json::kind::int64:
    case boost::json::kind::uint64:
    case boost::json::kind::double_:
      return number_text(v, numbers);
    case boost::json::kind::string:
      return "the string " + quote(v.get_string(), 64);
    case boost::json::kind::array:
      return "an array";
    case boost::json::kind::object:
      return "an object";
  }
  return "a value";
}

// For "must be a <type>, got …" when the value has the wrong type.
std::string describe_wrong(const value& v, const json::NumberTexts& numbers) {
  return (v.is_number() ? "the number " : "") + describe(v, numbers);
}

std::string index_param(std::string_view field, std::size_t i) {
  return std::string(field) + "[" + std::to_string(i) + "]";
}

// "metadata.user" for a name that reads as one, else metadata["a b"].
std::string member_param(std::string_view parent, std::string_view key) {
  const bool plain = !key.empty() && key.size() <= 64 && !(key[0] >= '0' && key[0] <= '9') &&
                     std::all_of(key.begin(), key.end(), [](char c) {
                       return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
                     });
  if (parent.empty()) return plain ? std::string(key) : "[" + quote(key, 64) + "]";
  return std::string(parent) + (plain ? "." + std::string(key) : "[" + quote(key, 64) + "]");
}

std::string path_param(const json::Path& path) {
  std::string out;
  for (const json::PathItem& item : path) {
    if (const auto* key = std::get_if<std::string>(&item)) {
      out = member_param(out, *key);
    } else {
      out = index_param(out, std::get<std::size_t>(item));
    }
  }
  return out;
}

// Lower-case, without '_' and '-': "expires_in", "ExpiresIn" and "expiresin" all match "expiresIn".
std::string fold(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '_' || c == '-') continue;
    out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

Error unknown_field(std::string_view key, std::string_view where, std::span<const std::string_view> allowed,
                    std::string_view extra_hint = {}) {
  const std::string param = where.empty() ? std::string(key) : std::string(where) + "." + std::string(key);
  std::string msg = "unknown field " + quote(param);
  if (!extra_hint.empty()) {
    msg += " (";
    msg += extra_hint;
    msg += ")";
  } else {
    const std::string folded = fold(key);
    for (std::string_view a : allowed) {
      if (!folded.empty() && fold(a) == folded) {
        msg += " (did you mean \"" + std::string(a) + "\"?)";
        break;
      }
    }
  }
  msg += "; allowed fields";
  if (!where.empty()) msg += " in " + std::string(where);
  msg += " are: " + join(allowed);
  return fail("unknown_field", std::move(msg), param);
}

// Refuses keys of `obj` that are not in `allowed` (body order).
Error only_known_keys(const object& obj, std::string_view where, std::span<const std::string_view> allowed) {
  for (const auto& kv : obj) {
    const std::string_view key = kv.key();
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) return unknown_field(key, where, allowed);
  }
  return std::nullopt;
}

// An integer option within [lo, hi]; `unit` completes "must be an integer between lo and hi ___".
std::variant<std::int64_t, ApiError> read_integer(const value& v, const json::NumberTexts& numbers,
                                                  const std::string& param, std::int64_t lo, std::int64_t hi,
                                                  std::string_view unit) {
  const std::string rule = param + " must be an integer between " + std::to_string(lo) + " and " + std::to_string(hi) +
                           " " + std::string(unit);
  auto out_of_range = [&] { return *fail("out_of_range", rule + ", got " + describe(v, numbers), param); };
  switch (v.kind()) {
    case boost::json::kind::int64: {
      const std::int64_t n = v.get_int64();
      if (n < lo || n > hi) return out_of_range();
      return n;
    }
    case boost::json::kind::uint64: {
      const std::uint64_t n = v.get_uint64();
      if (n > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) return out_of_range();
      const auto s = static_cast<std::int64_t>(n);
      if (s < lo || s > hi) return out_of_range();
      return s;
    }
    case boost::json::kind::double_: {
      const double d = v.get_double();
      // 2^63: beyond it no 64-bit integer; report the range, the more useful hint. So for a
      // number too large for a double (1e400: infinity here).
      if (!std::isfinite(d) || std::fabs(d) >= 9223372036854775808.0) return out_of_range();
      std::string msg = rule + ", got " + describe(v, numbers);
      const std::string* text = numbers.find(v);
      std::optional<std::int64_t> whole = text ? whole_value(*text) : std::nullopt;
      if (!text && d == std::trunc(d)) whole = static_cast<std::int64_t>(d);
      if (whole) {
        msg += ", a number written with a decimal point or exponent; write it as " + std::to_string(*whole);
      } else {
        msg += ", which is not a whole number";
      }
      return *fail("invalid_type", std::move(msg), param);
    }
    default:
      return *fail("invalid_type", rule + ", got " + describe(v, numbers), param);
  }
}

class Parser {
 public:
  Parser(const ModelExists& model_exists, const MintLimits& limits, MintEndpoint endpoint,
         const json::NumberTexts& numbers)
      : model_exists_(model_exists), limits_(limits), endpoint_(endpoint), numbers_(numbers) {}

  Error parse(const object& body, MintOptions& out) {
    out.expires_in = limits_.default_expires_in;
    const std::span<const std::string_view> allowed = endpoint_ == MintEndpoint::urls
                                                          ? std::span<const std::string_view>(kUrlFields)
                                                          : std::span<const std::string_view>(kTokenFields);
    for (const auto& kv : body) {
      const std::string_view key = kv.key();
      if (std::find(allowed.begin(), allowed.end(), key) != allowed.end()) continue;
      if (key == kModel) {
        return unknown_field(key, {}, allowed,
                             "model is only accepted by POST /v1/client/urls; to restrict the models a token may "
                             "open, use allowedModels");
      }
      return unknown_field(key, {}, allowed);
    }

    if (endpoint_ == MintEndpoint::urls) {
      const value* v = body.if_contains(kModel);
      if (!v || v->is_null()) {
        return fail("missing_field", "model is required: the name of the model the signed URL opens", "model");
      }
      if (Error e = check_model_name(*v, "model")) return e;
      out.model = std::string(v->get_string());
    }
    if (const value* v = present(body, kExpiresIn)) {
      auto r = read_integer(*v, numbers_, std::string(kExpiresIn), limits_.min_expires_in, limits_.max_expires_in,
                            "seconds");
      if (auto* e = std::get_if<ApiError>(&r)) return std::move(*e);
      out.expires_in = std::get<std::int64_t>(r);
    }
    if (const value* v = present(body, kAllowedModels)) {
      if (Error e = parse_models(*v, out)) return e;
    }
    if (const value* v = present(body, kAllowedOrigins)) {
      if (Error e = parse_origins(*v, out)) return e;
    }
    if (const value* v = present(body, kConstraints)) {
      if (Error e = parse_constraints(*v, out)) return e;
    }
    if (const value* v = present(body, kMetadata)) {
      if (Error e = parse_metadata(*v, out)) return e;
    }
    if (const value* v = present(body, kMaxUses)) {
      auto r = read_integer(*v, numbers_, std::string(kMaxUses), limits_.min_uses, limits_.max_uses, "admissions");
      if (auto* e = std::get_if<ApiError>(&r)) return std::move(*e);
      out.max_uses = std::get<std::int64_t>(r);
    }

    if (out.model && out.allowed_models &&
        std::find(out.allowed_models->begin(), out.allowed_models->end(), *out.model) == out.allowed_models->end()) {
      return fail("model_not_allowed",
                  "model " + quote(*out.model) +
                      " is not in allowedModels: a signed URL for it could never be used; add it to allowedModels "
                      "or omit allowedModels",
                  "model");
    }
    return std::nullopt;
  }

 private:
  // The field's value, or nullptr when it is absent or null (null means absent).
  static const value* present(const object& obj, std::string_view key) {
    const value* v = obj.if_contains(key);
    return v && !v->is_null() ? v : nullptr;
  }

  Error check_model_name(const value& v, const std::string& param) const {
    if (!v.is_string())
      return fail("invalid_type", param + " must be a string (a model name), got " + describe_wrong(v, numbers_),
                  param);
    const std::string_view name = v.get_string();
    if (name.empty()) return fail("empty_value", param + " must be a model name, got the empty string", param);
    if (name.size() > limits_.max_model_name_length) {
      return fail("model_name_too_long",
                  param + " is " + length_of(name) + " long; a model name has at most " +
                      std::to_string(limits_.max_model_name_length) + " characters",
                  param);
    }
    if (!model_exists_ || !model_exists_(name)) {
      return fail("unknown_model", param + ": " + quote(name) + " is not a model this server serves", param);
    }
    return std::nullopt;
  }

  // Type and size of allowedModels / allowedOrigins.
  Error check_list(const value& v, std::string_view field, std::string_view entry_kind, std::string_view every,
                   std::size_t max) const {
    const std::string f(field);
    if (!v.is_array()) {
      return fail("invalid_type",
                  f + " must be an array of " + std::string(entry_kind) + ", got " + describe_wrong(v, numbers_), f);
    }
    const array& a = v.get_array();
    if (a.empty()) {
      return fail(
          "empty_array",
          f + " must list at least one " + std::string(every) + ": omit the field to allow every " + std::string(every),
          f);
    }
    if (a.size() > max) {
      return fail("too_many_entries",
                  f + " has " + std::to_string(a.size()) + " entries; at most " + std::to_string(max) + " are allowed",
                  f);
    }
    return std::nullopt;
  }

  static Error check_duplicate(const std::vector<std::string>& earlier, std::string_view s, std::string_view field,
                               std::size_t i) {
    const auto it = std::find(earlier.begin(), earlier.end(), s);
    if (it == earlier.end()) return std::nullopt;
    const std::string param = index_param(field, i);
    return fail("duplicate_entry",
                param + ": " + quote(s) + " is already listed at " +
                    index_param(field, static_cast<std::size_t>(it - earlier.begin())) + "; list each entry once",
                param);
  }

  Error parse_models(const value& v, MintOptions& out) const {
    if (Error e = check_list(v, kAllowedModels, "model names", "model", limits_.max_models)) return e;
    std::vector<std::string> models;
    const array& a = v.get_array();
    for (std::size_t i = 0; i < a.size(); ++i) {
      const std::string param = index_param(kAllowedModels, i);
      if (Error e = check_model_name(a[i], param)) return e;
      const std::string_view name = a[i].get_string();
      if (Error e = check_duplicate(models, name, kAllowedModels, i)) return e;
      models.emplace_back(name);
    }
    out.allowed_models = std::move(models);
    return std::nullopt;
  }

  Error check_origin(const value& v, const std::string& param) const {
    if (!v.is_string()) {
      return fail(
          "invalid_type",
          param + " must be a string (an origin such as " + std::string(kOriginExample) + "), got " +
              describe_wrong(v, numbers_),
          param);
    }
    const std::string_view s = v.get_string();
    if (s.size() > limits_.max_origin_length) {
      return fail("origin_too_long",
                  param + " is " + length_of(s) + " long; an origin has at most " +
                      std::to_string(limits_.max_origin_length) + " characters",
                  param);
    }
    const origin::Check c = origin::check(s);
    switch (c.verdict) {
      case origin::Verdict::canonical:
        return std::nullopt;
      case origin::Verdict::not_canonical:
        if (!c.canonical.empty()) {
          std::string msg = quote(s) + " is not a canonical origin";
          if (!c.problem.empty()) msg += " (" + c.problem + ")";
          msg += ": use " + quote(c.canonical, 1024);
          if (c.canonical.size() > limits_.max_origin_length) {
            msg += ", although that is longer than the " + std::to_string(limits_.max_origin_length) +
                   " characters an origin may have";
          }
          return fail("origin_not_canonical", std::move(msg), param);
        }
        break;  // no canonical form to suggest: report it as invalid
      case origin::Verdict::invalid:
        break;
    }
    std::string msg = quote(s) + " is not a valid origin";
    msg += " (" + (c.problem.empty() ? std::string("not an http or https URL") : c.problem) + ")";
    msg += ": an origin is a scheme, a host and an optional port, such as " + std::string(kOriginExample);
    return fail("invalid_origin", std::move(msg), param);
  }

  Error parse_origins(const value& v, MintOptions& out) const {
    if (Error e = check_list(v, kAllowedOrigins, "origins", "origin", limits_.max_origins)) return e;
    std::vector<std::string> origins;
    const array& a = v.get_array();
    for (std::size_t i = 0; i < a.size(); ++i) {
      if (Error e = check_origin(a[i], index_param(kAllowedOrigins, i))) return e;
      const std::string_view s = a[i].get_string();
      if (Error e = check_duplicate(origins, s, kAllowedOrigins, i)) return e;
      origins.emplace_back(s);
    }
    out.allowed_origins = std::move(origins);
    return std::nullopt;
  }

  Error parse_constraints(const value& v, MintOptions& out) const {
    static constexpr std::array<std::string_view, 1> kConstraintFields{kRealtime};
    static constexpr std::array<std::string_view, 2> kRealtimeFields{kMaxSessionDuration, kMaxConcurrentSessions};
    const std::string where(kConstraints);
    if (!v.is_object()) {
      return fail(
          "invalid_type",
          where + " must be an object such as {\"realtime\": {\"maxSessionDuration\": 600}}, got " +
              describe_wrong(v, numbers_),
          where);
    }
    const object& c = v.get_object();
    if (Error e = only_known_keys(c, where, kConstraintFields)) return e;
    const value* rt = present(c, kRealtime);
    if (!rt) return std::nullopt;  // {} or {"realtime": null}: no constraint
    const std::string rt_where = where + "." + std::string(kRealtime);
    if (!rt->is_object()) {
      return fail("invalid_type",
                  rt_where + " must be an object such as {\"maxSessionDuration\": 600}, got " +
                      describe_wrong(*rt, numbers_),
                  rt_where);
    }
    const object& r = rt->get_object();
    if (Error e = only_known_keys(r, rt_where, kRealtimeFields)) return e;
    if (const value* d = present(r, kMaxSessionDuration)) {
      auto res = read_integer(*d, numbers_, rt_where + "." + std::string(kMaxSessionDuration), limits_.min_session_duration,
                              limits_.max_session_duration, "seconds");
      if (auto* e = std::get_if<ApiError>(&res)) return std::move(*e);
      out.max_session_duration = std::get<std::int64_t>(res);
    }
    if (const value* n = present(r, kMaxConcurrentSessions)) {
      if (Error e = parse_concurrent_sessions(*n, rt_where + "." + std::string(kMaxConcurrentSessions), out)) return e;
    }
    return std::nullopt;
  }

  // The contract's range first, then this server's ceiling: a token asking for more than the
  // server would ever admit is refused at mint time, not silently capped at the door.
  Error parse_concurrent_sessions(const value& v, const std::string& param, MintOptions& out) const {
    auto res = read_integer(v, numbers_, param, limits_.min_concurrent_sessions, limits_.max_concurrent_sessions, "sessions");
    if (auto* e = std::get_if<ApiError>(&res)) return std::move(*e);
    const std::int64_t n = std::get<std::int64_t>(res);
    const std::int64_t ceiling = limits_.concurrent_sessions_ceiling;
    if (ceiling > 0 && n > ceiling) {
      return fail("out_of_range",
                  param + " is " + std::to_string(n) + ", above this server's ceiling of " + std::to_string(ceiling) +
                      " live sessions per token (its --max-sessions-per-token): ask for at most " +
                      std::to_string(ceiling) + ", or omit it to get " + std::to_string(ceiling),
                  param);
    }
    out.max_concurrent_sessions = n;
    return std::nullopt;
  }

  // Nesting depth of a metadata value: a scalar is 0, an object or array 1 + its deepest
  // member. Stops descending past `limit` (the answer is then just "> limit").
  static std::size_t depth(const value& v, std::size_t limit) {
    if (limit == 0) return v.is_structured() ? 1 : 0;
    std::size_t deepest = 0;
    if (v.is_object()) {
      for (const auto& kv : v.get_object()) deepest = std::max(deepest, depth(kv.value(), limit - 1));
    } else if (v.is_array()) {
      for (const value& e : v.get_array()) deepest = std::max(deepest, depth(e, limit - 1));
    } else {
      return 0;
    }
    return deepest + 1;
  }

  struct Found {
    const value* number;
    std::string param;
  };

  // The first number too large for a double (1e400 is infinity here), in document order.
  static std::optional<Found> first_non_finite(const value& v, const std::string& param) {
    if (v.is_double() && !std::isfinite(v.get_double())) return Found{&v, param};
    if (v.is_object()) {
      for (const auto& kv : v.get_object()) {
        if (auto f = first_non_finite(kv.value(), member_param(param, kv.key()))) return f;
      }
    } else if (v.is_array()) {
      const array& a = v.get_array();
      for (std::size_t i = 0; i < a.size(); ++i) {
        if (auto f = first_non_finite(a[i], index_param(param, i))) return f;
      }
    }
    return std::nullopt;
  }

  Error parse_metadata(const value& v, MintOptions& out) const {
    const std::string f(kMetadata);
    if (!v.is_object()) {
      return fail("invalid_type", f + " must be a JSON object of key-value pairs, got " + describe_wrong(v, numbers_),
                  f);
    }
    const std::string limits_text = "metadata may have at most " + std::to_string(limits_.max_metadata_keys) +
                                    " top-level keys, " + std::to_string(limits_.max_metadata_depth) +
                                    " levels of nesting and " + std::to_string(limits_.max_metadata_bytes) +
                                    " bytes as JSON";
    const object& m = v.get_object();
    if (m.size() > limits_.max_metadata_keys) {
      return fail("metadata_too_large", limits_text + "; it has " + std::to_string(m.size()) + " keys", f);
    }
    const std::size_t d = depth(v, limits_.max_metadata_depth);
    if (d > limits_.max_metadata_depth) {
      return fail(
          "metadata_too_large",
          limits_text + "; it is nested more than " + std::to_string(limits_.max_metadata_depth) + " levels deep", f);
    }
    if (const auto found = first_non_finite(v, f)) {
      return fail("out_of_range",
                  found->param + " is " + number_text(*found->number, numbers_) +
                      ", a number too large to represent (beyond about 1.8e308): metadata may hold only finite numbers",
                  found->param);
    }
    const std::size_t bytes = boost::json::serialize(m).size();
    if (bytes > limits_.max_metadata_bytes) {
      return fail("metadata_too_large", limits_text + "; it is " + std::to_string(bytes) + " bytes", f);
    }
    out.metadata = m;
    return std::nullopt;
  }

  const ModelExists& model_exists_;
  const MintLimits& limits_;
  MintEndpoint endpoint_;
  const json::NumberTexts& numbers_;
};

ApiError unreadable_number(const json::UnreadableNumber& n) {
  const std::string shown = shown_number(n.text);
  if (n.path.empty()) {
    return ApiError::invalid_request(
        "out_of_range", "the request body is the number " + shown +
                            ", too large to represent; it must be a JSON object of options");
  }
  const std::string param = path_param(n.path);
  return *fail("out_of_range", param + " is " + shown + ", a number too large to represent", param);
}

bool json_whitespace_only(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; });
}

bool mentions_duplicate(std::string_view error) {
  static constexpr std::string_view kWord = "duplicate";
  const auto it = std::search(error.begin(), error.end(), kWord.begin(), kWord.end(),
                              [](char a, char b) { return std::tolower(static_cast<unsigned char>(a)) == b; });
  return it != error.end();
}

}  // namespace

std::variant<MintOptions, ApiError> parse_mint_options(std::string_view body, const ModelExists& model_exists,
                                                       const MintLimits& limits, MintEndpoint endpoint) {
  if (body.size() > limits.max_body_bytes) {
    ApiError e = ApiError::invalid_request("body_too_large",
                                           "the request body is " + std::to_string(body.size()) + " bytes; at most " +
                                               std::to_string(limits.max_body_bytes) + " are accepted");
    e.http_status = 413;
    return e;
  }

  MintOptions out;
  out.expires_in = limits.default_expires_in;
  object empty;
  const object* obj = &empty;
  std::optional<value> parsed;
  json::NumberTexts numbers;
  if (!json_whitespace_only(body)) {
    json::Limits jl;
    jl.max_bytes = limits.max_body_bytes;
    // Deep enough for metadata's own limit (body → metadata → its levels); deeper than that
    // is refused by the parser.
    jl.max_depth = std::max<std::size_t>(jl.max_depth, limits.max_metadata_depth + 2);
    jl.keep_number_text = true;
    json::ParseResult r = json::parse_strict(body, jl);
    if (r.unreadable_number) return unreadable_number(*r.unreadable_number);
    if (!r.value) {
      // json::parse_strict reports "invalid JSON: <why>"; <why> starts "duplicate key" for
      // a repeated member name (at any depth).
      std::string_view why = r.error;
      if (why.starts_with("invalid JSON: ")) why.remove_prefix(std::string_view("invalid JSON: ").size());
      if (why.empty()) why = "malformed JSON";
      if (mentions_duplicate(why)) {
        return ApiError::invalid_request("duplicate_key", "the request body has a " + std::string(why) +
                                                              ": each key may appear only once in an object");
      }
      return ApiError::invalid_request("invalid_json", "the request body is not valid JSON: " + std::string(why));
    }
    parsed = std::move(r.value);
    numbers = json::NumberTexts(*parsed, std::move(r.number_texts));  // `parsed` stays put from here
    if (!parsed->is_object()) {
      return ApiError::invalid_request(
          "invalid_body",
          "the request body must be a JSON object of options (or empty), got " + describe_wrong(*parsed, numbers));
    }
    obj = &parsed->get_object();
  }

  Parser p(model_exists, limits, endpoint, numbers);
  if (Error e = p.parse(*obj, out)) return std::move(*e);
  return out;
}

}  // namespace bouncer::policy
