// Every metric Bouncer exposes, declared once. Adding one is one line in BOUNCER_METRICS (and,
// for a new label, one list below); the catalog declares it, renders it with its HELP and
// TYPE, and docs/OPERATIONS.md describes it.
//
// Labels have bounded values only: outcomes, reasons, causes and directions are the fixed lists
// below; models come from the configuration. Never a key id, a token or an address.
#pragma once

#include "metrics/counter.h"
#include "metrics/exposition.h"

#include <array>
#include <cstddef>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace bouncer::metrics {

// ---- label values ----

// How a mint request (POST /v1/client/tokens or /v1/client/urls) ended: issued, or the error
// code it was refused with; every 400 of the mint options is `invalid_request`.
#define BOUNCER_MINT_OUTCOMES(X)                                                                             \
  X(issued) X(invalid_request) X(unsupported_media_type) X(missing_api_key) X(invalid_api_key)             \
  X(client_token_cannot_mint) X(api_key_revoked) X(rate_limited) X(no_signing_key) X(store_unavailable)     \
  X(other)

// Why the door refused a session: the log's `session_refused` reason without its `refused_`.
#define BOUNCER_REFUSAL_REASONS(X)                                                                            \
  X(invalid_api_key) X(token_revoked) X(token_expired) X(unknown_model) X(model_not_allowed)                 \
  X(origin_not_allowed) X(capacity) X(token_capacity) X(upstream_unavailable) X(shutting_down) X(store_unavailable)           \
  X(address_penalised) X(token_used_up) X(resume_in_use) X(resume_not_allowed)

// Why a relayed session ended.
#define BOUNCER_END_CAUSES(X)                                                                                 \
  X(client_closed) X(upstream_closed) X(client_error) X(upstream_error) X(message_too_big) X(protocol_error)  \
  X(max_session_duration) X(revoked) X(shutdown) X(ended_by_server)

#define BOUNCER_DIRECTIONS(X) X(client_to_upstream) X(upstream_to_client)

#define BOUNCER_METRICS_ENUMERATOR(name) name,
#define BOUNCER_METRICS_STRING(name) std::string_view(#name),
enum class MintOutcome : std::size_t { BOUNCER_MINT_OUTCOMES(BOUNCER_METRICS_ENUMERATOR) };
enum class EndCause : std::size_t { BOUNCER_END_CAUSES(BOUNCER_METRICS_ENUMERATOR) };
enum class Direction : std::size_t { BOUNCER_DIRECTIONS(BOUNCER_METRICS_ENUMERATOR) };
inline constexpr std::array kMintOutcomes{BOUNCER_MINT_OUTCOMES(BOUNCER_METRICS_STRING)};
inline constexpr std::array kRefusalReasons{BOUNCER_REFUSAL_REASONS(BOUNCER_METRICS_STRING)};
inline constexpr std::array kEndCauses{BOUNCER_END_CAUSES(BOUNCER_METRICS_STRING)};
inline constexpr std::array kDirections{BOUNCER_DIRECTIONS(BOUNCER_METRICS_STRING)};
#undef BOUNCER_METRICS_ENUMERATOR
#undef BOUNCER_METRICS_STRING

// ---- bucket bounds ----

// 0.5 ms to 10 s, in nanoseconds: a mint is a signature plus a commit (an fsync, or a round trip
// to Redis); an admission may wait for the upstream's handshake (up to its connect timeout).
inline constexpr std::array<std::uint64_t, 14> kLatencyBoundsNs{
    500'000,     1'000'000,     2'500'000,     5'000'000,     10'000'000,    25'000'000,    50'000'000,
    100'000'000, 250'000'000,   500'000'000,   1'000'000'000, 2'500'000'000, 5'000'000'000, 10'000'000'000};
inline constexpr double kNanosecondsPerSecond = 1e9;
// Records per group commit: 1 to the writer's cap (1024).
inline constexpr std::array<std::uint64_t, 11> kBatchBounds{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024};

// ---- families with labels ----

// One counter per label value, the values fixed when declared.
template <std::size_t N>
class CounterFamily {
 public:
  CounterFamily(std::string_view label, const std::array<std::string_view, N>& values) : label_(label), values_(values) {}

  template <class Enum>
  Counter& operator[](Enum value) noexcept {
    return counters_[static_cast<std::size_t>(value)];
  }
  // The counter of `value`, or nullptr when it is not one of the declared values.
  Counter* find(std::string_view value) noexcept {
    for (std::size_t i = 0; i < N; ++i) {
      if (values_[i] == value) return &counters_[i];
    }
    return nullptr;
  }

  void render(Exposition& out, std::string_view name) const {
    for (std::size_t i = 0; i < N; ++i) out.sample(name, {{label_, values_[i]}}, counters_[i].value());
  }

 private:
  std::string_view label_;
  const std::array<std::string_view, N>& values_;
  std::array<Counter, N> counters_{};
};

// Values per label read when scraped, for labels whose values the configuration decides
// (models): the owner replaces the whole set before rendering.
class SampledFamily {
 public:
  explicit SampledFamily(std::string_view label) : label_(label) {}
  void set(std::vector<std::pair<std::string, double>> values);
  void render(Exposition& out, std::string_view name) const;

 private:
  std::string_view label_;
  mutable std::mutex mutex_;
  std::vector<std::pair<std::string, double>> values_;
};

