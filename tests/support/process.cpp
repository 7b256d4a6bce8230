#include "support/process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace test_support {

namespace fs = std::filesystem;

TempDir::TempDir() {
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern = std::string(tmp && *tmp ? tmp : "/tmp") + "/bouncer-test-XXXXXX";
  if (!mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed: " + std::string(std::strerror(errno)));
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

std::string read_file(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

void write_file(const fs::path& file, const std::string& text) {
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out << text;
  if (!out) throw std::runtime_error("cannot write " + file.string());
}

Process::Process(std::vector<std::string> argv, fs::path out_file, fs::path err_file, const Env& extra_env)
    : out_file_(std::move(out_file)), err_file_(std::move(err_file)) {
  if (argv.empty()) throw std::runtime_error("Process: empty argv");
  if (access(argv[0].c_str(), X_OK) != 0) {
    throw std::runtime_error("cannot execute " + argv[0] + ": " + std::strerror(errno));
  }
  // Everything the child needs is prepared before fork: after it, only async-signal-safe calls.
  std::vector<std::string> env_strings;
  for (char** e = environ; *e; ++e) {
    if (std::strncmp(*e, "BOUNCER_", 8) != 0) env_strings.emplace_back(*e);
  }
  for (const auto& [k, v] : extra_env) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);

  const int out_fd = open(out_file_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  const int err_fd = open(err_file_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  const int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (out_fd < 0 || err_fd < 0 || null_fd < 0) throw std::runtime_error("cannot open the output files of " + argv[0]);
  const pid_t parent = getpid();

  pid_ = fork();
  if (pid_ == 0) {
    // The child dies with the test binary, even when that is SIGKILLed by ctest.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    setpgid(0, 0);
    dup2(null_fd, 0);
    dup2(out_fd, 1);
    dup2(err_fd, 2);
    // Sockets of the test (Asio opens them without CLOEXEC) must not leak into the child.
    close_range(3, ~0U, 0);
    execve(args[0], args.data(), envp.data());
    _exit(127);
  }
  const int fork_errno = errno;
  close(out_fd);
  close(err_fd);
  close(null_fd);
  if (pid_ < 0) throw std::runtime_error("fork failed: " + std::string(std::strerror(fork_errno)));
}

Process::~Process() { stop(); }

std::string Process::logs() const {
  return "--- stdout (" + out_file_.string() + ") ---\n" + out() + "\n--- stderr (" + err_file_.string() + ") ---\n" +
         err();
}

void Process::reap(int raw_status) {
  if (WIFEXITED(raw_status)) status_ = WEXITSTATUS(raw_status);
  else if (WIFSIGNALED(raw_status)) status_ = 128 + WTERMSIG(raw_status);
  else status_ = -1;
}

bool Process::running() {
  if (status_ || pid_ <= 0) return false;
  int raw = 0;
  const pid_t r = waitpid(pid_, &raw, WNOHANG);
  if (r == pid_) {
    reap(raw);
    return false;
  }
  return r == 0;
}

void Process::signal(int sig) {
  if (running()) ::kill(pid_, sig);
}

std::optional<int> Process::wait(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (running()) {
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return status_;
}

int Process::stop(std::chrono::milliseconds grace) {
  if (!running()) return status_.value_or(-1);
  ::kill(pid_, SIGTERM);
  if (auto s = wait(grace)) return *s;
  ::kill(pid_, SIGKILL);
  int raw = 0;
  if (waitpid(pid_, &raw, 0) == pid_) reap(raw);
  return status_.value_or(-1);
}

CliResult run_program(const std::vector<std::string>& argv, const fs::path& scratch_dir,
                      std::chrono::milliseconds timeout) {
  static std::atomic<int> counter{0};
  const auto n = std::to_string(counter++);
  const auto out_file = scratch_dir / ("cli-" + n + ".out");
  const auto err_file = scratch_dir / ("cli-" + n + ".err");
  CliResult result;
  {
    Process p(argv, out_file, err_file);
    const auto status = p.wait(timeout);
    if (!status) {
      p.stop(std::chrono::milliseconds(0));
      result.status = -1;
    } else {
      result.status = *status;
    }
    result.out = p.out();
    result.err = p.err();
  }
  return result;
}

}  // namespace test_support
