// The command table: every command, its arguments, flags and help, in one place.
#include "cli/commands.h"
#include "cli/config.h"

#include <filesystem>
#include <vector>

namespace keep::cli {
namespace {

using F = FlagSpec;

const F kPasswordStdin{"password-stdin", F::kBool, "", "read the password from standard input"};

const std::vector<CommandSpec> kCommands = {
    {"", "login", "SERVER_URL", 0, 1,
     {{"user", F::kValue, "NAME", "the account to sign in as", true}, kPasswordStdin},
     "Check a user's password with the registry and save the credentials",
     "The password comes from stdin with --password-stdin, else from the environment\n"
     "variable KEEPCTL_PASSWORD, else the terminal asks for it. Nothing is saved unless\n"
     "the registry accepts it. Give --ca with the registry's certificate when it is\n"
     "self-signed (keepd prints its path when it starts); its absolute path is saved.\n"
     "SERVER_URL may instead be given with --server.\n",
     Login},
    {"", "logout", "", 0, 0, {}, "Delete the saved credentials", "", Logout},
    {"", "whoami", "", 0, 0, {}, "Show the signed-in account and its namespaces", "", Whoami},

    {"user", "add", "NAME", 1, 1,
     {{"admin", F::kBool, "", "make the user a global admin"}, kPasswordStdin},
     "Create a user",
     "Without --password-stdin the registry generates a password; it is printed once.\n",
     UserAdd},
    {"user", "list", "", 0, 0, {}, "List the users", "", UserList},
    {"user", "show", "NAME", 1, 1, {}, "Show one user", "", UserShow},
    {"user", "passwd", "NAME", 1, 1, {kPasswordStdin}, "Set a user's password",
     "Without --password-stdin the registry generates a password; it is printed once.\n",
     UserPasswd},
    {"user", "disable", "NAME", 1, 1, {},
     "Disable a user: no more logins; tokens issued before stop working", "", UserDisable},
    {"user", "enable", "NAME", 1, 1, {}, "Enable a disabled user", "", UserEnable},

    {"robot", "create", "NAME", 1, 1,
     {{"scope", F::kList, "NS:ACTIONS",
       "a namespace and what the robot may do in it: pull, push, delete (comma-separated);\n"
       "repeat for more namespaces, e.g. --scope acme:pull,push",
       true},
      {"expires", F::kValue, "DURATION",
       "how long the robot lives, e.g. 90d, 12h, 30m (default 90d, at most 10 years)"}},
     "Create a robot account for a machine; its secret is printed once",
     "The robot signs in as robot+NAME with the secret printed.\n", RobotCreate},
    {"robot", "list", "", 0, 0, {}, "List the robot accounts you may manage", "", RobotList},
    {"robot", "revoke", "NAME", 1, 1, {}, "Delete a robot account (NAME or robot+NAME)", "",
     RobotRevoke},

    {"namespace", "create", "NAME", 1, 1,
     {{"anonymous-pull", F::kBool, "", "let anyone pull from it without signing in"}},
     "Create a namespace (the first component of repository names)", "", NamespaceCreate},
    {"namespace", "list", "", 0, 0, {}, "List the namespaces you are a member of (all for admins)",
     "", NamespaceList},
    {"namespace", "show", "NAME", 1, 1, {}, "Show a namespace and its members", "", NamespaceShow},
    {"namespace", "delete", "NAME", 1, 1, {}, "Delete an empty namespace", "", NamespaceDelete},
    {"namespace", "set", "NAME", 1, 1,
     {{"anonymous-pull", F::kBool, "=true|false", "let anyone pull without signing in, or not",
       true}},
     "Change a namespace's settings", "", NamespaceSet},

    {"member", "add", "NS USER", 2, 2,
     {{"role", F::kValue, "ROLE", "reader (pull), publisher (pull, push, delete) or maintainer\n"
                                  "(publisher, plus members and settings)", true}},
     "Make a user a member of a namespace, or change their role", "", MemberAdd},
    {"member", "remove", "NS USER", 2, 2, {}, "Remove a user from a namespace", "", MemberRemove},
    {"member", "list", "NS", 1, 1, {}, "List the members of a namespace", "", MemberList},
};

}  // namespace

std::span<const CommandSpec> CommandTable() { return kCommands; }

std::string PathOf(std::initializer_list<std::string_view> segments) {
  std::string out;
  for (std::string_view s : segments) out += "/" + PathSegment(s);
  return out;
}

Result<AdminClient> ConnectSaved(const Invocation& inv) {
  auto path = CredentialsPath();
  if (!path) return path.error();
  auto saved = LoadCredentials(*path);
  if (!saved) return saved.error();
  if (!*saved) {
    return Failed("not logged in (there is no " + path->string() + ")",
                  "run `keepctl login SERVER_URL --user NAME` first");
  }
  const Credentials& c = **saved;
  auto url = ParseServerUrl(c.server);
  if (!url) return Failed(path->string() + " holds a bad server URL: " + url.error().message);
  if (inv.globals.server) {
    auto given = ParseServerUrl(*inv.globals.server);
    if (!given) return given.error();
    if (given->ToString() != url->ToString()) {
      return Failed("the saved credentials are for " + url->ToString() + ", not " +
                        given->ToString(),
                    "run `keepctl login " + given->ToString() +
                        " --user NAME` (KEEPCTL_CONFIG picks another credentials file)");
    }
  }
  std::string ca = inv.globals.ca ? std::filesystem::absolute(*inv.globals.ca).string() : c.ca;
  return AdminClient::Open({*url, ca, c.user, c.password});
}

}  // namespace keep::cli
