// keepctl's command line, help and credentials file: what needs no admin API.
#include "tests/cli/run_keepctl.h"
#include "tests/support/keepd_process.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

namespace keep::testkit {
namespace {

namespace fs = std::filesystem;

void WriteCredentials(const fs::path& path, fs::perms perms) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << R"({"server":"https://127.0.0.1:1","user":"admin",)"
                      << R"("password":"integration-test-password","ca":""})";
  fs::permissions(path, perms);
}

TEST(KeepctlHelp, HelpExitsZeroAtEveryLevel) {
  Keepctl keepctl;
  const std::pair<std::vector<std::string>, std::string> cases[] = {
      {{"--help"}, "Usage: keepctl [GLOBAL FLAGS] COMMAND"},
      {{"-h"}, "member add NS USER"},
      {{"user", "--help"}, "Usage: keepctl user COMMAND"},
      {{"robot", "create", "--help"},
       "Usage: keepctl robot create NAME --scope NS:ACTIONS [--scope NS:ACTIONS ...] "
       "[--expires DURATION]"},
      {{"member", "add", "acme", "--help"}, "--role ROLE"},
      {{"--output", "json", "namespace", "set", "--help"}, "--anonymous-pull=true|false"},
      {{"login", "--help"}, "KEEPCTL_PASSWORD"},
  };
  for (const auto& [args, expected] : cases) {
    SCOPED_TRACE(args.front() + " " + args.back());
    KeepctlRun run = keepctl.Run(args);
    EXPECT_EQ(run.exit_code, 0) << run;
    EXPECT_NE(run.out.find(expected), std::string::npos) << run;
    EXPECT_EQ(run.err, "");
  }
}

TEST(KeepctlHelp, BadCommandLinesExitTwoWithAHint) {
  Keepctl keepctl;
  const std::pair<std::vector<std::string>, std::string> cases[] = {
      {{}, "no command given"},
      {{"frobnicate"}, "unknown command \"frobnicate\""},
      {{"user"}, "keepctl user needs a command"},
      {{"user", "frob"}, "unknown command \"frob\" for keepctl user"},
      {{"user", "add", "bob", "--frob"}, "unknown flag --frob for keepctl user add"},
      {{"user", "add"}, "missing arguments"},
      {{"user", "show", "a", "b"}, "unexpected argument \"b\""},
      {{"--output", "yaml", "user", "list"}, "--output takes json or table"},
      {{"-o", "yaml", "user", "list"}, "--output takes json or table"},
      {{"user", "list", "-o"}, "the flag --output needs a value"},
      {{"user", "list", "-o="}, "the flag --output needs a value"},
      {{"user", "list", "-x"}, "unknown flag -x"},
      {{"user", "list", "--server"}, "the flag --server needs a value"},
      {{"member", "add", "acme", "bob"}, "the flag --role is required"},
      {{"member", "add", "acme", "bob", "--role", "owner"}, "reader, publisher or maintainer"},
      {{"robot", "create", "ci", "--scope", "acme:fly"}, "\"fly\" is not one of pull, push, delete"},
      {{"robot", "create", "ci", "--scope", "acme"}, "expected NAMESPACE:ACTIONS"},
      {{"robot", "create", "ci", "--scope", "a:pull", "--expires", "3x"}, "bad --expires"},
      {{"namespace", "set", "acme"}, "the flag --anonymous-pull is required"},
      {{"namespace", "set", "acme", "--anonymous-pull=maybe"}, "takes true or false"},
      {{"login", "--user", "admin"}, "missing SERVER_URL"},
      {{"login", "http://127.0.0.1:5000", "--user", "admin"}, "keepctl speaks https only"},
      {{"login", "https://127.0.0.1:99999", "--user", "admin"}, "bad server URL"},
      {{"login", "https://127.0.0.1:1", "--user", "admin", "--ca="}, "--ca needs a value"},
  };
  for (const auto& [args, expected] : cases) {
    std::string line;
    for (const auto& a : args) line += a + " ";
    SCOPED_TRACE(line);
    KeepctlRun run = keepctl.Run(args);
    EXPECT_EQ(run.exit_code, 2) << run;
    EXPECT_EQ(run.err.rfind("keepctl: ", 0), 0u) << run;
    EXPECT_NE(run.err.find(expected), std::string::npos) << run;
    EXPECT_NE(run.err.find("--help` for usage"), std::string::npos) << run;
    EXPECT_EQ(run.out, "");
  }
}

// A word one or two edits from a command, or the start of one, is named in a
// hint; the exit status stays 2, and nothing runs.
TEST(KeepctlHelp, AMistypedCommandOrFlagGetsADidYouMean) {
  Keepctl keepctl;
  const std::pair<std::vector<std::string>, std::string> cases[] = {
      {{"namspace", "list"}, "keepctl: unknown command \"namspace\"\n"
                             "hint: did you mean \"namespace\"?\n"},
      {{"verfy", "acme/app:v1"}, "hint: did you mean \"verify\"?\n"},
      {{"namespace", "lsit"}, "hint: did you mean \"list\"?\n"},
      {{"quar", "list", "acme"}, "hint: did you mean \"quarantine\"?\n"},
      {{"member", "add", "acme", "bob", "--rol", "reader"}, "hint: did you mean \"--role\"?\n"},
      {{"--outptu", "json", "whoami"}, "hint: did you mean \"--output\"?\n"},
  };
  for (const auto& [args, expected] : cases) {
    SCOPED_TRACE(args.front());
    KeepctlRun run = keepctl.Run(args);
    EXPECT_EQ(run.exit_code, 2) << run;
    EXPECT_NE(run.err.find(expected), std::string::npos) << run;
    EXPECT_NE(run.err.find("\nhint: run `keepctl"), std::string::npos) << run;
    EXPECT_EQ(run.out, "");
  }
  // Nothing near: no guess.
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"frobnicate"}, {"user", "xyzzy"}, {"zz"}}) {
    KeepctlRun run = keepctl.Run(args);
    EXPECT_EQ(run.exit_code, 2) << run;
    EXPECT_EQ(run.err.find("did you mean"), std::string::npos) << run;
  }
}

