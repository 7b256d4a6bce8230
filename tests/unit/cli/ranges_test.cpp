// Numeric options: their ranges in --help, and messages that name the range, whichever of the
// flag, the environment or the file the value came from.
#include "cli/ranges.h"
#include "config_fixture.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>

namespace bouncer::cli {
namespace {

class Ranges : public ConfigFileTest {
 protected:
  Ranges() : ConfigFileTest("ranges", {"BOUNCER_THREADS"}) {}

  // The message parsing `args` fails with.
  std::string parse_error(const std::string& args) {
    try {
      to_server_options(parse(args));
    } catch (const std::exception& e) {
      return e.what();
    }
    ADD_FAILURE() << "accepted: " << args;
    return {};
  }
};

bool has_long_number(const std::string& s) { return std::regex_search(s, std::regex("[0-9]{20}")); }

TEST(Range, DescribesItselfInWords) {
  EXPECT_EQ((Range{0, 600}).describe(), "between 0 and 600");
  EXPECT_EQ((Range{0, std::nullopt}).describe(), "≥ 0");
  EXPECT_EQ((Range{1024, 16 * 1024 * 1024}).describe(), "between 1024 and 16777216");
  EXPECT_EQ((Range{0.5, std::nullopt}).describe(), "≥ 0.5");
}

TEST_F(Ranges, NegativeThreadsSayMustBeAtLeastZero) {
  for (const auto& message : {parse_error("--threads -1"), [&] {
                                ::setenv("BOUNCER_THREADS", "-1", 1);
                                auto m = parse_error("");
                                ::unsetenv("BOUNCER_THREADS");
                                return m;
                              }()}) {
    EXPECT_NE(message.find("--threads"), std::string::npos) << message;
    EXPECT_NE(message.find("must be ≥ 0, got -1"), std::string::npos) << message;
    EXPECT_FALSE(has_long_number(message)) << message;
  }
  write_file("threads = -1\n");
  const auto from_file = parse_error("--config " + file_.string());
  EXPECT_NE(from_file.find("threads must be ≥ 0, got -1"), std::string::npos) << from_file;
  EXPECT_NE(from_file.find(file_.string()), std::string::npos) << from_file;
}

TEST_F(Ranges, OutOfRangeValuesNameTheRangeFromEverySource) {
  const auto flag = parse_error("--leeway-seconds 900");
  EXPECT_NE(flag.find("must be between 0 and 600, got 900"), std::string::npos) << flag;
  write_file("leeway_seconds = 900\n");
  const auto file = parse_error("--config " + file_.string());
  EXPECT_NE(file.find("--leeway-seconds must be between 0 and 600, got 900"), std::string::npos) << file;
  const auto rate = parse_error("--mint-rate-per-key -0.5");
  EXPECT_NE(rate.find("must be ≥ 0, got -0.5"), std::string::npos) << rate;
  EXPECT_FALSE(has_long_number(rate)) << rate;
  EXPECT_NE(parse_error("--max-body-bytes 100").find("between 1024 and 16777216"), std::string::npos);
  EXPECT_NE(parse_error("--max-connections 0").find("must be ≥ 1, got 0"), std::string::npos);
  EXPECT_NE(parse_error("--mint-burst inf").find("must be ≥ 0"), std::string::npos);
  // In range: accepted as before.
  EXPECT_EQ(parse("--threads 0 --leeway-seconds 600").leeway_seconds, 600);
}

// `serve --help` shows the range of every numeric option in its text.
TEST_F(Ranges, HelpShowsTheRangeOfEveryNumericOption) {
  Config config;
  CLI::App app{"test", "bouncer"};
  OptionBinder binder(app, config);
  binder.add_common();
  binder.add_serve_options();
  const auto help = app.help();
  int numeric = 0;
  for (const auto* opt : app.get_options()) {
    const auto type = opt->get_type_name();
    if (type != "INT" && type != "UINT" && type != "FLOAT") continue;
    ++numeric;
    const auto text = opt->get_description();
    EXPECT_TRUE(std::regex_search(text, std::regex(R"(\[(between -?[0-9.]+ and [0-9.]+|≥ -?[0-9.]+)\]$)")))
        << opt->get_name() << " shows no range: " << text;
    EXPECT_NE(help.find(text), std::string::npos) << opt->get_name() << "\n" << help;
  }
  EXPECT_GE(numeric, 13) << help;
  EXPECT_NE(help.find("Clock skew allowed when checking token times [between 0 and 600]"), std::string::npos) << help;
  EXPECT_NE(help.find("I/O threads (0 = one per core) [≥ 0]"), std::string::npos) << help;
}

TEST_F(Ranges, ListenNeedsAnIpAddress) {
  for (const char* host : {"localhost:8080", "bouncer.example.com:443"}) {
    Config c;
    c.listen = host;
    try {
      to_server_options(c);
      ADD_FAILURE() << "accepted " << host;
    } catch (const std::runtime_error& e) {
      const std::string m = e.what();
      EXPECT_NE(m.find("--listen needs an IP address"), std::string::npos) << m;
      EXPECT_NE(m.find(std::string(host).substr(0, std::string(host).rfind(':'))), std::string::npos) << m;
    }
  }
  for (const char* good : {"127.0.0.1:0", "0.0.0.0:8080", "[::1]:8443", "[::]:80"}) {
    Config c;
    c.listen = good;
    EXPECT_NO_THROW(to_server_options(c)) << good;
  }
}

TEST_F(Ranges, AnUnreadableCaFileNamesTheModelAndThePath) {
  const auto missing = std::filesystem::temp_directory_path() / "bouncer-no-such-dir" / "ca.pem";
  write_file("[models.private-llm]\nupstream = \"wss://127.0.0.1:9443/\"\nca_file = \"" + missing.string() + "\"\n");
  const auto message = parse_error("--config " + file_.string());
  EXPECT_NE(message.find("models.private-llm"), std::string::npos) << message;
  EXPECT_NE(message.find(missing.string()), std::string::npos) << message;
  EXPECT_NE(message.find("No such file or directory"), std::string::npos) << message;
}

}  // namespace
}  // namespace bouncer::cli
