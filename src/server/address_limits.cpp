#include "server/address_limits.h"

#include <boost/asio/ip/address_v6.hpp>

#include <algorithm>
#include <utility>

namespace bouncer::server {

std::string address_key(const boost::asio::ip::address& address) {
  if (address.is_v4()) return address.to_string();
  const auto v6 = address.to_v6();
  if (v6.is_v4_mapped()) return boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, v6).to_string();
  auto bytes = v6.to_bytes();
  for (std::size_t i = 8; i < bytes.size(); ++i) bytes[i] = 0;
  return boost::asio::ip::address_v6(bytes).to_string() + "/64";
}

std::string_view to_string(AddressLimits::Verdict verdict) {
  switch (verdict) {
    case AddressLimits::Verdict::admitted: return "admitted";
    case AddressLimits::Verdict::too_many_connections: return "connections_per_ip";
    case AddressLimits::Verdict::too_many_handshakes: return "handshakes_per_ip";
    case AddressLimits::Verdict::too_many_addresses: return "addresses_tracked";
  }
  return "other";
}

// ---- Slot ----

AddressLimits::Slot& AddressLimits::Slot::operator=(Slot&& other) noexcept {
  if (this != &other) {
    release();
    owner_ = std::exchange(other.owner_, nullptr);
    address_ = std::move(other.address_);
    opening_ = std::exchange(other.opening_, false);
  }
  return *this;
}

void AddressLimits::Slot::finish_handshake() {
  if (!owner_ || !opening_) return;
  opening_ = false;
  owner_->finish_handshake(address_);
}

void AddressLimits::Slot::release() {
  if (!owner_) return;
  owner_->close(address_, opening_);
  owner_ = nullptr;
  opening_ = false;
}

// ---- AddressLimits ----

AddressLimits::AddressLimits(AddressLimitsOptions options, Now now)
    : options_(options),
      now_(std::move(now)),
      per_shard_(std::max<std::size_t>(1, options.max_addresses / kShards)),
      tracking_(options.max_connections > 0 || options.max_handshakes > 0 || options.max_invalid_credentials > 0) {}

AddressLimits::Shard& AddressLimits::shard_of(const std::string& address) {
  return shards_[std::hash<std::string>{}(address) % kShards];
}

bool AddressLimits::forgettable(const Entry& e, Clock::time_point now) const {
  return e.connections == 0 && e.opening == 0 && e.penalty_until <= now &&
         (e.strikes == 0 || now - e.window_start >= options_.invalid_credentials_window);
}

AddressLimits::Entry* AddressLimits::find_or_add(Shard& shard, const std::string& address, Clock::time_point now) {
  if (const auto it = shard.entries.find(address); it != shard.entries.end()) return &it->second;
  if (shard.entries.size() >= per_shard_) {
    std::erase_if(shard.entries, [&](const auto& kv) { return forgettable(kv.second, now); });
  }
  if (shard.entries.size() >= per_shard_) {
    // Still full: forget penalties of addresses with nothing open rather than turn new
    // addresses away (an address that floods from many addresses gets fewer penalties).
    std::erase_if(shard.entries, [](const auto& kv) { return kv.second.connections == 0 && kv.second.opening == 0; });
  }
  if (shard.entries.size() >= per_shard_) return nullptr;
  return &shard.entries[address];
}

AddressLimits::Verdict AddressLimits::open(std::string address, Slot& slot) {
  slot = Slot{};
  slot.address_ = std::move(address);
  if (!tracking_) return Verdict::admitted;
  const auto now = now_();
  auto& shard = shard_of(slot.address_);
  std::lock_guard lock(shard.mutex);
  Entry* e = find_or_add(shard, slot.address_, now);
  if (!e) return Verdict::too_many_addresses;
  if (options_.max_connections > 0 && e->connections >= options_.max_connections) return Verdict::too_many_connections;
  if (options_.max_handshakes > 0 && e->opening >= options_.max_handshakes) return Verdict::too_many_handshakes;
  ++e->connections;
  ++e->opening;
  slot.owner_ = this;
  slot.opening_ = true;
  return Verdict::admitted;
}

void AddressLimits::finish_handshake(const std::string& address) {
  auto& shard = shard_of(address);
  std::lock_guard lock(shard.mutex);
  if (const auto it = shard.entries.find(address); it != shard.entries.end() && it->second.opening > 0) {
    --it->second.opening;
  }
}

void AddressLimits::close(const std::string& address, bool opening) {
  const auto now = now_();
  auto& shard = shard_of(address);
  std::lock_guard lock(shard.mutex);
  const auto it = shard.entries.find(address);
  if (it == shard.entries.end()) return;
  auto& e = it->second;
  if (e.connections > 0) --e.connections;
  if (opening && e.opening > 0) --e.opening;
  if (forgettable(e, now)) shard.entries.erase(it);
}

bool AddressLimits::penalised(const std::string& address) {
  if (options_.max_invalid_credentials == 0) return false;
  const auto now = now_();
  auto& shard = shard_of(address);
  std::lock_guard lock(shard.mutex);
  const auto it = shard.entries.find(address);
  return it != shard.entries.end() && it->second.penalty_until > now;
}

bool AddressLimits::note_invalid_credential(const std::string& address) {
  if (options_.max_invalid_credentials == 0) return false;
  const auto now = now_();
  auto& shard = shard_of(address);
  std::lock_guard lock(shard.mutex);
  Entry* e = find_or_add(shard, address, now);
  if (!e) return false;
  if (e->strikes == 0 || now - e->window_start >= options_.invalid_credentials_window) {
    e->window_start = now;
    e->strikes = 0;
  }
  if (++e->strikes < options_.max_invalid_credentials) return false;
  e->strikes = 0;
  e->penalty_until = now + options_.penalty;
  return true;
}

std::size_t AddressLimits::tracked() {
  std::size_t n = 0;
  for (auto& shard : shards_) {
    std::lock_guard lock(shard.mutex);
    n += shard.entries.size();
  }
  return n;
}

}  // namespace bouncer::server