TEST(KeepctlCredentials, CommandsNeedALogin) {
  Keepctl keepctl;
  // Global flags may come after the command.
  KeepctlRun run = keepctl.Run({"user", "list", "--output", "json"});
  EXPECT_EQ(run.exit_code, 1) << run;
  EXPECT_NE(run.err.find("not logged in"), std::string::npos) << run;
  EXPECT_NE(run.err.find("keepctl login"), std::string::npos) << run;
}

TEST(KeepctlCredentials, AFileOthersMayReadIsRefused) {
  Keepctl keepctl;
  WriteCredentials(keepctl.credentials_file(), fs::perms::owner_read | fs::perms::owner_write |
                                                   fs::perms::group_read | fs::perms::others_read);
  KeepctlRun run = keepctl.Run({"whoami"});
  EXPECT_EQ(run.exit_code, 1) << run;
  EXPECT_NE(run.err.find("chmod 600 " + keepctl.credentials_file().string()), std::string::npos)
      << run;
}

TEST(KeepctlCredentials, KeepctlConfigNamesTheFile) {
  Keepctl keepctl;
  fs::path other = keepctl.dir() / "elsewhere" / "creds.json";
  WriteCredentials(other, fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read);
  keepctl.SetEnv("KEEPCTL_CONFIG", other.string());
  KeepctlRun run = keepctl.Run({"whoami"});
  EXPECT_EQ(run.exit_code, 1) << run;
  EXPECT_NE(run.err.find("chmod 600 " + other.string()), std::string::npos) << run;

  // Safe now: keepctl gets as far as the (closed) server port.
  fs::permissions(other, fs::perms::owner_read | fs::perms::owner_write);
  run = keepctl.Run({"whoami"});
  EXPECT_EQ(run.exit_code, 1) << run;
  EXPECT_NE(run.err.find("cannot reach 127.0.0.1:1"), std::string::npos) << run;

  // The password is never sent to a server the credentials are not for.
  run = keepctl.Run({"whoami", "--server", "https://127.0.0.1:2"});
  EXPECT_EQ(run.exit_code, 1) << run;
  EXPECT_NE(run.err.find("the saved credentials are for https://127.0.0.1:1"), std::string::npos)
      << run;

  run = keepctl.Run({"logout"});
  EXPECT_EQ(run.exit_code, 0) << run;
  EXPECT_FALSE(fs::exists(other));
  run = keepctl.Run({"logout"});
  EXPECT_EQ(run.exit_code, 0) << run;
  EXPECT_EQ(run.out, "Not logged in.\n");
}

