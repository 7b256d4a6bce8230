// A mistyped sub-command gets the one that was meant, and the list.
#include "cli/suggest.h"

#include <gtest/gtest.h>

namespace bouncer::cli {
namespace {

TEST(EditDistance, CountsInsertionsDeletionsSubstitutionsAndSwaps) {
  EXPECT_EQ(edit_distance("serve", "serve"), 0u);
  EXPECT_EQ(edit_distance("serv", "serve"), 1u);
  EXPECT_EQ(edit_distance("servee", "serve"), 1u);
  EXPECT_EQ(edit_distance("sarve", "serve"), 1u);
  EXPECT_EQ(edit_distance("lsit", "list"), 1u);
  EXPECT_EQ(edit_distance("", "keys"), 4u);
  EXPECT_EQ(edit_distance("tokens", "keys"), 3u);  // t, o gone; n → y
}

TEST(Closest, FindsTheMeantCommandOrNone) {
  const std::vector<std::string> top{"serve", "keys", "tokens", "signing-keys"};
  EXPECT_EQ(closest("serv", top), "serve");
  EXPECT_EQ(closest("srevr", top), "serve");
  EXPECT_EQ(closest("key", top), "keys");
  EXPECT_EQ(closest("token", top), "tokens");
  EXPECT_EQ(closest("signing", top), "signing-keys");  // the only one it begins
  EXPECT_EQ(closest("signingkeys", top), "signing-keys");
  EXPECT_EQ(closest("start", top), std::nullopt);
  EXPECT_EQ(closest("x", top), std::nullopt);
  EXPECT_EQ(closest("lsit", {"create", "list", "revoke"}), "list");
}

class UnknownSubcommand : public ::testing::Test {
 protected:
  UnknownSubcommand() {
    app_.add_subcommand("serve", "Run the server");
    auto* keys = app_.add_subcommand("keys", "Manage keys");
    keys->add_subcommand("create", "Create a key");
    keys->add_subcommand("list", "List keys");
    app_.add_subcommand("tokens", "Client tokens");
  }
  CLI::App app_{"test", "bouncer"};
};

TEST_F(UnknownSubcommand, SuggestsAndListsAtTheTop) {
  const auto m = unknown_subcommand(app_, {"serv", "--listen", "127.0.0.1:0"});
  ASSERT_TRUE(m);
  EXPECT_NE(m->find("'serv' is not a command of bouncer"), std::string::npos) << *m;
  EXPECT_NE(m->find("Did you mean 'serve'?"), std::string::npos) << *m;
  for (const char* name : {"serve", "keys", "tokens"}) EXPECT_NE(m->find(std::string("\n  ") + name), std::string::npos) << *m;
}

TEST_F(UnknownSubcommand, SuggestsOneLevelDown) {
  const auto m = unknown_subcommand(app_, {"keys", "lst"});
  ASSERT_TRUE(m);
  EXPECT_NE(m->find("not a command of bouncer keys"), std::string::npos) << *m;
  EXPECT_NE(m->find("Did you mean 'list'?"), std::string::npos) << *m;
}

TEST_F(UnknownSubcommand, ListsWithoutAGuessWhenNothingIsClose) {
  const auto m = unknown_subcommand(app_, {"frobnicate"});
  ASSERT_TRUE(m);
  EXPECT_EQ(m->find("Did you mean"), std::string::npos) << *m;
  EXPECT_NE(m->find("\n  serve"), std::string::npos) << *m;
}

TEST_F(UnknownSubcommand, LeavesValidLinesAndOptionsToTheParser) {
  EXPECT_FALSE(unknown_subcommand(app_, {"serve", "--threads", "2"}));
  EXPECT_FALSE(unknown_subcommand(app_, {"serve", "extra"}));  // a leaf's own arguments
  EXPECT_FALSE(unknown_subcommand(app_, {"keys", "list", "--json"}));
  EXPECT_FALSE(unknown_subcommand(app_, {"--help"}));
  EXPECT_FALSE(unknown_subcommand(app_, {}));
}

}  // namespace
}  // namespace bouncer::cli
