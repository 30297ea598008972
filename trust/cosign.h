// trust/cosign.h — cosign signatures stored in the registry, and their check.
//
// cosign (and podman/skopeo with --sign-by-sigstore-private-key) store the
// signatures of manifest sha256:<hex> as an OCI image manifest tagged
// "sha256-<hex>.sig" in the same repository (cosign's SIGNATURE_SPEC.md,
// "Tag-based Discovery"), or, from OCI 1.1 clients, as a referrer of it
// (with a `subject`). Each signature is one layer of that manifest:
//
//   {"mediaType": "application/vnd.dev.cosign.simplesigning.v1+json",
//    "digest": "sha256:<payload digest>", "size": <payload size>,
//    "annotations": {"dev.cosignproject.cosign/signature": "<base64 signature>"}}
//
// whose blob is the simple-signing payload (trust/simple_signing.h) and whose
// annotation is the standard base64 of the signature over those bytes.
//
// The rule: what a reader receives of a signature artifact is limited to what
// a trusted key signed plus the envelope its format requires. So every
// document of the artifact has a closed schema, and a member it does not list
// is refused (kManifestInvalid, naming it):
//   * the manifest: schemaVersion 2, mediaType (OCI or Docker manifest),
//     config, layers, and in the referrer form subject and artifactType
//     (kCosignArtifactSigType); no manifest annotations (cosign writes none).
//     Descriptors hold mediaType, digest and size only (layers also
//     annotations). See ReadCosignSignatures.
//   * the config blob: the empty image config cosign (or containers/image)
//     writes, whose diff_ids are the layers' payloads. See CheckCosignConfig.
//   * a layer's annotations: the signature, and optionally cosign's Rekor
//     bundle (kCosignRekorBundleAnnotation, trust/rekor.h: bound to this very
//     payload, signature and key), certificate, chain and RFC 3161 timestamp.
// A layer signed by a trusted key may carry a certificate, chain or
// timestamp that no key vouches for: it still verifies by its key, but its
// verdict's `unverified_material` says so, so that the caller can withhold
// the artifact from readers while counting its signature. A layer signed
// keylessly verifies by its certificate against the installed trust roots
// and the namespace's identities (VerifyCosign's `keyless`); RFC 3161
// timestamps are not checked yet, and stay unverified material.
//
// Unchecked still: the JSON text's own freedom (whitespace, member order,
// string escapes: Go's protojson even varies its whitespace on purpose), and
// repeated member names in a manifest the caller parsed with a plain parser
// rather than ParseSignatureManifest; the blobs read here (config, Rekor
// bundle, sigstore bundle) refuse repeated names.
//
// Pure functions; thread-safe, as long as the `fetch` given to VerifyCosign is.
#pragma once

#include "core/digest.h"
#include "core/error.h"
#include "trust/keyless.h"
#include "trust/keys.h"
#include "trust/rekor.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace keep {

inline constexpr std::string_view kCosignSimpleSigningMediaType =
    "application/vnd.dev.cosign.simplesigning.v1+json";
inline constexpr std::string_view kCosignSignatureAnnotation = "dev.cosignproject.cosign/signature";
inline constexpr std::string_view kOciImageConfigMediaType =
    "application/vnd.oci.image.config.v1+json";
inline constexpr std::string_view kDockerImageConfigMediaType =
    "application/vnd.docker.container.image.v1+json";
// The artifactType (and config media type) of cosign's OCI 1.1 referrer form.
inline constexpr std::string_view kCosignArtifactSigType =
    "application/vnd.dev.cosign.artifact.sig.v1+json";
// The other layer annotations cosign writes (besides the signature and
// kCosignRekorBundleAnnotation): Fulcio's certificate and chain (PEM), and
// {"SignedRFC3161Timestamp": "<base64>"}.
inline constexpr std::string_view kCosignCertificateAnnotation = "dev.sigstore.cosign/certificate";
inline constexpr std::string_view kCosignChainAnnotation = "dev.sigstore.cosign/chain";
inline constexpr std::string_view kCosignTimestampAnnotation = "dev.sigstore.cosign/rfc3161timestamp";

// "sha256-<64 lower-case hex>.sig", the tag of a signature manifest.
[[nodiscard]] bool IsCosignSignatureTag(std::string_view tag);
// The manifest a signature tag signs; nullopt when the tag is not one.
[[nodiscard]] std::optional<Digest> CosignTarget(std::string_view tag);
// The signature tag of a sha256 `target` ("sha256-<hex>.sig").
// REQUIRES: target is a sha256 digest.
std::string CosignSignatureTag(const Digest& target);

struct CosignLayer {
  Digest payload_digest;
  std::int64_t payload_size = 0;
  std::string signature;  // raw bytes, base64-decoded from the annotation
  // cosign's Rekor bundle annotation, when the layer has one (VerifyCosign
  // binds it to the payload, the signature and the key).
  std::optional<RekorSet> rekor;
  // What the layer carries that no trusted key vouches for (certificate,
  // chain, timestamp), in words; empty when nothing. A layer that verifies
  // keylessly is judged again (VerifyCosign): its certificate is then
  // verified, and a chain of the trust root's own certificates is nothing new.
  std::string unverified_material;
  // cosign's certificate and chain annotations (PEM, as given; empty when
  // absent), and whether it carries an RFC 3161 timestamp.
  std::string certificate_pem;
  std::string chain_pem;
  bool has_timestamp = false;
};

