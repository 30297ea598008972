#include "cli/registry.h"

#include "core/manifest.h"
#include "core/names.h"

namespace keep::cli {
namespace {

std::string ManifestTarget(const std::string& repository, const std::string& reference) {
  // Validated names, tags and digests hold nothing that needs encoding.
  return "/v2/" + repository + "/manifests/" + reference;
}

}  // namespace

std::string ImageRef::ToString() const {
  return tag.empty() ? repository + "@" + digest : repository + ":" + tag;
}

std::string RegistryHost(const ServerUrl& server) {
  std::string host = server.ipv6 ? "[" + server.host + "]" : server.host;
  return server.port == "443" ? host : host + ":" + server.port;
}

Result<ImageRef> ParseImageRef(std::string_view text, const ServerUrl& server,
                               const std::string& command) {
  std::string name(text);
  ImageRef ref;
  if (auto at = name.find('@'); at != std::string::npos) {
    ref.digest = name.substr(at + 1);
    name.resize(at);
    if (!Digest::Parse(ref.digest)) {
      return Usage("bad digest \"" + ref.digest + "\" in " + std::string(text), command);
    }
  } else if (auto colon = name.rfind(':');
             colon != std::string::npos && name.find('/', colon) == std::string::npos) {
    ref.tag = name.substr(colon + 1);
    name.resize(colon);
    if (!IsValidTag(ref.tag)) return Usage("bad tag \"" + ref.tag + "\" in " + std::string(text), command);
  } else {
    return Usage("\"" + std::string(text) + "\" names no tag or digest: give REPO:TAG or REPO@DIGEST",
                 command);
  }
  if (auto slash = name.find('/'); slash != std::string::npos) {
    std::string first = name.substr(0, slash);
    if (first == RegistryHost(server) || first == server.HostPort()) {
      name.erase(0, slash + 1);
    } else if (first.find(':') != std::string::npos || first == "localhost") {
      // A host by Docker's rule ('.' alone may be a namespace of ours: "my.org/app").
      return Failed("\"" + std::string(text) + "\" names the registry " + first + ", not " +
                    RegistryHost(server) + " where keepctl is logged in");
    }
  }
  if (auto valid = ValidateRepoName(name); !valid) {
    return Usage("bad repository name \"" + name + "\": " + valid.error().message, command);
  }
  ref.repository = std::move(name);
  return ref;
}

Result<ManifestDescriptor> ResolveManifest(AdminClient& client, const ImageRef& ref) {
  const std::string accept = std::string(media::kOciManifest) + ", " +
                             std::string(media::kOciIndex) + ", " +
                             std::string(media::kDockerManifest) + ", " +
                             std::string(media::kDockerManifestList);
  auto answer = client.Send(AdminClient::Method::kHead,
                            ManifestTarget(ref.repository, ref.reference()), {{"Accept", accept}});
  if (!answer) return answer.error();
  if (answer->status == 404) {
    Failure f = Failed("there is no manifest " + ref.ToString() + " in the registry",
                       "push it first, or sign the manifest file with --manifest-file");
    f.http_status = 404;
    return f;
  }
  if (answer->status != 200) return client.ErrorOf(*answer);
  std::string header = answer->Header("docker-content-digest");
  auto digest = Digest::Parse(header);
  if (!digest) {
    return Failed("the registry named no valid Docker-Content-Digest for " + ref.ToString() +
                  " (\"" + header + "\")");
  }
  if (!ref.digest.empty() && digest->str() != ref.digest) {
    return Failed("the registry served " + digest->str() + " for " + ref.ToString());
  }
  std::int64_t size = 0;
  try {
    size = std::stoll(answer->Header("content-length"));
  } catch (const std::exception&) {
    return Failed("the registry named no valid Content-Length for " + ref.ToString());
  }
  return ManifestDescriptor{*digest, answer->Header("content-type"), size};
}

Result<std::optional<nlohmann::json>> GetImageManifest(AdminClient& client,
                                                       const std::string& repository,
                                                       const std::string& tag) {
  auto answer = client.Send(AdminClient::Method::kGet, ManifestTarget(repository, tag),
                            {{"Accept", std::string(media::kOciManifest)}});
  if (!answer) return answer.error();
  if (answer->status == 404) return std::optional<nlohmann::json>();
  if (answer->status != 200) return client.ErrorOf(*answer);
  auto json = nlohmann::json::parse(answer->body, nullptr, false);
  if (!json.is_object()) {
    return Failed("the manifest " + repository + ":" + tag + " is not a JSON object");
  }
  return std::optional<nlohmann::json>(std::move(json));
}

Result<void> PushBlob(AdminClient& client, const std::string& repository, const Digest& digest,
                      const std::string& bytes) {
  auto answer = client.Send(AdminClient::Method::kPost,
                            "/v2/" + repository + "/blobs/uploads/?digest=" + digest.str(),
                            {{"Content-Type", "application/octet-stream"}}, bytes);
  if (!answer) return answer.error();
  if (answer->status != 201) return client.ErrorOf(*answer);
  return {};
}

Result<void> PushImageManifest(AdminClient& client, const std::string& repository,
                               const std::string& tag, const std::string& bytes) {
  auto answer = client.Send(AdminClient::Method::kPut, ManifestTarget(repository, tag),
                            {{"Content-Type", std::string(media::kOciManifest)}}, bytes);
  if (!answer) return answer.error();
  if (answer->status != 201) return client.ErrorOf(*answer);
  return {};
}

}  // namespace keep::cli
