// maxUses and resume ids (the server's contract: a token minted with maxUses N admits N
// sessions, then 1008 "Token already used"; a reconnect with the same resume id within 30 s
// of that connection's end uses nothing; one live connection per resume id).
#include "live_server.hpp"

namespace client_test {
namespace {

using SingleUse = LiveServer;

bc::ClientCredential single_use_token(bc::MintRequest request) {
  request.max_uses = 1;
  return bc::mint_token(request);
}

TEST_F(SingleUse, SecondAdmissionIsTokenAlreadyUsed) {
  const auto credential = single_use_token(mint_request());
  {
    auto first = bc::Session::connect(credential, options());
    expect_echo(first, "first use");
  }
  const auto e = expect_refused(credential, options());
  EXPECT_EQ(e.close_code(), 1008);
  EXPECT_EQ(e.reason(), "Token already used");
  EXPECT_TRUE(e.permanent());
}

TEST_F(SingleUse, SignedUrlIsSingleUseToo) {
  auto request = mint_request();
  request.max_uses = 1;
  const auto credential = bc::mint_url(request, "echo");
  {
    auto first = bc::Session::connect(credential, {});
    expect_echo(first, "first use");
  }
  EXPECT_EQ(expect_refused(credential, {}).reason(), "Token already used");
}

TEST_F(SingleUse, ReconnectWithTheSameResumeIdUsesNothing) {
  const auto credential = single_use_token(mint_request());
  auto o = options();
  o.resume_id = "client-test-resume-0001";
  {
    auto first = bc::Session::connect(credential, o);
    expect_echo(first, "before the drop");
  }
  auto again = bc::Session::connect(credential, o);
  expect_echo(again, "after the reconnect");
  again.close();
  o.resume_id = "client-test-resume-0002";
  EXPECT_EQ(expect_refused(credential, o).reason(), "Token already used");
}

TEST_F(SingleUse, OneLiveConnectionPerResumeId) {
  auto request = mint_request();
  request.max_uses = 5;
  const auto credential = bc::mint_token(request);
  auto o = options();
  o.resume_id = "client-test-resume-live-1";
  auto first = bc::Session::connect(credential, o);
  expect_echo(first, "live");
  const auto e = expect_refused(credential, o);
  EXPECT_EQ(e.reason(), "Resume id already in use");
  EXPECT_TRUE(e.permanent());
  expect_echo(first, "still live");
}

}  // namespace
}  // namespace client_test
