#include "trust/rekor.h"

#include "core/base64.h"
#include "core/digest.h"
#include "trust/openssl_util.h"
#include "trust/schema.h"
#include "trust/tlog.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <limits>

namespace keep {
namespace {

using nlohmann::json;
using trust_internal::Base64Member;
using trust_internal::DecodeBoundedBase64;
using trust_internal::ExtraMember;
using trust_internal::IsDecimal;
using trust_internal::IsLowerHex;
using trust_internal::ObjectAt;
using trust_internal::ParseStrictJson;
using trust_internal::Shown;
using trust_internal::StringAt;

// Bounds on what a log entry may hold: a PEM key, a signature, a hash.
constexpr std::size_t kMaxBodyBytes = 16 << 10;
constexpr std::size_t kMaxPemBytes = 8 << 10;
constexpr std::size_t kMaxSignatureBytes = 512;
constexpr std::size_t kMaxSetBytes = 256;
constexpr std::size_t kMaxCheckpointBytes = 4 << 10;
constexpr std::size_t kMaxOrigin = 128;
constexpr std::size_t kMaxNoteSignatures = 8;
constexpr std::size_t kSha256Bytes = 32;

Error Bad(std::string why) { return Fail(ErrorCode::kInvalid, std::move(why)); }

Error Extra(const std::string& where, const std::string& member) {
  return Bad(where + " has an unexpected member \"" + Shown(member) +
             "\"; a signature artifact carries nothing else");
}

std::string Sha256Raw(std::string_view a, std::string_view b = {}, std::string_view c = {}) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  bool ok = ctx != nullptr && EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr) == 1 &&
            EVP_DigestUpdate(ctx, a.data(), a.size()) == 1 &&
            EVP_DigestUpdate(ctx, b.data(), b.size()) == 1 &&
            EVP_DigestUpdate(ctx, c.data(), c.size()) == 1 &&
            EVP_DigestFinal_ex(ctx, out, &size) == 1;
  EVP_MD_CTX_free(ctx);
  if (!ok) return {};
  return std::string(reinterpret_cast<const char*>(out), size);
}

// {"algorithm": "sha256", "value": "<64 hex>"} at `where`; its value.
Result<std::string> ReadSha256(const json& parent, const char* name, const std::string& where) {
  const std::string at = where + "." + name;
  const json* hash = ObjectAt(parent, name);
  if (hash == nullptr) return Bad(at + " is missing or not an object");
  if (auto extra = ExtraMember(*hash, {"algorithm", "value"})) return Extra(at, *extra);
  const std::string* algorithm = StringAt(*hash, "algorithm");
  const std::string* value = StringAt(*hash, "value");
  if (algorithm == nullptr || *algorithm != "sha256" || value == nullptr ||
      !IsLowerHex(*value, 64)) {
    return Bad(at + " is not {\"algorithm\":\"sha256\",\"value\":\"<64 lower-case hex>\"}");
  }
  return *value;
}

// The top of a log entry body: apiVersion 0.0.1, `kind`, and a spec object.
Result<json> ReadBody(std::string_view body, std::string_view kind, const std::string& where,
                      std::string_view version = "0.0.1") {
  auto parsed = ParseStrictJson(body);
  if (!parsed) return Bad(where + " is not a log entry: " + parsed.error().message);
  if (!parsed->is_object()) return Bad(where + " is not a JSON object");
  if (auto extra = ExtraMember(*parsed, {"apiVersion", "kind", "spec"})) return Extra(where, *extra);
  const std::string* api = StringAt(*parsed, "apiVersion");
  const std::string* got = StringAt(*parsed, "kind");
  if (api == nullptr || got == nullptr || *api != version || *got != kind) {
    return Bad(where + " is not a " + std::string(kind) + " v" + std::string(version) +
               " entry (kind \"" + Shown(got ? *got : "") + "\", apiVersion \"" +
               Shown(api ? *api : "") + "\")");
  }
  if (ObjectAt(*parsed, "spec") == nullptr) return Bad(where + ".spec is not an object");
  return std::move(*parsed);
}

