// What the SQLite engine offers beyond the Store interface: its error codes (the
// "bouncer.sqlite" category, passed to record_token's `done`) and the group-commit counters.
// open_sqlite itself is declared in store/store.h.
#pragma once

#include "store/store.h"

#include <cstdint>
#include <string>
#include <system_error>
#include <type_traits>

namespace bouncer::store {

// Errors record_token (and the writer's other operations) report. Each is also equivalent to a portable std::errc condition, so
// callers can test `ec == std::errc::file_exists` without knowing the engine.
enum class SqliteErrc {
  duplicate_jti = 1,  // a token record with this jti exists: nothing was written (≈ file_exists)
  unknown_key,        // the record's key_id names no permanent key (≈ invalid_argument)
  invalid_record,     // the record could not be stored as given (≈ invalid_argument)
  busy,               // another writer held the database past the busy timeout (≈ device_or_resource_busy)
  write_failed,       // the batch's transaction failed; nothing of it was stored (≈ io_error)
  shutting_down,      // the store is closing and takes no new records (≈ operation_canceled)
  used_up,            // use_token: every use of the token is taken, or it has no record (≈ resource_unavailable_try_again)
};

const std::error_category& sqlite_category() noexcept;
std::error_code make_error_code(SqliteErrc e) noexcept;

// Counters of the group-commit writer since the store was opened.
struct SqliteStats {
  std::uint64_t commits = 0;          // group-commit transactions committed
  std::uint64_t records_stored = 0;   // records reported durable (done with no error)
  std::uint64_t records_failed = 0;   // records reported with an error
  std::uint64_t busy_retries = 0;     // transactions retried because the database was locked
  std::uint64_t largest_batch = 0;    // most records taken into one transaction
  std::string last_error;             // SQLite's message for the latest failed batch, if any
};

// Throws std::invalid_argument when `store` was not made by open_sqlite.
SqliteStats sqlite_stats(const Store& store);

}  // namespace bouncer::store

template <>
struct std::is_error_code_enum<bouncer::store::SqliteErrc> : std::true_type {};
