// https:// minting and wss:// sessions against a bouncer serving a certificate of a CA made
// for the test: trusted through ConnectOptions::tls.ca_file, refused without it.
#include "live_server.hpp"

namespace client_test {
namespace {

class Tls : public ::testing::Test {
 protected:
  void SetUp() override {
    pki_ = std::make_unique<TestPki>(tmp_.path());
    server_ = std::make_unique<BouncerServer>(std::vector<std::string>{}, pki_->server);
  }
  void TearDown() override {
    if (HasFailure() && server_) std::cerr << "==== bouncer ====\n" << server_->logs() << "\n";
  }

  bc::MintRequest mint_request(bool trust) const {
    bc::MintRequest r;
    r.base_url = server_->http_url();
    r.api_key = server_->key();
    if (trust) r.tls.ca_file = pki_->root_cert.string();
    return r;
  }
  bc::ConnectOptions options(const std::string& base_url, bool trust) const {
    bc::ConnectOptions o;
    o.base_url = base_url;
    o.model = "echo";
    if (trust) o.tls.ca_file = pki_->root_cert.string();
    return o;
  }

  test_support::TempDir tmp_;
  std::unique_ptr<TestPki> pki_;
  std::unique_ptr<BouncerServer> server_;
};

TEST_F(Tls, MintAndSessionWithTheTestCa) {
  const auto credential = bc::mint_token(mint_request(true));
  auto session = bc::Session::connect(credential, options(server_->ws_url(), true));
  LiveServer::expect_echo(session, "over TLS");
  EXPECT_EQ(session.close().code, 1000);
}

TEST_F(Tls, RefusalOverTls) {
  auto o = options(server_->ws_url(), true);
  o.model = "no-such-model";
  const auto e = LiveServer::expect_refused(bc::mint_token(mint_request(true)), o);
  EXPECT_EQ(e.close_code(), 1008);
  EXPECT_EQ(e.reason(), "Unknown model");
}

TEST_F(Tls, ServerClosingIsClosedOverTls) {
  auto request = mint_request(true);
  request.max_session_duration = 10;
  auto session = bc::Session::connect(bc::mint_token(request), options(server_->ws_url(), true));
  std::optional<bc::Closed> closed;
  for (int i = 0; i < 5 && !closed; ++i) {
    auto event = LiveServer::next_event(session, 20s);
    if (auto* c = std::get_if<bc::Closed>(&event)) closed = *c;
  }
  ASSERT_TRUE(closed);
  EXPECT_EQ(closed->reason, "max_session_duration");
}

TEST_F(Tls, HostNameWithSni) {
  const auto credential = bc::mint_token(mint_request(true));
  auto session =
      bc::Session::connect(credential, options("wss://localhost:" + std::to_string(server_->port()), true));
  LiveServer::expect_echo(session, "to localhost");
}

TEST_F(Tls, SignedUrlIsWss) {
  const auto credential = bc::mint_url(mint_request(true), "echo");
  EXPECT_TRUE(credential.url.starts_with("wss://127.0.0.1:")) << credential.url.substr(0, 30);
  bc::ConnectOptions o;
  o.tls.ca_file = pki_->root_cert.string();
  auto session = bc::Session::connect(credential, o);
  LiveServer::expect_echo(session, "signed URL over TLS");
}

TEST_F(Tls, UntrustedCertificateIsRefusedByTheClient) {
  EXPECT_THROW(bc::mint_token(mint_request(false)), bc::ConnectionError);
  const auto credential = bc::mint_token(mint_request(true));
  EXPECT_THROW(bc::Session::connect(credential, options(server_->ws_url(), false)), bc::ConnectionError);
}

TEST_F(Tls, MissingCaFileIsAnInvalidArgument) {
  auto request = mint_request(true);
  request.tls.ca_file = (tmp_.path() / "no-such.pem").string();
  EXPECT_THROW(bc::mint_token(request), std::invalid_argument);
}

}  // namespace
}  // namespace client_test
