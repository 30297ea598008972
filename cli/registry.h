// cli/registry.h — what keepctl's image commands (sign, verify, image show,
// repo list, tag list and delete) need of the registry API (/v2/) of the
// server keepctl is logged in to: image references, manifests, listings, blob
// uploads and manifest pushes, all with the saved credentials (HTTP Basic).
//
// Failures carry the registry's own message (its OCI error JSON), so a
// signature refused with DENIED says why. Main thread only, as AdminClient.
#pragma once

#include "cli/client.h"
#include "cli/error.h"
#include "cli/image_ref.h"

#include "core/digest.h"

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace keep::cli {

// How docker references name this registry: "host:port", without ":443".
std::string RegistryHost(const ServerUrl& server);

// cli/image_ref.h's parsers for the server keepctl talks to: a host in the
// reference must be RegistryHost(server) or server.HostPort().
[[nodiscard]] Result<ImageRef> ParseImageRef(std::string_view text, const ServerUrl& server,
                                             const std::string& command);
[[nodiscard]] Result<std::string> ParseRepositoryRef(std::string_view text,
                                                     const ServerUrl& server,
                                                     const std::string& command);

// What the registry serves `ref` as (HEAD: Docker-Content-Digest,
// Content-Type, Content-Length), accepting any manifest or index type.
struct ManifestDescriptor {
  Digest digest;
  std::string media_type;
  std::int64_t size = 0;
};
[[nodiscard]] Result<ManifestDescriptor> ResolveManifest(AdminClient& client, const ImageRef& ref);

// Every manifest and index type keepctl asks for, as an Accept header.
std::string AcceptAnyManifest();

// The manifest `ref` names as served (GET): its descriptor and its JSON. The
// digest is checked against the bytes. A Failure with http_status 404 when
// there is none.
struct FetchedManifest {
  ManifestDescriptor descriptor;
  nlohmann::json body;
};
[[nodiscard]] Result<FetchedManifest> FetchManifest(AdminClient& client, const ImageRef& ref);

// Every name of a paginated listing: `path` is "/v2/_catalog" or
// "/v2/<repo>/tags/list", `key` the array of names in each page
// ("repositories", "tags"). Asks for large pages and follows each Link
// rel="next" to the end. With a `prefix` ("acme/"), only the names that
// begin with it: the listing starts just before them and stops after them,
// since a registry lists names in lexical order.
[[nodiscard]] Result<std::vector<std::string>> ListAll(AdminClient& client,
                                                       const std::string& path,
                                                       const std::string& key,
                                                       const std::string& prefix = "");

// The OCI image manifest at `tag` as JSON, or nullopt when there is none.
[[nodiscard]] Result<std::optional<nlohmann::json>> GetImageManifest(AdminClient& client,
                                                                     const std::string& repository,
                                                                     const std::string& tag);

// Uploads `bytes` as the blob `digest` in one request (POST ...?digest=).
[[nodiscard]] Result<void> PushBlob(AdminClient& client, const std::string& repository,
                                    const Digest& digest, const std::string& bytes);

// PUTs an OCI image manifest at `tag`.
[[nodiscard]] Result<void> PushImageManifest(AdminClient& client, const std::string& repository,
                                             const std::string& tag, const std::string& bytes);

}  // namespace keep::cli
