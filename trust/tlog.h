// trust/tlog.h — transparency-log (Rekor v1 and v2) entries of any kind Keep reads,
// and the proof, against a trust root's log keys, that a log holds them.
//
// trust/rekor.h reads the entries that signature artifacts carry and binds
// what they log to the signature beside them; it holds no log key. This
// header adds what a log key makes possible:
//
//   * ReadLogEntry: a sigstore bundle's tlogEntries member (protobuf-specs
//     TransparencyLogEntry) of kind hashedrekord 0.0.1, dsse 0.0.1 or intoto
//     0.0.2 (Rekor v1), or hashedrekord 0.0.2 or dsse 0.0.2 (Rekor v2), read
//     against its closed schema; its inclusion proof, when
//     present, is recomputed to its root hash at once, and its checkpoint,
//     when present, must be of that tree (a v0.1 bundle's proof may have
//     none: the bundle reader decides).
//   * ReadLoggedContent: what its body logs (an artifact's or a payload's
//     sha256, and the signatures with the key or certificate of each).
//   * VerifyLogEntry: that a log of the trust root holds the entry, proven
//     by a signed entry timestamp (the log's signature over the canonical
//     JSON of {body, integratedTime, logID, logIndex}) or by the inclusion
//     proof, recomputed from the body, and its checkpoint (a signed note)
//     signed by the log's key, or both: each one present must verify.
//     Only a verified SET gives a time: it signs integratedTime, and the
//     log is then the trust root's log of the entry's logId whose validity
//     window holds that time. A proof and checkpoint show that the log
//     holds the body, not when it was logged (integratedTime is not in
//     them): they are checked against any log of that logId, and give no
//     time. integratedTime may not be in the future either way.
//
// Rekor v2 entries (IsRekorV2: hashedrekord 0.0.2 and dsse 0.0.2, whose
// bodies trust/rekor_v2.cc reads) have no integrated time and no SET: the
// log gives only the inclusion proof and its checkpoint (a signed note, by
// an ECDSA or Ed25519 key, perhaps cosigned by witnesses, whose lines are
// ignored), which VerifyLogEntry requires and checks against the logs of
// the entry's logId (the checkpoint signature's key hint is its first 4
// bytes), whatever their window, and which give no time: when the signature
// was made is for an RFC 3161 timestamp to say (trust/timestamp.h), and
// VerifySigned (trust/keyless.h) then requires a log of that id valid then.
//
// Pure functions; thread-safe.
#pragma once

#include "core/error.h"
#include "trust/rekor.h"
#include "trust/trusted_root.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace keep {

struct InclusionProof {
  std::int64_t log_index = 0;
  std::int64_t tree_size = 0;
  std::string root_hash;  // 32 bytes
  std::vector<std::string> hashes;
  std::string checkpoint;  // the signed note, as carried
};

// One log entry, whichever artifact carried it.
struct LogEntry {
  std::string kind;     // "hashedrekord", "dsse", "intoto"
  std::string version;  // "0.0.1", "0.0.2"
  std::int64_t log_index = 0;
  std::string log_id;  // raw bytes (32: the SHA-256 of the log's DER key)
  std::optional<std::int64_t> integrated_time;
  std::string signed_entry_timestamp;  // raw DER signature; empty when none
  std::optional<InclusionProof> proof;
  std::string body;  // the canonicalized body, decoded
};

// At most this many bytes of body (an intoto entry holds its whole envelope).
inline constexpr std::size_t kMaxLogEntryBody = 256 << 10;

// Reads a tlogEntries member, as described above. kInvalid naming the member.
[[nodiscard]] Result<LogEntry> ReadLogEntry(const nlohmann::json& entry);

// The entry of cosign's Rekor bundle annotation (ReadRekorSet), which has
// the same parts but no inclusion proof.
[[nodiscard]] LogEntry LogEntryOf(const RekorSet& set);

// Whether the entry is a Rekor v2 one (hashedrekord or dsse 0.0.2).
[[nodiscard]] bool IsRekorV2(const LogEntry& entry);

// What an entry's body logs.
struct LoggedContent {
  std::string kind;
  // hashedrekord: the artifact's sha256 (0.0.2 over a DSSE envelope: its
  // pre-authentication encoding's); dsse and intoto: the payload's; in
  // lower-case hex.
  std::string sha256;
  // Each logged signature (raw bytes) with its key or certificate, PEM.
  std::vector<DsseLogEntry::Signature> signatures;
};
[[nodiscard]] Result<LoggedContent> ReadLoggedContent(const LogEntry& entry);

// What VerifyLogEntry proved.
struct LogProof {
  const TrustedLog* log = nullptr;  // the trust root's log that vouched
  // The time the log signed: integratedTime under a verified SET; none for
  // an entry proven by its inclusion proof and checkpoint alone (as every
  // Rekor v2 entry is). An RFC 3161 timestamp is the other source of signed
  // times (trust/timestamp.h).
  std::optional<std::int64_t> signed_time;
  bool set_verified = false;
  bool checkpoint_verified = false;
};

// Allowed clock difference between the log and this host, in seconds.
inline constexpr std::int64_t kMaxClockSkew = 60;

// Verifies the entry's signed entry timestamp and/or inclusion proof and
// checkpoint against `root`'s tlogs, as described above; `now` is seconds
// since the epoch. kInvalid saying which check failed.
[[nodiscard]] Result<LogProof> VerifyLogEntry(const LogEntry& entry, const TrustedRoot& root,
                                              std::int64_t now);

// The canonical JSON a signed entry timestamp signs.
[[nodiscard]] std::string SetPayload(const LogEntry& entry);

// kInvalid unless one signature line of the checkpoint `note` is by `log`
// (key hint: the first 4 bytes of its log id) and verifies over the note's
// text, and the note is of `tree_size` and `root_hash`.
[[nodiscard]] Result<void> VerifyCheckpoint(std::string_view note, const TrustedLog& log,
                                            std::int64_t tree_size, std::string_view root_hash);

}  // namespace keep
