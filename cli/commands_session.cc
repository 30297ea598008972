// keepctl login, logout, whoami.
#include "cli/commands.h"
#include "cli/config.h"
#include "cli/prompt.h"

#include <cstdlib>
#include <filesystem>
#include <iostream>

namespace keep::cli {
namespace {

namespace fs = std::filesystem;

Result<std::string> LoginPassword(const Invocation& inv, const std::string& user,
                                  const std::string& server) {
  if (inv.Flag("password-stdin")) return ReadPasswordFromStdin();
  if (const char* env = std::getenv("KEEPCTL_PASSWORD"); env && *env) return std::string(env);
  return AskPassword("Password for " + user + " at " + server + ": ");
}

Result<std::string> CaFile(const Invocation& inv) {
  if (!inv.globals.ca) return std::string();
  std::error_code ec;
  fs::path ca = fs::absolute(*inv.globals.ca, ec).lexically_normal();
  if (ec || !fs::is_regular_file(ca, ec)) {
    return Failed("the CA file " + *inv.globals.ca + " does not exist or is not a file");
  }
  return ca.string();
}

}  // namespace

Result<void> Login(const Invocation& inv) {
  if (inv.args.empty() && !inv.globals.server) {
    return Usage("missing SERVER_URL; usage: keepctl login SERVER_URL --user NAME",
                 "keepctl login");
  }
  auto url = ParseServerUrl(inv.args.empty() ? *inv.globals.server : inv.args[0]);
  if (!url) return url.error();
  if (!inv.args.empty() && inv.globals.server) {
    auto other = ParseServerUrl(*inv.globals.server);
    if (!other) return other.error();
    if (other->ToString() != url->ToString()) {
      return Usage("SERVER_URL and --server name different registries", "keepctl login");
    }
  }
  std::string user = inv.Value("user").value_or("");
  if (user.empty()) return Usage("--user needs a name", "keepctl login");
  auto ca = CaFile(inv);
  if (!ca) return ca.error();
  auto path = CredentialsPath();
  if (!path) return path.error();
  auto password = LoginPassword(inv, user, url->ToString());
  if (!password) return password.error();

  auto client = AdminClient::Open({*url, *ca, user, *password});
  if (!client) return client.error();
  client->set_unauthorized_hint("check the user name and the password; nothing was saved");
  auto who = client->Get("/whoami");
  if (!who) {
    Failure f = who.error();
    if (f.http_status == 404) {
      f.hint = "is " + url->ToString() + " a Keep registry recent enough to offer /admin/v1?";
    }
    return f;
  }
  KEEPCTL_TRY(SaveCredentials(*path, {url->ToString(), user, *password, *ca}));
  std::string name = At(*who, "name").is_string() ? At(*who, "name").get<std::string>() : user;
  Show(inv, *who, [&] {
    std::cout << "Logged in to " << url->ToString() << " as " << name << "\n";
    // A robot signs and checks what it pushed; managing the registry is for people.
    if (At(*who, "robot") == true) {
      std::cout << "A robot account: keepctl sign, verify and whoami work within its scopes; "
                   "managing users, namespaces and keys needs a user.\n";
    }
  });
  return {};
}

Result<void> Logout(const Invocation& inv) {
  auto path = CredentialsPath();
  if (!path) return path.error();
  auto removed = RemoveCredentials(*path);
  if (!removed) return removed.error();
  if (inv.globals.output == Format::kTable) {
    std::cout << (*removed ? "Logged out: removed " + path->string() : "Not logged in.") << "\n";
  }
  return {};
}

Result<void> Whoami(const Invocation& inv) {
  auto client = ConnectSaved(inv);
  if (!client) return client.error();
  auto who = client->Get("/whoami");
  if (!who) return who.error();
  Show(inv, *who, [&] {
    std::string server = client->server().ToString();
    const Column lines[] = {
        {"server", [&](const nlohmann::json&) { return server; }},
        Field("name", "name"),
        Field("admin", "admin"),
        Field("robot", "robot"),
        {"namespaces", [](const nlohmann::json& w) {
           std::string out;
           const auto& list = At(w, "namespaces");
           for (const auto& ns : list.is_array() ? list : nlohmann::json::array()) {
             // A user has a role in a namespace; a robot has actions.
             std::string what = Text(At(ns, "role"));
             if (const auto& actions = At(ns, "actions"); actions.is_array()) {
               what.clear();
               for (const auto& a : actions) what += (what.empty() ? "" : ",") + Text(a);
             }
             out += (out.empty() ? "" : ", ") + Text(At(ns, "name")) + " (" + what + ")";
           }
           return out.empty() ? std::string("-") : out;
         }},
    };
    PrintObject(std::cout, *who, lines);
  });
  return {};
}

}  // namespace keep::cli
