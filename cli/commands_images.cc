// keepctl repo list, tag list, tag delete and image show: what the registry
// holds, read through the registry API (/v2/), and an image's trust from
// /admin/v1/verify.
#include "cli/commands.h"
#include "cli/registry.h"

#include "core/manifest.h"
#include "core/names.h"

#include <set>

namespace keep::cli {
namespace {

using nlohmann::json;

std::int64_t SizeOf(const json& descriptor) {
  const json& size = At(descriptor, "size");
  return size.is_number_integer() ? size.get<std::int64_t>() : 0;
}

// "linux/arm64/v8" from an index entry's platform; "-" when it names none.
std::string PlatformOf(const json& entry) {
  const json& p = At(entry, "platform");
  if (!p.is_object()) return "-";
  std::string out = Text(At(p, "os")) + "/" + Text(At(p, "architecture"));
  if (At(p, "variant").is_string()) out += "/" + Text(At(p, "variant"));
  return out;
}

// What an image occupies in the registry: its manifests, and its config and
// layers with each blob counted once (platforms of an index share some).
class SizeTally {
 public:
  void AddManifest(std::int64_t bytes) { total_ += bytes; }
  // An image manifest's config and layers.
  void AddBlobsOf(const json& manifest) {
    AddBlob(At(manifest, "config"));
    const json& layers = At(manifest, "layers");
    for (const auto& layer : layers.is_array() ? layers : json::array()) AddBlob(layer);
  }
  std::int64_t total() const { return total_; }

