#include "tests/support/registry.h"

#include "core/digest.h"

namespace keep::testkit {
namespace {

using nlohmann::json;

std::string RepoPath(std::string_view repo) { return "/v2/" + std::string(repo); }

json ConfigOf(const ImageSpec& spec) {
  return {{"architecture", "amd64"},
          {"os", "linux"},
          {"rootfs", {{"type", "layers"}, {"diff_ids", {DigestOf(spec.layer)}}}}};
}

json BlobDescriptor(std::string_view media_type, std::string_view bytes) {
  return {{"mediaType", media_type}, {"digest", DigestOf(bytes)}, {"size", bytes.size()}};
}

}  // namespace

std::string DigestOf(std::string_view bytes) { return Sha256Of(bytes).str(); }

std::string Sha512Of(std::string_view bytes) {
  Hasher h(DigestAlgorithm::kSha512);
  h.Update(bytes);
  return h.Finish().str();
}

std::string BlobPath(std::string_view repo, std::string_view digest) {
  return RepoPath(repo) + "/blobs/" + std::string(digest);
}
std::string UploadsPath(std::string_view repo) { return RepoPath(repo) + "/blobs/uploads/"; }
std::string ManifestPath(std::string_view repo, std::string_view reference) {
  return RepoPath(repo) + "/manifests/" + std::string(reference);
}
std::string TagsPath(std::string_view repo) { return RepoPath(repo) + "/tags/list"; }
std::string ReferrersPath(std::string_view repo, std::string_view digest) {
  return RepoPath(repo) + "/referrers/" + std::string(digest);
}

json Manifest::Descriptor() const { return BlobDescriptor(media_type, bytes); }

Manifest MakeManifest(std::string media_type, const json& body) {
  return Manifest{std::move(media_type), body.dump(3) + "\n"};
}

std::string PushBlob(HttpsClient& client, std::string_view repo, std::string_view bytes) {
  std::string digest = DigestOf(bytes);
  Response r = client.Post(UploadsPath(repo) + "?digest=" + digest, std::string(bytes));
  EXPECT_EQ(r.status, 201) << "pushing blob " << digest << " to " << repo << ": " << r.body;
  EXPECT_EQ(r.Header("Docker-Content-Digest"), digest);
  return digest;
}

std::string StartUpload(HttpsClient& client, std::string_view repo) {
  Response r = client.Post(UploadsPath(repo));
  EXPECT_EQ(r.status, 202) << "starting an upload in " << repo << ": " << r.body;
  EXPECT_TRUE(r.HasHeader("Location"));
  return r.Header("Location");
}

Manifest PrepareImage(HttpsClient& client, std::string_view repo, const ImageSpec& spec) {
  std::string config_type = spec.config_media_type;
  if (config_type.empty()) config_type = spec.docker ? mt::kDockerConfig : mt::kOciConfig;
  std::string config = ConfigOf(spec).dump();
  PushBlob(client, repo, config);
  PushBlob(client, repo, spec.layer);

  const char* type = spec.docker ? mt::kDockerManifest : mt::kOciManifest;
  json body = {{"schemaVersion", 2},
               {"mediaType", type},
               {"config", BlobDescriptor(config_type, config)},
               {"layers", {BlobDescriptor(spec.docker ? mt::kDockerLayer : mt::kOciLayer,
                                          spec.layer)}}};
  if (!spec.artifact_type.empty()) body["artifactType"] = spec.artifact_type;
  if (spec.subject) body["subject"] = spec.subject->Descriptor();
  if (!spec.annotations.is_null()) body["annotations"] = spec.annotations;
  return MakeManifest(type, body);
}

Manifest IndexOf(const std::vector<Manifest>& children, bool docker) {
  const char* type = docker ? mt::kDockerList : mt::kOciIndex;
  json manifests = json::array();
  for (const Manifest& child : children) {
    json d = child.Descriptor();
    d["platform"] = {{"architecture", "amd64"}, {"os", "linux"}};
    manifests.push_back(std::move(d));
  }
  return MakeManifest(type, {{"schemaVersion", 2}, {"mediaType", type}, {"manifests", manifests}});
}

Response PutManifest(HttpsClient& client, std::string_view repo, std::string_view reference,
                     const Manifest& manifest) {
  return client.Put(ManifestPath(repo, reference), manifest.bytes,
                    {{"Content-Type", manifest.media_type}});
}

Manifest PushManifest(HttpsClient& client, std::string_view repo, std::string_view reference,
                      Manifest manifest) {
  Response r = PutManifest(client, repo, reference, manifest);
  EXPECT_EQ(r.status, 201) << "pushing manifest " << repo << ":" << reference << ": " << r.body;
  EXPECT_EQ(r.Header("Docker-Content-Digest"), manifest.digest());
  return manifest;
}

Manifest PushImage(HttpsClient& client, std::string_view repo, std::string_view tag,
                   const ImageSpec& spec) {
  return PushManifest(client, repo, tag, PrepareImage(client, repo, spec));
}

std::vector<std::string> TagsOf(HttpsClient& client, std::string_view repo) {
  Response r = client.Get(TagsPath(repo));
  EXPECT_EQ(r.status, 200) << "listing the tags of " << repo << ": " << r.body;
  json tags = r.Json().value("tags", json::array());
  if (r.status != 200 || !tags.is_array()) return {};
  return tags.get<std::vector<std::string>>();
}

::testing::AssertionResult IsError(const Response& response, int status, std::string_view code) {
  auto failure = [&]() {
    return ::testing::AssertionFailure() << "expected " << status << " " << code << ", got "
                                         << response.status << " " << response.body;
  };
  if (response.status != status) return failure();
  json j = response.Json();
  if (!j.is_object() || !j.contains("errors") || !j["errors"].is_array() ||
      j["errors"].empty()) {
    return failure() << " (not an OCI error body)";
  }
  for (const json& e : j["errors"]) {
    if (!e.is_object() || !e.contains("code") || !e["code"].is_string() ||
        !e.contains("message") || !e["message"].is_string() || !e.contains("detail")) {
      return failure() << " (an error lacks code, message or detail)";
    }
  }
  if (j["errors"][0]["code"] != code) return failure();
  return ::testing::AssertionSuccess();
}

std::string StatusAndCode(const Response& response) {
  nlohmann::json body = response.Json();
  std::string code;
  if (body.is_object() && body.contains("errors") && body["errors"].is_array() &&
      !body["errors"].empty() && body["errors"][0].is_object()) {
    code = body["errors"][0].value("code", "");
  }
  return std::to_string(response.status) + " " + code;
}

std::string ErrorMessage(const Response& response) {
  nlohmann::json body = response.Json();
  if (body.is_object() && body.contains("errors") && body["errors"].is_array() &&
      !body["errors"].empty() && body["errors"][0].is_object()) {
    return body["errors"][0].value("message", "");
  }
  return "";
}

}  // namespace keep::testkit
