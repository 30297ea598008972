// trust/sigstore_bundle.h — cosign v3 signatures: sigstore bundles attached
// to an image as OCI 1.1 referrers.
//
// `cosign sign --key` (v3, or v2 with --new-bundle-format) no longer writes a
// "sha256-<hex>.sig" tag. It pushes, as a referrer of the signed manifest
// (cosign's specs/BUNDLE_SPEC.md):
//
//   {"mediaType": "application/vnd.oci.image.manifest.v1+json",
//    "artifactType": "application/vnd.dev.sigstore.bundle.v0.3+json",
//    "config": <the empty descriptor, "{}">,
//    "layers": [{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
//                "digest": <the bundle blob>, ...}],
//    "subject": <the signed manifest>}
//
// The bundle blob is JSON (sigstore protobuf-specs, Bundle v0.3):
//
//   {"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
//    "verificationMaterial": {"publicKey": {"hint": "..."}, "tlogEntries": [...]},
//    "dsseEnvelope": {"payloadType": "application/vnd.in-toto+json",
//                     "payload": "<base64 in-toto statement>",
//                     "signatures": [{"sig": "<base64>", "keyid": ""}]}}
//
// and the statement says what was signed:
//
//   {"_type": "https://in-toto.io/Statement/v1",
//    "subject": [{"digest": {"sha256": "<hex of the signed manifest>"}}],
//    "predicateType": "https://sigstore.dev/cosign/sign/v1", "predicate": {}}
//
// The signature is over DSSE's pre-authentication encoding of the payload
// type and the payload bytes (DssePae), with the algorithms of trust/keys.h.
//
// What Keep checks, per bundle: the blob matches its digest and size; it is a
// v0.3 bundle holding a DSSE envelope of an in-toto statement, with a public
// key (a certificate is the keyless path, below); a signature in
// the envelope verifies with a trusted key; and only then, the statement's
// subject names the signed manifest's sha256 and, when that subject also has
// a "name" (an image reference, as `cosign attest` writes), the name is the
// repository's (ReferenceNamesRepository, the rule for simple-signing
// payloads), so that a bundle signed for acme/app cannot be replayed onto
// the same digest in acme/other.
//
// The rule: what a reader receives of a signature artifact is limited to what
// a trusted key signed plus the envelope its format requires. So the referrer
// manifest and the bundle have closed schemas (ReadBundleLayers, and the
// bundle's own below); a member they do not list is refused, naming it:
//   * the manifest: schemaVersion 2, mediaType, artifactType, config (the
//     empty descriptor, which may carry an artifactType), layers (each may be
//     annotated only with org.opencontainers.image.title, which must be
//     "<algorithm>-<hex>.sigstore.json" of the layer), subject, and the
//     annotations org.opencontainers.image.created (RFC 3339),
//     dev.sigstore.bundle.content ("dsse-envelope") and
//     dev.sigstore.bundle.predicateType (equal to the verified statement's).
//   * the bundle: mediaType, verificationMaterial {publicKey {hint},
//     tlogEntries, timestampVerificationData {rfc3161Timestamps
//     [{signedTimestamp}]}}, dsseEnvelope {payload, payloadType, signatures
//     [{sig, keyid}]}, every string and array bounded.
// Transparency-log entries cannot be verified (Keep holds no Rekor keys yet),
// but each is bound to the envelope beside it (trust/rekor.h): it logs this
// payload and these signatures under the keys that made them, its inclusion
// proof leads to its root hash, and its checkpoint is of that tree. RFC 3161
// timestamps cannot be checked at all, nor a publicKey.hint or a signature's
// keyid that is not the verifying key's fingerprint: a bundle carrying them
// still verifies by its key, but its verdict's `unverified_material` says so.
//
// A statement of another predicate type (an attestation: SBOM, provenance,
// made by `cosign attest`) verifies the same way but is not a signature of
// its subject; the verdict says which it is.
//
// cosign v3's `cosign sign` statement (above) has a subject with a digest and
// no name: it signs the content, not a place, so such a bundle counts for
// that digest in any repository of the namespace, unlike a simple-signing
// payload, whose docker-reference must name the repository.
//
// Pure functions; thread-safe, as long as the `fetch` given is.
#pragma once

#include "core/digest.h"
#include "core/error.h"
#include "trust/cosign.h"
#include "trust/keyless.h"
#include "trust/keys.h"
#include "trust/rekor.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace keep {

inline constexpr std::string_view kSigstoreBundleMediaType =
    "application/vnd.dev.sigstore.bundle.v0.3+json";
// The same version under the media type sigstore used before v0.3's own.
inline constexpr std::string_view kSigstoreBundleLegacyMediaType =
    "application/vnd.dev.sigstore.bundle+json;version=0.3";
