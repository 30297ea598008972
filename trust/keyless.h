// trust/keyless.h — keyless (Fulcio/Rekor) signatures: who may sign, what a
// signature carries, and the offline check that it was made by a trusted
// identity.
//
// A keyless signature carries: a certificate (Fulcio) for a key that made
// the signature, one or more transparency-log entries (Rekor v1, or Rekor
// v2) that logged it, RFC 3161 timestamps of the signature when its log
// gives no time (Rekor v2), and the signed content: either a signature over
// the artifact's bytes (a "message signature", what `cosign sign-blob` and
// cosign's tag layout make) or a DSSE envelope of an in-toto statement
// naming the artifact. It comes as a sigstore bundle v0.1-v0.3
// (ReadSignedMaterial) or as cosign's layer annotations
// (CosignKeylessMaterial).
//
// VerifySigned checks, in this order, each refusal naming the check:
//   1. content: the signature verifies with the certificate's key (or with a
//      trusted key, for a bundle signed with a key), over the artifact
//      (message: its digest, which the bundle's messageDigest hint must
//      equal) or over the envelope's pre-authentication encoding (DSSE: the
//      in-toto statement's subjects must include the artifact's digest);
//   2. binding: every log entry logs this very content: for hashedrekord the
//      artifact's digest (a DSSE envelope logged as a hashedrekord 0.0.2:
//      the digest of its pre-authentication encoding), this signature and
//      this certificate (or key); for dsse and intoto the payload's digest
//      and exactly the envelope's signatures under this certificate. (A
//      valid entry for something else is the bypass this closes.)
//   3. log: every entry is vouched for by a log of a trust root (trust/tlog.h:
//      its signed entry timestamp, its inclusion proof and signed checkpoint;
//      a Rekor v2 entry by its proof and checkpoint only, from a log valid at
//      every signing time), its integrated time, if any, not in the future;
//   4. timestamp: every RFC 3161 timestamp carried verifies against a
//      timestamp authority of that trust root (trust/timestamp.h) over the
//      signature (DSSE: one of the envelope's signatures).
//      A signing time is one that was signed: the integrated time under a
//      verified signed entry timestamp, or a verified timestamp's genTime.
//      An inclusion proof and checkpoint alone prove the entry logged, not
//      when (they do not cover integratedTime, and a Rekor v2 entry has
//      none), so a certificate-signed signature with no signed time is
//      refused; a key-signed one may have none, as no certificate's validity
//      depends on it;
//   5. certificate: the bundle carries its leaf and at most intermediates
//      (a self-signed certificate or a trust root's anchor among them is
//      refused); at every signing time, the leaf is valid and chains to a
//      certificate authority of that trust root (trust/fulcio.h), and its
//      embedded SCT verifies with a CT log key of the trust root (one that
//      names no CT log is refused);
//   6. identity: the certificate's OIDC issuer and subject match a trusted
//      identity (issuer exactly; subject exactly or by a regular expression
//      that must match it whole), and every extension the identity requires
//      has exactly the required value.
// A keyless signature with no log entry is refused (a timestamp alone does
// not show that it was logged). A signature made with a trusted key and
// carrying no log entry is verified by the key alone: no log, and no
// timestamp, is asked for (one that carries entries must have each of them,
// and each of its timestamps, vouched for).
//
// Pure functions; thread-safe.
#pragma once

#include "core/digest.h"
#include "core/error.h"
#include "trust/fulcio.h"
#include "trust/keys.h"
#include "trust/timestamp.h"
#include "trust/tlog.h"
#include "trust/trusted_root.h"

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

