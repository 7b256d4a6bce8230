#include "config_fixture.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <utility>
#include <vector>

namespace bouncer::cli {
namespace {

class ConfigPrecedence : public ConfigFileTest {
 protected:
  ConfigPrecedence() : ConfigFileTest("config", {"BOUNCER_LISTEN", "BOUNCER_THREADS"}) {}
};

// flags beat env beat file beat defaults (docs/OPERATIONS.md), option by option.
TEST_F(ConfigPrecedence, FlagsBeatEnvBeatFile) {
  write_file("listen = \"127.0.0.1:1111\"\nthreads = 3\nleeway_seconds = 5\n");
  ::setenv("BOUNCER_LISTEN", "127.0.0.1:2222", 1);
  ::setenv("BOUNCER_THREADS", "4", 1);
  const auto c = parse("--config " + file_.string() + " --listen 127.0.0.1:3333");
  EXPECT_EQ(c.listen, "127.0.0.1:3333");  // flag
  EXPECT_EQ(c.threads, 4u);               // env
  EXPECT_EQ(c.leeway_seconds, 5);         // file
  EXPECT_EQ(c.max_connections, 10000u);   // default
}

// A negative count must not wrap around to "no limit", whichever way it arrives.
TEST_F(ConfigPrecedence, NegativeCountsAreRefused) {
  EXPECT_THROW(parse("--max-sessions-per-key -1"), CLI::ValidationError);
  EXPECT_THROW(parse("--max-connections -5"), CLI::ValidationError);
  ::setenv("BOUNCER_THREADS", "-1", 1);
  EXPECT_THROW(parse(""), CLI::ValidationError);
  ::unsetenv("BOUNCER_THREADS");
  write_file("max_sessions_per_key = -1\n");
  EXPECT_THROW(parse("--config " + file_.string()), std::runtime_error);
  EXPECT_EQ(parse("--max-sessions-per-key 0").max_sessions_per_key, 0u);
}

// --max-sessions-per-token: default 10; flag, BOUNCER_MAX_SESSIONS_PER_TOKEN and the file, in
// that order; 0 (no cap) to 1000 (the largest a token may ask for); never negative.
TEST_F(ConfigPrecedence, MaxSessionsPerToken) {
  EXPECT_EQ(parse("").max_sessions_per_token, 10u);
  EXPECT_EQ(to_server_options(parse("")).max_sessions_per_token, 10u);
  write_file("max_sessions_per_token = 3\n");
  EXPECT_EQ(to_server_options(parse("--config " + file_.string())).max_sessions_per_token, 3u);
  ::setenv("BOUNCER_MAX_SESSIONS_PER_TOKEN", "4", 1);
  EXPECT_EQ(parse("--config " + file_.string()).max_sessions_per_token, 4u);
  EXPECT_EQ(parse("--config " + file_.string() + " --max-sessions-per-token 5").max_sessions_per_token, 5u);
  ::unsetenv("BOUNCER_MAX_SESSIONS_PER_TOKEN");
  EXPECT_EQ(to_server_options(parse("--max-sessions-per-token 0")).max_sessions_per_token, 0u);
  EXPECT_EQ(to_server_options(parse("--max-sessions-per-token 1000")).max_sessions_per_token, 1000u);
  EXPECT_THROW(to_server_options(parse("--max-sessions-per-token 1001")), std::runtime_error);
  EXPECT_THROW(parse("--max-sessions-per-token -1"), CLI::ValidationError);
  write_file("max_sessions_per_token = -1\n");
  EXPECT_THROW(parse("--config " + file_.string()), std::runtime_error);
}

TEST_F(ConfigPrecedence, EnvBeatsFile) {
  write_file("listen = \"127.0.0.1:1111\"\n");
  ::setenv("BOUNCER_LISTEN", "127.0.0.1:2222", 1);
  EXPECT_EQ(parse("--config " + file_.string()).listen, "127.0.0.1:2222");
}

TEST_F(ConfigPrecedence, FileBeatsDefault) {
  write_file("listen = \"127.0.0.1:1111\"\n");
  EXPECT_EQ(parse("--config " + file_.string()).listen, "127.0.0.1:1111");
}

TEST_F(ConfigPrecedence, ConfigFileNamedByEnvironment) {
  write_file("listen = \"127.0.0.1:1111\"\n");
  ::setenv("BOUNCER_CONFIG", file_.c_str(), 1);
  const auto c = parse("");
  ::unsetenv("BOUNCER_CONFIG");
  EXPECT_EQ(c.listen, "127.0.0.1:1111");
}

TEST_F(ConfigPrecedence, UnknownSettingIsAnError) {
  write_file("lisen = \"127.0.0.1:1111\"\n");
  try {
    parse("--config " + file_.string());
    FAIL() << "typo accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("unknown setting 'lisen'"), std::string::npos) << e.what();
  }
}

TEST_F(ConfigPrecedence, WrongTypeAndSyntaxErrorsNameTheProblem) {
  write_file("threads = \"many\"\n");
  EXPECT_THROW(parse("--config " + file_.string()), std::runtime_error);
  write_file("listen = \n");
  try {
    parse("--config " + file_.string());
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("line 1"), std::string::npos) << e.what();
  }
}

TEST_F(ConfigPrecedence, ModelsComeFromTables) {
  write_file("[models.gpt-realtime]\nupstream = \"ws://127.0.0.1:9000/\"\n");
  const auto c = parse("--config " + file_.string());
  ASSERT_EQ(c.models.count("gpt-realtime"), 1u);
  EXPECT_EQ(c.models.at("gpt-realtime").upstream, "ws://127.0.0.1:9000/");
  const auto o = to_server_options(c);
  ASSERT_EQ(o.models.size(), 3u);
  EXPECT_EQ(o.models[0].name, "echo");
  EXPECT_TRUE(o.models[0].builtin);
  EXPECT_EQ(o.models[1].name, "demo");
  EXPECT_EQ(o.models[2].name, "gpt-realtime");
  EXPECT_EQ(o.models[2].upstream, "ws://127.0.0.1:9000/");
  EXPECT_FALSE(o.models[2].builtin);
}

TEST_F(ConfigPrecedence, ModelSettingsAreCheckedByName) {
  write_file("[models.m]\nupstream = \"ws://127.0.0.1:9000/\"\nmax_sessions = 3\nshared_secret = \"s\"\n"
             "[models.m.headers]\nAuthorization = \"Bearer up\"\n");
  const auto o = to_server_options(parse("--config " + file_.string()));
  const auto* m = o.find_model("m");
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->max_sessions, 3u);
  EXPECT_EQ(m->shared_secret, "s");
  ASSERT_EQ(m->headers.size(), 1u);
  EXPECT_EQ(m->headers[0].first, "Authorization");
  for (const char* bad : {"[models.m]\nupstream = \"http://x/\"\n", "[models.m]\nupstrem = \"ws://x/\"\n",
                          "[models.m]\nmax_sessions = -1\nupstream = \"ws://x/\"\n", "[models.m]\n"}) {
    write_file(bad);
    EXPECT_THROW(to_server_options(parse("--config " + file_.string())), std::runtime_error) << bad;
  }
}

