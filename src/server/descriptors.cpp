#include "server/descriptors.h"

#include <sys/resource.h>

#include <filesystem>
#include <fstream>

namespace bouncer::server {
namespace {

std::uint64_t nr_open() {
  std::ifstream in("/proc/sys/fs/nr_open");
  std::uint64_t n = 0;
  if (in >> n && n > 0) return n;
  return 1 << 20;  // the kernel's default
}

}  // namespace

DescriptorLimit raise_descriptor_limit() {
  DescriptorLimit out;
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) return out;
  out.soft_before = lim.rlim_cur;
  out.hard = lim.rlim_max;
  const std::uint64_t target = lim.rlim_max == RLIM_INFINITY ? nr_open() : lim.rlim_max;
  if (lim.rlim_cur == RLIM_INFINITY || lim.rlim_cur < target) {
    rlimit raised = lim;
    raised.rlim_cur = target;
    (void)::setrlimit(RLIMIT_NOFILE, &raised);  // on failure the limit stays as it was
  }
  if (::getrlimit(RLIMIT_NOFILE, &lim) == 0) out.soft = lim.rlim_cur;
  return out;
}

std::size_t open_descriptors() {
  std::size_t n = 0;
  std::error_code ec;
  for (std::filesystem::directory_iterator it("/proc/self/fd", ec), end; !ec && it != end; it.increment(ec)) ++n;
  // The iterator's own descriptor was among them.
  return n > 0 ? n - 1 : 0;
}

std::size_t client_descriptor_budget(std::uint64_t soft_limit, std::size_t open_now) {
  const std::uint64_t kept = static_cast<std::uint64_t>(open_now) + kReservedDescriptors;
  return soft_limit > kept ? static_cast<std::size_t>(soft_limit - kept) : 0;
}

}  // namespace bouncer::server
