#include "cli/registry.h"
#include "cli/output.h"

#include "core/manifest.h"

namespace keep::cli {
namespace {

std::string ManifestTarget(const std::string& repository, const std::string& reference) {
  // Validated names, tags and digests hold nothing that needs encoding.
  return "/v2/" + repository + "/manifests/" + reference;
}

// The names a reference may give this server by: "host:port", and for port
// 443 "host" too.
std::vector<std::string> OwnHosts(const ServerUrl& server) {
  return {RegistryHost(server), server.HostPort()};
}

}  // namespace

std::string RegistryHost(const ServerUrl& server) {
  std::string host = server.ipv6 ? "[" + server.host + "]" : server.host;
  return server.port == "443" ? host : host + ":" + server.port;
}

Result<ImageRef> ParseImageRef(std::string_view text, const ServerUrl& server,
                               const std::string& command) {
  return ParseImageRef(text, OwnHosts(server), command);
}

Result<std::string> ParseRepositoryRef(std::string_view text, const ServerUrl& server,
                                       const std::string& command) {
  return ParseRepositoryRef(text, OwnHosts(server), command);
}

std::string AcceptAnyManifest() {
  return std::string(media::kOciManifest) + ", " + std::string(media::kOciIndex) + ", " +
         std::string(media::kDockerManifest) + ", " + std::string(media::kDockerManifestList);
}

Result<ManifestDescriptor> ResolveManifest(AdminClient& client, const ImageRef& ref) {
  auto answer = client.Send(AdminClient::Method::kHead,
                            ManifestTarget(ref.repository, ref.reference()),
                            {{"Accept", AcceptAnyManifest()}});
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

Result<FetchedManifest> FetchManifest(AdminClient& client, const ImageRef& ref) {
  auto answer = client.Send(AdminClient::Method::kGet,
                            ManifestTarget(ref.repository, ref.reference()),
                            {{"Accept", AcceptAnyManifest()}});
  if (!answer) return answer.error();
  if (answer->status == 404) {
    Failure f = Failed("there is no manifest " + ref.ToString() + " in the registry");
    f.http_status = 404;
    return f;
  }
  if (answer->status != 200) return client.ErrorOf(*answer);
  const Digest computed = Sha256Of(answer->body);
  std::string header = answer->Header("docker-content-digest");
  if (!header.empty() && header != computed.str()) {
    return Failed("the registry named the digest " + header + " for " + ref.ToString() +
                  ", but its bytes hash to " + computed.str());
  }
  if (!ref.digest.empty() && ref.digest != computed.str()) {
    return Failed("the registry served " + computed.str() + " for " + ref.ToString());
  }
  auto body = nlohmann::json::parse(answer->body, nullptr, false);
  if (!body.is_object()) return Failed("the manifest " + ref.ToString() + " is not a JSON object");
  std::string media_type = answer->Header("content-type");
  if (auto semicolon = media_type.find(';'); semicolon != std::string::npos) {
    media_type.resize(semicolon);
  }
  return FetchedManifest{{computed, media_type, static_cast<std::int64_t>(answer->body.size())},
                         std::move(body)};
}

namespace {

constexpr int kPageSize = 1000;

// The target of a Link header's rel="next" ("</v2/_catalog?n=2&last=b>;
// rel=\"next\""), below the server's base path; "" when there is none.
Result<std::string> NextPage(const HttpAnswer& answer, const ServerUrl& server) {
  const std::string link = answer.Header("link");
  if (link.empty()) return std::string();
  const auto open = link.find('<');
  const auto close = link.find('>', open);
  if (open == std::string::npos || close == std::string::npos ||
      link.find("rel=\"next\"", close) == std::string::npos) {
    return std::string();
  }
  std::string target = link.substr(open + 1, close - open - 1);
  if (auto scheme = target.find("://"); scheme != std::string::npos) {
    auto path = target.find('/', scheme + 3);
    target = path == std::string::npos ? "/" : target.substr(path);
  }
  if (!server.base_path.empty() && target.rfind(server.base_path + "/", 0) == 0) {
    target.erase(0, server.base_path.size());
  }
  if (target.rfind("/v2/", 0) != 0) {
    return Failed("the registry's next page is outside its API: \"" + link + "\"");
  }
  return target;
}

}  // namespace

Result<std::vector<std::string>> ListAll(AdminClient& client, const std::string& path,
                                         const std::string& key, const std::string& prefix) {
  std::string target = path + "?n=" + std::to_string(kPageSize);
  // Every name beginning with "acme/" comes after "acme".
  if (!prefix.empty()) target += "&last=" + PathSegment(prefix.substr(0, prefix.size() - 1));
  std::vector<std::string> names;
  while (!target.empty()) {
    auto answer = client.Send(AdminClient::Method::kGet, target, {{"Accept", "application/json"}});
    if (!answer) return answer.error();
    if (answer->status != 200) return client.ErrorOf(*answer);
    auto page = nlohmann::json::parse(answer->body, nullptr, false);
    const nlohmann::json& list = At(page, key);
    if (!list.is_array() && !list.is_null()) {
      return Failed("the registry's answer to " + target + " has no list of " + key);
    }
    for (const auto& name : list.is_array() ? list : nlohmann::json::array()) {
      if (!name.is_string()) return Failed("the registry listed a " + key + " that is no string");
      std::string text = name.get<std::string>();
      if (!prefix.empty() && text.rfind(prefix, 0) != 0) {
        if (text > prefix) return names;  // past the names wanted
        continue;
      }
      names.push_back(std::move(text));
    }
    auto next = NextPage(*answer, client.server());
    if (!next) return next.error();
    if (*next == target) return Failed("the registry's next page is the same page: " + target);
    target = std::move(*next);
  }
  return names;
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
