// trust/simple_signing.h — the "simple signing" payload that a signature signs.
//
// The JSON document of containers/image's container-signature(5), which cosign
// reuses for its payloads (cosign's SIGNATURE_SPEC.md, "Simple Signing"):
//
//   {"critical":{"identity":{"docker-reference":"registry.example/acme/app"},
//                "image":{"docker-manifest-digest":"sha256:..."},
//                "type":"cosign container image signature"},
//    "optional":null}
//
// cosign writes "optional":null when no annotations were given; podman and
// skopeo write {"creator":..., "timestamp":...}. Parsing is strict, as
// container-signature(5) asks: a duplicated member anywhere, an unknown member
// in the top level or in `critical` (or in its `image` and `identity`), or a
// member of the wrong JSON type refuses the payload. Member names are matched
// exactly (case-sensitively).
//
// Parse only a payload whose signature has already been verified: the
// document is attacker-controlled until then.
//
// Pure functions; thread-safe.
#pragma once

#include "core/digest.h"
#include "core/error.h"

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

namespace keep {

inline constexpr std::string_view kCosignSignatureType = "cosign container image signature";
inline constexpr std::string_view kAtomicSignatureType = "atomic container signature";

struct SimpleSigning {
  std::string type;             // critical.type, any string (CheckPayload judges it)
  Digest manifest_digest;       // critical.image.docker-manifest-digest
  std::string docker_reference; // critical.identity.docker-reference
  nlohmann::json optional;      // `optional` as sent: an object, or null
};

// kInvalid saying which member is missing or malformed. Payloads over 1 MiB
// are refused unread.
[[nodiscard]] Result<SimpleSigning> ParseSimpleSigning(std::string_view payload);

// cosign's payload for `docker_reference` and `manifest_digest`, compact JSON
// with "optional":null, byte for byte what `cosign sign` signs.
std::string MakeSimpleSigning(std::string_view docker_reference, const Digest& manifest_digest);

// True when `docker_reference` names `repository` on any registry host, with or
// without a tag or digest: for repository "acme/app", "acme/app",
// "acme/app:v1", "registry.example:5000/acme/app" and
// "localhost/acme/app@sha256:<hex>" do; "acme/app2", "other/acme/app" and
// "acme/app:bad tag" do not. The first path component counts as a host when it
// holds '.' or ':' or is "localhost" (Docker's rule); a repository whose own
// first component holds a '.' still matches itself without a host.
[[nodiscard]] bool ReferenceNamesRepository(std::string_view docker_reference,
                                            std::string_view repository);

// Checks a parsed payload against what is being verified: its type is one of
// the two container signature types, it signs `target`, and its
// docker-reference names `repository` (ReferenceNamesRepository). Each
// failure is kDenied with a message saying which check failed.
[[nodiscard]] Result<void> CheckPayload(const SimpleSigning& payload, const Digest& target,
                                        std::string_view repository);

}  // namespace keep
