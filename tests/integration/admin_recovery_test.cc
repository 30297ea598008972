// Recovering a lost admin password: keepd --reset-admin-password on the data
// directory, run on the server while keepd is stopped, prints a new one.
#include "tests/support/keepd_test.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <unistd.h>

namespace keep::testkit {
namespace {

// Runs keepd with `args` (and --allow-root when the test runs as root); its
// stdout, and its exit status in `status`.
std::string RunKeepd(const std::string& args, int& status) {
  std::string command = KeepdBinary() + " " + args + (::geteuid() == 0 ? " --allow-root" : "") +
                        " 2>/dev/null";
  FILE* pipe = ::popen(command.c_str(), "r");
  std::string out;
  char buffer[256];
  while (pipe && std::fgets(buffer, sizeof buffer, pipe)) out += buffer;
  status = pipe ? ::pclose(pipe) : -1;
  return out;
}

class AdminRecoveryTest : public KeepdTest {};

TEST_F(AdminRecoveryTest, ResetPrintsANewPasswordThatWorksAndTheOldOneNoLonger) {
  ASSERT_EQ(client_.Get("/admin/v1/whoami").status, 200);
  std::string new_password;
  keepd_.Restart(KeepdProcess::Stop::kGraceful, [&] {
    int status = 0;
    // With no config, ./keep-data: no Keep data there, and nothing is made.
    std::string out = RunKeepd("--reset-admin-password", status);
    EXPECT_NE(status, 0) << out;
    EXPECT_EQ(out, "");
    std::string dir = keepd_.data_dir().string();
    setenv("KEEP_DATA_DIR", dir.c_str(), 1);
    out = RunKeepd("--reset-admin-password", status);
    unsetenv("KEEP_DATA_DIR");
    ASSERT_EQ(status, 0) << out;
    ASSERT_FALSE(out.empty());
    new_password = out.substr(0, out.find('\n'));
  });
  client_.Disconnect();
  EXPECT_EQ(client_.Get("/admin/v1/whoami").status, 401);  // the old password
  HttpsClient fresh = keepd_.AnonymousClient();
  fresh.SetBasicAuth("admin", new_password);
  Response who = fresh.Get("/admin/v1/whoami");
  ASSERT_EQ(who.status, 200) << who.body;
  EXPECT_EQ(who.Json()["admin"], true);
}

// Not on a terminal (under systemd, the journal), the first admin's password
// goes to a file only keepd's user may read, never to the log.
TEST(FirstAdminTest, OffATerminalThePasswordGoesToAPrivateFile) {
  auto dir = std::filesystem::temp_directory_path() /
             ("keep-first-admin-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  {
    std::ofstream(dir / "keep.json") << nlohmann::json{{"listen", "127.0.0.1:0"},
                                                      {"data_dir", (dir / "data").string()}};
  }
  std::string command = "env -u KEEP_ADMIN_PASSWORD timeout -s TERM 3 " + KeepdBinary() +
                        " --config " + (dir / "keep.json").string() +
                        (::geteuid() == 0 ? " --allow-root" : "") + " 2>&1 </dev/null";
  FILE* pipe = ::popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string log;
  char buffer[256];
  while (std::fgets(buffer, sizeof buffer, pipe)) log += buffer;
  ::pclose(pipe);
  auto file = dir / "data" / "initial-admin-password";
  ASSERT_TRUE(std::filesystem::exists(file)) << log;
  EXPECT_EQ(std::filesystem::status(file).permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  std::string password;
  std::getline(std::ifstream(file), password);
  EXPECT_GE(password.size(), 16u);
  EXPECT_EQ(log.find(password), std::string::npos) << log;
  EXPECT_NE(log.find("initial-admin-password"), std::string::npos) << log;
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace keep::testkit
