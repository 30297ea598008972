// core/manifest.h — parsing and checking image manifests and indexes.
//
// ParseManifest reads the bytes of a manifest PUT and its Content-Type and
// returns what the registry needs to index it: the media type, the blobs and
// child manifests it references, its subject and artifact type. It checks
// the structure of each supported type (OCI image manifest and index, Docker
// schema2 manifest and manifest list; any artifactType) and refuses bodies
// that do not match their declared type. Pure function; thread-safe.
#pragma once

#include "core/digest.h"
#include "core/error.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace keep {

namespace media {
inline constexpr std::string_view kOciManifest = "application/vnd.oci.image.manifest.v1+json";
inline constexpr std::string_view kOciIndex = "application/vnd.oci.image.index.v1+json";
inline constexpr std::string_view kDockerManifest =
    "application/vnd.docker.distribution.manifest.v2+json";
inline constexpr std::string_view kDockerManifestList =
    "application/vnd.docker.distribution.manifest.list.v2+json";
inline constexpr std::string_view kDockerSchema1 =
    "application/vnd.docker.distribution.manifest.v1+json";
inline constexpr std::string_view kDockerSchema1Signed =
    "application/vnd.docker.distribution.manifest.v1+prettyjws";
}  // namespace media

bool IsManifestMediaType(std::string_view media_type);
bool IsIndexMediaType(std::string_view media_type);

struct Descriptor {
  std::string media_type;
  Digest digest;
  std::int64_t size = 0;
  std::string artifact_type;
  bool foreign = false;  // a non-distributable layer with URLs: not stored here
};

struct ParsedManifest {
  std::string media_type;
  std::optional<Descriptor> config;   // image manifests
  std::vector<Descriptor> layers;     // image manifests: blobs
  std::vector<Descriptor> manifests;  // indexes: child manifests
  std::optional<Descriptor> subject;
  // artifactType, or for an image manifest without one, its config media type
  // (what the referrers API reports).
  std::string artifact_type;
  std::string annotations_json;  // "{}" when none
};

// content_type may be empty or carry parameters ("...; charset=utf-8").
[[nodiscard]] Result<ParsedManifest> ParseManifest(std::string_view body,
                                                   std::string_view content_type);

}  // namespace keep
