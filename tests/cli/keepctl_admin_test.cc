// keepctl against a real keepd: login, users, namespaces, members, robots.
#include "tests/cli/keepctl_fixture.h"
#include "tests/support/registry.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sys/stat.h>

#include <fstream>
#include <sstream>

namespace keep::testkit {
namespace {

namespace fs = std::filesystem;

constexpr const char* kUserPassword = "a-user-password-1234";

class KeepctlAdminTest : public KeepctlServerTest {
 protected:
  nlohmann::json Json(const std::vector<std::string>& args) {
    std::vector<std::string> with = args;
    with.insert(with.end(), {"--output", "json"});
    std::string out = Ok(with);
    auto json = nlohmann::json::parse(out, nullptr, false);
    EXPECT_FALSE(json.is_discarded()) << out;
    return json;
  }
};

bool HasLine(const std::string& out, const std::string& prefix) {
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(prefix, 0) == 0) return true;
  }
  return false;
}

TEST_F(KeepctlAdminTest, LoginWithAWrongPasswordFailsAndSavesNothing) {
  Keepctl keepctl;
  KeepctlRun run = keepctl.Run({"login", Url(), "--user", "admin", "--password-stdin", "--ca",
                                keepd_.ca_file()},
                               "not-the-password\n");
  EXPECT_EQ(run.exit_code, 1) << run;
  // The server's word: the password was refused, not merely missing.
  EXPECT_EQ(run.err,
            "keepctl: the user name or password was not accepted\n"
            "hint: check the user name and the password; nothing was saved\n")
      << run;
  EXPECT_EQ(run.out, "");
  EXPECT_FALSE(fs::exists(keepctl.credentials_file()));
  // A user that does not exist reads the same.
  run = keepctl.Run({"login", Url(), "--user", "nobody", "--password-stdin", "--ca",
                     keepd_.ca_file()},
                    "not-the-password\n");
  EXPECT_EQ(run.exit_code, 1) << run;
  EXPECT_EQ(run.err.rfind("keepctl: the user name or password was not accepted\n", 0), 0u) << run;
  EXPECT_FALSE(fs::exists(keepctl.credentials_file()));
}