TEST_F(ConfigPrecedence, TrustedProxiesAndLogRateLimitFromEverySource) {
  write_file("trusted_proxies = \"10.0.0.0/8\"\nlog_rate_limit = 3\n");
  auto c = parse("--config " + file_.string());
  EXPECT_EQ(c.trusted_proxies, "10.0.0.0/8");
  EXPECT_EQ(c.log_rate_limit, 3u);
  ::setenv("BOUNCER_TRUSTED_PROXIES", "127.0.0.1", 1);
  ::setenv("BOUNCER_LOG_RATE_LIMIT", "0", 1);
  c = parse("--config " + file_.string());
  EXPECT_EQ(c.trusted_proxies, "127.0.0.1");
  EXPECT_EQ(c.log_rate_limit, 0u);
  c = parse("--config " + file_.string() + " --trusted-proxies 2001:db8::/32 --log-rate-limit 50");
  ::unsetenv("BOUNCER_TRUSTED_PROXIES");
  ::unsetenv("BOUNCER_LOG_RATE_LIMIT");
  EXPECT_EQ(c.trusted_proxies, "2001:db8::/32");
  EXPECT_EQ(c.log_rate_limit, 50u);
  EXPECT_EQ(parse("").log_rate_limit, 10u);
  EXPECT_THROW(parse("--log-rate-limit -1"), CLI::ValidationError);
}

