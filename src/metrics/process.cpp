#include "metrics/process.h"

#include "metrics/catalog.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cmath>
#include <fstream>
#include <iterator>
#include <limits>
#include <sstream>
#include <string>
#include <string_view>

namespace bouncer::metrics {
namespace {

constexpr double kUnknown = std::numeric_limits<double>::quiet_NaN();

double cpu_seconds() {
  rusage usage{};
  if (::getrusage(RUSAGE_SELF, &usage) != 0) return kUnknown;
  auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

// /proc/self/statm: sizes in pages, the total first, then the resident part.
void memory(double& virtual_bytes, double& resident_bytes) {
  virtual_bytes = resident_bytes = kUnknown;
  std::ifstream statm("/proc/self/statm");
  double size = 0;
  double resident = 0;
  if (!(statm >> size >> resident)) return;
  const auto page = static_cast<double>(::sysconf(_SC_PAGESIZE));
  virtual_bytes = size * page;
  resident_bytes = resident * page;
}

double open_fds() {
  DIR* dir = ::opendir("/proc/self/fd");
  if (!dir) return kUnknown;
  const int own = ::dirfd(dir);
  double count = 0;
  while (const dirent* entry = ::readdir(dir)) {
    const std::string_view name = entry->d_name;
    if (name == "." || name == ".." || name == std::to_string(own)) continue;
    ++count;
  }
  ::closedir(dir);
  return count;
}

double max_fds() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return kUnknown;
  return limit.rlim_cur == RLIM_INFINITY ? std::numeric_limits<double>::infinity() : static_cast<double>(limit.rlim_cur);
}

// The kernel's boot time (/proc/stat "btime") plus the process's start in clock ticks since
// boot (/proc/self/stat, field 22). The command name (field 2) may hold spaces and parentheses:
// the fields are counted from its closing parenthesis.
double start_time_seconds() {
  std::ifstream stat_file("/proc/self/stat");
  std::string stat((std::istreambuf_iterator<char>(stat_file)), std::istreambuf_iterator<char>());
  const auto close = stat.rfind(')');
  if (close == std::string::npos) return kUnknown;
  std::istringstream fields(stat.substr(close + 1));
  std::string field;
  for (int i = 3; i <= 22 && fields >> field; ++i) {
    if (i < 22) continue;
    std::ifstream boot_file("/proc/stat");
    std::string line;
    while (std::getline(boot_file, line)) {
      if (!line.starts_with("btime ")) continue;
      const double boot = std::stod(line.substr(6));
      return boot + std::stod(field) / static_cast<double>(::sysconf(_SC_CLK_TCK));
    }
  }
  return kUnknown;
}

}  // namespace

void sample_process(Catalog& catalog) {
  catalog.process_cpu_seconds.set(cpu_seconds());
  double virtual_bytes = 0;
  double resident_bytes = 0;
  memory(virtual_bytes, resident_bytes);
  catalog.process_virtual_memory.set(virtual_bytes);
  catalog.process_resident_memory.set(resident_bytes);
  catalog.process_open_fds.set(open_fds());
  catalog.process_max_fds.set(max_fds());
  static const double started = start_time_seconds();  // it never changes
  catalog.process_start_time.set(started);
}

}  // namespace bouncer::metrics
