// trust/trusted_root.h — a sigstore trust root: the Fulcio certificate
// authorities, transparency logs (Rekor), certificate-transparency logs and
// timestamp authorities that keyless signatures are verified against.
//
// The file is sigstore's `trusted_root.json` (protobuf-specs TrustedRoot,
// media types "application/vnd.dev.sigstore.trustedroot+json;version=0.1"
// and "application/vnd.dev.sigstore.trustedroot.v0.1+json" / v0.2):
//
//   {"mediaType": "...",
//    "tlogs": [{"baseUrl": "https://rekor.sigstore.dev", "hashAlgorithm": "SHA2_256",
//               "publicKey": {"rawBytes": "<base64 DER SubjectPublicKeyInfo>",
//                             "keyDetails": "PKIX_ECDSA_P256_SHA_256",
//                             "validFor": {"start": "<RFC 3339>", "end": "<RFC 3339>"}},
//               "logId": {"keyId": "<base64 SHA-256 of the DER key>"}}],
//    "certificateAuthorities": [{"subject": {"organization": "...", "commonName": "..."},
//                                "uri": "https://fulcio.sigstore.dev",
//                                "certChain": {"certificates": [{"rawBytes": "<base64 DER>"}]},
//                                "validFor": {"start": ..., "end": ...}}],
//    "ctlogs": [<as tlogs>],
//    "timestampAuthorities": [<as certificateAuthorities>]}
//
// Reading is strict: every object has a closed set of members (a member the
// format does not list is refused, naming it), every array and string is
// bounded, every key and certificate must parse. A validity window is closed
// ([start, end]); a missing end means "still valid". Times are kept as whole
// seconds since the epoch (fractions are dropped, so an end of
// "…:59.999Z" still admits the second "…:59").
//
// A TrustedRoot is an immutable value once read; it may be shared between
// threads. Pure functions; thread-safe.
#pragma once

#include "core/error.h"
#include "trust/keys.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace keep {

inline constexpr std::string_view kTrustedRootMediaType01 =
    "application/vnd.dev.sigstore.trustedroot+json;version=0.1";
inline constexpr std::string_view kTrustedRootMediaTypeV01 =
    "application/vnd.dev.sigstore.trustedroot.v0.1+json";
inline constexpr std::string_view kTrustedRootMediaTypeV02 =
    "application/vnd.dev.sigstore.trustedroot.v0.2+json";

// A closed interval of seconds since the epoch; `end` absent: open-ended.
struct TimeRange {
  std::int64_t start = 0;
  std::optional<std::int64_t> end;
  [[nodiscard]] bool Contains(std::int64_t t) const { return t >= start && (!end || t <= *end); }
};

// A transparency log (Rekor) or certificate-transparency log.
struct TrustedLog {
  std::string base_url;
  std::string log_id;       // raw bytes (logId.keyId); for Rekor v1 and CT, SHA-256 of key_der
  std::string key_der;      // DER SubjectPublicKeyInfo
  std::string key_details;  // e.g. "PKIX_ECDSA_P256_SHA_256", "PKIX_ED25519"
  Pkey key;
  TimeRange valid_for;
};

// A certificate authority (Fulcio) or timestamp authority: its chain, leaf
// (intermediate) first, root last, each certificate DER.
struct TrustedAuthority {
  std::string uri;
  std::string organization;
  std::string common_name;
  std::vector<std::string> chain_der;
  TimeRange valid_for;
};

struct TrustedRoot {
  // The digest of the text it was read from ("sha256:<hex>"): which root,
  // in which version, vouched for a keyless signature (SignedVerdict).
  std::string digest;
  std::vector<TrustedLog> tlogs;
  std::vector<TrustedLog> ctlogs;
  std::vector<TrustedAuthority> certificate_authorities;
  std::vector<TrustedAuthority> timestamp_authorities;
};

// Bounds on one trust root.
inline constexpr std::size_t kMaxTrustedRootBytes = 1 << 20;
inline constexpr std::size_t kMaxTrustedEntries = 64;  // per list
inline constexpr std::size_t kMaxChainCertificates = 8;

// Reads a trusted_root.json. kInvalid naming the member that is unexpected,
// missing, malformed or too large, or the key or certificate that does not
// parse; a log whose logId is not the SHA-256 of its key is accepted (Rekor
// v2 logs name themselves otherwise), but its key must be one Keep can use:
// ECDSA P-256/P-384/P-521, Ed25519, or RSA of 2048 bits or more.
[[nodiscard]] Result<TrustedRoot> ParseTrustedRoot(std::string_view text);

// The logs among `logs` with this raw log id whose window holds `time`.
[[nodiscard]] std::vector<const TrustedLog*> LogsFor(const std::vector<TrustedLog>& logs,
                                                     std::string_view log_id, std::int64_t time);

// Seconds since the epoch of an RFC 3339 date-time (see trust/schema.h's
// IsRfc3339 for the form accepted), fractions dropped; nullopt when it is
// not one.
[[nodiscard]] std::optional<std::int64_t> Rfc3339Seconds(std::string_view text);

// True when `signature` over `data` verifies with `key`, by the algorithm
// its type implies: ECDSA P-256/P-384/P-521 over SHA-256/384/512, pure
// Ed25519, RSA PKCS#1 v1.5 over SHA-256. Never throws.
[[nodiscard]] bool VerifyWithKey(EVP_PKEY* key, std::string_view data,
                                 std::string_view signature) noexcept;

}  // namespace keep