// Parses the JSON text of a signature artifact's manifest (cosign's or a
// bundle referrer), refusing a member name repeated within one object
// (kManifestInvalid): a reader could otherwise see a value that the checks
// below, which see the last one, never read. Use it in place of a plain
// parse before ReadCosignSignatures or ReadBundleLayers.
[[nodiscard]] Result<nlohmann::json> ParseSignatureManifest(std::string_view text);

// A manifest with at least one simple-signing layer: one that claims to be a
// signature manifest (ReadCosignSignatures then says whether it is one).
[[nodiscard]] bool IsCosignSignatureManifest(const nlohmann::json& manifest);

// At most this many signature layers in one signature manifest (one a key;
// verifying costs a hash and a check per layer and key).
inline constexpr std::size_t kMaxCosignLayers = 64;

// The signature layers of a signature manifest, in manifest order.
// kManifestInvalid unless it is an image manifest of the closed schema above
// whose layers are all signature layers (1 to kMaxCosignLayers), each with a
// valid digest, size, base64 signature and only the annotations listed
// above, each of its form: a signature manifest carries nothing else, so
// that trusting it (its blobs are served with it) exposes nothing else.
[[nodiscard]] Result<std::vector<CosignLayer>> ReadCosignSignatures(const nlohmann::json& manifest);

// The config of a signature manifest: its digest (kManifestInvalid when the
// descriptor is missing or bad) ...
[[nodiscard]] Result<Digest> CosignConfigDigest(const nlohmann::json& manifest);
// ... and its check: the JSON image config cosign writes, whose
// rootfs.diff_ids are the layers' payload digests in order, with no member
// but architecture (""), os (""), created (RFC 3339), history (at most one
// {"created": <RFC 3339>} per layer), rootfs {type "layers", diff_ids},
// config ({}) and container_config ({}), and no repeated member name
// (kManifestInvalid otherwise, saying what differs).
[[nodiscard]] Result<void> CheckCosignConfig(std::string_view config,
                                             const std::vector<CosignLayer>& layers);

// A one-signature signature manifest, ready to push: upload `config` and
// `payload` as blobs, then PUT `manifest` (media type
// application/vnd.oci.image.manifest.v1+json) at CosignSignatureTag(target).
struct CosignManifest {
  std::string config;    // a minimal image config, shaped like cosign's
  std::string payload;   // the signed payload, as given
  std::string manifest;  // the OCI image manifest JSON
  Digest config_digest;
  Digest payload_digest;
  Digest manifest_digest;
};
// `signature` is raw bytes (from Sign); it is base64-encoded into the
// annotation. `earlier` are signature layers of other signers to keep before
// the new one, as their manifest listed them (descriptors ReadCosignSignatures
// accepted), the way cosign appends a signer to a signature manifest; their
// payloads are already stored.
CosignManifest BuildCosignManifest(std::string_view payload, std::string_view signature,
                                   const std::vector<nlohmann::json>& earlier = {});

// The outcome for one signature layer.
struct CosignVerdict {
  Digest payload_digest;
  bool verified = false;
  // The payload matched its layer and is a simple-signing payload, and the
  // layer's Rekor bundle, if any, is bound to it (a layer signed by a key the
  // namespace does not trust is still well formed).
  bool well_formed = false;
  std::string key_id;  // verified by a key: the id of the trusted key that signed it
  // Verified by a certificate (keyless): the name of the trusted identity it
  // names (KeylessIdentity::name); key_id is then empty.
  std::string identity;
  std::string trust_root;  // with identity: the trust root that vouched for it
  std::string reason;  // not verified: which check failed, for logs and clients
  // What the layer carries that no key signed and Keep cannot check yet (a
  // Fulcio certificate or chain, an RFC 3161 timestamp), with the reason;
  // empty when nothing. Set for every well-formed layer, verified or not. A
  // verified layer with it still counts as a signature, but its artifact is
  // not fit to serve to readers as it is.
  std::string unverified_material;
};

using PayloadFetcher = std::function<Result<std::string>(const Digest&)>;

// Checks each layer, in this order: its payload (fetched by digest) hashes to
// the layer's digest and has its size, parses as a simple-signing payload,
// and its Rekor bundle, if any, logs this payload and signature under a key
// that made it (well_formed); its signature verifies with one of
// `trusted_keys` (and the Rekor bundle names that key, else the layer is not
// well formed); and only then, the payload passes CheckPayload for `target`
// in `repository`. One verdict per layer, in the same order;
// counting distinct signers against a threshold is the caller's policy.
//
// With `keyless`, a layer carrying a certificate that no trusted key verified
// is checked as a keyless signature (trust/keyless.h, VerifySigned: its
// signature over the payload, its Rekor bundle against a log of a trust root,
// the certificate's chain and SCT at the logged time, and the identity it
// names), then CheckPayload as above; the verdict names the identity.
[[nodiscard]] std::vector<CosignVerdict> VerifyCosign(const std::vector<CosignLayer>& layers,
                                                      const PayloadFetcher& fetch,
                                                      const Digest& target,
                                                      std::string_view repository,
                                                      const std::vector<PublicKey>& trusted_keys,
                                                      const KeylessTrust* keyless = nullptr);

}  // namespace keep