 private:
  void AddBlob(const json& descriptor) {
    if (seen_.insert(Text(At(descriptor, "digest"))).second) total_ += SizeOf(descriptor);
  }
  std::set<std::string> seen_;
  std::int64_t total_ = 0;
};

// Why /admin/v1/verify's answer is not trusted, in words: how many trusted
// keys signed and how many the policy needs.
std::string WhyNotTrusted(const json& verification) {
  std::set<std::string> counted, revoked, withdrawn;
  const json& signatures = At(verification, "signatures");
  for (const auto& s : signatures.is_array() ? signatures : json::array()) {
    (At(s, "revoked") == true                 ? revoked
     : At(s, "trust_root_installed") == false ? withdrawn
                                              : counted)
        .insert(Text(At(s, "key_id")));
  }
  for (const auto& id : counted) {
    revoked.erase(id);
    withdrawn.erase(id);
  }
  const std::string needed = Text(At(At(verification, "policy"), "threshold"));
  std::string why = counted.empty() ? "no trusted key signed it"
                                    : "signed by " + std::to_string(counted.size()) +
                                          " trusted key(s) of the " + needed + " needed";
  if (!revoked.empty()) {
    why += "; " + std::to_string(revoked.size()) + " more signed with a revoked key";
  }
  if (!withdrawn.empty()) {
    why += "; " + std::to_string(withdrawn.size()) +
           " more signed keylessly under a trust root no longer installed";
  }
  return why;
}

// The namespace argument of `repo list`, checked.
Result<std::string> NamespacePrefix(const Invocation& inv) {
  if (inv.args.empty()) return std::string();
  if (auto valid = ValidateNamespaceName(inv.args[0]); !valid) {
    return Usage("bad namespace name \"" + inv.args[0] + "\": " + valid.error().message,
                 inv.command->FullName());
  }
  return inv.args[0] + "/";
}

}  // namespace

Result<void> RepoList(const Invocation& inv) {
  auto prefix = NamespacePrefix(inv);
  if (!prefix) return prefix.error();
  auto client = ConnectSaved(inv);
  if (!client) return client.error();
  auto repos = ListAll(*client, "/v2/_catalog", "repositories", *prefix);
  if (!repos) return repos.error();
  json answer = {{"repositories", *repos}};
  Show(inv, answer, [&] {
    json rows = json::array();
    for (const auto& r : *repos) rows.push_back({{"name", r}});
    const Column columns[] = {Field("REPOSITORY", "name")};
    PrintTable(std::cout, rows, columns);
  });
  return {};
}

Result<void> TagList(const Invocation& inv) {
  auto client = ConnectSaved(inv);
  if (!client) return client.error();
  auto repository = ParseRepositoryRef(inv.args[0], client->server(), inv.command->FullName());
  if (!repository) return repository.error();
  auto tags = ListAll(*client, "/v2/" + *repository + "/tags/list", "tags");
  if (!tags) return tags.error();
  json answer = {{"name", *repository}, {"tags", *tags}};
  Show(inv, answer, [&] {
    json rows = json::array();
    for (const auto& t : *tags) rows.push_back({{"tag", t}});
    const Column columns[] = {Field("TAG", "tag")};
    PrintTable(std::cout, rows, columns);
  });
  return {};
}

Result<void> TagDelete(const Invocation& inv) {
  const std::string command = inv.command->FullName();
  auto client = ConnectSaved(inv);
  if (!client) return client.error();
  auto ref = ParseImageRef(inv.args[0], client->server(), command);
  if (!ref) return ref.error();
  if (ref->tag.empty()) {
    return Usage("keepctl tag delete takes REPO:TAG, not a digest: it removes a tag, never a "
                 "manifest",
                 command);
  }
  // The digest first, to say what the tag named: it can be tagged again.
  const ImageRef tag{ref->repository, ref->tag, ""};
  auto found = ResolveManifest(*client, tag);
  if (!found) {
    if (found.error().http_status == 404) {
      return Failed("there is no tag " + tag.ToString() + " in the registry");
    }
    return found.error();
  }
  // REPO:TAG@DIGEST: only while the tag still names that digest.
  if (!ref->digest.empty() && ref->digest != found->digest.str()) {
    return Failed("the tag " + tag.ToString() + " names " + found->digest.str() + ", not " +
                  ref->digest + "; nothing was deleted");
  }
  auto answer = client->Send(AdminClient::Method::kDelete,
                             "/v2/" + ref->repository + "/manifests/" + ref->tag, {});
  if (!answer) return answer.error();
  if (answer->status == 404) {
    return Failed("there is no tag " + tag.ToString() + " in the registry (any more)");
  }
  if (answer->status != 202 && answer->status != 200) return client->ErrorOf(*answer);
  json shown = {{"repository", ref->repository},
                {"tag", ref->tag},
                {"digest", found->digest.str()},
                {"deleted", true}};
  Show(inv, shown, [&] {
    std::cout << "Deleted the tag " << tag.ToString() << "; it named " << ref->repository << "@"
              << found->digest.str() << ", which stays\n";
  });
  return {};
}

Result<void> ImageShow(const Invocation& inv) {
  auto client = ConnectSaved(inv);
  if (!client) return client.error();
  auto ref = ParseImageRef(inv.args[0], client->server(), inv.command->FullName());
  if (!ref) return ref.error();
  auto manifest = FetchManifest(*client, *ref);
  if (!manifest) return manifest.error();
  const ManifestDescriptor& top = manifest->descriptor;

  SizeTally size;
  size.AddManifest(top.size);
  json platforms = json::array();
  const json& children = At(manifest->body, "manifests");
  const bool index = IsIndexMediaType(top.media_type) || children.is_array();
  if (index) {
    for (const auto& child : children.is_array() ? children : json::array()) {
      ImageRef child_ref{ref->repository, "", Text(At(child, "digest"))};
      json row = {{"platform", PlatformOf(child)},
                  {"digest", child_ref.digest},
                  {"media_type", At(child, "mediaType")},
                  {"size", SizeOf(child)}};
      size.AddManifest(SizeOf(child));
      if (!IsIndexMediaType(Text(At(child, "mediaType")))) {
        auto fetched = FetchManifest(*client, child_ref);
        if (!fetched) return fetched.error();
        size.AddBlobsOf(fetched->body);
      }
      platforms.push_back(std::move(row));
    }
  } else {
    size.AddBlobsOf(manifest->body);
  }

  auto verification = client->Get("/verify?repository=" + PathSegment(ref->repository) +
                                  "&reference=" + PathSegment(top.digest.str()));
  if (!verification) return verification.error();
  const bool trusted = At(*verification, "trusted") == true;

  json answer = {{"repository", ref->repository},
                 {"digest", top.digest.str()},
                 {"media_type", top.media_type},
                 {"size", size.total()},
                 {"verification", *verification}};
  if (index) answer["platforms"] = platforms;
  if (!trusted) answer["untrusted_because"] = WhyNotTrusted(*verification);
  Show(inv, answer, [&] {
    std::cout << "image: " << ref->repository << "@" << top.digest.str() << "\n"
              << "media_type: " << top.media_type << "\n"
              << "size: " << size.total() << " bytes ("
              << HumanBytes(static_cast<double>(size.total())) << ")\n";
    if (index) {
      std::cout << "platforms:\n";
      const Column columns[] = {Field("PLATFORM", "platform"), Field("DIGEST", "digest"),
                                Field("SIZE", "size")};
      PrintTable(std::cout, platforms, columns, "  ");
    } else {
      const json& layers = At(manifest->body, "layers");
      std::cout << "layers: " << (layers.is_array() ? layers.size() : 0) << "\n";
    }
    const json& signatures = At(*verification, "signatures");
    if (!signatures.is_array() || signatures.empty()) {
      std::cout << "signatures: none\n";
    } else {
      std::cout << "signatures:\n";
      const Column columns[] = {Field("KEY_ID", "key_id"), Field("KEY_NAME", "key_name"),
                                Field("FORMAT", "format"), TimeField("VERIFIED_AT", "verified_at"),
                                Field("REVOKED", "revoked")};
      json rows = json::array();
      std::set<std::string> seen;
      for (const auto& s : signatures) {
        if (seen.insert(Text(At(s, "key_id")) + " " + Text(At(s, "format"))).second) {
          rows.push_back(s);
        }
      }
      PrintTable(std::cout, rows, columns, "  ");
    }
    const json& policy = At(*verification, "policy");
    std::cout << "trusted: " << (trusted ? "yes" : "no") << " (policy: " << Text(At(policy, "mode"))
              << ", threshold " << Text(At(policy, "threshold")) << ")";
    if (!trusted) std::cout << ": " << WhyNotTrusted(*verification);
    std::cout << "\n";
  });
  return {};
}

}  // namespace keep::cli
