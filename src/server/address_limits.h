// Limits per client address, so that no single address can take what the others need:
// connections open at once, connections still opening (request headers not yet complete, or
// a WebSocket upgrade not yet admitted), and refusals for invalid credentials, which past a
// threshold make the address wait out a penalty during which its upgrades are refused before
// any signature is checked.
//
// The address is a parameter: the TCP peer's today (address_key), a client address forwarded
// by a trusted proxy when one tells it. Memory is bounded: at most `max_addresses` addresses are
// tracked; idle ones are forgotten first, then penalised ones with nothing open.
#pragma once

#include <boost/asio/ip/address.hpp>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace bouncer::server {

struct AddressLimitsOptions {
  std::size_t max_connections = 256;         // open at once per address; 0 = no cap
  std::size_t max_handshakes = 32;           // still opening at once per address; 0 = no cap
  std::size_t max_invalid_credentials = 30;  // per window before a penalty; 0 = never penalised
  std::chrono::seconds invalid_credentials_window{10};
  std::chrono::seconds penalty{30};
  std::size_t max_addresses = 65536;  // tracked at once
};

// The key an address is counted under: IPv4 as is (also when mapped into IPv6), IPv6 by its
// /64 prefix, since one IPv6 client usually holds a whole /64.
std::string address_key(const boost::asio::ip::address& address);

class AddressLimits {
 public:
  using Clock = std::chrono::steady_clock;
  using Now = std::function<Clock::time_point()>;
  static constexpr std::size_t kShards = 16;

  enum class Verdict { admitted, too_many_connections, too_many_handshakes, too_many_addresses };

  // One open connection of an address, counted until destroyed; also counted as opening
  // until finish_handshake(). Move-only; must not outlive its AddressLimits.
  class Slot {
   public:
    Slot() = default;
    Slot(Slot&& other) noexcept { *this = std::move(other); }
    Slot& operator=(Slot&& other) noexcept;
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;
    ~Slot() { release(); }

    void finish_handshake();
    const std::string& address() const { return address_; }

   private:
    friend class AddressLimits;
    void release();

    AddressLimits* owner_ = nullptr;  // null: not counted (limits off, or moved from)
    std::string address_;
    bool opening_ = false;
  };

  explicit AddressLimits(AddressLimitsOptions options, Now now = &Clock::now);

  // Counts a new connection of `address` into `slot` when its caps allow it.
  Verdict open(std::string address, Slot& slot);

  // Whether `address` is serving a penalty for invalid credentials.
  bool penalised(const std::string& address);

  // Counts one refusal for an invalid credential; true when it started a penalty.
  bool note_invalid_credential(const std::string& address);

  std::size_t tracked();
  const AddressLimitsOptions& options() const { return options_; }

 private:
  struct Entry {
    std::uint32_t connections = 0;
    std::uint32_t opening = 0;
    std::uint32_t strikes = 0;  // invalid credentials in the current window
    Clock::time_point window_start{};
    Clock::time_point penalty_until{};
  };
  struct Shard {
    std::mutex mutex;
    std::unordered_map<std::string, Entry> entries;
  };

  Shard& shard_of(const std::string& address);
  // The entry of `address`, made room for if needed; nullptr when the shard is full of
  // addresses that cannot be forgotten.
  Entry* find_or_add(Shard& shard, const std::string& address, Clock::time_point now);
  bool forgettable(const Entry& e, Clock::time_point now) const;
  void finish_handshake(const std::string& address);
  void close(const std::string& address, bool opening);

  AddressLimitsOptions options_;
  Now now_;
  std::size_t per_shard_;
  bool tracking_;  // false when every limit is off: nothing to count
  std::array<Shard, kShards> shards_;
};

std::string_view to_string(AddressLimits::Verdict verdict);

}  // namespace bouncer::server
