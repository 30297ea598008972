#include "trust/tlog.h"

#include "core/base64.h"
#include "trust/schema.h"

#include <openssl/evp.h>

namespace keep {
namespace {

using nlohmann::json;
using trust_internal::Base64Member;
using trust_internal::DecodeBoundedBase64;
using trust_internal::ExtraMember;
using trust_internal::IsDecimal;
using trust_internal::ObjectAt;
using trust_internal::Shown;
using trust_internal::StringAt;

constexpr std::size_t kSha256Bytes = 32;
constexpr std::size_t kMaxSetBytes = 256;
constexpr std::size_t kMaxKindText = 32;

Error Bad(std::string why) { return Fail(ErrorCode::kInvalid, std::move(why)); }

// The logs among `logs` with this raw log id, whatever their window.
std::vector<const TrustedLog*> LogsWithId(const std::vector<TrustedLog>& logs,
                                          std::string_view log_id) {
  std::vector<const TrustedLog*> out;
  for (const TrustedLog& log : logs) {
    if (log.log_id == log_id) out.push_back(&log);
  }
  return out;
}

Error Extra(const std::string& where, const std::string& member) {
  return Bad(where + " has an unexpected member \"" + Shown(member) +
             "\"; a signature artifact carries nothing else");
}

std::string Hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) {
    auto b = static_cast<unsigned char>(c);
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 15]);
  }
  return out;
}

// An int64 member written, as protobuf's JSON writes it, as a decimal string.
Result<std::optional<std::int64_t>> DecimalAt(const json& parent, const char* name,
                                              const std::string& where) {
  auto it = parent.find(name);
  if (it == parent.end()) return std::optional<std::int64_t>();
  if (!it->is_string() || !IsDecimal(it->get_ref<const std::string&>())) {
    return Bad(where + "." + name + " is not a decimal string of a non-negative integer");
  }
  return std::optional<std::int64_t>(std::stoll(it->get<std::string>()));
}

Result<InclusionProof> ReadProof(const json& proof, std::string_view body, const std::string& at) {
  if (!proof.is_object()) return Bad(at + " is not an object");
  if (auto extra =
          ExtraMember(proof, {"logIndex", "rootHash", "treeSize", "hashes", "checkpoint"})) {
    return Extra(at, *extra);
  }
  InclusionProof out;
  auto index = DecimalAt(proof, "logIndex", at);
  if (!index) return index.error();
  auto size = DecimalAt(proof, "treeSize", at);
  if (!size) return size.error();
  out.log_index = index->value_or(0);
  out.tree_size = size->value_or(0);
  auto root = Base64Member(proof, "rootHash", kSha256Bytes, at);
  if (!root) return root.error();
  if (root->size() != kSha256Bytes) return Bad(at + ".rootHash is not a SHA-256 hash");
  out.root_hash = std::move(*root);
  if (auto hashes = proof.find("hashes"); hashes != proof.end()) {
    if (!hashes->is_array() || hashes->size() > kMaxInclusionHashes) {
      return Bad(at + ".hashes is not an array of at most " + std::to_string(kMaxInclusionHashes) +
                 " hashes");
    }
    for (const json& h : *hashes) {
      auto bytes =
          h.is_string() ? DecodeBoundedBase64(h.get<std::string>(), kSha256Bytes) : std::nullopt;
      if (!bytes || bytes->size() != kSha256Bytes) {
        return Bad(at + ".hashes holds something other than a base64 SHA-256 hash");
      }
      out.hashes.push_back(std::move(*bytes));
    }
  }
  if (!VerifyInclusion(body, out.log_index, out.tree_size, out.hashes, out.root_hash)) {
    return Bad(at + " does not lead from the entry's body to its rootHash");
  }
  if (!proof.contains("checkpoint")) return out;  // a v0.1 bundle's proof may have none
  const json* checkpoint = ObjectAt(proof, "checkpoint");
  if (checkpoint == nullptr) return Bad(at + ".checkpoint is not an object");
  if (auto extra = ExtraMember(*checkpoint, {"envelope"})) return Extra(at + ".checkpoint", *extra);
  const std::string* note = StringAt(*checkpoint, "envelope");
  if (note == nullptr) return Bad(at + ".checkpoint.envelope is not a string");
  auto parsed = ParseCheckpoint(*note);
  if (!parsed) return Bad(at + ".checkpoint: " + parsed.error().message);
  if (parsed->tree_size != out.tree_size || parsed->root_hash != out.root_hash) {
    return Bad(at + ".checkpoint is not of the proof's treeSize and rootHash");
  }
  out.checkpoint = *note;
  return out;
}

}  // namespace

