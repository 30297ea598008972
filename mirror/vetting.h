// mirror/vetting.h — the signature half of a mirror rule's vetting: the
// upstream's signatures of a manifest, looked for where cosign and the OCI
// 1.1 clients put them — the tag "sha256-<hex>.sig" (cosign's tag layout),
// and the referrers API (cosign's referrer form, sigstore bundles) — and
// verified with the rule's keys by trust/, the same code that verifies a
// signature pushed to Keep: the payload or statement must name the digest,
// and its reference the upstream repository.
//
// Blocking (network). Thread-safe as the Upstream is.
#pragma once

#include "core/digest.h"
#include "core/error.h"
#include "mirror/upstream.h"
#include "trust/keys.h"

#include <nlohmann/json.hpp>

#include <map>
#include <set>
#include <string>
#include <vector>

namespace keep::mirror {

// A signature the upstream published that verified with the rule's keys, as
// the mirror keeps it beside the image, so that readers can check the
// publisher's signature as well as the curator's.
struct KeptSignatures {
  // cosign's tag layout: the layers of "sha256-<hex>.sig" that verified (their
  // descriptors as the upstream manifest listed them), to stand beside the
  // curator's layer in the mirror's own signature manifest.
  std::vector<nlohmann::json> cosign_layers;
  // A referrer whose every signature verified (a sigstore bundle or cosign's
  // referrer form), kept byte for byte.
  struct Referrer {
    Digest digest;
    std::string manifest;
  };
  std::vector<Referrer> referrers;
  // The blobs both need (payloads, bundles, configs), by digest; each was
  // checked against its digest.
  std::map<std::string, std::string> blobs;
};

struct SignatureFindings {
  std::set<std::string> signers;  // ids of the rule's keys that signed
  bool found_any = false;         // any signature at all, good or not
  std::string where;              // where signatures were looked for, for messages
  std::string reasons;            // why signatures found did not count
  KeptSignatures kept;
};

// At most this many referrers of one manifest are examined.
inline constexpr std::size_t kMaxReferrersVetted = 16;

// kUnavailable (and the like) only when the upstream could not be asked;
// signatures that do not verify are findings, not errors.
[[nodiscard]] Result<SignatureFindings> FindUpstreamSignatures(Upstream& upstream,
                                                               const std::string& repo,
                                                               const Digest& digest,
                                                               const std::vector<PublicKey>& keys);

}  // namespace keep::mirror
