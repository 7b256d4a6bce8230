// `cmake --install` of the client into a fresh prefix, then a program built against it twice:
// with find_package(BouncerClient) and with pkg-config. Both run against a live server.
#include "live_server.hpp"

#include <filesystem>

#ifndef BOUNCER_CLIENT_BUILD_DIR
#error "BOUNCER_CLIENT_BUILD_DIR and friends must be defined (clients/cpp/tests/CMakeLists.txt)"
#endif

namespace client_test {
namespace {

namespace fs = std::filesystem;

constexpr auto kBuildTimeout = std::chrono::seconds(300);

void expect_success(const test_support::CliResult& r, const std::string& what) {
  ASSERT_EQ(r.status, 0) << what << "\n" << r.out << r.err;
}

class InstalledClient : public LiveServer {
 protected:
  void SetUp() override {
    LiveServer::SetUp();
    prefix_ = tmp_.path() / "prefix";
    expect_success(test_support::run_program({BOUNCER_CLIENT_CMAKE_COMMAND, "--install", BOUNCER_CLIENT_BUILD_DIR,
                                              "--component", "bouncer_client", "--prefix", prefix_.string()},
                                             tmp_.path(), kBuildTimeout),
                   "cmake --install");
  }

  fs::path libdir() const { return prefix_ / BOUNCER_CLIENT_INSTALL_LIBDIR; }

  // Configures and builds tests/consumer with `extra` configure arguments; the program's path.
  fs::path build_consumer(const std::string& name, std::vector<std::string> extra) {
    const auto build = tmp_.path() / name;
    std::vector<std::string> configure{BOUNCER_CLIENT_CMAKE_COMMAND, "-S", BOUNCER_CLIENT_CONSUMER_DIR,
                                       "-B", build.string(), "-G", BOUNCER_CLIENT_CMAKE_GENERATOR,
                                       "-DCMAKE_CXX_COMPILER=" BOUNCER_CLIENT_CXX_COMPILER,
                                       "-DCMAKE_PREFIX_PATH=" + prefix_.string(),
                                       "-DCMAKE_CXX_FLAGS=" BOUNCER_CLIENT_CONSUMER_FLAGS,
                                       "-DCMAKE_EXE_LINKER_FLAGS=" BOUNCER_CLIENT_CONSUMER_FLAGS};
    configure.insert(configure.end(), extra.begin(), extra.end());
    const auto configured = test_support::run_program(configure, tmp_.path(), kBuildTimeout);
    if (configured.status != 0) throw std::runtime_error("configure failed\n" + configured.out + configured.err);
    const auto built = test_support::run_program({BOUNCER_CLIENT_CMAKE_COMMAND, "--build", build.string()}, tmp_.path(),
                                                 kBuildTimeout);
    if (built.status != 0) throw std::runtime_error("build failed\n" + built.out + built.err);
    return build / "consumer";
  }

  void expect_consumer_works(const fs::path& program) {
    const auto r = test_support::run_program({program.string(), server().http_url(), server().key()}, tmp_.path());
    EXPECT_EQ(r.status, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("bouncer client " BOUNCER_CLIENT_VERSION "\n"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("echo: consumer\n"), std::string::npos) << r.out << r.err;
  }

  test_support::TempDir tmp_;
  fs::path prefix_;
};

TEST_F(InstalledClient, LaysOutHeadersLibraryPackageAndPkgConfig) {
  for (const auto& file : {prefix_ / "include/bouncer/client/client.hpp", prefix_ / "include/bouncer/client/session.hpp",
                           prefix_ / "include/bouncer/client/version.hpp",
                           libdir() / "cmake/BouncerClient/BouncerClientConfig.cmake",
                           libdir() / "cmake/BouncerClient/BouncerClientConfigVersion.cmake",
                           libdir() / "cmake/BouncerClient/BouncerClientTargets.cmake",
                           libdir() / "pkgconfig/bouncer-client.pc"}) {
    EXPECT_TRUE(fs::exists(file)) << file;
  }
  EXPECT_TRUE(fs::exists(libdir() / "libbouncer_client.a") || fs::exists(libdir() / "libbouncer_client.so"));
  // Only the client: the server's files are not in its component.
  EXPECT_FALSE(fs::exists(prefix_ / "bin"));
}

TEST_F(InstalledClient, FindPackageConsumerRuns) {
  expect_consumer_works(build_consumer("with-find-package", {}));
}

TEST_F(InstalledClient, PkgConfigConsumerRuns) {
  expect_consumer_works(build_consumer("with-pkg-config", {"-DCONSUMER_WITH_PKG_CONFIG=ON"}));
}

TEST_F(InstalledClient, PkgConfigFlagsAloneLinkAProgram) {
  // The way a Makefile uses it: the compiler, the .pc file's flags, nothing else.
  const auto program = tmp_.path() / "consumer-pc";
  const std::string script = "PKG_CONFIG_PATH='" + (libdir() / "pkgconfig").string() + "' && export PKG_CONFIG_PATH && " +
                             BOUNCER_CLIENT_CXX_COMPILER " " BOUNCER_CLIENT_CONSUMER_FLAGS " -std=c++17 -o '" + program.string() + "' '" +
                             BOUNCER_CLIENT_CONSUMER_DIR "/main.cpp' $(pkg-config --cflags --libs bouncer-client)";
  expect_success(test_support::run_program({"/bin/sh", "-c", script}, tmp_.path(), kBuildTimeout), script);
  expect_consumer_works(program);
}

}  // namespace
}  // namespace client_test
