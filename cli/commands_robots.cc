// keepctl robot create|list|revoke.
#include "cli/commands.h"

#include <iostream>
#include <map>
#include <set>

namespace keep::cli {
namespace {

constexpr std::string_view kRobotPrefix = "robot+";

// "acme:pull,push" → {"namespace":"acme","actions":["pull","push"]}.
Result<nlohmann::json> ParseScopes(const std::vector<std::string>& texts) {
  static const std::set<std::string> kActions = {"pull", "push", "delete"};
  std::map<std::string, std::set<std::string>> scopes;
  for (const std::string& text : texts) {
    auto colon = text.find(':');
    auto bad = [&](const std::string& why) {
      return Usage("bad --scope \"" + text + "\": " + why, "keepctl robot create");
    };
    if (colon == std::string::npos || colon == 0) return bad("expected NAMESPACE:ACTIONS");
    std::set<std::string>& actions = scopes[text.substr(0, colon)];
    std::string list = text.substr(colon + 1) + ",";
    for (std::size_t start = 0, comma; (comma = list.find(',', start)) != std::string::npos;
         start = comma + 1) {
      std::string action = list.substr(start, comma - start);
      if (!kActions.contains(action)) {
        return bad("\"" + action + "\" is not one of pull, push, delete");
      }
      actions.insert(action);
    }
  }
  nlohmann::json out = nlohmann::json::array();
  for (const auto& [ns, actions] : scopes) {
    out.push_back({{"namespace", ns}, {"actions", actions}});
  }
  return Ok(std::move(out));
}

std::string Scopes(const nlohmann::json& robot) {
  std::string out;
  const auto& scopes = At(robot, "scopes");
  for (const auto& scope : scopes.is_array() ? scopes : nlohmann::json::array()) {
    std::string actions;
    const auto& list = At(scope, "actions");
    for (const auto& a : list.is_array() ? list : nlohmann::json::array()) {
      actions += (actions.empty() ? "" : ",") + Text(a);
    }
    out += (out.empty() ? "" : " ") + Text(At(scope, "namespace")) + ":" + actions;
  }
  return out.empty() ? "-" : out;
}

}  // namespace

Result<void> RobotCreate(const Invocation& inv) {
  std::string name = inv.args[0];
  if (name.starts_with(kRobotPrefix)) name.erase(0, kRobotPrefix.size());
  auto scopes = ParseScopes(inv.Values("scope"));
  if (!scopes) return scopes.error();
  nlohmann::json body = {{"name", name}, {"scopes", *scopes}};
  if (auto expires = inv.Value("expires")) {
    auto seconds = ParseDuration(*expires, "--expires", "keepctl robot create");
    if (!seconds) return seconds.error();
    body["expires_in"] = *seconds;
  }
  auto client = ConnectSaved(inv);
  if (!client) return client.error();
  auto robot = client->Post("/robots", body);
  if (!robot) return robot.error();
  Show(inv, *robot, [&] {
    const Column lines[] = {Field("name", "name"), Field("secret", "secret"),
                            {"scopes", Scopes}, TimeField("expires", "expires_at")};
    PrintObject(std::cout, *robot, lines);
    std::cout << "Store the secret now: it will not be shown again. The robot signs in as "
              << Text(At(*robot, "name")) << " with it.\n";
  });
  return {};
}

Result<void> RobotList(const Invocation& inv) {
  auto client = ConnectSaved(inv);
  if (!client) return client.error();
  auto answer = client->Get("/robots");
  if (!answer) return answer.error();
  Show(inv, *answer, [&] {
    const Column columns[] = {Field("NAME", "name"), {"SCOPES", Scopes},
                              TimeField("EXPIRES", "expires_at"), Field("CREATED_BY", "created_by"),
                              TimeField("CREATED", "created_at")};
    PrintTable(std::cout, At(*answer, "robots"), columns);
  });
  return {};
}

Result<void> RobotRevoke(const Invocation& inv) {
  std::string name = inv.args[0];
  if (!name.starts_with(kRobotPrefix)) name = std::string(kRobotPrefix) + name;
  auto client = ConnectSaved(inv);
  if (!client) return client.error();
  auto answer = client->Delete(PathOf({"robots", name}));
  if (!answer) return answer.error();
  Show(inv, *answer, [&] { std::cout << "Revoked robot account " << name << "\n"; });
  return {};
}

}  // namespace keep::cli
