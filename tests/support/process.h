// Child processes for integration tests: the bouncer binary, the example model server,
// redis-server, CLI sub-commands. A child's stdout and stderr go to files (read them at any time);
// its environment is ours without any BOUNCER_* variable, so the caller's shell cannot change
// what a test means. Every child dies with its Process object and, should the test binary
// itself be killed (a ctest time limit), with the test binary (PR_SET_PDEATHSIG).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace test_support {

using Env = std::vector<std::pair<std::string, std::string>>;

// A fresh directory under $TMPDIR, removed with everything in it on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

std::string read_file(const std::filesystem::path& file);
void write_file(const std::filesystem::path& file, const std::string& text);

class Process {
 public:
  // Starts argv[0] (a path) with `extra_env` added; stdout/stderr appended to the files.
  // Throws std::runtime_error when the program cannot be started.
  Process(std::vector<std::string> argv, std::filesystem::path out_file, std::filesystem::path err_file,
          const Env& extra_env = {});
  ~Process();  // stop(): SIGTERM, then SIGKILL after a grace period
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }
  std::string out() const { return read_file(out_file_); }
  std::string err() const { return read_file(err_file_); }
  std::string logs() const;  // both, labelled, for failure messages

  // True while the process has not exited (reaps it when it has).
  bool running();
  // The exit status once exited: the exit code, or 128 + signal.
  std::optional<int> exit_status() const { return status_; }
  void signal(int sig);
  // Waits for the exit; nullopt if still running after `timeout`.
  std::optional<int> wait(std::chrono::milliseconds timeout);
  // SIGTERM, wait up to `grace`, then SIGKILL; returns the exit status.
  int stop(std::chrono::milliseconds grace = std::chrono::seconds(10));

 private:
  void reap(int raw_status);

  pid_t pid_ = -1;
  std::filesystem::path out_file_;
  std::filesystem::path err_file_;
  std::optional<int> status_;
};

struct CliResult {
  int status = -1;
  std::string out;
  std::string err;
};

// Runs a program to completion (killed after `timeout`, which is then a failure status -1).
CliResult run_program(const std::vector<std::string>& argv, const std::filesystem::path& scratch_dir,
                      std::chrono::milliseconds timeout = std::chrono::seconds(30));

}  // namespace test_support