namespace keep {

// A subject regular expression, compiled once.
struct SubjectPattern {
  std::string source;
  std::regex compiled;
};

// A trusted signer by identity.
struct KeylessIdentity {
  std::string name;    // how the policy counts it (once toward a threshold)
  std::string issuer;  // the OIDC issuer, exactly
  // The subject: exactly `subject`, or, when `subject_regex` is set, any
  // subject that this ECMAScript regular expression matches whole.
  std::string subject;
  std::string subject_regex;
  // Required Fulcio extensions by dotted OID (or a name of
  // kFulcioExtensionNames) and their exact values.
  std::map<std::string, std::string> extensions;
  // subject_regex compiled, by CheckIdentity. MatchIdentity uses it while
  // its source is subject_regex, and compiles the expression itself (each
  // time) otherwise.
  std::shared_ptr<const SubjectPattern> subject_pattern;
};

// At most this many bytes of subject regular expression, and of subject to
// match (std::regex recurses on the subject's length: a longer subject is
// refused, not matched).
inline constexpr std::size_t kMaxSubjectRegex = 1024;
inline constexpr std::size_t kMaxMatchedSubject = 4096;

// Names accepted for Fulcio extensions in KeylessIdentity::extensions.
struct FulcioExtensionName {
  std::string_view name;
  std::string_view oid;
};
inline constexpr FulcioExtensionName kFulcioExtensionNames[] = {
    {"build-signer-uri", "1.3.6.1.4.1.57264.1.9"},
    {"build-signer-digest", "1.3.6.1.4.1.57264.1.10"},
    {"runner-environment", "1.3.6.1.4.1.57264.1.11"},
    {"source-repository-uri", "1.3.6.1.4.1.57264.1.12"},
    {"source-repository-digest", "1.3.6.1.4.1.57264.1.13"},
    {"source-repository-ref", "1.3.6.1.4.1.57264.1.14"},
    {"source-repository-identifier", "1.3.6.1.4.1.57264.1.15"},
    {"source-repository-owner-uri", "1.3.6.1.4.1.57264.1.16"},
    {"source-repository-owner-identifier", "1.3.6.1.4.1.57264.1.17"},
    {"build-config-uri", "1.3.6.1.4.1.57264.1.18"},
    {"build-config-digest", "1.3.6.1.4.1.57264.1.19"},
    {"build-trigger", "1.3.6.1.4.1.57264.1.20"},
    {"run-invocation-uri", "1.3.6.1.4.1.57264.1.21"},
    {"source-repository-visibility-at-signing", "1.3.6.1.4.1.57264.1.22"},
};

// kInvalid unless the identity is usable: a name, an issuer, exactly one of
// subject and subject_regex (a regular expression of at most
// kMaxSubjectRegex bytes that compiles), and extensions named by a dotted
// Fulcio OID or a known name, each with a value. Sets subject_pattern.
[[nodiscard]] Result<void> CheckIdentity(KeylessIdentity& identity);

// Whether `cert` names `identity`; kInvalid saying which part differs (a
// subject longer than kMaxMatchedSubject matches nothing).
[[nodiscard]] Result<void> MatchIdentity(const KeylessIdentity& identity,
                                         const CertificateIdentity& cert);

// What one signature carries, whichever artifact it came in.
struct SignedMaterial {
  // The signer: a certificate chain, leaf first (DER), or none (a bundle
  // signed with a key; `key_hint` is then the bundle's hint, if any).
  std::vector<std::string> certificates;
  std::string key_hint;
  // The content: a message signature ...
  bool is_dsse = false;
  std::string signature;            // raw
  std::string message_digest_hint;  // the bundle's messageDigest (sha256, raw), if any
  // ... or a DSSE envelope.
  std::string payload_type;
  std::string payload;
  std::vector<std::string> dsse_signatures;  // raw
  std::vector<LogEntry> log_entries;
  std::vector<std::string> rfc3161_timestamps;  // DER, as carried
};

// At most this many bytes of bundle.
inline constexpr std::size_t kMaxSignedBundleBytes = 1 << 20;

// Reads a sigstore bundle (media types of v0.1, v0.2 and v0.3), with either
// content, and a certificate, certificate chain or public key hint. The
// bundle's schema is closed; kInvalid naming the member.
[[nodiscard]] Result<SignedMaterial> ReadSignedMaterial(std::string_view bundle);

// The material of one cosign signature layer: its `signature` over
// `payload` (the simple-signing payload, whose sha256 is the artifact),
// the certificate and chain annotations (PEM; the chain may be empty, and
// is read for its form only: the trust root's certificates build the
// chain), and its Rekor bundle annotation when it has one.
// The caller must check what the payload says: VerifySigned proves only
// that a trusted identity signed these bytes, and the image they name is
// the payload's critical.image.docker-manifest-digest, which must be the
// manifest being verified (as for a key-signed layer).
[[nodiscard]] Result<SignedMaterial> CosignKeylessMaterial(std::string_view payload,
                                                           std::string_view signature,
                                                           std::string_view certificate_pem,
                                                           std::string_view chain_pem,
                                                           const RekorSet* rekor);

// What is being verified: the artifact's sha256 digest and, when the caller
// has them, its bytes (needed only for an Ed25519 message signature).
struct SignedArtifact {
  Digest digest;
  std::optional<std::string> bytes;
};

// Who may have signed.
struct TrustedSigners {
  std::vector<KeylessIdentity> identities;
  std::vector<PublicKey> keys;
};

struct SignedVerdict {
  bool verified = false;
  std::string signer;  // verified: the identity's name, or the key's id
  std::string reason;  // not verified: which check failed
  // Verified with a certificate: what it names. The signing times that
  // were signed (seconds since the epoch): by a log's signed entry
  // timestamp, or an RFC 3161 timestamp's genTime; none for a key-signed
  // bundle with neither, or with no entry.
  CertificateIdentity certificate;
  std::vector<std::int64_t> signing_times;
  // Verified by an identity: the digest of the trust root that vouched for
  // the certificate and log entries (TrustedRoot::digest). What it verified
  // counts only while that root, in that version, is installed.
  std::string trust_root;
};

// Checks `material` for `artifact` as described above, against any of
// `roots` (the first one that verifies the log entries is used for the
// certificate as well), with `now` the current time in seconds since the
// epoch.
[[nodiscard]] SignedVerdict VerifySigned(const SignedMaterial& material,
                                         const SignedArtifact& artifact,
                                         const std::vector<TrustedRoot>& roots,
                                         const TrustedSigners& signers, std::int64_t now);

// What keyless signatures pushed to a namespace are checked against: the
// installed trust roots, the namespace's live identities, and the current
// time (seconds since the epoch).
struct KeylessTrust {
  std::vector<TrustedRoot> roots;
  std::vector<KeylessIdentity> identities;
  std::int64_t now = 0;
};

// Whether every certificate of `chain` (DER; what a signature carries beside
// its leaf) is one of the certificate authorities' certificates of `roots`.
// Verification ignores such certificates (trust/fulcio.h); a registry that
// serves them checks that they say nothing new.
[[nodiscard]] bool ChainOfTrustedRoots(const std::vector<std::string>& chain,
                                       const std::vector<TrustedRoot>& roots);

}  // namespace keep
