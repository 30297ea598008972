// keepctl namespace create|list|show|delete|set and member add|remove|list.
#include "cli/commands.h"

#include <iostream>

namespace keep::cli {
namespace {

const Column kNamespaceLines[] = {
    Field("name", "name"), Field("anonymous_pull", "anonymous_pull"),
    Field("repositories", "repositories"), Field("created_by", "created_by"),
    TimeField("created", "created_at")};

const Column kMemberColumns[] = {Field("USER", "user"), Field("ROLE", "role")};

Result<void> CheckRole(const std::string& role) {
  if (role == "reader" || role == "publisher" || role == "maintainer") return {};
  return Usage("--role takes reader, publisher or maintainer, not \"" + role + "\"",
               "keepctl member add");
}

}  // namespace

Result<void> NamespaceCreate(const Invocation& inv) {
  nlohmann::json body = {{"name", inv.args[0]}};
  if (inv.Has("anonymous-pull")) body["anonymous_pull"] = inv.Flag("anonymous-pull");
  auto client = ConnectSaved(inv);
  if (!client) return client.error();
  auto ns = client->Post("/namespaces", body);
  if (!ns) return ns.error();
  Show(inv, *ns, [&] {
    std::cout << "Created namespace " << Text(At(*ns, "name"))
              << (At(*ns, "anonymous_pull") == true ? " (anyone may pull)" : "") << "\n";
    const nlohmann::json& held = At(*ns, "quarantined");
    if (held.is_array() && !held.empty()) {
      std::cout << held.size() << " manifest(s) pushed before are now withheld from readers "
                << "until signed by a key the namespace trusts (keepctl quarantine list "
                << Text(At(*ns, "name")) << "); unsigned tagged ones are removed by garbage "
                << "collection from "
                << IsoTime(At(*ns, "policy_since").get<std::int64_t>() +
                           At(At(*ns, "policy"), "quarantine_ttl").get<std::int64_t>())
                << "\n";
    }
  });
  return {};
}

Result<void> NamespaceList(const Invocation& inv) {
  auto client = ConnectSaved(inv);
  if (!client) return client.error();
  auto answer = client->Get("/namespaces");
  if (!answer) return answer.error();
  Show(inv, *answer, [&] {
    const Column columns[] = {Field("NAME", "name"), Field("ANONYMOUS_PULL", "anonymous_pull"),
                              Field("REPOSITORIES", "repositories"),
                              Field("CREATED_BY", "created_by"), TimeField("CREATED", "created_at")};
    PrintTable(std::cout, At(*answer, "namespaces"), columns);
  });
  return {};
}

Result<void> NamespaceShow(const Invocation& inv) {
  auto client = ConnectSaved(inv);
  if (!client) return client.error();
  auto ns = client->Get(PathOf({"namespaces", inv.args[0]}));
  if (!ns) return ns.error();
  Show(inv, *ns, [&] {
    PrintObject(std::cout, *ns, kNamespaceLines);
    const auto& members = At(*ns, "members");
    if (!members.is_array() || members.empty()) {
      std::cout << "members: -\n";
      return;
    }
    std::cout << "members:\n";
    PrintTable(std::cout, members, kMemberColumns, "  ");
  });
  return {};
}

Result<void> NamespaceDelete(const Invocation& inv) {
  auto client = ConnectSaved(inv);
  if (!client) return client.error();
  auto answer = client->Delete(PathOf({"namespaces", inv.args[0]}));
  if (!answer) return answer.error();
  Show(inv, *answer, [&] { std::cout << "Deleted namespace " << inv.args[0] << "\n"; });
  return {};
}

Result<void> NamespaceSet(const Invocation& inv) {
  auto client = ConnectSaved(inv);
  if (!client) return client.error();
  auto ns = client->Patch(PathOf({"namespaces", inv.args[0]}),
                          {{"anonymous_pull", inv.Flag("anonymous-pull")}});
  if (!ns) return ns.error();
  Show(inv, *ns, [&] { PrintObject(std::cout, *ns, kNamespaceLines); });
  return {};
}

Result<void> MemberAdd(const Invocation& inv) {
  const std::string& ns = inv.args[0];
  const std::string& user = inv.args[1];
  std::string role = inv.Value("role").value_or("");
  KEEPCTL_TRY(CheckRole(role));
  auto client = ConnectSaved(inv);
  if (!client) return client.error();
  auto member = client->Put(PathOf({"namespaces", ns, "members", user}), {{"role", role}});
  if (!member) return member.error();
  Show(inv, *member, [&] {
    std::cout << user << " is " << Text(At(*member, "role")) << " of " << ns << "\n";
  });
  return {};
}

Result<void> MemberRemove(const Invocation& inv) {
  const std::string& ns = inv.args[0];
  const std::string& user = inv.args[1];
  auto client = ConnectSaved(inv);
  if (!client) return client.error();
  auto answer = client->Delete(PathOf({"namespaces", ns, "members", user}));
  if (!answer) return answer.error();
  Show(inv, *answer, [&] { std::cout << "Removed " << user << " from " << ns << "\n"; });
  return {};
}

Result<void> MemberList(const Invocation& inv) {
  auto client = ConnectSaved(inv);
  if (!client) return client.error();
  auto answer = client->Get(PathOf({"namespaces", inv.args[0], "members"}));
  if (!answer) return answer.error();
  Show(inv, *answer, [&] { PrintTable(std::cout, At(*answer, "members"), kMemberColumns); });
  return {};
}

}  // namespace keep::cli