// A key named by a log entry: a PEM public key Keep can parse, or (a keyless
// signature's) a PEM certificate holding one. The certificate itself is not
// checked: only its key is used, to see that it made the signature logged.
Result<PublicKey> EntryKey(std::string_view pem, const std::string& where) {
  auto block = trust_internal::ReadOnePem(pem, "key");
  if (block && block->label == "CERTIFICATE") {
    const unsigned char* p = reinterpret_cast<const unsigned char*>(block->der.data());
    X509* cert = d2i_X509(nullptr, &p, static_cast<long>(block->der.size()));
    unsigned char* spki = nullptr;
    int size = cert ? i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &spki) : -1;
    X509_free(cert);
    ERR_clear_error();
    if (size <= 0) return Bad(where + " is a certificate Keep cannot read");
    std::string der(reinterpret_cast<const char*>(spki), static_cast<std::size_t>(size));
    OPENSSL_free(spki);
    auto key = KeyAccess::PublicFromDer(der);
    if (!key) return Bad(where + " is a certificate of a key Keep does not read: " + key.error().message);
    return std::move(*key);
  }
  auto key = ParsePublicKey(pem);
  if (!key) return Bad(where + " is not a public key Keep reads: " + key.error().message);
  return std::move(*key);
}

bool IsInt64(const json& v) {
  return v.is_number_integer() && (v.is_number_unsigned() ? v.get<std::uint64_t>() <=
                                       static_cast<std::uint64_t>(
                                           std::numeric_limits<std::int64_t>::max())
                                                          : v.get<std::int64_t>() >= 0);
}

}  // namespace

Result<RekorSet> ReadRekorSet(std::string_view annotation) {
  const std::string where = "the Rekor bundle annotation";
  if (annotation.size() > 2 * kMaxBodyBytes) return Bad(where + " is too large");
  auto parsed = ParseStrictJson(annotation);
  if (!parsed) return Bad(where + ": " + parsed.error().message);
  const json& set = *parsed;
  if (!set.is_object()) return Bad(where + " is not a JSON object");
  if (auto extra = ExtraMember(set, {"SignedEntryTimestamp", "Payload"})) return Extra(where, *extra);
  auto timestamp = Base64Member(set, "SignedEntryTimestamp", kMaxSetBytes, where);
  if (!timestamp) return timestamp.error();
  const json* payload = ObjectAt(set, "Payload");
  if (payload == nullptr) return Bad(where + ".Payload is missing or not an object");
  const std::string at = where + ".Payload";
  if (auto extra = ExtraMember(*payload, {"body", "integratedTime", "logIndex", "logID"})) {
    return Extra(at, *extra);
  }
  for (const char* name : {"integratedTime", "logIndex"}) {
    auto it = payload->find(name);
    if (it == payload->end() || !IsInt64(*it)) {
      return Bad(at + "." + name + " is not a non-negative integer");
    }
  }
  const std::string* log_id = StringAt(*payload, "logID");
  if (log_id == nullptr || !IsLowerHex(*log_id, 64)) {
    return Bad(at + ".logID is not 64 lower-case hex digits");
  }
  auto body_bytes = Base64Member(*payload, "body", kMaxBodyBytes, at);
  if (!body_bytes) return body_bytes.error();

  auto read = ReadHashedRekordBody(*body_bytes, at + ".body");
  if (!read) return read.error();
  auto log_id_bytes = trust_internal::HexToBytes(*log_id);
  read->signed_entry_timestamp = std::move(*timestamp);
  read->body = std::move(*body_bytes);
  read->integrated_time = (*payload)["integratedTime"].get<std::int64_t>();
  read->log_index = (*payload)["logIndex"].get<std::int64_t>();
  read->log_id = std::move(log_id_bytes);
  return std::move(*read);
}

