// The environment overrides README.md lists (KEEP_LISTEN, KEEP_DATA_DIR,
// KEEP_TLS_CERT, KEEP_TLS_KEY, KEEP_THREADS, KEEP_ALLOW_ROOT,
// KEEP_LOG_REQUESTS, KEEP_ADMIN_PASSWORD) and keepd's refusal to run as
// root. Each override is set against a config file that says otherwise,
// most often something keepd cannot start with: keepd starting at all shows
// the variable won, and starting without it shows the file alone fails.
#include "tests/support/keepd_test.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <stdexcept>

namespace keep::testkit {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

// A path under which nothing can be created, even by root.
constexpr const char* kUnusable = "/dev/null/keep";

// Options that make keepd root and leave it to decide whether to run: the
// tests' own root when they run as root, else root in a user namespace.
KeepdOptions AsRoot(std::vector<std::string> environment = {}) {
  KeepdOptions options;
  options.environment = std::move(environment);
  options.allow_root_flag = false;
  if (::geteuid() != 0) options.launcher = {"unshare", "-r"};
  return options;
}

// Why starting keepd with these settings failed; "" when it started.
std::string StartFailure(json config, KeepdOptions options = {}) {
  try {
    KeepdProcess keepd(std::move(config), std::move(options));
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}

::testing::AssertionResult Serves(const KeepdProcess& keepd) {
  HttpsClient admin = keepd.AdminClient();
  auto r = admin.TrySend({http::verb::get, "/v2/"});
  if (!r) return ::testing::AssertionFailure() << admin.last_error();
  if (r->status != 200) return ::testing::AssertionFailure() << r->status << " " << r->body;
  return ::testing::AssertionSuccess();
}

// --- root -------------------------------------------------------------------

TEST(ConfigEnvironmentTest, RefusesToRunAsRootUnlessAllowed) {
  std::string failure = StartFailure(json::object(), AsRoot());
  ASSERT_NE(failure, "") << "keepd ran as root with nothing allowing it";
  EXPECT_NE(failure.find("exit status 1"), std::string::npos) << failure;
  EXPECT_NE(failure.find("keepd: refusing to run as root"), std::string::npos) << failure;
}

TEST(ConfigEnvironmentTest, RootIsAllowedByTheFlag) {
  KeepdOptions options = AsRoot();
  options.allow_root_flag = true;
  KeepdProcess keepd(json::object(), options);
  EXPECT_TRUE(Serves(keepd));
}

TEST(ConfigEnvironmentTest, RootIsAllowedByTheConfigKey) {
  KeepdProcess keepd(json{{"allow_root", true}}, AsRoot());
  EXPECT_TRUE(Serves(keepd));
}

TEST(ConfigEnvironmentTest, KeepAllowRootOverridesTheConfigKey) {
  KeepdProcess keepd(json::object(), AsRoot({"KEEP_ALLOW_ROOT=true"}));
  EXPECT_TRUE(Serves(keepd));
  // Applied after the file, it takes back what the file allows.
  std::string failure = StartFailure({{"allow_root", true}}, AsRoot({"KEEP_ALLOW_ROOT=false"}));
  EXPECT_NE(failure.find("keepd: refusing to run as root"), std::string::npos) << failure;
}

// --- where keepd listens and keeps its data ---------------------------------

TEST(ConfigEnvironmentTest, KeepListenOverridesListen) {
  const json config = {{"listen", "not-an-address:1"}};
  EXPECT_NE(StartFailure(config).find("is not an IP address"), std::string::npos);
  KeepdProcess keepd(config, KeepdOptions{.environment = {"KEEP_LISTEN=127.0.0.1:{port}"}});
  EXPECT_TRUE(Serves(keepd));
}

TEST(ConfigEnvironmentTest, KeepDataDirOverridesDataDir) {
  const json config = {{"data_dir", kUnusable}};
  EXPECT_NE(StartFailure(config).find("cannot create data_dir"), std::string::npos);
  KeepdProcess keepd(config, KeepdOptions{.environment = {"KEEP_DATA_DIR={data_dir}"}});
  EXPECT_TRUE(Serves(keepd));
  EXPECT_TRUE(fs::exists(keepd.data_dir() / "metadata.db"));
}

// A certificate for 127.0.0.1 and its key, made with the openssl command,
// in `dir`; the clients trust it as data_dir/tls/server.crt.
void MakeOwnCertificate(const fs::path& data_dir) {
  fs::create_directories(data_dir / "own");
  fs::create_directories(data_dir / "tls");
  std::string command = "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
                        "-days 2 -subj /CN=keep-own-certificate "
                        "-addext subjectAltName=IP:127.0.0.1 -keyout " +
                        (data_dir / "own" / "key.pem").string() + " -out " +
                        (data_dir / "own" / "cert.pem").string() + " 2>/dev/null";
  ASSERT_EQ(std::system(command.c_str()), 0) << command;
  fs::copy_file(data_dir / "own" / "cert.pem", data_dir / "tls" / "server.crt");
}

TEST(ConfigEnvironmentTest, KeepTlsCertAndKeyOverrideTheConfiguredPair) {
  const json config = {{"tls", {{"cert", std::string(kUnusable) + ".crt"},
                                {"key", std::string(kUnusable) + ".key"}}}};
  EXPECT_NE(StartFailure(config), "");
  KeepdProcess keepd(config, MakeOwnCertificate,
                     KeepdOptions{.environment = {"KEEP_TLS_CERT={data_dir}/own/cert.pem",
                                                  "KEEP_TLS_KEY={data_dir}/own/key.pem"}});
  // The clients accept only the certificate made above.
  EXPECT_TRUE(Serves(keepd));
  EXPECT_EQ(keepd.Messages().find("self-signed"), std::string::npos) << keepd.Messages();
  EXPECT_FALSE(fs::exists(keepd.data_dir() / "tls" / "server.key"));
}

// --- threads and the request log --------------------------------------------

TEST(ConfigEnvironmentTest, KeepThreadsOverridesThreads) {
  KeepdProcess file(json{{"threads", 1}});
  EXPECT_NE(file.Messages().find(" (1 threads, "), std::string::npos) << file.Messages();
  KeepdProcess keepd(json{{"threads", 1}}, KeepdOptions{.environment = {"KEEP_THREADS=3"}});
  EXPECT_NE(keepd.Messages().find(" (3 threads, "), std::string::npos) << keepd.Messages();
  EXPECT_TRUE(Serves(keepd));
}

TEST(ConfigEnvironmentTest, KeepLogRequestsOverridesLogRequests) {
  KeepdProcess quiet(json{{"log", {{"requests", true}}}},
                     KeepdOptions{.environment = {"KEEP_LOG_REQUESTS=false"}});
  KeepdProcess logging(json{{"log", {{"requests", false}}}},
                       KeepdOptions{.environment = {"KEEP_LOG_REQUESTS=true"}});
  EXPECT_TRUE(Serves(quiet));
  EXPECT_TRUE(Serves(logging));
  // Stopped, each has written all it will.
  quiet.Restart(KeepdProcess::Stop::kGraceful, [&] { EXPECT_TRUE(quiet.RequestLog().empty()); });
  logging.Restart(KeepdProcess::Stop::kGraceful,
                  [&] { EXPECT_EQ(logging.RequestLog().size(), 1u); });
}

// --- the first admin's password ---------------------------------------------

TEST(ConfigEnvironmentTest, KeepAdminPasswordSetsTheFirstAdminsPasswordOnTheFirstStartOnly) {
  const fs::path saved = fs::temp_directory_path() / ("keep-saved-" + std::to_string(::getpid()));
  {
    KeepdProcess first(json::object(),
                       KeepdOptions{.environment = {"KEEP_ADMIN_PASSWORD=first-chosen-password"}});
    HttpsClient chosen = first.AnonymousClient(), other = first.AnonymousClient();
    chosen.SetBasicAuth(kAdminUser, "first-chosen-password");
    other.SetBasicAuth(kAdminUser, kAdminPassword);
    EXPECT_EQ(chosen.Get("/v2/").status, 200);
    EXPECT_TRUE(IsError(other.Get("/v2/"), 401, "UNAUTHORIZED"));
    EXPECT_NE(first.Messages().find("with the password from KEEP_ADMIN_PASSWORD"), std::string::npos);
    first.Restart(KeepdProcess::Stop::kGraceful,
                  [&] { fs::copy(first.data_dir(), saved, fs::copy_options::recursive); });
  }
  // Its data started again with another password in the environment.
  KeepdProcess again(
      json::object(),
      [&](const fs::path& data_dir) { fs::copy(saved, data_dir, fs::copy_options::recursive); },
      KeepdOptions{.environment = {"KEEP_ADMIN_PASSWORD=second-chosen-password"}});
  fs::remove_all(saved);
  HttpsClient chosen = again.AnonymousClient(), later = again.AnonymousClient();
  chosen.SetBasicAuth(kAdminUser, "first-chosen-password");
  later.SetBasicAuth(kAdminUser, "second-chosen-password");
  EXPECT_EQ(chosen.Get("/v2/").status, 200);
  EXPECT_TRUE(IsError(later.Get("/v2/"), 401, "UNAUTHORIZED"));
  EXPECT_EQ(again.Messages().find("KEEP_ADMIN_PASSWORD"), std::string::npos) << again.Messages();
}

}  // namespace
}  // namespace keep::testkit
