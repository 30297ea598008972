// trust/timestamp.h — RFC 3161 timestamps: a timestamp authority's signed
// word that some bytes (a signature) existed at a time.
//
// A sigstore bundle carries them as verificationMaterial
// .timestampVerificationData.rfc3161Timestamps[].signedTimestamp: the DER of
// a TimeStampResp (RFC 3161 2.4.2: a status and the token) or of the
// TimeStampToken alone (a CMS SignedData whose content is a TSTInfo). A
// Rekor v2 entry has no integrated time, so such a timestamp is what says
// when the signature was made.
//
// VerifyTimestamp checks, each refusal naming the check:
//   * form: the DER is one TimeStampResp whose status is granted (with or
//     without modifications) and which holds a token, or one token; its
//     TSTInfo is of version 1;
//   * imprint: the message imprint is the SHA-256, SHA-384 or SHA-512 of
//     exactly the given bytes (the signature it timestamps);
//   * time: genTime is not in the future (kMaxClockSkew);
//   * authority: the token's one signer is a certificate of the token or of
//     a timestamp authority of the trust root whose validFor holds genTime;
//     that certificate allows time stamping (extended key usage
//     timeStamping, critical, as RFC 3161 2.3 requires, and nothing else)
//     and chains, at genTime, to the last certificate of that authority's
//     chain (the anchor; only the authority's certificates and the token's
//     own build the chain); the token's signature verifies with it, and its
//     signing-certificate attribute (ESS) names it.
// Only then is genTime a verified time: seconds since the epoch, fractions
// dropped.
//
// Pure functions; thread-safe.
#pragma once

#include "core/error.h"
#include "trust/trusted_root.h"

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace keep {

// At most this many bytes of one timestamp, and timestamps in one bundle.
inline constexpr std::size_t kMaxTimestampBytes = 16 << 10;
inline constexpr std::size_t kMaxTimestamps = 8;

struct VerifiedTimestamp {
  std::int64_t time = 0;                        // genTime, seconds since the epoch
  const TrustedAuthority* authority = nullptr;  // the trust root's authority that vouched
};

// Verifies `der` (a TimeStampResp or TimeStampToken) over `signed_bytes`
// against `root`'s timestamp authorities, as described above; `now` is
// seconds since the epoch. kInvalid saying which check failed.
[[nodiscard]] Result<VerifiedTimestamp> VerifyTimestamp(std::string_view der,
                                                        std::string_view signed_bytes,
                                                        const TrustedRoot& root, std::int64_t now);

}  // namespace keep