inline constexpr std::string_view kInTotoPayloadType = "application/vnd.in-toto+json";
inline constexpr std::string_view kCosignSignPredicateType = "https://sigstore.dev/cosign/sign/v1";
inline constexpr std::string_view kOciEmptyMediaType = "application/vnd.oci.empty.v1+json";

// True for either spelling of the v0.3 bundle media type.
[[nodiscard]] bool IsSigstoreBundleMediaType(std::string_view media_type);

// A manifest whose artifactType, or one of whose layers, is a sigstore bundle.
[[nodiscard]] bool IsSigstoreBundleManifest(const nlohmann::json& manifest);

struct BundleLayer {
  Digest digest;
  std::int64_t size = 0;
  // The manifest's dev.sigstore.bundle.predicateType annotation, empty when
  // it has none: the statement of each bundle must have that predicate type.
  std::string predicate_type_annotation;
};

// Limits on what one referrer may ask Keep to verify.
inline constexpr std::size_t kMaxBundleLayers = 16;
inline constexpr std::size_t kMaxEnvelopeSignatures = 8;
inline constexpr std::int64_t kMaxBundleSize = 256 << 10;

// The bundle layers of a bundle manifest, in manifest order. kManifestInvalid
// unless it is an OCI image manifest of the closed schema above whose config
// is the empty descriptor and whose layers are all bundles (1 to
// kMaxBundleLayers, no two alike), each with a valid digest and size: a
// signature carries nothing else, so that trusting it (its blobs are served
// with it) exposes nothing else.
[[nodiscard]] Result<std::vector<BundleLayer>> ReadBundleLayers(const nlohmann::json& manifest);

// DSSE v1 pre-authentication encoding: "DSSEv1" SP len(type) SP type SP
// len(body) SP body, lengths in ASCII decimal bytes.
[[nodiscard]] std::string DssePae(std::string_view payload_type, std::string_view payload);

// The outcome for one bundle.
struct BundleVerdict {
  Digest bundle_digest;
  bool verified = false;        // a trusted key signed it and it names the target
  bool is_signature = false;    // verified, with cosign's sign predicate
  std::string predicate_type;   // verified: the statement's predicate type
  std::vector<std::string> key_ids;  // verified by keys: the distinct trusted keys that signed
  // Verified by a certificate (keyless): the trusted identity's name, and the
  // trust root that vouched for it.
  std::string identity;
  std::string trust_root;
  std::string reason;           // not verified: which check failed
  // What the bundle carries that no key signed and Keep cannot check yet
  // (RFC 3161 timestamps; a key hint or keyid other than the verifying key's
  // fingerprint), with the reason; empty when nothing. A verified bundle with
  // it still counts, but is not fit to serve to readers as it is.
  std::string unverified_material;
};

// Checks each bundle (fetched by digest) as described above, against
// `target`, the manifest the referrer's subject names, pushed to
// `repository`. One verdict per layer, in order.
//
// With `keyless`, a bundle signed with a certificate (cosign v3 without
// --key) is verified as trust/keyless.h says (VerifySigned: the content, the
// binding of its log entries, the logs of a trust root, the certificate's
// chain and SCT at the signing time, and the identity it names) and, for a
// DSSE envelope, its statement as above (the subject, the repository, the
// predicate type); a message signature must be over the target's digest and
// counts as a signature. Its RFC 3161 timestamps are verified there too.
// What such a bundle carries beyond that (certificates that are not the
// trust root's, envelope signatures besides the one checked) is its
// unverified_material. Without
// `keyless`, such a bundle is refused.
[[nodiscard]] std::vector<BundleVerdict> VerifyBundles(const std::vector<BundleLayer>& layers,
                                                       const PayloadFetcher& fetch,
                                                       const Digest& target,
                                                       std::string_view repository,
                                                       const std::vector<PublicKey>& trusted_keys,
                                                       const KeylessTrust* keyless = nullptr);

// cosign's signing statement for `target` (a sha256 digest), as JSON bytes.
[[nodiscard]] std::string MakeSignStatement(const Digest& target);

// A one-signature bundle referrer, ready to push: upload `config` ("{}") and
// `bundle` as blobs, then PUT `manifest` by its digest.
struct BundleManifest {
  std::string config;
  std::string bundle;
  std::string manifest;
  Digest config_digest;
  Digest bundle_digest;
  Digest manifest_digest;
};
// `signature` is raw bytes over DssePae(kInTotoPayloadType, statement) by the
// key whose public half is `signer`. `subject_media_type` and `subject_size`
// describe the signed manifest; `created` is an RFC 3339 time for the
// org.opencontainers.image.created annotation. The manifest's
// dev.sigstore.bundle.predicateType annotation is the statement's own.
[[nodiscard]] BundleManifest BuildBundleManifest(const Digest& subject,
                                                 std::string_view subject_media_type,
                                                 std::int64_t subject_size,
                                                 std::string_view statement,
                                                 std::string_view signature,
                                                 const PublicKey& signer,
                                                 std::string_view created);

}  // namespace keep
