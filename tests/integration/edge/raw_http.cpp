#include "raw_http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <stdexcept>
#include <thread>

namespace edge_test {

RawExchange raw_exchange(std::uint16_t port, const std::string& bytes, std::chrono::milliseconds wait) {
  return raw_exchange(port, std::vector<std::string>{bytes}, std::chrono::milliseconds(0), wait);
}

RawExchange raw_exchange(std::uint16_t port, const std::vector<std::string>& pieces, std::chrono::milliseconds pause,
                         std::chrono::milliseconds wait) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("socket() failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    throw std::runtime_error("cannot connect to 127.0.0.1:" + std::to_string(port));
  }
  for (std::size_t i = 0; i < pieces.size(); ++i) {
    if (i > 0) std::this_thread::sleep_for(pause);
    const auto& bytes = pieces[i];
    for (std::size_t sent = 0; sent < bytes.size();) {
      const auto n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) break;  // the server may close early: what it said is still read below
      sent += static_cast<std::size_t>(n);
    }
  }
  RawExchange out;
  const auto deadline = std::chrono::steady_clock::now() + wait;
  char buf[4096];
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
    const auto n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) {
      out.closed_by_server = true;  // EOF, or a reset after the answer
      break;
    }
    out.received.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return out;
}

std::vector<int> response_statuses(const std::string& received) {
  std::vector<int> out;
  std::size_t at = 0;
  while (at < received.size()) {
    if (received.compare(at, 9, "HTTP/1.1 ") != 0 && received.compare(at, 9, "HTTP/1.0 ") != 0) break;
    out.push_back(std::stoi(received.substr(at + 9, 3)));
    const auto head_end = received.find("\r\n\r\n", at);
    if (head_end == std::string::npos) break;
    std::size_t length = 0;
    const auto head = received.substr(at, head_end - at);
    std::string lower;
    for (char c : head) lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    if (const auto cl = lower.find("\r\ncontent-length:"); cl != std::string::npos) {
      length = std::stoul(head.substr(cl + 17));
    }
    at = head_end + 4 + length;
  }
  return out;
}

}  // namespace edge_test
