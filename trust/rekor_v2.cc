// The bodies of Rekor v2 log entries (trust/rekor.h): hashedrekord 0.0.2
// and dsse 0.0.2, read against their closed schemas into the shapes of the
// v1 readers.
//
//   {"apiVersion": "0.0.2", "kind": "hashedrekord",
//    "spec": {"hashedRekordV002": {
//      "data": {"algorithm": "SHA2_256", "digest": "<base64>"},
//      "signature": {"content": "<base64>", "verifier": <verifier>}}}}
//   {"apiVersion": "0.0.2", "kind": "dsse",
//    "spec": {"dsseV002": {
//      "payloadHash": {"algorithm": "SHA2_256", "digest": "<base64>"},
//      "signatures": [{"content": "<base64>", "verifier": <verifier>}]}}}
//   <verifier>: {"keyDetails": "<name>",
//                "x509Certificate": {"rawBytes": "<base64 DER>"}
//                 or "publicKey": {"rawBytes": "<base64 DER SubjectPublicKeyInfo>"}}
//
// A verifier is handed on as PEM, as v1 bodies carry it.
#include "core/base64.h"
#include "trust/rekor.h"
#include "trust/schema.h"

namespace keep {
namespace {

using nlohmann::json;
using trust_internal::Base64Member;
using trust_internal::ExtraMember;
using trust_internal::ObjectAt;
using trust_internal::ParseStrictJson;
using trust_internal::Shown;
using trust_internal::StringAt;

constexpr std::size_t kMaxSignatureBytes = 512;
constexpr std::size_t kMaxVerifierBytes = 16 << 10;
constexpr std::size_t kMaxKeyDetails = 64;
constexpr std::size_t kSha256Bytes = 32;
constexpr std::size_t kMaxSignatures = 8;

Error Bad(std::string why) { return Fail(ErrorCode::kInvalid, std::move(why)); }

Error Extra(const std::string& where, const std::string& member) {
  return Bad(where + " has an unexpected member \"" + Shown(member) +
             "\"; a signature artifact carries nothing else");
}

std::string Hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) {
    out.push_back(kDigits[static_cast<unsigned char>(c) >> 4]);
    out.push_back(kDigits[static_cast<unsigned char>(c) & 15]);
  }
  return out;
}

std::string Pem(std::string_view label, std::string_view der) {
  const std::string text = EncodeBase64(der);
  std::string out = "-----BEGIN " + std::string(label) + "-----\n";
  for (std::size_t i = 0; i < text.size(); i += 64) out += text.substr(i, 64) + "\n";
  return out + "-----END " + std::string(label) + "-----\n";
}

// The spec's one member `name` of a body of `kind` 0.0.2.
Result<json> ReadSpec(std::string_view body, std::string_view kind, const char* name,
                      const std::string& where) {
  auto parsed = ParseStrictJson(body);
  if (!parsed) return Bad(where + " is not a log entry: " + parsed.error().message);
  if (!parsed->is_object()) return Bad(where + " is not a JSON object");
  if (auto extra = ExtraMember(*parsed, {"apiVersion", "kind", "spec"}))
    return Extra(where, *extra);
  const std::string* api = StringAt(*parsed, "apiVersion");
  const std::string* got = StringAt(*parsed, "kind");
  if (api == nullptr || got == nullptr || *api != "0.0.2" || *got != kind) {
    return Bad(where + " is not a " + std::string(kind) + " v0.0.2 entry (kind \"" +
               Shown(got ? *got : "") + "\", apiVersion \"" + Shown(api ? *api : "") + "\")");
  }
  const json* spec = ObjectAt(*parsed, "spec");
  if (spec == nullptr) return Bad(where + ".spec is not an object");
  if (auto extra = ExtraMember(*spec, {name})) return Extra(where + ".spec", *extra);
  const json* inner = ObjectAt(*spec, name);
  if (inner == nullptr) return Bad(where + ".spec." + name + " is missing or not an object");
  return *inner;
}

