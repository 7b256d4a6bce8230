// Bytes over a plain TCP socket to 127.0.0.1, for requests no HTTP client library would send
// (two Host headers, obs-fold, odd Transfer-Encodings). Every wait is bounded.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace edge_test {

struct RawExchange {
  std::string received;       // everything the server sent
  bool closed_by_server = false;  // it closed the connection (EOF) before `wait` ended
};

// Connects, sends `bytes`, then reads until the server closes or `wait` has passed.
RawExchange raw_exchange(std::uint16_t port, const std::string& bytes,
                         std::chrono::milliseconds wait = std::chrono::seconds(5));

// The same, sending `pieces` one by one with `pause` between them (each a separate read for
// the server, as far as the kernel lets it).
RawExchange raw_exchange(std::uint16_t port, const std::vector<std::string>& pieces, std::chrono::milliseconds pause,
                         std::chrono::milliseconds wait = std::chrono::seconds(5));

// The status codes of the HTTP responses in `received`, in order (a body is skipped by its
// Content-Length).
std::vector<int> response_statuses(const std::string& received);

}  // namespace edge_test
