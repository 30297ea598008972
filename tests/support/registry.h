// tests/support/registry.h — registry vocabulary for the tests: API paths,
// manifests as exact bytes, and helpers that push blobs and images.
//
// Helpers that push check the server's answer with gtest EXPECTs (so a
// failure points at the step) and return what later steps need.
#pragma once

#include "tests/support/https_client.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace keep::testkit {

namespace mt {
inline constexpr const char* kOciManifest = "application/vnd.oci.image.manifest.v1+json";
inline constexpr const char* kOciIndex = "application/vnd.oci.image.index.v1+json";
inline constexpr const char* kOciConfig = "application/vnd.oci.image.config.v1+json";
inline constexpr const char* kOciLayer = "application/vnd.oci.image.layer.v1.tar+gzip";
inline constexpr const char* kDockerManifest =
    "application/vnd.docker.distribution.manifest.v2+json";
inline constexpr const char* kDockerList =
    "application/vnd.docker.distribution.manifest.list.v2+json";
inline constexpr const char* kDockerConfig = "application/vnd.docker.container.image.v1+json";
inline constexpr const char* kDockerLayer = "application/vnd.docker.image.rootfs.diff.tar.gzip";
}  // namespace mt

std::string DigestOf(std::string_view bytes);  // "sha256:<hex>"
std::string Sha512Of(std::string_view bytes);  // "sha512:<hex>"

std::string BlobPath(std::string_view repo, std::string_view digest);
std::string UploadsPath(std::string_view repo);  // ".../blobs/uploads/"
std::string ManifestPath(std::string_view repo, std::string_view reference);
std::string TagsPath(std::string_view repo);
std::string ReferrersPath(std::string_view repo, std::string_view digest);

// A manifest exactly as sent: its bytes and the media type it is sent as.
struct Manifest {
  std::string media_type;
  std::string bytes;

  std::string digest() const { return DigestOf(bytes); }
  nlohmann::json Descriptor() const;  // {mediaType, digest, size}
};

// Serialises indented and with a trailing newline, so a registry that
// re-serialises instead of keeping the bytes is caught.
Manifest MakeManifest(std::string media_type, const nlohmann::json& body);

struct ImageSpec {
  std::string layer = "layer bytes";
  bool docker = false;             // Docker schema2 media types instead of OCI
  std::string config_media_type;   // empty: the usual one for the format
  std::string artifact_type;       // empty: none
  std::optional<Manifest> subject;
  nlohmann::json annotations;      // null: none
};

// Pushes one blob in a single POST (expects 201); returns its digest.
std::string PushBlob(HttpsClient& client, std::string_view repo, std::string_view bytes);
// Opens an upload session (expects 202); returns its Location.
std::string StartUpload(HttpsClient& client, std::string_view repo);

// Pushes the image's config and layer; returns its manifest, not pushed yet.
Manifest PrepareImage(HttpsClient& client, std::string_view repo, const ImageSpec& spec = {});
// An index (or Docker manifest list) of the given manifests.
Manifest IndexOf(const std::vector<Manifest>& children, bool docker = false);

Response PutManifest(HttpsClient& client, std::string_view repo, std::string_view reference,
                     const Manifest& manifest);
// PutManifest, expecting 201 and the manifest's digest back.
Manifest PushManifest(HttpsClient& client, std::string_view repo, std::string_view reference,
                      Manifest manifest);
Manifest PushImage(HttpsClient& client, std::string_view repo, std::string_view tag,
                   const ImageSpec& spec = {});

// GET tags/list (expects 200); an empty list when it fails.
std::vector<std::string> TagsOf(HttpsClient& client, std::string_view repo);

// Status `status` with an OCI error body whose first error has `code`; the
// body must have the spec's shape: {"errors":[{"code","message","detail"}]}.
::testing::AssertionResult IsError(const Response& response, int status, std::string_view code);
// "<status> <first error's code>", e.g. "403 DENIED", for compact expectations;
// and the first error's message ("" when the body has none).
std::string StatusAndCode(const Response& response);
std::string ErrorMessage(const Response& response);

}  // namespace keep::testkit
