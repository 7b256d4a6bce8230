// examples/cpp-client against a real server: its output is what its comment promises.
#include "live_server.hpp"

#ifndef BOUNCER_CLIENT_EXAMPLE_BIN
#error "BOUNCER_CLIENT_EXAMPLE_BIN must be defined (clients/cpp/tests/CMakeLists.txt)"
#endif

namespace client_test {
namespace {

class Example : public LiveServer {
 protected:
  static test_support::CliResult run_example(const std::vector<std::string>& args) {
    std::vector<std::string> argv{BOUNCER_CLIENT_EXAMPLE_BIN};
    argv.insert(argv.end(), args.begin(), args.end());
    return test_support::run_program(argv, server().dir());
  }
};

TEST_F(Example, EchoesAndCloses) {
  const auto r = run_example({"--server", server().ws_url(), "--key", server().key(), "--model", "echo", "--message", "hi"});
  EXPECT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("minted a client token for echo, valid until 20"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("connected, subprotocol bouncer.v1\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("received text: hi\n"), std::string::npos) << r.out;
  // The echo model answers a close with 1000 and no reason.
  EXPECT_NE(r.out.find("\nclosed: 1000\n"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("sk_"), std::string::npos) << "the key was printed";
  EXPECT_EQ(r.out.find("ek_"), std::string::npos) << "the token was printed";
}

TEST_F(Example, RefusalIsReported) {
  const auto r = run_example({"--server", server().ws_url(), "--key", server().key(), "--model", "no-such-model"});
  EXPECT_EQ(r.status, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("unknown_model"), std::string::npos) << r.err;
}

TEST_F(Example, UsageWithoutAServer) {
  const auto r = run_example({"--key", "sk_x"});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("--server is required"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace client_test