TEST_F(KeepctlAdminTest, LoginSavesTheCredentialsForTheOwnerOnly) {
  Keepctl keepctl;
  keepctl.SetEnv("KEEPCTL_PASSWORD", kAdminPassword);
  // A relative --ca is saved as an absolute path.
  fs::path ca = fs::path(keepd_.ca_file());
  fs::copy_file(ca, keepctl.dir() / "ca.crt");
  keepctl.SetWorkingDirectory(keepctl.dir());
  KeepctlRun run = keepctl.Run({"--ca", "ca.crt", "login", Url() + "/", "--user", "admin"});
  ASSERT_EQ(run.exit_code, 0) << run;
  EXPECT_EQ(run.out, "Logged in to " + Url() + " as admin\n");

  struct stat st {};
  ASSERT_EQ(::stat(keepctl.credentials_file().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  ASSERT_EQ(::stat(keepctl.credentials_file().parent_path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u);
  nlohmann::json saved = nlohmann::json::parse(std::ifstream(keepctl.credentials_file()));
  EXPECT_EQ(saved["server"], Url());
  EXPECT_EQ(saved["user"], "admin");
  EXPECT_EQ(saved["password"], kAdminPassword);
  EXPECT_EQ(saved["ca"], (keepctl.dir() / "ca.crt").string());
  // Only the file itself in the directory: no temporary left behind.
  EXPECT_EQ(std::distance(fs::directory_iterator(keepctl.credentials_file().parent_path()),
                          fs::directory_iterator()),
            1);

  run = keepctl.Run({"whoami"});
  ASSERT_EQ(run.exit_code, 0) << run;
  EXPECT_EQ(ValueOf(run.out, "server"), Url());
  EXPECT_EQ(ValueOf(run.out, "name"), "admin");
  EXPECT_EQ(ValueOf(run.out, "admin"), "true");
}

TEST_F(KeepctlAdminTest, UsersAreAddedListedGivenPasswordsAndDisabled) {
  std::string out = Ok({"user", "add", "alice", "--password-stdin"}, kUserPassword);
  EXPECT_EQ(out, "Created user alice\n");
  out = Ok({"user", "add", "bob", "--admin"});
  EXPECT_TRUE(HasLine(out, "Created admin user bob")) << out;
  std::string generated = ValueOf(out, "Password");
  EXPECT_GE(generated.size(), 12u) << out;

  out = Ok({"user", "list"});
  EXPECT_TRUE(HasLine(out, "NAME ")) << out;
  EXPECT_TRUE(HasLine(out, "alice ")) << out;
  EXPECT_TRUE(HasLine(out, "bob ")) << out;
  out = Ok({"user", "show", "alice"});
  EXPECT_EQ(ValueOf(out, "admin"), "false");
  EXPECT_EQ(ValueOf(out, "disabled"), "false");
  EXPECT_EQ(ValueOf(out, "created").size(), 20u) << out;  // 2024-05-01T12:00:00Z

  // The generated password works; a new generated one replaces it.
  Keepctl bob;
  Login(bob, "bob", generated);
  out = Ok({"user", "passwd", "bob"});
  std::string changed = ValueOf(out, "Password");
  EXPECT_GE(changed.size(), 12u) << out;
  EXPECT_NE(changed, generated);
  KeepctlRun run = bob.Run({"whoami"});
  EXPECT_EQ(run.exit_code, 1) << run;
  EXPECT_EQ(run.err.rfind("keepctl: the user name or password was not accepted\n", 0), 0u) << run;
  EXPECT_NE(run.err.find("keepctl login"), std::string::npos) << run;
  Login(bob, "bob", changed);

  Ok({"user", "disable", "bob"});
  EXPECT_EQ(ValueOf(Ok({"user", "show", "bob"}), "disabled"), "true");
  Keepctl again;
  run = again.Run({"login", Url(), "--user", "bob", "--password-stdin", "--ca", keepd_.ca_file()},
                  changed);
  EXPECT_EQ(run.exit_code, 1) << run;
  // The right password of a disabled account learns why.
  EXPECT_EQ(run.err.rfind("keepctl: the account \"bob\" is disabled", 0), 0u) << run;
  EXPECT_FALSE(fs::exists(again.credentials_file()));
  run = bob.Run({"whoami"});
  EXPECT_EQ(run.exit_code, 1) << run;

  Ok({"user", "enable", "bob"});
  Login(again, "bob", changed);

  run = admin_.Run({"user", "add", "alice"});
  EXPECT_EQ(run.exit_code, 1) << run;
  run = admin_.Run({"user", "show", "nobody"});
  EXPECT_EQ(run.exit_code, 1) << run;
  EXPECT_EQ(run.err.rfind("keepctl: ", 0), 0u) << run;
}

TEST_F(KeepctlAdminTest, NamespacesAreCreatedListedShownChangedAndDeleted) {
  EXPECT_EQ(Ok({"namespace", "create", "acme"}), "Created namespace acme\n");
  Ok({"namespace", "create", "public", "--anonymous-pull"});
  std::string out = Ok({"namespace", "list"});
  EXPECT_TRUE(HasLine(out, "NAME ")) << out;
  EXPECT_TRUE(HasLine(out, "acme ")) << out;
  EXPECT_TRUE(HasLine(out, "public ")) << out;

  out = Ok({"namespace", "show", "acme"});
  EXPECT_EQ(ValueOf(out, "name"), "acme");
  EXPECT_EQ(ValueOf(out, "anonymous_pull"), "false");
  EXPECT_EQ(ValueOf(out, "created_by"), "admin");
  EXPECT_EQ(ValueOf(out, "repositories"), "0");
  out = Ok({"namespace", "set", "acme", "--anonymous-pull=true"});
  EXPECT_EQ(ValueOf(out, "anonymous_pull"), "true") << out;
  EXPECT_EQ(ValueOf(Ok({"namespace", "show", "public"}), "anonymous_pull"), "true");

  // A namespace holding an image is not deleted.
  HttpsClient client = keepd_.AdminClient();
  PushImage(client, "acme/app", "v1");
  KeepctlRun run = admin_.Run({"namespace", "delete", "acme"});
  EXPECT_EQ(run.exit_code, 1) << run;
  EXPECT_EQ(run.err.rfind("keepctl: ", 0), 0u) << run;

  EXPECT_EQ(Ok({"namespace", "delete", "public"}), "Deleted namespace public\n");
  EXPECT_FALSE(HasLine(Ok({"namespace", "list"}), "public "));
  run = admin_.Run({"namespace", "show", "public"});
  EXPECT_EQ(run.exit_code, 1) << run;
}

TEST_F(KeepctlAdminTest, MembersAreAddedListedAndRemoved) {
  Ok({"namespace", "create", "acme"});
  Ok({"user", "add", "carol", "--password-stdin"}, kUserPassword);
  EXPECT_EQ(Ok({"member", "add", "acme", "carol", "--role", "publisher"}),
            "carol is publisher of acme\n");
  std::string out = Ok({"member", "list", "acme"});
  EXPECT_TRUE(HasLine(out, "USER ")) << out;
  EXPECT_TRUE(HasLine(out, "carol  publisher")) << out;
  out = Ok({"namespace", "show", "acme"});
  EXPECT_NE(out.find("members:\n  USER   ROLE\n  carol  publisher\n"), std::string::npos) << out;

  Ok({"member", "add", "acme", "carol", "--role=maintainer"});
  EXPECT_TRUE(HasLine(Ok({"member", "list", "acme"}), "carol  maintainer"));
  EXPECT_EQ(Ok({"member", "remove", "acme", "carol"}), "Removed carol from acme\n");
  EXPECT_FALSE(HasLine(Ok({"member", "list", "acme"}), "carol "));
  KeepctlRun run = admin_.Run({"member", "remove", "acme", "carol"});
  EXPECT_EQ(run.exit_code, 1) << run;
}

TEST_F(KeepctlAdminTest, ARobotSecretWorksUntilTheRobotIsRevoked) {
  Ok({"namespace", "create", "acme"});
  std::string out =
      Ok({"robot", "create", "ci", "--scope", "acme:pull,push", "--expires", "12h"});
  EXPECT_EQ(ValueOf(out, "name"), "robot+ci") << out;
  EXPECT_EQ(ValueOf(out, "scopes"), "acme:pull,push") << out;
  EXPECT_NE(out.find("will not be shown again"), std::string::npos) << out;
  std::string secret = ValueOf(out, "secret");
  ASSERT_FALSE(secret.empty()) << out;

  HttpsClient robot = keepd_.AnonymousClient();
  robot.SetBasicAuth("robot+ci", secret);
  EXPECT_EQ(robot.Get("/v2/").status, 200);
  out = Ok({"robot", "list"});
  EXPECT_TRUE(HasLine(out, "robot+ci ")) << out;
  // A robot logs in for what robots do (sign, verify); managing is refused
  // by the registry with its reason.
  Keepctl as_robot;
  KeepctlRun run = as_robot.Run({"login", Url(), "--user", "robot+ci", "--password-stdin", "--ca",
                                 keepd_.ca_file()},
                                secret);
  EXPECT_EQ(run.exit_code, 0) << run;
  EXPECT_NE(run.out.find("A robot account"), std::string::npos) << run;
  EXPECT_TRUE(fs::exists(as_robot.credentials_file()));
  run = as_robot.Run({"namespace", "list"});
  EXPECT_EQ(run.exit_code, 1) << run;
  EXPECT_NE(run.err.find("robot accounts may not use the admin API"), std::string::npos) << run;

  EXPECT_EQ(Ok({"robot", "revoke", "ci"}), "Revoked robot account robot+ci\n");
  HttpsClient after = keepd_.AnonymousClient();
  after.SetBasicAuth("robot+ci", secret);
  EXPECT_EQ(after.Get("/v2/").status, 401);
  EXPECT_FALSE(HasLine(Ok({"robot", "list"}), "robot+ci "));
  run = admin_.Run({"robot", "revoke", "robot+ci"});
  EXPECT_EQ(run.exit_code, 1) << run;
}

TEST_F(KeepctlAdminTest, JsonOutputIsTheServersAnswer) {
  Ok({"namespace", "create", "acme"});
  Ok({"user", "add", "dave", "--password-stdin"}, kUserPassword);
  Ok({"member", "add", "acme", "dave", "--role", "reader"});

  nlohmann::json users = Json({"user", "list"});
  ASSERT_TRUE(users["users"].is_array()) << users;
  EXPECT_EQ(users["users"].size(), 2u);
  nlohmann::json ns = Json({"namespace", "show", "acme"});
  EXPECT_EQ(ns["name"], "acme");
  EXPECT_TRUE(ns["created_at"].is_number()) << ns;
  ASSERT_TRUE(ns["members"].is_array()) << ns;
  EXPECT_EQ(ns["members"][0], (nlohmann::json{{"user", "dave"}, {"role", "reader"}}));
  nlohmann::json who = Json({"whoami"});
  EXPECT_EQ(who["name"], "admin");
  EXPECT_EQ(who["admin"], true);
  nlohmann::json added = Json({"user", "add", "erin"});
  EXPECT_TRUE(added["password"].is_string()) << added;
}

// -o is --output, in each of the spellings kubectl users type.
TEST_F(KeepctlAdminTest, DashOIsOutput) {
  Ok({"namespace", "create", "acme"});
  const std::string table = Ok({"namespace", "show", "acme"});
  const nlohmann::json json = Json({"namespace", "show", "acme"});
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"-o", "json", "namespace", "show", "acme"},
           {"namespace", "show", "acme", "-ojson"},
           {"namespace", "-o=json", "show", "acme"}}) {
    SCOPED_TRACE(args[0] + " " + args[1]);
    EXPECT_EQ(nlohmann::json::parse(Ok(args), nullptr, false), json);
  }
  EXPECT_EQ(Ok({"namespace", "show", "acme", "-o", "table"}), table);
  EXPECT_EQ(Ok({"-o", "json", "namespace", "show", "acme", "-o", "table"}), table);
}

