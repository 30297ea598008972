// trust/rekor.h — transparency-log (Rekor) material that signature artifacts
// carry, read against a closed schema and bound to the signature it logs.
//
// This header holds no Rekor public keys, so it cannot check that a log
// vouched for anything: a signed entry timestamp, a checkpoint's signatures
// and a log id are taken as they are here (trust/tlog.h verifies them with a
// trust root's log keys, for keyless signatures). What Keep can and does
// check is that such material says nothing of its own: each field is
// bounded and typed, and the log entry it carries describes the very
// signature beside it (same signed bytes, same signature, same key), so
// that a pusher without the signing key cannot use it to carry bytes of
// their choosing to readers.
//
// Two shapes:
//   * cosign's "dev.sigstore.cosign/bundle" layer annotation (ReadRekorSet):
//       {"SignedEntryTimestamp": "<base64>",
//        "Payload": {"body": "<base64 hashedrekord v0.0.1 entry>",
//                    "integratedTime": <int>, "logIndex": <int>, "logID": "<64 hex>"}}
//   * a sigstore bundle's verificationMaterial.tlogEntries[i] (ReadTlogEntry):
//     protobuf-specs' TransparencyLogEntry, whose canonicalizedBody is a dsse
//     v0.0.1 entry, with its inclusion proof and checkpoint (a signed note).
//
// Pure functions; thread-safe.
#pragma once

#include "core/error.h"
#include "trust/keys.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace keep {

inline constexpr std::string_view kCosignRekorBundleAnnotation = "dev.sigstore.cosign/bundle";

// What a hashedrekord v0.0.1 entry (cosign's Rekor bundle) says it logs.
struct RekorSet {
  std::string payload_sha256;  // spec.data.hash.value: 64 lower-case hex
  std::string signature;       // spec.signature.content, decoded
  std::string public_key_pem;  // spec.signature.publicKey.content, decoded
  // The annotation's other parts (empty or 0 for a body read on its own):
  // what a log key verifies (trust/tlog.h).
  std::string signed_entry_timestamp;  // decoded
  std::string body;                    // Payload.body, decoded
  std::int64_t integrated_time = 0;
  std::int64_t log_index = 0;
  std::string log_id;  // Payload.logID, as raw bytes
};

// Reads cosign's Rekor bundle annotation. kInvalid saying which member is
// unexpected, missing, of the wrong type or too large.
[[nodiscard]] Result<RekorSet> ReadRekorSet(std::string_view annotation);

// Reads the body of a hashedrekord v0.0.1 entry (its spec's hash,
// signature and key); `where` names it in messages. kInvalid.
[[nodiscard]] Result<RekorSet> ReadHashedRekordBody(std::string_view body,
                                                    const std::string& where);

// Binds a Rekor bundle to the layer it sits on: it logs `payload` (sha256)
// and `signature` (byte for byte), under a public key (or a certificate's
// key, for a keyless signature; the certificate itself is not checked) that
// verifies that signature and, when `signer` is given (the trusted key that
// verified the layer), is that key. kInvalid naming the first mismatch.
[[nodiscard]] Result<void> BindRekorSet(const RekorSet& set, std::string_view payload,
                                        std::string_view signature, const PublicKey* signer);

// What a dsse v0.0.1 log entry of a sigstore bundle says it logs.
struct DsseLogEntry {
  std::string payload_sha256;  // spec.payloadHash.value: 64 lower-case hex
  struct Signature {
    std::string sig;           // decoded
    std::string verifier_pem;  // decoded
  };
  std::vector<Signature> signatures;
};

// At most this many entries in one bundle, and hashes in one inclusion proof.
inline constexpr std::size_t kMaxTlogEntries = 8;
inline constexpr std::size_t kMaxInclusionHashes = 64;

// Reads one tlogEntries member against its closed schema; checks that its
// kindVersion is dsse 0.0.1 like its body, that the inclusion proof (when
// present) leads from the body to its root hash, and that the checkpoint is
// a signed note of that tree size and root hash. kInvalid naming the member.
[[nodiscard]] Result<DsseLogEntry> ReadTlogEntry(const nlohmann::json& entry);

// Reads the body of a dsse v0.0.1 entry; `where` names it. kInvalid.
[[nodiscard]] Result<DsseLogEntry> ReadDsseBody(std::string_view body, const std::string& where);
// Reads the body of an intoto v0.0.2 entry into the same shape: its
// payloadHash, and each envelope signature (decoded from the base64 text
// that the entry encodes once more) with its publicKey (PEM). kInvalid.
[[nodiscard]] Result<DsseLogEntry> ReadIntotoBody(std::string_view body, const std::string& where);

// Rekor v2 bodies (trust/rekor_v2.cc), read into the same shapes: a
// hashedrekord 0.0.2 entry's SHA-256 digest (of the artifact, or of a DSSE
// envelope's pre-authentication encoding), signature and verifier, and a
// dsse 0.0.2 entry's payload hash and signatures. A verifier (a DER
// certificate or public key) is given as PEM. Digests other than SHA-256
// are refused. `where` names the body. kInvalid.
[[nodiscard]] Result<RekorSet> ReadHashedRekordV2Body(std::string_view body,
                                                      const std::string& where);
[[nodiscard]] Result<DsseLogEntry> ReadDsseV2Body(std::string_view body, const std::string& where);

// Binds a log entry to the envelope beside it: it logs the envelope's
// `payload` (sha256) and exactly its `signatures` (decoded), each under a
// verifier key that verifies it over `pae` and, where `signers[i]` is not
// null (the trusted key that verified signatures[i]), is that key.
// REQUIRES: signers.size() == signatures.size().
[[nodiscard]] Result<void> BindTlogEntry(const DsseLogEntry& entry, std::string_view payload,
                                         std::string_view pae,
                                         const std::vector<std::string>& signatures,
                                         const std::vector<const PublicKey*>& signers);

// A checkpoint (C2SP signed note): origin line, tree size, base64 root hash,
// a blank line, then one or more "— <name> <base64 signature>" lines.
struct Checkpoint {
  std::string origin;
  std::int64_t tree_size = 0;
  std::string root_hash;  // decoded, 32 bytes
  std::string text;       // what the signatures sign: the note up to its blank line
  struct Signature {
    std::string name;
    std::string key_hint;   // 4 bytes
    std::string signature;  // the rest
  };
  std::vector<Signature> signatures;
};
// kInvalid saying which line is malformed. Extension lines (between the root
// hash and the blank line) are refused, nothing checks them, except the one
// Rekor v1 wrote for a while: "Timestamp: <decimal>".
[[nodiscard]] Result<Checkpoint> ParseCheckpoint(std::string_view note);

// RFC 9162 (2.1.3.2) Merkle inclusion: true when `hashes` lead from the
// leaf `leaf` (its bytes; hashed as SHA-256(0x00 || leaf)) at `index` in a
// tree of `tree_size` leaves to `root` (32 bytes).
[[nodiscard]] bool VerifyInclusion(std::string_view leaf, std::int64_t index,
                                   std::int64_t tree_size, const std::vector<std::string>& hashes,
                                   std::string_view root);

}  // namespace keep
