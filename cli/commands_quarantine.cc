// keepctl quarantine list|show|drop: the manifests a namespace's policy does
// not (yet) trust.
#include "cli/commands.h"
#include "cli/registry.h"

#include <iostream>

namespace keep::cli {
namespace {

const Column kQuarantineColumns[] = {
    Field("REPOSITORY", "repository"), Field("DIGEST", "digest"),
    {"TAGS", [](const nlohmann::json& m) {
       std::string out;
       const auto& tags = At(m, "tags");
       for (const auto& t : tags.is_array() ? tags : nlohmann::json::array()) {
         out += (out.empty() ? "" : ",") + Text(t);
       }
       return out.empty() ? std::string("-") : out;
     }},
    TimeField("PUSHED", "pushed_at"), TimeField("REMOVED_AFTER", "expires_at")};

}  // namespace

Result<void> QuarantineList(const Invocation& inv) {
  auto client = ConnectSaved(inv);
  if (!client) return client.error();
  auto answer = client->Get("/quarantine?namespace=" + PathSegment(inv.args[0]));
  if (!answer) return answer.error();
  Show(inv, *answer, [&] {
    PrintTable(std::cout, At(*answer, "manifests"), kQuarantineColumns);
  });
  return {};
}

Result<void> QuarantineDrop(const Invocation& inv) {
  auto client = ConnectSaved(inv);
  if (!client) return client.error();
  auto ref = ParseImageRef(inv.args[0], client->server(), "keepctl quarantine drop");
  if (!ref) return ref.error();
  if (ref->digest.empty()) {
    return Usage("give the image as REPO@DIGEST (see keepctl quarantine list)",
                 "keepctl quarantine drop");
  }
  auto answer = client->Delete("/quarantine?repository=" + PathSegment(ref->repository) +
                               "&digest=" + PathSegment(ref->digest));
  if (!answer) return answer.error();
  Show(inv, *answer, [&] { std::cout << "Dropped " << inv.args[0] << " from quarantine\n"; });
  return {};
}

}  // namespace keep::cli
