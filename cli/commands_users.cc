// keepctl user add|list|show|passwd|disable|enable.
#include "cli/commands.h"
#include "cli/config.h"
#include "cli/prompt.h"

#include <iostream>

namespace keep::cli {
namespace {

// A password the server generated is in the answer this once only.
void PrintGeneratedPassword(const nlohmann::json& answer) {
  if (!At(answer, "password").is_string()) return;
  std::cout << "Password: " << At(answer, "password").get<std::string>() << "\n"
            << "Store it now: it will not be shown again.\n";
}

// When `inv` changed the password of the account keepctl is logged in as.
Result<void> UpdateSavedPassword(const Invocation& inv, const std::string& password) {
  auto path = CredentialsPath();
  if (!path) return path.error();
  auto saved = LoadCredentials(*path);
  if (!saved) return saved.error();
  if (!*saved || (*saved)->user != inv.args[0] || password.empty()) return {};
  Credentials updated = **saved;
  updated.password = password;
  KEEPCTL_TRY(SaveCredentials(*path, updated));
  if (inv.globals.output == Format::kTable) std::cout << "Updated the saved credentials.\n";
  return {};
}

Result<void> SetDisabled(const Invocation& inv, bool disabled) {
  auto client = ConnectSaved(inv);
  if (!client) return client.error();
  const std::string& name = inv.args[0];
  auto user = client->Patch(PathOf({"users", name}), {{"disabled", disabled}});
  if (!user) return user.error();
  Show(inv, *user, [&] {
    std::cout << (disabled ? "Disabled" : "Enabled") << " user " << name << "\n";
  });
  return {};
}

}  // namespace

Result<void> UserAdd(const Invocation& inv) {
  nlohmann::json body = {{"name", inv.args[0]}};
  if (inv.Flag("admin")) body["admin"] = true;
  if (inv.Flag("password-stdin")) {
    auto password = ReadPasswordFromStdin();
    if (!password) return password.error();
    body["password"] = *password;
  }
  auto client = ConnectSaved(inv);
  if (!client) return client.error();
  auto user = client->Post("/users", body);
  if (!user) return user.error();
  Show(inv, *user, [&] {
    std::cout << "Created " << (At(*user, "admin") == true ? "admin " : "") << "user "
              << Text(At(*user, "name")) << "\n";
    PrintGeneratedPassword(*user);
  });
  return {};
}

Result<void> UserList(const Invocation& inv) {
  auto client = ConnectSaved(inv);
  if (!client) return client.error();
  auto answer = client->Get("/users");
  if (!answer) return answer.error();
  Show(inv, *answer, [&] {
    const Column columns[] = {Field("NAME", "name"), Field("ADMIN", "admin"),
                              Field("DISABLED", "disabled"), TimeField("CREATED", "created_at")};
    PrintTable(std::cout, At(*answer, "users"), columns);
  });
  return {};
}

Result<void> UserShow(const Invocation& inv) {
  auto client = ConnectSaved(inv);
  if (!client) return client.error();
  auto user = client->Get(PathOf({"users", inv.args[0]}));
  if (!user) return user.error();
  Show(inv, *user, [&] {
    const Column lines[] = {Field("name", "name"), Field("admin", "admin"),
                            Field("disabled", "disabled"), TimeField("created", "created_at")};
    PrintObject(std::cout, *user, lines);
  });
  return {};
}

Result<void> UserPasswd(const Invocation& inv) {
  nlohmann::json body = nlohmann::json::object();
  if (inv.Flag("password-stdin")) {
    auto password = ReadPasswordFromStdin();
    if (!password) return password.error();
    body["password"] = *password;
  }
  auto client = ConnectSaved(inv);
  if (!client) return client.error();
  auto user = client->Put(PathOf({"users", inv.args[0], "password"}), body);
  if (!user) return user.error();
  Show(inv, *user, [&] {
    std::cout << "Changed the password of " << inv.args[0] << "\n";
    PrintGeneratedPassword(*user);
  });
  // Your own password: the saved one is stale now.
  std::string password = body.value("password", "");
  if (const auto& generated = At(*user, "password"); generated.is_string()) password = generated;
  return UpdateSavedPassword(inv, password);
}

Result<void> UserDisable(const Invocation& inv) { return SetDisabled(inv, true); }
Result<void> UserEnable(const Invocation& inv) { return SetDisabled(inv, false); }

}  // namespace keep::cli
