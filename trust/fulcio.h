// trust/fulcio.h — Fulcio signing certificates: the chain to a trusted
// certificate authority, the embedded certificate-transparency timestamp
// (SCT), and the identity the certificate names.
//
// A keyless signature is made with a short-lived key whose certificate
// Fulcio issued after checking an OIDC token. The certificate names:
//   * the subject: its SubjectAltName, a URI (a CI workflow:
//     "https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1")
//     or an email address;
//   * the OIDC issuer: extension 1.3.6.1.4.1.57264.1.8 (a DER UTF8String),
//     or, in certificates issued before it existed, 1.3.6.1.4.1.57264.1.1
//     (the raw string);
//   * more claims as extensions 1.3.6.1.4.1.57264.1.9 and up (UTF8String):
//     source repository URI (.12), its ref (.14), the build config URI
//     (.18), and so on.
//
// The certificate chains to a certificate authority of a trust root
// (trust/trusted_root.h) valid at the signing time: only the trust root's
// certificates are used to build the chain, the last one the anchor; any
// certificate a bundle carries besides its leaf is ignored, as the
// protobuf-specs bundle allows (trust/keyless.h refuses a root among them).
// OpenSSL verifies the chain at that time; the leaf must allow code signing
// (extended key usage), must not be a certificate authority
// (basicConstraints CA or a keyCertSign key usage) and, when it has a key
// usage, must allow digitalSignature.
//
// The SCT embedded in the leaf (RFC 6962, a precertificate timestamp) is
// verified with a CT log key of the trust root: over the leaf's
// TBSCertificate without the SCT list extension and the SHA-256 of the
// issuer's key.
//
// Pure functions; thread-safe (a certificate is only read once made).
#pragma once

#include "core/error.h"
#include "trust/trusted_root.h"

#include <openssl/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace keep {

// One X.509 certificate, shared read-only.
using CertPtr = std::shared_ptr<X509>;

// A certificate from its DER bytes (the whole input); kInvalid otherwise.
[[nodiscard]] Result<CertPtr> ParseCertificateDer(std::string_view der);
// Certificates from concatenated PEM "CERTIFICATE" blocks (cosign's
// certificate and chain annotations): 1 to kMaxChainCertificates of them and
// nothing else; kInvalid otherwise.
[[nodiscard]] Result<std::vector<CertPtr>> ParseCertificatesPem(std::string_view pem);
// The DER bytes of a certificate.
[[nodiscard]] std::string CertificateDer(X509* cert);

inline constexpr std::string_view kFulcioOidPrefix = "1.3.6.1.4.1.57264.1.";
inline constexpr std::string_view kFulcioIssuerOid = "1.3.6.1.4.1.57264.1.8";
inline constexpr std::string_view kFulcioLegacyIssuerOid = "1.3.6.1.4.1.57264.1.1";

// What a Fulcio certificate says of its holder.
struct CertificateIdentity {
  std::string issuer;   // the OIDC issuer
  std::string subject;  // the SubjectAltName URI or email
  // Every Fulcio extension (1.3.6.1.4.1.57264.1.*) by dotted OID: the
  // string of .1.1 to .1.6 as it is, of the others the UTF8String's content.
  std::map<std::string, std::string> extensions;
};

// kInvalid when the leaf names no OIDC issuer or no URI or email subject.
[[nodiscard]] Result<CertificateIdentity> ReadCertificateIdentity(X509* leaf);

// The chain VerifyCertificateChain found.
struct VerifiedChain {
  const TrustedAuthority* authority = nullptr;
  CertPtr issuer;  // the certificate that issued the leaf
};

// Verifies that `leaf` chains to a certificate authority of `root` whose
// window holds `time` (seconds since the epoch), with every certificate
// valid at `time`, is no CA, and allows code signing (and digitalSignature,
// when it has a key usage). kInvalid saying what failed.
[[nodiscard]] Result<VerifiedChain> VerifyCertificateChain(X509* leaf, const TrustedRoot& root,
                                                           std::int64_t time);

// Verifies the leaf's embedded SCTs: at least one is from a CT log of
// `root` (valid at the SCT's time) and verifies, and none from such a log
// fails. kInvalid saying which check failed: no SCT, none from a known log,
// a bad signature.
[[nodiscard]] Result<void> VerifyEmbeddedSct(X509* leaf, X509* issuer, const TrustedRoot& root);

}  // namespace keep