// {"algorithm": "SHA2_256", "digest": "<base64 of 32 bytes>"}: the digest in hex.
Result<std::string> ReadHash(const json& parent, const char* name, const std::string& where) {
  const std::string at = where + "." + name;
  const json* hash = ObjectAt(parent, name);
  if (hash == nullptr) return Bad(at + " is missing or not an object");
  if (auto extra = ExtraMember(*hash, {"algorithm", "digest"})) return Extra(at, *extra);
  const std::string* algorithm = StringAt(*hash, "algorithm");
  if (algorithm == nullptr || *algorithm != "SHA2_256") {
    return Bad(at + ".algorithm is not \"SHA2_256\" (Keep binds SHA-256 digests only)");
  }
  auto digest = Base64Member(*hash, "digest", kSha256Bytes, at);
  if (!digest) return digest.error();
  if (digest->size() != kSha256Bytes) return Bad(at + ".digest is not a SHA-256 digest");
  return Hex(*digest);
}

// {"content": "<base64>", "verifier": {...}}: the signature and its verifier, PEM.
Result<DsseLogEntry::Signature> ReadSignature(const json& signature, const std::string& where) {
  if (!signature.is_object()) return Bad(where + " is not an object");
  if (auto extra = ExtraMember(signature, {"content", "verifier"})) return Extra(where, *extra);
  auto content = Base64Member(signature, "content", kMaxSignatureBytes, where);
  if (!content) return content.error();
  const std::string at = where + ".verifier";
  const json* verifier = ObjectAt(signature, "verifier");
  if (verifier == nullptr) return Bad(at + " is missing or not an object");
  if (auto extra = ExtraMember(*verifier, {"keyDetails", "x509Certificate", "publicKey"})) {
    return Extra(at, *extra);
  }
  if (const std::string* details = StringAt(*verifier, "keyDetails");
      details == nullptr || details->empty() || details->size() > kMaxKeyDetails) {
    return Bad(at + ".keyDetails is not a key's name");
  }
  const bool is_cert = verifier->contains("x509Certificate");
  if (is_cert == verifier->contains("publicKey")) {
    return Bad(at + " holds not exactly one of x509Certificate and publicKey");
  }
  const char* member = is_cert ? "x509Certificate" : "publicKey";
  const json* raw = ObjectAt(*verifier, member);
  if (raw == nullptr) return Bad(at + "." + member + " is not an object");
  if (auto extra = ExtraMember(*raw, {"rawBytes"})) return Extra(at + "." + member, *extra);
  auto der = Base64Member(*raw, "rawBytes", kMaxVerifierBytes, at + "." + member);
  if (!der) return der.error();
  return DsseLogEntry::Signature{std::move(*content),
                                 Pem(is_cert ? "CERTIFICATE" : "PUBLIC KEY", *der)};
}

}  // namespace

Result<RekorSet> ReadHashedRekordV2Body(std::string_view body, const std::string& where) {
  auto spec = ReadSpec(body, "hashedrekord", "hashedRekordV002", where);
  if (!spec) return spec.error();
  const std::string at = where + ".spec.hashedRekordV002";
  if (auto extra = ExtraMember(*spec, {"data", "signature"})) return Extra(at, *extra);
  auto digest = ReadHash(*spec, "data", at);
  if (!digest) return digest.error();
  const json* signature = ObjectAt(*spec, "signature");
  if (signature == nullptr) return Bad(at + ".signature is missing or not an object");
  auto read = ReadSignature(*signature, at + ".signature");
  if (!read) return read.error();
  RekorSet out;
  out.payload_sha256 = std::move(*digest);
  out.signature = std::move(read->sig);
  out.public_key_pem = std::move(read->verifier_pem);
  out.body = std::string(body);
  return out;
}

Result<DsseLogEntry> ReadDsseV2Body(std::string_view body, const std::string& where) {
  auto spec = ReadSpec(body, "dsse", "dsseV002", where);
  if (!spec) return spec.error();
  const std::string at = where + ".spec.dsseV002";
  if (auto extra = ExtraMember(*spec, {"payloadHash", "signatures"})) return Extra(at, *extra);
  auto digest = ReadHash(*spec, "payloadHash", at);
  if (!digest) return digest.error();
  auto signatures = spec->find("signatures");
  if (signatures == spec->end() || !signatures->is_array() || signatures->empty() ||
      signatures->size() > kMaxSignatures) {
    return Bad(at + ".signatures is not an array of 1 to " + std::to_string(kMaxSignatures) +
               " signatures");
  }
  DsseLogEntry out;
  out.payload_sha256 = std::move(*digest);
  for (const json& s : *signatures) {
    auto read = ReadSignature(s, at + ".signatures[]");
    if (!read) return read.error();
    out.signatures.push_back(std::move(*read));
  }
  return out;
}

}  // namespace keep