Result<RekorSet> ReadHashedRekordBody(std::string_view body_bytes, const std::string& body_at) {
  auto body = ReadBody(body_bytes, "hashedrekord", body_at);
  if (!body) return body.error();
  const json& spec = (*body)["spec"];
  if (auto extra = ExtraMember(spec, {"data", "signature"})) return Extra(body_at + ".spec", *extra);
  const json* data = ObjectAt(spec, "data");
  if (data == nullptr) return Bad(body_at + ".spec.data is not an object");
  if (auto extra = ExtraMember(*data, {"hash"})) return Extra(body_at + ".spec.data", *extra);
  auto hash = ReadSha256(*data, "hash", body_at + ".spec.data");
  if (!hash) return hash.error();
  const json* signature = ObjectAt(spec, "signature");
  if (signature == nullptr) return Bad(body_at + ".spec.signature is not an object");
  const std::string sig_at = body_at + ".spec.signature";
  if (auto extra = ExtraMember(*signature, {"content", "publicKey"})) return Extra(sig_at, *extra);
  auto content = Base64Member(*signature, "content", kMaxSignatureBytes, sig_at);
  if (!content) return content.error();
  const json* key = ObjectAt(*signature, "publicKey");
  if (key == nullptr) return Bad(sig_at + ".publicKey is not an object");
  if (auto extra = ExtraMember(*key, {"content"})) return Extra(sig_at + ".publicKey", *extra);
  auto pem = Base64Member(*key, "content", kMaxPemBytes, sig_at + ".publicKey");
  if (!pem) return pem.error();
  RekorSet out;
  out.payload_sha256 = std::move(*hash);
  out.signature = std::move(*content);
  out.public_key_pem = std::move(*pem);
  return out;
}

Result<void> BindRekorSet(const RekorSet& set, std::string_view payload,
                          std::string_view signature, const PublicKey* signer) {
  const std::string where = "the Rekor bundle annotation";
  if (set.payload_sha256 != Sha256Of(payload).hex()) {
    return Bad(where + " logs another payload (sha256 " + set.payload_sha256 + ")");
  }
  if (set.signature != signature) return Bad(where + " logs another signature than its layer's");
  auto key = EntryKey(set.public_key_pem, where + "'s public key");
  if (!key) return key.error();
  if (!VerifySignature(*key, payload, signature)) {
    return Bad(where + " logs a public key that did not make the layer's signature");
  }
  if (signer != nullptr && key->key_id() != signer->key_id()) {
    return Bad(where + " logs key " + key->key_id() + ", not " + signer->key_id() +
               ", the trusted key that verified the layer");
  }
  return {};
}

Result<DsseLogEntry> ReadTlogEntry(const json& entry) {
  const std::string where = "a tlogEntries member";
  auto read = ReadLogEntry(entry);
  if (!read) return read.error();
  if (read->kind != "dsse" || read->version != "0.0.1") {
    return Bad(where + ".kindVersion is not dsse 0.0.1, the entry of a DSSE envelope (kind \"" +
               Shown(read->kind) + "\", version \"" + Shown(read->version) + "\")");
  }
  if (read->proof && read->proof->checkpoint.empty()) {
    return Bad(where + ".inclusionProof.checkpoint is missing");
  }
  if (read->body.size() > kMaxBodyBytes) return Bad(where + ".canonicalizedBody is too large");
  return ReadDsseBody(read->body, where + ".canonicalizedBody");
}

Result<DsseLogEntry> ReadDsseBody(std::string_view body_bytes, const std::string& body_at) {
  auto body = ReadBody(body_bytes, "dsse", body_at);
  if (!body) return body.error();
  const json& spec = (*body)["spec"];
  const std::string spec_at = body_at + ".spec";
  if (auto extra = ExtraMember(spec, {"envelopeHash", "payloadHash", "signatures"})) {
    return Extra(spec_at, *extra);
  }
  // envelopeHash is the SHA-256 of the envelope as Rekor re-serialised it
  // (its canonical JSON): Keep checks its form, not its value.
  if (auto hash = ReadSha256(spec, "envelopeHash", spec_at); !hash) return hash.error();
  auto payload_hash = ReadSha256(spec, "payloadHash", spec_at);
  if (!payload_hash) return payload_hash.error();
  DsseLogEntry out{std::move(*payload_hash), {}};
  auto signatures = spec.find("signatures");
  if (signatures == spec.end() || !signatures->is_array() || signatures->empty() ||
      signatures->size() > 8) {
    return Bad(spec_at + ".signatures is not an array of 1 to 8 signatures");
  }
  for (const json& s : *signatures) {
    if (!s.is_object()) return Bad(spec_at + ".signatures holds a non-object");
    if (auto extra = ExtraMember(s, {"signature", "verifier"})) {
      return Extra(spec_at + ".signatures[]", *extra);
    }
    auto sig = Base64Member(s, "signature", kMaxSignatureBytes, spec_at + ".signatures[]");
    if (!sig) return sig.error();
    auto verifier = Base64Member(s, "verifier", kMaxPemBytes, spec_at + ".signatures[]");
    if (!verifier) return verifier.error();
    out.signatures.push_back({std::move(*sig), std::move(*verifier)});
  }
  return out;
}