TEST_F(KeepctlAdminTest, AReaderIsDeniedAdminCommands) {
  Ok({"namespace", "create", "acme"});
  Ok({"user", "add", "dave", "--password-stdin"}, kUserPassword);
  Ok({"member", "add", "acme", "dave", "--role", "reader"});
  Keepctl dave;
  Login(dave, "dave", kUserPassword);
  KeepctlRun run = dave.Run({"whoami"});
  EXPECT_EQ(ValueOf(run.out, "namespaces"), "acme (reader)") << run;

  // keepctl prints the server's own message.
  HttpsClient client = keepd_.AnonymousClient();
  client.SetBasicAuth("dave", kUserPassword);
  Response denied = client.Post("/admin/v1/users", R"({"name":"eve"})",
                                {{"Content-Type", "application/json"}});
  ASSERT_EQ(denied.status, 403) << denied.body;
  ASSERT_EQ(denied.Json()["errors"][0]["code"], "DENIED") << denied.body;
  std::string message = denied.Json()["errors"][0]["message"];

  run = dave.Run({"user", "add", "eve"});
  EXPECT_EQ(run.exit_code, 1) << run;
  EXPECT_EQ(run.err, "keepctl: " + message + "\n");
  EXPECT_EQ(run.out, "");
  run = dave.Run({"member", "list", "acme"});
  EXPECT_EQ(run.exit_code, 1) << run;
  run = dave.Run({"namespace", "list"});
  EXPECT_EQ(run.exit_code, 0) << run;
  EXPECT_TRUE(HasLine(run.out, "acme ")) << run;

  // Anyone may change their own password; the saved one follows.
  run = dave.Run({"user", "passwd", "dave", "--password-stdin"}, "a-new-password-5678\n");
  EXPECT_EQ(run.exit_code, 0) << run;
  EXPECT_TRUE(HasLine(run.out, "Updated the saved credentials.")) << run;
  nlohmann::json saved = nlohmann::json::parse(std::ifstream(dave.credentials_file()));
  EXPECT_EQ(saved["password"], "a-new-password-5678");
  run = dave.Run({"whoami"});
  EXPECT_EQ(run.exit_code, 0) << run;
  run = dave.Run({"user", "passwd", "admin", "--password-stdin"}, "a-new-password-5678");
  EXPECT_EQ(run.exit_code, 1) << run;
}

}  // namespace
}  // namespace keep::testkit