// ---- the catalog ----
//
// COUNTER(member, name, help)
// COUNTERS(member, name, label, values, help)          one counter per value of `label`
// HISTOGRAM(member, name, bounds, divisor, help)
// SAMPLED(member, name, type, help)                    set when scraped
// SAMPLED_BY(member, name, type, label, help)          set when scraped, per label value
//
// Process metrics keep the names every Prometheus client library gives them (no bouncer_
// prefix), so that existing dashboards and alerts for them work unchanged.
// clang-format off
#define BOUNCER_METRICS(COUNTER, COUNTERS, HISTOGRAM, SAMPLED, SAMPLED_BY)                                        \
  COUNTERS(mints, "bouncer_mints_total", "outcome", kMintOutcomes,                                               \
           "Mint requests (POST /v1/client/tokens and /v1/client/urls) by outcome")                              \
  HISTOGRAM(mint_duration, "bouncer_mint_duration_seconds", kLatencyBoundsNs, kNanosecondsPerSecond,            \
            "Time to answer a mint that issued a token, from the request read to the answer (the durable commit included)") \
  COUNTER(sessions_admitted, "bouncer_sessions_admitted_total",                                                  \
          "Sessions admitted: the upstream connected and the client's WebSocket handshake answered")             \
  COUNTERS(sessions_refused, "bouncer_sessions_refused_total", "reason", kRefusalReasons,                         \
           "Sessions refused by the door, by reason")                                                            \
  HISTOGRAM(admission_duration, "bouncer_admission_duration_seconds", kLatencyBoundsNs, kNanosecondsPerSecond,  \
            "Time to admit a session, from its upgrade request read to its WebSocket handshake answered (the upstream's included)") \
  SAMPLED_BY(sessions_live, "bouncer_sessions_live", Type::gauge, "model",                                        \
             "Sessions admitted and not yet ended (relaying, or connecting to their upstream), by model")       \
  COUNTERS(sessions_ended, "bouncer_sessions_ended_total", "cause", kEndCauses,                                   \
           "Relayed sessions ended, by cause")                                                                   \
  COUNTERS(relayed_bytes, "bouncer_relayed_bytes_total", "direction", kDirections,                               \
           "Message payload bytes relayed, by direction")                                                        \
  COUNTERS(relayed_frames, "bouncer_relayed_frames_total", "direction", kDirections,                             \
           "Data frames relayed (one per message), by direction")                                               \
  COUNTER(upstream_connect_failures, "bouncer_upstream_connect_failures_total",                                  \
          "Admitted sessions whose upstream could not be opened (resolve, connect, TLS or WebSocket handshake)") \
  COUNTER(tls_handshake_failures, "bouncer_tls_handshake_failures_total",                                        \
          "TLS handshakes with clients that failed on the public listener")                                      \
  SAMPLED(connections_open, "bouncer_connections_open", Type::gauge,                                             \
          "Connections open on the public listener, HTTP and WebSocket alike")                                   \
  HISTOGRAM(store_commit_batch, "bouncer_store_commit_batch_records", kBatchBounds, 1.0,                          \
            "Token records written per store commit (group commit)")                                             \
  HISTOGRAM(store_commit_duration, "bouncer_store_commit_duration_seconds", kLatencyBoundsNs, kNanosecondsPerSecond, \
            "Time to commit one batch of token records durably")                                                \
  SAMPLED(state_age, "bouncer_state_age_seconds", Type::gauge,                                                  \
          "Seconds since the state in memory (keys, revocations, signing keys) was last confirmed current by a poll of the store") \
  COUNTER(revocations_applied, "bouncer_revocations_applied_total",                                              \
          "Key revocations this process has applied to its state")                                               \
  SAMPLED(process_cpu_seconds, "process_cpu_seconds_total", Type::counter,                                       \
          "Total user and system CPU time spent in seconds")                                                     \
  SAMPLED(process_resident_memory, "process_resident_memory_bytes", Type::gauge, "Resident memory size in bytes") \
  SAMPLED(process_virtual_memory, "process_virtual_memory_bytes", Type::gauge, "Virtual memory size in bytes")   \
  SAMPLED(process_open_fds, "process_open_fds", Type::gauge, "Number of open file descriptors")                  \
  SAMPLED(process_max_fds, "process_max_fds", Type::gauge, "Maximum number of open file descriptors")           \
  SAMPLED(process_start_time, "process_start_time_seconds", Type::gauge,                                        \
          "Start time of the process since the Unix epoch in seconds")
// clang-format on

struct Catalog {
#define BOUNCER_DECLARE_COUNTER(member, name, help) Counter member;
#define BOUNCER_DECLARE_COUNTERS(member, name, label, values, help) \
  CounterFamily<values.size()> member{label, values};
#define BOUNCER_DECLARE_HISTOGRAM(member, name, bounds, divisor, help) Histogram member{bounds, divisor};
#define BOUNCER_DECLARE_SAMPLED(member, name, type, help) Sampled member;
#define BOUNCER_DECLARE_SAMPLED_BY(member, name, type, label, help) SampledFamily member{label};
  BOUNCER_METRICS(BOUNCER_DECLARE_COUNTER, BOUNCER_DECLARE_COUNTERS, BOUNCER_DECLARE_HISTOGRAM,
                  BOUNCER_DECLARE_SAMPLED, BOUNCER_DECLARE_SAMPLED_BY)
#undef BOUNCER_DECLARE_COUNTER
#undef BOUNCER_DECLARE_COUNTERS
#undef BOUNCER_DECLARE_HISTOGRAM
#undef BOUNCER_DECLARE_SAMPLED
#undef BOUNCER_DECLARE_SAMPLED_BY
};

// The process's one catalog (every layer counts into it).
Catalog& catalog();

// Every family of `c`, in the order declared. The process metrics are read first.
std::string render(Catalog& c = catalog());

// Every family's name, type and help, in the order rendered (for tests and docs).
struct FamilyInfo {
  std::string_view name;
  Type type;
  std::string_view help;
};
std::vector<FamilyInfo> families();

}  // namespace bouncer::metrics