Result<DsseLogEntry> ReadIntotoBody(std::string_view body_bytes, const std::string& body_at) {
  auto body = ReadBody(body_bytes, "intoto", body_at, "0.0.2");
  if (!body) return body.error();
  const json& spec = (*body)["spec"];
  const std::string spec_at = body_at + ".spec";
  if (auto extra = ExtraMember(spec, {"content"})) return Extra(spec_at, *extra);
  const json* content = ObjectAt(spec, "content");
  const std::string content_at = spec_at + ".content";
  if (content == nullptr) return Bad(content_at + " is missing or not an object");
  if (auto extra = ExtraMember(*content, {"envelope", "hash", "payloadHash"})) {
    return Extra(content_at, *extra);
  }
  // hash is the SHA-256 of the envelope as Rekor re-serialised it: its form
  // is checked, not its value (as for dsse's envelopeHash).
  if (auto hash = ReadSha256(*content, "hash", content_at); !hash) return hash.error();
  auto payload_hash = ReadSha256(*content, "payloadHash", content_at);
  if (!payload_hash) return payload_hash.error();
  const json* envelope = ObjectAt(*content, "envelope");
  const std::string env_at = content_at + ".envelope";
  if (envelope == nullptr) return Bad(env_at + " is missing or not an object");
  if (auto extra = ExtraMember(*envelope, {"payload", "payloadType", "signatures"})) {
    return Extra(env_at, *extra);
  }
  DsseLogEntry out{std::move(*payload_hash), {}};
  auto signatures = envelope->find("signatures");
  if (signatures == envelope->end() || !signatures->is_array() || signatures->empty() ||
      signatures->size() > 8) {
    return Bad(env_at + ".signatures is not an array of 1 to 8 signatures");
  }
  const std::string sig_at = env_at + ".signatures[]";
  for (const json& s : *signatures) {
    if (!s.is_object()) return Bad(env_at + ".signatures holds a non-object");
    if (auto extra = ExtraMember(s, {"sig", "publicKey", "keyid"})) return Extra(sig_at, *extra);
    // The signature is base64 twice: the envelope's base64 text, encoded again.
    auto text = Base64Member(s, "sig", 2 * kMaxSignatureBytes, sig_at);
    if (!text) return text.error();
    auto sig = DecodeBoundedBase64(*text, kMaxSignatureBytes);
    if (!sig) return Bad(sig_at + ".sig is not base64 of a base64 signature");
    auto key = Base64Member(s, "publicKey", kMaxPemBytes, sig_at);
    if (!key) return key.error();
    out.signatures.push_back({std::move(*sig), std::move(*key)});
  }
  return out;
}

Result<void> BindTlogEntry(const DsseLogEntry& entry, std::string_view payload,
                           std::string_view pae, const std::vector<std::string>& signatures,
                           const std::vector<const PublicKey*>& signers) {
  const std::string where = "a tlogEntries member";
  if (entry.payload_sha256 != Sha256Of(payload).hex()) {
    return Bad(where + " logs another payload (sha256 " + entry.payload_sha256 + ")");
  }
  if (entry.signatures.size() != signatures.size()) {
    return Bad(where + " logs " + std::to_string(entry.signatures.size()) +
               " signatures, but the envelope holds " + std::to_string(signatures.size()));
  }
  std::vector<bool> matched(signatures.size(), false);
  for (const DsseLogEntry::Signature& logged : entry.signatures) {
    std::size_t i = 0;
    while (i < signatures.size() && (matched[i] || signatures[i] != logged.sig)) ++i;
    if (i == signatures.size()) return Bad(where + " logs a signature the envelope does not hold");
    matched[i] = true;
    auto key = EntryKey(logged.verifier_pem, where + "'s verifier");
    if (!key) return key.error();
    if (!VerifySignature(*key, pae, logged.sig)) {
      return Bad(where + " logs a verifier that did not make the envelope's signature");
    }
    if (signers[i] != nullptr && key->key_id() != signers[i]->key_id()) {
      return Bad(where + " logs key " + key->key_id() + ", not " + signers[i]->key_id() +
                 ", the trusted key that verified the signature");
    }
  }
  return {};
}

