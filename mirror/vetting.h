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
#include "storage/metadata.h"
#include "trust/keyless.h"
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
  // The rule's keys (by id) and identities (IdentitySignerOf) that signed.
  std::set<std::string> signers;
  bool found_any = false;         // any signature at all, good or not
  std::string where;              // where signatures were looked for, for messages
  std::string reasons;            // why signatures found did not count
  KeptSignatures kept;
};

// At most this many referrers of one manifest are examined.
inline constexpr std::size_t kMaxReferrersVetted = 16;

// The trust roots installed in Keep (keepctl trust-root set), parsed; one
// that no longer parses (the database was edited since it was checked) is
// skipped, and logged. What keyless signatures are verified against, pushed
// to a namespace or found upstream by a rule.
[[nodiscard]] Result<std::vector<TrustedRoot>> InstalledTrustRoots(Metadata& md);

// kUnavailable (and the like) only when the upstream could not be asked;
// signatures that do not verify are findings, not errors. Keyless
// signatures count when `keyless` (the rule's identities, under the trust
// roots installed in Keep) vouches for them.
[[nodiscard]] Result<SignatureFindings> FindUpstreamSignatures(
    Upstream& upstream, const std::string& repo, const Digest& digest,
    const std::vector<PublicKey>& keys, const KeylessTrust* keyless = nullptr);

}  // namespace keep::mirror