TEST(ServerOptions, TrustedProxiesAreValidated) {
  Config c;
  EXPECT_TRUE(to_server_options(c).trusted_proxies.empty()) << "nobody is trusted by default";
  c.trusted_proxies = "10.0.0.0/8, 2001:db8::/32";
  const auto o = to_server_options(c);
  EXPECT_TRUE(o.trusted_proxies.contains(boost::asio::ip::make_address("10.1.2.3")));
  EXPECT_TRUE(o.trusted_proxies.contains(boost::asio::ip::make_address("2001:db8::9")));
  EXPECT_FALSE(o.trusted_proxies.contains(boost::asio::ip::make_address("127.0.0.1")));
  for (const auto& [bad, message] : std::vector<std::pair<std::string, std::string>>{
           {"10.0.0.1/8", "--trusted-proxies: '10.0.0.1/8' has bits set past its /8 prefix: did you mean 10.0.0.0/8?"},
           {"proxy.internal", "--trusted-proxies: 'proxy.internal' is not an IP address or CIDR (such as 10.0.0.0/8 or 2001:db8::/32)"},
           {"10.0.0.0/40", "--trusted-proxies: '10.0.0.0/40': the prefix length must be a number from 0 to 32"}}) {
    c.trusted_proxies = bad;
    try {
      to_server_options(c);
      ADD_FAILURE() << bad << " was accepted";
    } catch (const std::runtime_error& e) {
      EXPECT_EQ(std::string(e.what()), message);
    }
  }
}

TEST(ServerOptions, ListenAddressForms) {
  Config c;
  c.listen = "0.0.0.0:0";
  EXPECT_EQ(to_server_options(c).port, 0);
  c.listen = "[::1]:8443";
  const auto o = to_server_options(c);
  EXPECT_EQ(o.host, "::1");
  EXPECT_EQ(o.port, 8443);
  for (const char* bad : {"127.0.0.1", "127.0.0.1:65536", "127.0.0.1:x", "127.0.0.1:"}) {
    c.listen = bad;
    EXPECT_THROW(to_server_options(c), std::runtime_error) << bad;
  }
}

TEST(ServerOptions, BoundsAreChecked) {
  Config c;
  c.leeway_seconds = -1;
  EXPECT_THROW(to_server_options(c), std::runtime_error);
  c = {};
  c.max_body_bytes = 100;
  EXPECT_THROW(to_server_options(c), std::runtime_error);
  c = {};
  c.public_url = "ftp://x";
  EXPECT_THROW(to_server_options(c), std::runtime_error);
  c = {};
  c.public_url = "https://bouncer.example.com/";
  EXPECT_EQ(to_server_options(c).public_url, "https://bouncer.example.com");
  c = {};
  c.mint_rate_per_key = -1;
  EXPECT_THROW(to_server_options(c), std::runtime_error);
}