Result<Checkpoint> ParseCheckpoint(std::string_view note) {
  if (note.size() > kMaxCheckpointBytes) return Bad("the checkpoint is too large");
  const std::string_view whole = note;
  auto next_line = [&](std::string_view& line) {
    auto end = note.find('\n');
    if (end == std::string_view::npos) return false;
    line = note.substr(0, end);
    note.remove_prefix(end + 1);
    return true;
  };
  std::string_view origin, size, root, blank;
  if (!next_line(origin) || origin.empty() || origin.size() > kMaxOrigin) {
    return Bad("the checkpoint's origin line is not 1 to " + std::to_string(kMaxOrigin) +
               " characters");
  }
  for (char c : origin) {
    if (c < 0x20 || c > 0x7e) return Bad("the checkpoint's origin line is not printable ASCII");
  }
  if (!next_line(size) || !IsDecimal(size)) return Bad("the checkpoint's tree size is not decimal");
  if (!next_line(root)) return Bad("the checkpoint has no root hash line");
  auto hash = DecodeBoundedBase64(root, kSha256Bytes);
  if (!hash || hash->size() != kSha256Bytes) return Bad("the checkpoint's root hash is not base64 SHA-256");
  // Rekor v1 wrote one extension line for a while, "Timestamp: <ns>": a
  // typed field, taken; any other extension line is free text, refused.
  constexpr std::string_view kTimestamp = "Timestamp: ";
  if (!next_line(blank)) return Bad("the checkpoint has no blank line after its root hash");
  if (blank.starts_with(kTimestamp) && IsDecimal(blank.substr(kTimestamp.size()))) {
    if (!next_line(blank)) return Bad("the checkpoint has no blank line after its root hash");
  }
  if (!blank.empty()) {
    return Bad("the checkpoint has a line after its root hash that is not the blank line "
               "(extension lines other than \"Timestamp: <decimal>\" are refused)");
  }
  const std::string_view text = whole.substr(0, whole.size() - note.size() - 1);
  // "— " is U+2014 EM DASH and a space.
  constexpr std::string_view kDash = "\xe2\x80\x94 ";
  std::vector<Checkpoint::Signature> signatures;
  std::size_t count = 0;
  std::string_view line;
  while (next_line(line)) {
    if (++count > kMaxNoteSignatures) return Bad("the checkpoint has too many signatures");
    if (!line.starts_with(kDash)) return Bad("a checkpoint signature line does not start with \"— \"");
    line.remove_prefix(kDash.size());
    auto space = line.find(' ');
    if (space == 0 || space == std::string_view::npos || space > kMaxOrigin) {
      return Bad("a checkpoint signature line has no key name");
    }
    for (char c : line.substr(0, space)) {
      if (c <= 0x20 || c > 0x7e || c == '+') return Bad("a checkpoint key name is not printable");
    }
    auto sig = DecodeBoundedBase64(line.substr(space + 1), 4 + kMaxSignatureBytes);
    if (!sig || sig->size() < 5) return Bad("a checkpoint signature is not base64 of a key hash and a signature");
    signatures.push_back({std::string(line.substr(0, space)), sig->substr(0, 4), sig->substr(4)});
  }
  if (!note.empty()) return Bad("the checkpoint does not end with a newline");
  if (count == 0) return Bad("the checkpoint has no signature line");
  return Checkpoint{std::string(origin), std::stoll(std::string(size)), std::move(*hash),
                    std::string(text), std::move(signatures)};
}

bool VerifyInclusion(std::string_view leaf, std::int64_t index, std::int64_t tree_size,
                     const std::vector<std::string>& hashes, std::string_view root) {
  if (index < 0 || tree_size <= 0 || index >= tree_size) return false;
  const std::string kLeaf(1, '\0');
  const std::string kNode(1, '\1');
  std::uint64_t fn = static_cast<std::uint64_t>(index);
  std::uint64_t sn = static_cast<std::uint64_t>(tree_size) - 1;
  std::string r = Sha256Raw(kLeaf, leaf);
  for (const std::string& p : hashes) {
    if (sn == 0) return false;
    if ((fn & 1) == 1 || fn == sn) {
      r = Sha256Raw(kNode, p, r);
      while ((fn & 1) == 0 && fn != 0) {
        fn >>= 1;
        sn >>= 1;
      }
    } else {
      r = Sha256Raw(kNode, r, p);
    }
    fn >>= 1;
    sn >>= 1;
  }
  return sn == 0 && r == root;
}

}  // namespace keep
