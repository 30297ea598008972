// keepctl identity add|list|show|remove (a namespace's keyless signers) and
// trust-root set|list|show|remove (the sigstore trust roots keyless
// signatures are verified against).
#include "cli/commands.h"

#include "trust/keyless.h"
#include "trust/trusted_root.h"

#include <iostream>

namespace keep::cli {
namespace {

const Column kIdentityColumns[] = {Field("NAME", "name"),
                                   Field("ISSUER", "issuer"),
                                   {"SUBJECT",
                                    [](const nlohmann::json& id) {
                                      const std::string regex = Text(At(id, "subject_regex"));
                                      return regex.empty() ? Text(At(id, "subject")) : "~ " + regex;
                                    }},
                                   TimeField("ADDED", "added_at"),
                                   Field("REVOKED", "revoked")};

const Column kIdentityLines[] = {Field("name", "name"),
                                 Field("signer_id", "signer_id"),
                                 Field("issuer", "issuer"),
                                 Field("subject", "subject"),
                                 Field("subject_regex", "subject_regex"),
                                 Field("added_by", "added_by"),
                                 TimeField("added", "added_at"),
                                 Field("revoked", "revoked")};

const Column kRootColumns[] = {
    Field("NAME", "name"),   Field("SHA256", "sha256"), Field("CAS", "certificate_authorities"),
    Field("TLOGS", "tlogs"), Field("CTLOGS", "ctlogs"), TimeField("ADDED", "added_at")};

}  // namespace

Result<void> IdentityAdd(const Invocation& inv) {
  const std::string command = "keepctl identity add";
  const std::string& ns = inv.args[0];
  nlohmann::json body = {{"name", inv.args[1]}, {"issuer", inv.Value("issuer").value_or("")}};
  auto subject = inv.Value("subject");
  auto regex = inv.Value("subject-regexp");
  if (subject.has_value() == regex.has_value()) {
    return Usage("give exactly one of --subject and --subject-regexp", command);
  }
  if (subject) body["subject"] = *subject;
  if (regex) body["subject_regex"] = *regex;
  nlohmann::json extensions = nlohmann::json::object();
  for (const std::string& pair : inv.Values("extension")) {
    auto eq = pair.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == pair.size()) {
      return Usage(
          "--extension takes NAME=VALUE (e.g. source-repository-ref=refs/heads/main), "
          "not \"" +
              pair + "\"",
          command);
    }
    extensions[pair.substr(0, eq)] = pair.substr(eq + 1);
  }
  if (!extensions.empty()) body["extensions"] = extensions;
  // What the registry will refuse, said before anything is sent.
  KeylessIdentity identity{inv.args[1], body["issuer"], subject.value_or(""), regex.value_or(""),
                           {},          nullptr};
  for (const auto& [name, value] : extensions.items()) identity.extensions[name] = value;
  if (auto checked = CheckIdentity(identity); !checked) {
    return Usage(checked.error().message, command);
  }
  auto client = ConnectSaved(inv);
  if (!client) return client.error();
  auto added = client->Post(PathOf({"namespaces", ns, "identities"}), body);
  if (!added) return added.error();
  Show(inv, *added, [&] {
    std::cout << "Added identity " << Text(At(*added, "name")) << " to " << ns << "\n";
    PrintObject(std::cout, *added, kIdentityLines);
  });
  return {};
}

Result<void> IdentityList(const Invocation& inv) {
  auto client = ConnectSaved(inv);
  if (!client) return client.error();
  auto answer = client->Get(PathOf({"namespaces", inv.args[0], "identities"}));
  if (!answer) return answer.error();
  Show(inv, *answer, [&] { PrintTable(std::cout, At(*answer, "identities"), kIdentityColumns); });
  return {};
}

Result<void> IdentityShow(const Invocation& inv) {
  auto client = ConnectSaved(inv);
  if (!client) return client.error();
  auto id = client->Get(PathOf({"namespaces", inv.args[0], "identities", inv.args[1]}));
  if (!id) return id.error();
  Show(inv, *id, [&] {
    PrintObject(std::cout, *id, kIdentityLines);
    const auto& extensions = At(*id, "extensions");
    if (extensions.is_object() && !extensions.empty()) {
      std::cout << "extensions:\n";
      for (const auto& [name, value] : extensions.items()) {
        std::cout << "  " << name << "=" << Text(value) << "\n";
      }
    }
  });
  return {};
}

Result<void> IdentityRemove(const Invocation& inv) {
  auto client = ConnectSaved(inv);
  if (!client) return client.error();
  const std::string& ns = inv.args[0];
  auto revoked = client->Delete(PathOf({"namespaces", ns, "identities", inv.args[1]}));
  if (!revoked) return revoked.error();
  Show(inv, *revoked, [&] {
    std::cout << "Revoked identity " << inv.args[1] << " in " << ns
              << ": its signatures no longer count\n";
  });
  return {};
}

Result<void> TrustRootSet(const Invocation& inv) {
  const std::string& file = inv.args[1];
  auto text = ReadSmallFile(file, kMaxTrustedRootBytes);
  if (!text) return text.error();
  if (auto parsed = ParseTrustedRoot(*text); !parsed) {
    return Failed("cannot use " + file + ": " + parsed.error().message,
                  "give a sigstore trusted_root.json (README.md, \"Keyless signatures\")");
  }
  auto client = ConnectSaved(inv);
  if (!client) return client.error();
  auto set = client->Put(PathOf({"trust-roots", inv.args[0]}), {{"trusted_root", *text}});
  if (!set) return set.error();
  Show(inv, *set, [&] {
    std::cout << "Installed trust root " << inv.args[0] << " (" << Text(At(*set, "sha256"))
              << "): " << Text(At(*set, "certificate_authorities")) << " certificate authorities, "
              << Text(At(*set, "tlogs")) << " transparency logs, " << Text(At(*set, "ctlogs"))
              << " CT logs\n";
    const nlohmann::json& again = At(*set, "reverified");
    auto count = [&](const char* key) {
      const nlohmann::json& n = At(again, key);
      return n.is_number_integer() ? n.get<long long>() : 0;
    };
    if (count("restored") + count("withdrawn") > 0) {
      std::cout << "Verified again the keyless signatures a replaced or removed root vouched "
                   "for: "
                << count("restored") << " verify under the installed roots, " << count("withdrawn")
                << " do not and are withheld\n";
    }
  });
  return {};
}

Result<void> TrustRootList(const Invocation& inv) {
  auto client = ConnectSaved(inv);
  if (!client) return client.error();
  auto answer = client->Get("/trust-roots");
  if (!answer) return answer.error();
  Show(inv, *answer, [&] { PrintTable(std::cout, At(*answer, "trust_roots"), kRootColumns); });
  return {};
}

Result<void> TrustRootShow(const Invocation& inv) {
  auto client = ConnectSaved(inv);
  if (!client) return client.error();
  auto root = client->Get(PathOf({"trust-roots", inv.args[0]}));
  if (!root) return root.error();
  Show(inv, *root, [&] { std::cout << Text(At(*root, "trusted_root")); });
  return {};
}

Result<void> TrustRootRemove(const Invocation& inv) {
  auto client = ConnectSaved(inv);
  if (!client) return client.error();
  auto removed = client->Delete(PathOf({"trust-roots", inv.args[0]}));
  if (!removed) return removed.error();
  Show(inv, *removed, [&] { std::cout << "Removed trust root " << inv.args[0] << "\n"; });
  return {};
}

}  // namespace keep::cli
