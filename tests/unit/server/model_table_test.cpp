#include "server/model_table.h"

#include <gtest/gtest.h>

namespace bouncer::server {
namespace {

ModelRoute route(std::string name, std::string upstream, std::size_t max_sessions = 0) {
  ModelRoute r;
  r.name = std::move(name);
  r.upstream = std::move(upstream);
  r.max_sessions = max_sessions;
  return r;
}

TEST(ModelTable, FindsByExactName) {
  const ModelTable table({route("a", "ws://127.0.0.1:1/"), route("b", "ws://127.0.0.1:2/")});
  ASSERT_NE(table.find("b"), nullptr);
  EXPECT_EQ(table.find("b")->upstream, "ws://127.0.0.1:2/");
  EXPECT_EQ(table.find("B"), nullptr);
  EXPECT_EQ(table.find(""), nullptr);
}

TEST(ModelTable, TlsContextForWssModelsOnly) {
  const ModelTable table({route("plain", "ws://127.0.0.1:1/"), route("secure", "wss://127.0.0.1:2/")});
  EXPECT_EQ(table.tls_of("plain"), nullptr);
  EXPECT_NE(table.tls_of("secure"), nullptr);
  EXPECT_EQ(table.tls_of("missing"), nullptr);
}

TEST(ModelTable, UnreadableCaFileNamesTheModelAndThePath) {
  auto r = route("secure", "wss://127.0.0.1:2/");
  r.ca_file = "/nonexistent/bouncer-test-ca.pem";
  try {
    ModelTable table({r});
    FAIL() << "a missing ca_file was accepted";
  } catch (const std::runtime_error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("model secure"), std::string::npos) << what;
    EXPECT_NE(what.find("/nonexistent/bouncer-test-ca.pem"), std::string::npos) << what;
  }
}

TEST(DiffModels, AddedChangedRemovedByName) {
  auto headers = route("h", "ws://127.0.0.1:5/");
  headers.headers = {{"X-Key", "one"}};
  const ModelTable before({route("same", "ws://127.0.0.1:1/"), route("gone", "ws://127.0.0.1:2/"),
                           route("cap", "ws://127.0.0.1:3/", 5), route("url", "ws://127.0.0.1:4/"), headers});
  auto new_headers = headers;
  new_headers.headers = {{"X-Key", "two"}};
  const ModelTable after({route("same", "ws://127.0.0.1:1/"), route("cap", "ws://127.0.0.1:3/", 6),
                          route("url", "ws://127.0.0.1:40/"), new_headers, route("new2", "ws://127.0.0.1:7/"),
                          route("new1", "ws://127.0.0.1:6/")});
  const auto changes = diff_models(before, after);
  EXPECT_EQ(changes.added, (std::vector<std::string>{"new1", "new2"}));
  EXPECT_EQ(changes.changed, (std::vector<std::string>{"cap", "h", "url"}));
  EXPECT_EQ(changes.removed, (std::vector<std::string>{"gone"}));
  EXPECT_TRUE(diff_models(after, after).empty());
}

TEST(ModelCatalog, ReplacingLeavesHeldTablesIntact) {
  ModelCatalog catalog(std::make_shared<const ModelTable>(std::vector{route("old", "ws://127.0.0.1:1/")}));
  const auto held = catalog.current();  // what an admitted session keeps
  const auto* old_route = held->find("old");
  ASSERT_NE(old_route, nullptr);
  catalog.replace(std::make_shared<const ModelTable>(std::vector{route("new", "ws://127.0.0.1:2/")}));
  EXPECT_EQ(catalog.current()->find("old"), nullptr);
  EXPECT_NE(catalog.current()->find("new"), nullptr);
  EXPECT_EQ(held->find("old"), old_route);
  EXPECT_EQ(old_route->upstream, "ws://127.0.0.1:1/");
}

}  // namespace
}  // namespace bouncer::server
