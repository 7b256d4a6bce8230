// What the command-line tests share: a configuration file of this test's own (removed after
// it), BOUNCER_* variables the test sets cleared around it, and parsing as `bouncer serve` does.
#pragma once

#include "cli/config.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <string>
#include <vector>

namespace bouncer::cli {

class ConfigFileTest : public ::testing::Test {
 protected:
  // `name` tells the file apart from other suites' running at the same time.
  ConfigFileTest(const std::string& name, std::initializer_list<const char*> variables)
      : file_(std::filesystem::temp_directory_path() / ("bouncer-" + name + "-" + std::to_string(::getpid()) + ".toml")),
        variables_(variables) {}

  void SetUp() override { clear_variables(); }
  void TearDown() override {
    std::filesystem::remove(file_);
    clear_variables();
  }

  void write_file(const std::string& text) { std::ofstream(file_) << text; }

  Config parse(const std::string& args) {
    Config config;
    CLI::App app;
    OptionBinder binder(app, config);
    binder.add_common();
    binder.add_serve_options();
    app.parse(args, false);
    binder.finish();
    return config;
  }

  std::filesystem::path file_;

 private:
  void clear_variables() {
    for (const auto* v : variables_) ::unsetenv(v);
  }
  std::vector<const char*> variables_;
};

}  // namespace bouncer::cli