Result<LogEntry> ReadLogEntry(const json& entry) {
  const std::string where = "a tlogEntries member";
  if (!entry.is_object()) return Bad(where + " is not an object");
  if (auto extra =
          ExtraMember(entry, {"logIndex", "logId", "kindVersion", "integratedTime",
                              "inclusionPromise", "inclusionProof", "canonicalizedBody"})) {
    return Extra(where, *extra);
  }
  LogEntry out;
  // int64 members are decimal strings in protobuf's JSON, left out when 0.
  auto index = DecimalAt(entry, "logIndex", where);
  if (!index) return index.error();
  out.log_index = index->value_or(0);
  auto time = DecimalAt(entry, "integratedTime", where);
  if (!time) return time.error();
  out.integrated_time = *time;
  const json* log_id = ObjectAt(entry, "logId");
  if (log_id == nullptr) return Bad(where + ".logId is missing or not an object");
  if (auto extra = ExtraMember(*log_id, {"keyId"})) return Extra(where + ".logId", *extra);
  auto id = Base64Member(*log_id, "keyId", kSha256Bytes, where + ".logId");
  if (!id) return id.error();
  out.log_id = std::move(*id);
  const json* kind = ObjectAt(entry, "kindVersion");
  if (kind == nullptr) return Bad(where + ".kindVersion is missing or not an object");
  if (auto extra = ExtraMember(*kind, {"kind", "version"}))
    return Extra(where + ".kindVersion", *extra);
  const std::string* kind_name = StringAt(*kind, "kind");
  const std::string* version = StringAt(*kind, "version");
  if (kind_name == nullptr || version == nullptr || kind_name->size() > kMaxKindText ||
      version->size() > kMaxKindText) {
    return Bad(where + ".kindVersion is not {\"kind\": <string>, \"version\": <string>}");
  }
  out.kind = *kind_name;
  out.version = *version;
  if (auto it = entry.find("inclusionPromise"); it != entry.end()) {
    if (!it->is_object()) return Bad(where + ".inclusionPromise is not an object");
    if (auto extra = ExtraMember(*it, {"signedEntryTimestamp"})) {
      return Extra(where + ".inclusionPromise", *extra);
    }
    auto set = Base64Member(*it, "signedEntryTimestamp", kMaxSetBytes, where + ".inclusionPromise");
    if (!set) return set.error();
    out.signed_entry_timestamp = std::move(*set);
  }
  // protobuf's JSON may write a Rekor v2 entry's absent time as 0.
  if (IsRekorV2(out) && out.integrated_time == 0) out.integrated_time.reset();
  auto body = Base64Member(entry, "canonicalizedBody", kMaxLogEntryBody, where);
  if (!body) return body.error();
  out.body = std::move(*body);
  if (auto it = entry.find("inclusionProof"); it != entry.end()) {
    auto proof = ReadProof(*it, out.body, where + ".inclusionProof");
    if (!proof) return proof.error();
    out.proof = std::move(*proof);
  }
  return out;
}

LogEntry LogEntryOf(const RekorSet& set) {
  LogEntry out;
  out.kind = "hashedrekord";
  out.version = "0.0.1";
  out.log_index = set.log_index;
  out.log_id = set.log_id;
  out.integrated_time = set.integrated_time;
  out.signed_entry_timestamp = set.signed_entry_timestamp;
  out.body = set.body;
  return out;
}

bool IsRekorV2(const LogEntry& entry) {
  return (entry.kind == "hashedrekord" || entry.kind == "dsse") && entry.version == "0.0.2";
}

Result<LoggedContent> ReadLoggedContent(const LogEntry& entry) {
  const std::string where = "the log entry's body";
  LoggedContent out;
  out.kind = entry.kind;
  if (entry.kind == "hashedrekord" && (entry.version == "0.0.1" || entry.version == "0.0.2")) {
    auto read = entry.version == "0.0.1" ? ReadHashedRekordBody(entry.body, where)
                                         : ReadHashedRekordV2Body(entry.body, where);
    if (!read) return read.error();
    out.sha256 = std::move(read->payload_sha256);
    out.signatures.push_back({std::move(read->signature), std::move(read->public_key_pem)});
    return out;
  }
  Result<DsseLogEntry> read = Bad("");
  if (entry.kind == "dsse" && entry.version == "0.0.1") {
    read = ReadDsseBody(entry.body, where);
  } else if (entry.kind == "dsse" && entry.version == "0.0.2") {
    read = ReadDsseV2Body(entry.body, where);
  } else if (entry.kind == "intoto" && entry.version == "0.0.2") {
    read = ReadIntotoBody(entry.body, where);
  } else {
    return Bad("the log entry is of kind " + Shown(entry.kind) + " " + Shown(entry.version) +
               "; Keep reads hashedrekord 0.0.1, dsse 0.0.1 and intoto 0.0.2 (Rekor v1), and "
               "hashedrekord 0.0.2 and dsse 0.0.2 (Rekor v2)");
  }
  if (!read) return read.error();
  out.sha256 = std::move(read->payload_sha256);
  out.signatures = std::move(read->signatures);
  return out;
}

std::string SetPayload(const LogEntry& entry) {
  json payload = {{"body", EncodeBase64(entry.body)},
                  {"integratedTime", entry.integrated_time.value_or(0)},
                  {"logID", Hex(entry.log_id)},
                  {"logIndex", entry.log_index}};
  return payload.dump();  // sorted members, no white space: canonical JSON here
}

