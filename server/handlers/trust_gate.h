// server/handlers/trust_gate.h — the trust layer on the request path
// (DESIGN.md, "Trust model"): what a caller may be served, and the check of
// signatures pushed in the cosign layout. The decisions about signatures
// themselves are trust/'s; which manifests they make trusted is the
// metadata's (Metadata::IsTrusted).
#pragma once

#include "core/audit.h"
#include "server/handlers/handlers.h"
#include "trust/keyless.h"

#include <nlohmann/json_fwd.hpp>

namespace keep::server::handlers {

// The policy of the repository's namespace (the default one when the
// namespace was never created).
[[nodiscard]] Result<TrustPolicy> PolicyOf(Metadata& md, const std::string& repo);

// nullopt when `who` sees everything in `repo` (they may push there, or the
// namespace is open); else the threshold a manifest must meet to be served.
[[nodiscard]] Result<std::optional<std::int64_t>> TrustedViewThreshold(const Services& svc,
                                                                       const Identity& who,
                                                                       const std::string& repo);

// The one decision of what a caller may receive of a repository's content
// (DESIGN.md, "What a caller may receive"): everything when they may push
// there or the namespace is open, else only what Metadata::IsTrusted and
// IsServableBlob say, from recorded verification results. Every route that
// hands out bytes or facts of a repository asks one of these.
//
// kDenied unless `who` may be served that manifest; the refusal names
// `asked` (the tag or digest the caller gave), never a digest they did not.
[[nodiscard]] Result<void> CheckManifestServable(const Services& svc, const Identity& who,
                                                 const std::string& repo,
                                                 const std::string& digest,
                                                 std::string_view asked);
// What a pull-through vetted while it still fetches it (mirror/pending.h) is
// what the curator is about to sign: kDenied unless `who` sees everything in
// `repo`, or the namespace trusts the curator key and one signature is
// enough. `what` names it for the refusal ("manifest repo:tag").
[[nodiscard]] Result<void> CheckPendingServable(const Services& svc, const Identity& who,
                                                const std::string& repo, std::string_view what);
// Audits a pull refused by one of the checks above (pull.refused, `target`
// as the caller named it), and returns the refusal. Errors other than
// kDenied are returned as they are, unaudited.
[[nodiscard]] Error RefusedPull(const Exchange& ex, const std::string& target, Error refusal);
// kDenied unless `who` may be served that blob (a mount's source too).
[[nodiscard]] Result<void> CheckBlobServable(const Services& svc, const Identity& who,
                                             const std::string& repo, const std::string& digest);
// Whether `who` may be served anything of `repo` (the catalog lists no more).
[[nodiscard]] Result<bool> HasServableContent(const Services& svc, const Identity& who,
                                              const std::string& repo);

// The keyless identity a stored record names (its extensions JSON read
// back); kInternal when what is stored is not what the admin API wrote.
[[nodiscard]] Result<KeylessIdentity> KeylessIdentityOf(const TrustedIdentityRecord& record);

// What keyless signatures pushed to namespace `ns` are checked against: every
// installed trust root (one that no longer parses is skipped, and logged),
// the namespace's unrevoked identities, and the current time.
[[nodiscard]] Result<KeylessTrust> KeylessTrustOf(Metadata& md, const std::string& ns);

// What CheckIncoming found: the verified signatures to record with the
// manifest, and the namespace's standing (read once per push).
struct Incoming {
  std::vector<SignatureRecord> signatures;
  bool namespace_exists = false;
  TrustPolicy policy;
};

// For a manifest being pushed: a signature manifest (tag "sha256-<hex>.sig";
// a manifest with cosign signature layers and a `subject`, the OCI 1.1
// referrer form; or a sigstore bundle referrer, cosign v3) has its signatures
// verified against the namespace's keys and, for keyless signatures, its
// identities and the installed trust roots (KeylessTrustOf); those that
// verify are returned, to be recorded with it (an identity's under
// IdentitySignerId); when none does, kDenied says why (unless the
// namespace is open). In strict mode, any other push needs enough stored
// signatures first, except an untagged image manifest (a platform of an
// index, trusted through its signed index). Blocking: it reads payload blobs.
// `who` and `source` (the client's address) are named in the audit log.
[[nodiscard]] Result<Incoming> CheckIncoming(const Services& svc, const Identity& who,
                                             std::string_view source, const std::string& repo,
                                             const std::optional<std::string>& tag,
                                             const Digest& digest, std::string_view body,
                                             const std::optional<Digest>& subject,
                                             bool is_index_child_candidate);

// What ReverifyUnvouched did: signature artifacts verified again under an
// installed trust root, and those no installed root vouches for any more.
struct Reverified {
  std::int64_t restored = 0;
  std::int64_t withdrawn = 0;
};

// Verifies again, as CheckIncoming does a push, every signature artifact
// holding a keyless signature whose trust root is no longer installed as it
// was (removed, or replaced by other content; SignatureRecord::trust_root).
// One that verifies has its records replaced by what it verifies as now;
// one that does not keeps records that count for nothing until a root
// vouches for them again. Run after a trust root changes, and at start (the
// upgrade to schema 7 and a change made through another keepd). Blocking.
[[nodiscard]] Result<Reverified> ReverifyUnvouched(const Services& svc);

}  // namespace keep::server::handlers
