#include "server/address_limits.h"

#include <boost/asio/ip/address.hpp>
#include <gtest/gtest.h>

#include <optional>
#include <vector>

namespace bouncer::server {
namespace {

using namespace std::chrono_literals;
using Verdict = AddressLimits::Verdict;

// A clock the test moves by hand.
struct FakeClock {
  AddressLimits::Clock::time_point now = AddressLimits::Clock::time_point{} + 1000s;
  AddressLimits::Now fn() {
    return [this] { return now; };
  }
};

AddressLimitsOptions small() {
  AddressLimitsOptions o;
  o.max_connections = 3;
  o.max_handshakes = 2;
  o.max_invalid_credentials = 4;
  o.invalid_credentials_window = 10s;
  o.penalty = 30s;
  return o;
}

TEST(AddressLimits, HandshakesInProgressAreCappedPerAddress) {
  FakeClock clock;
  AddressLimits limits(small(), clock.fn());
  AddressLimits::Slot a, b, c;
  EXPECT_EQ(limits.open("10.0.0.1", a), Verdict::admitted);
  EXPECT_EQ(limits.open("10.0.0.1", b), Verdict::admitted);
  EXPECT_EQ(limits.open("10.0.0.1", c), Verdict::too_many_handshakes);
  // Another address is not affected.
  AddressLimits::Slot other;
  EXPECT_EQ(limits.open("10.0.0.2", other), Verdict::admitted);
  // Once one connection's headers are read, another may open.
  a.finish_handshake();
  a.finish_handshake();  // twice is once
  EXPECT_EQ(limits.open("10.0.0.1", c), Verdict::admitted);
  EXPECT_EQ(c.address(), "10.0.0.1");
}

TEST(AddressLimits, ConnectionsAreCappedPerAddressAndFreedWhenClosed) {
  FakeClock clock;
  AddressLimits limits(small(), clock.fn());
  std::vector<AddressLimits::Slot> open(3);
  for (auto& slot : open) {
    ASSERT_EQ(limits.open("10.0.0.1", slot), Verdict::admitted);
    slot.finish_handshake();
  }
  AddressLimits::Slot extra;
  EXPECT_EQ(limits.open("10.0.0.1", extra), Verdict::too_many_connections);
  open.pop_back();  // a connection closes
  EXPECT_EQ(limits.open("10.0.0.1", extra), Verdict::admitted);
}

TEST(AddressLimits, AMovedSlotIsCountedOnce) {
  FakeClock clock;
  AddressLimits limits(small(), clock.fn());
  std::optional<AddressLimits::Slot> moved;
  {
    AddressLimits::Slot a;
    ASSERT_EQ(limits.open("10.0.0.1", a), Verdict::admitted);
    moved.emplace(std::move(a));
  }  // the moved-from slot's end releases nothing
  EXPECT_EQ(limits.tracked(), 1u);
  moved.reset();
  EXPECT_EQ(limits.tracked(), 0u);  // nothing open, nothing remembered: forgotten
}

TEST(AddressLimits, ZeroTurnsEveryLimitOff) {
  FakeClock clock;
  AddressLimits limits(AddressLimitsOptions{0, 0, 0, 10s, 30s, 65536}, clock.fn());
  std::vector<AddressLimits::Slot> slots(1000);
  for (auto& slot : slots) EXPECT_EQ(limits.open("10.0.0.1", slot), Verdict::admitted);
  for (int i = 0; i < 100; ++i) EXPECT_FALSE(limits.note_invalid_credential("10.0.0.1"));
  EXPECT_FALSE(limits.penalised("10.0.0.1"));
  EXPECT_EQ(limits.tracked(), 0u);
}

// N invalid credentials within the window start a penalty for that address alone; it ends
// after the penalty time, and the address may then try N more.
TEST(AddressLimits, InvalidCredentialsPenaliseTheAddressForAWhile) {
  FakeClock clock;
  AddressLimits limits(small(), clock.fn());
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(limits.note_invalid_credential("10.0.0.1"));
  EXPECT_FALSE(limits.penalised("10.0.0.1"));
  EXPECT_TRUE(limits.note_invalid_credential("10.0.0.1"));
  EXPECT_TRUE(limits.penalised("10.0.0.1"));
  EXPECT_FALSE(limits.penalised("10.0.0.2"));
  clock.now += 29s;
  EXPECT_TRUE(limits.penalised("10.0.0.1"));
  clock.now += 1s;
  EXPECT_FALSE(limits.penalised("10.0.0.1"));
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(limits.note_invalid_credential("10.0.0.1"));
  EXPECT_TRUE(limits.note_invalid_credential("10.0.0.1"));
}

TEST(AddressLimits, InvalidCredentialsOutsideTheWindowDoNotAddUp) {
  FakeClock clock;
  AddressLimits limits(small(), clock.fn());
  for (int round = 0; round < 10; ++round) {
    for (int i = 0; i < 3; ++i) EXPECT_FALSE(limits.note_invalid_credential("10.0.0.1"));
    clock.now += 10s;  // a new window
  }
  EXPECT_FALSE(limits.penalised("10.0.0.1"));
}

// Memory is bounded whatever the number of addresses; addresses with nothing open and no
// penalty are forgotten first, and live connections keep their counts.
TEST(AddressLimits, TheTableOfAddressesIsBounded) {
  FakeClock clock;
  auto o = small();
  o.max_addresses = 16 * AddressLimits::kShards;
  AddressLimits limits(o, clock.fn());
  std::vector<AddressLimits::Slot> held(2);
  ASSERT_EQ(limits.open("10.9.9.9", held[0]), Verdict::admitted);
  held[0].finish_handshake();
  ASSERT_EQ(limits.open("10.9.9.9", held[1]), Verdict::admitted);
  held[1].finish_handshake();
  for (int i = 0; i < 100000; ++i) {
    const auto address = "10." + std::to_string(i / 65536) + "." + std::to_string(i / 256 % 256) + "." + std::to_string(i % 256);
    limits.note_invalid_credential(address);
    AddressLimits::Slot s;
    limits.open(address, s);
    if (i % 1000 == 0) clock.now += 1s;
  }
  EXPECT_LE(limits.tracked(), o.max_addresses);
  // The address with connections open still has them counted.
  AddressLimits::Slot third, fourth;
  EXPECT_EQ(limits.open("10.9.9.9", third), Verdict::admitted);
  EXPECT_EQ(limits.open("10.9.9.9", fourth), Verdict::too_many_connections);
}

TEST(AddressLimits, PenalisedAddressesAreForgottenBeforeNewOnesAreTurnedAway) {
  FakeClock clock;
  auto o = small();
  o.max_invalid_credentials = 1;
  o.max_addresses = AddressLimits::kShards;  // one address per shard
  AddressLimits limits(o, clock.fn());
  for (int i = 0; i < 1000; ++i) EXPECT_TRUE(limits.note_invalid_credential("10.1.0." + std::to_string(i)));
  AddressLimits::Slot fresh;
  EXPECT_EQ(limits.open("192.0.2.1", fresh), Verdict::admitted);
}

TEST(AddressKey, IPv4AsIsIPv6ByItsSlash64) {
  using boost::asio::ip::make_address;
  EXPECT_EQ(address_key(make_address("127.0.0.2")), "127.0.0.2");
  EXPECT_EQ(address_key(make_address("::ffff:192.0.2.7")), "192.0.2.7");
  EXPECT_EQ(address_key(make_address("2001:db8:1:2:aaaa:bbbb:cccc:dddd")), "2001:db8:1:2::/64");
  EXPECT_EQ(address_key(make_address("2001:db8:1:2::1")), address_key(make_address("2001:db8:1:2:ffff::9")));
  EXPECT_NE(address_key(make_address("2001:db8:1:2::1")), address_key(make_address("2001:db8:1:3::1")));
}

}  // namespace
}  // namespace bouncer::server