TEST(KeepctlLogin, WithoutATerminalAPasswordMustBeGiven) {
  Keepctl keepctl;
  KeepctlRun run = keepctl.Run({"login", "https://127.0.0.1:1", "--user", "admin"});
  EXPECT_EQ(run.exit_code, 1) << run;
  EXPECT_NE(run.err.find("--password-stdin"), std::string::npos) << run;
  EXPECT_FALSE(fs::exists(keepctl.credentials_file()));
}

TEST(KeepctlLogin, AnUnknownCertificateIsRefusedWithAHintToPassCa) {
  KeepdProcess keepd;
  Keepctl keepctl;
  std::string url = "https://127.0.0.1:" + std::to_string(keepd.port());
  KeepctlRun run = keepctl.Run({"login", url, "--user", "admin", "--password-stdin"},
                               std::string(kAdminPassword) + "\n");
  EXPECT_EQ(run.exit_code, 1) << run;
  EXPECT_NE(run.err.find("cannot verify the TLS certificate"), std::string::npos) << run;
  EXPECT_NE(run.err.find("pass --ca"), std::string::npos) << run;
  EXPECT_FALSE(fs::exists(keepctl.credentials_file()));

  // A server without the admin API (here: the registry under a path prefix) fails cleanly.
  run = keepctl.Run({"login", url + "/elsewhere", "--user", "admin", "--password-stdin", "--ca",
                     keepd.ca_file()},
                    kAdminPassword);
  EXPECT_EQ(run.exit_code, 1) << run;
  EXPECT_NE(run.err.find("/elsewhere/admin/v1/whoami"), std::string::npos) << run;
  EXPECT_NE(run.err.find("recent enough to offer /admin/v1"), std::string::npos) << run;
  EXPECT_FALSE(fs::exists(keepctl.credentials_file()));
}

TEST(KeepctlLogin, TheDefaultPortIs443AndTheHostMayBeIPv6) {
  Keepctl keepctl;
  for (const auto& [url, where] : {std::pair{"https://127.0.0.1", "127.0.0.1:443"},
                                   std::pair{"127.0.0.1", "127.0.0.1:443"},
                                   std::pair{"https://[::1]:1/", "[::1]:1"}}) {
    KeepctlRun run = keepctl.Run({"login", url, "--user", "admin", "--password-stdin"}, "pw");
    EXPECT_EQ(run.exit_code, 1) << run;
    EXPECT_NE(run.err.find("cannot reach " + std::string(where)), std::string::npos) << run;
  }
}

TEST(KeepctlLogin, ACaFileThatIsNoCertificateIsRefused) {
  Keepctl keepctl;
  fs::path bogus = keepctl.dir() / "not-a-cert.pem";
  std::ofstream(bogus) << "hello\n";
  KeepctlRun run = keepctl.Run({"login", "https://127.0.0.1:1", "--user", "admin",
                                "--password-stdin", "--ca", bogus.string()},
                               "password\n");
  EXPECT_EQ(run.exit_code, 1) << run;
  EXPECT_NE(run.err.find("as CA file"), std::string::npos) << run;
}

}  // namespace
}  // namespace keep::testkit