Result<void> VerifyCheckpoint(std::string_view note, const TrustedLog& log, std::int64_t tree_size,
                              std::string_view root_hash) {
  auto parsed = ParseCheckpoint(note);
  if (!parsed) return parsed.error();
  if (parsed->tree_size != tree_size || parsed->root_hash != root_hash) {
    return Bad("the checkpoint is not of the inclusion proof's tree size and root hash");
  }
  const std::string_view hint = std::string_view(log.log_id).substr(0, 4);
  bool hinted = false;
  for (const Checkpoint::Signature& sig : parsed->signatures) {
    if (sig.key_hint != hint) continue;
    hinted = true;
    if (VerifyWithKey(log.key.get(), parsed->text, sig.signature)) return {};
  }
  return Bad(hinted ? "the checkpoint's signature by the log's key hint does not verify with the "
                      "log's key: a forged checkpoint"
                    : "the checkpoint has no signature by the log (no line with its key hint)");
}

namespace {

// A Rekor v2 entry: its inclusion proof and checkpoint, by a log of its id
// whatever its window (they do not say when the entry was logged).
Result<LogProof> VerifyRekorV2Entry(const LogEntry& entry, const TrustedRoot& root) {
  if (entry.integrated_time) {
    return Bad("the Rekor v2 entry has an integratedTime, which Rekor v2 does not write");
  }
  if (!entry.signed_entry_timestamp.empty()) {
    return Bad("the Rekor v2 entry has a signed entry timestamp, which Rekor v2 does not write");
  }
  if (!entry.proof || entry.proof->checkpoint.empty()) {
    return Bad(
        "the Rekor v2 entry has no inclusion proof with a checkpoint (the only proof a Rekor v2 "
        "log gives)");
  }
  if (!VerifyInclusion(entry.body, entry.proof->log_index, entry.proof->tree_size,
                       entry.proof->hashes, entry.proof->root_hash)) {
    return Bad(
        "the log entry's inclusion proof does not lead from the entry's body to its root hash");
  }
  auto logs = LogsWithId(root.tlogs, entry.log_id);
  if (logs.empty()) {
    return Bad("the log entry is from no transparency log of the trusted root (logId " +
               Hex(entry.log_id) + ")");
  }
  std::string why;
  for (const TrustedLog* log : logs) {
    auto checked = VerifyCheckpoint(entry.proof->checkpoint, *log, entry.proof->tree_size,
                                    entry.proof->root_hash);
    if (checked) return LogProof{log, std::nullopt, false, true};
    why = "the log entry's inclusion proof: " + checked.error().message;
  }
  return Bad(why);
}

}  // namespace

Result<LogProof> VerifyLogEntry(const LogEntry& entry, const TrustedRoot& root, std::int64_t now) {
  if (IsRekorV2(entry)) return VerifyRekorV2Entry(entry, root);
  if (!entry.integrated_time) {
    return Bad("the log entry has no integratedTime (a Rekor v1 entry of kind " +
               Shown(entry.kind) + " " + Shown(entry.version) + " has one)");
  }
  const std::int64_t time = *entry.integrated_time;
  if (time > now + kMaxClockSkew) {
    return Bad("the log entry's integratedTime (" + std::to_string(time) + ") is in the future");
  }
  const bool has_set = !entry.signed_entry_timestamp.empty();
  const bool has_checkpoint = entry.proof && !entry.proof->checkpoint.empty();
  if (!has_set && !has_checkpoint) {
    return Bad(
        "the log entry has neither a signed entry timestamp nor an inclusion proof with a "
        "checkpoint");
  }
  // Whoever read the entry, the proof is recomputed from this very body.
  if (entry.proof && !VerifyInclusion(entry.body, entry.proof->log_index, entry.proof->tree_size,
                                      entry.proof->hashes, entry.proof->root_hash)) {
    return Bad(
        "the log entry's inclusion proof does not lead from the entry's body to its root hash");
  }
  // A SET signs integratedTime: the log is the one whose window holds it. A
  // checkpoint says nothing of when the entry was logged: any log of the id.
  auto logs =
      has_set ? LogsFor(root.tlogs, entry.log_id, time) : LogsWithId(root.tlogs, entry.log_id);
  if (logs.empty()) {
    return Bad(std::string("the log entry is from no transparency log of the trusted root") +
               (has_set ? " valid at its integratedTime" : "") + " (logId " + Hex(entry.log_id) +
               ")");
  }
  std::string why;
  for (const TrustedLog* log : logs) {
    LogProof proof{log, std::nullopt, false, false};
    if (has_set) {
      if (!VerifyWithKey(log->key.get(), SetPayload(entry), entry.signed_entry_timestamp)) {
        why = "the log entry's signed entry timestamp does not verify with the log's key";
        continue;
      }
      proof.set_verified = true;
      proof.signed_time = time;
    }
    if (has_checkpoint) {
      auto checked = VerifyCheckpoint(entry.proof->checkpoint, *log, entry.proof->tree_size,
                                      entry.proof->root_hash);
      if (!checked) {
        why = "the log entry's inclusion proof: " + checked.error().message;
        continue;
      }
      proof.checkpoint_verified = true;
    }
    return proof;
  }
  return Bad(why);
}

}  // namespace keep