// --admin-listen: on by default on loopback, "off", an IP address and a port (0 allowed).
TEST(ServerOptions, AdminListen) {
  Config c;
  auto o = to_server_options(c);
  EXPECT_EQ(o.admin_host, "127.0.0.1");
  EXPECT_EQ(o.admin_port, 9090);
  c.admin_listen = "off";
  EXPECT_TRUE(to_server_options(c).admin_host.empty());
  c.admin_listen = "127.0.0.1:0";
  o = to_server_options(c);
  EXPECT_EQ(o.admin_host, "127.0.0.1");
  EXPECT_EQ(o.admin_port, 0);
  c.admin_listen = "[::1]:9091";
  o = to_server_options(c);
  EXPECT_EQ(o.admin_host, "::1");
  EXPECT_EQ(o.admin_port, 9091);
  for (const char* bad : {"", "on", "OFF", "127.0.0.1", ":9090", "localhost:9090", "127.0.0.1:65536", "127.0.0.1:x",
                          "127.0.0.1:", "[::1]9090"}) {
    c.admin_listen = bad;
    EXPECT_THROW(to_server_options(c), std::runtime_error) << bad;
  }
}

// The limits against abuse from one address: each from a flag, BOUNCER_*, or the file, with
// safe defaults, 0 turning a cap off, and the deadlines within their ranges.
TEST_F(ConfigPrecedence, PerAddressLimitsAndDeadlines) {
  const auto defaults = to_server_options(parse(""));
  EXPECT_EQ(defaults.max_connections_per_ip, 256u);
  EXPECT_EQ(defaults.max_handshakes_per_ip, 32u);
  EXPECT_EQ(defaults.first_byte_timeout, std::chrono::seconds(10));
  EXPECT_EQ(defaults.header_timeout, std::chrono::seconds(10));
  EXPECT_EQ(defaults.max_invalid_credentials_per_ip, 30u);
  EXPECT_EQ(defaults.invalid_credentials_window, std::chrono::seconds(10));
  EXPECT_EQ(defaults.invalid_credentials_penalty, std::chrono::seconds(30));

  write_file("max_connections_per_ip = 7\nheader_timeout_seconds = 4\ninvalid_credentials_penalty_seconds = 90\n");
  ::setenv("BOUNCER_MAX_HANDSHAKES_PER_IP", "5", 1);
  ::setenv("BOUNCER_MAX_CONNECTIONS_PER_IP", "8", 1);
  const auto o = to_server_options(parse("--config " + file_.string() +
                                         " --max-connections-per-ip 9 --first-byte-timeout-seconds 3"
                                         " --max-invalid-credentials-per-ip 0 --invalid-credentials-window-seconds 20"));
  ::unsetenv("BOUNCER_MAX_HANDSHAKES_PER_IP");
  ::unsetenv("BOUNCER_MAX_CONNECTIONS_PER_IP");
  EXPECT_EQ(o.max_connections_per_ip, 9u);  // flag beats env beats file
  EXPECT_EQ(o.max_handshakes_per_ip, 5u);   // env
  EXPECT_EQ(o.header_timeout, std::chrono::seconds(4));  // file
  EXPECT_EQ(o.first_byte_timeout, std::chrono::seconds(3));
  EXPECT_EQ(o.max_invalid_credentials_per_ip, 0u);
  EXPECT_EQ(o.invalid_credentials_window, std::chrono::seconds(20));
  EXPECT_EQ(o.invalid_credentials_penalty, std::chrono::seconds(90));

  EXPECT_THROW(parse("--max-handshakes-per-ip -1"), CLI::ValidationError);
  for (const char* bad : {"--first-byte-timeout-seconds 0", "--first-byte-timeout-seconds 301",
                          "--header-timeout-seconds 0", "--header-timeout-seconds 31",
                          "--invalid-credentials-window-seconds 0", "--invalid-credentials-penalty-seconds 3601"}) {
    EXPECT_THROW(to_server_options(parse(bad)), std::runtime_error) << bad;
  }
}

}  // namespace
}  // namespace bouncer::cli
