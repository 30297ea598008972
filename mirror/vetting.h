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

#include <set>
#include <string>
#include <vector>

namespace keep::mirror {

struct SignatureFindings {
  std::set<std::string> signers;  // ids of the rule's keys that signed
  bool found_any = false;         // any signature at all, good or not
  std::string where;              // where signatures were looked for, for messages
  std::string reasons;            // why signatures found did not count
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
