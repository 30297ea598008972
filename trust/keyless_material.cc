// The two shapes a keyless signature comes in, read into SignedMaterial
// (trust/keyless.h): a sigstore bundle, and cosign's layer annotations.
#include "trust/keyless.h"

#include "trust/schema.h"

namespace keep {
namespace {

using nlohmann::json;
using trust_internal::DecodeBoundedBase64;
using trust_internal::ExtraMember;
using trust_internal::ObjectAt;
using trust_internal::ParseStrictJson;
using trust_internal::Shown;
using trust_internal::StringAt;

constexpr std::size_t kMaxHint = 128;
constexpr std::size_t kMaxCertBytes = 16 << 10;
constexpr std::size_t kMaxSignatureBytes = 1024;
constexpr std::size_t kMaxPayloadBytes = 512 << 10;
constexpr std::size_t kMaxPayloadType = 256;
constexpr std::size_t kMaxSignatures = 8;

Error Bad(std::string why) { return Fail(ErrorCode::kInvalid, "the bundle: " + std::move(why)); }

Error Extra(const std::string& where, const std::string& member) {
  return Bad(where + " has an unexpected member \"" + Shown(member) + "\"");
}

Result<std::string> Base64At(const json& parent, const char* name, std::size_t max,
                             const std::string& where) {
  const std::string* text = StringAt(parent, name);
  auto bytes = text ? DecodeBoundedBase64(*text, max) : std::nullopt;
  if (!bytes) {
    return Bad(where + "." + name + " is missing or not standard base64 of 1 to " +
               std::to_string(max) + " bytes");
  }
  return std::move(*bytes);
}

// {"rawBytes": "<base64 DER>"}: its bytes.
Result<std::string> CertificateAt(const json& cert, const std::string& where) {
  if (!cert.is_object()) return Bad(where + " is not an object");
  if (auto extra = ExtraMember(cert, {"rawBytes"})) return Extra(where, *extra);
  return Base64At(cert, "rawBytes", kMaxCertBytes, where);
}

// The bundle's version: 1, 2 or 3 (0 when the media type is none of them).
int BundleVersion(std::string_view media_type) {
  if (media_type == "application/vnd.dev.sigstore.bundle+json;version=0.1") return 1;
  if (media_type == "application/vnd.dev.sigstore.bundle+json;version=0.2") return 2;
  if (media_type == "application/vnd.dev.sigstore.bundle+json;version=0.3" ||
      media_type == "application/vnd.dev.sigstore.bundle.v0.3+json") {
    return 3;
  }
  return 0;
}

Result<void> ReadMaterial(const json& material, int version, SignedMaterial& out) {
  const std::string where = "verificationMaterial";
  if (!material.is_object()) return Bad(where + " is missing or not an object");
  if (auto extra = ExtraMember(material, {"publicKey", "x509CertificateChain", "certificate",
                                          "tlogEntries", "timestampVerificationData"})) {
    return Extra(where, *extra);
  }
  int signers = 0;
  if (const json* key = ObjectAt(material, "publicKey")) {
    ++signers;
    if (auto extra = ExtraMember(*key, {"hint"})) return Extra(where + ".publicKey", *extra);
    if (key->contains("hint")) {
      const std::string* hint = StringAt(*key, "hint");
      if (hint == nullptr || hint->size() > kMaxHint) {
        return Bad(where + ".publicKey.hint is not a string of at most 128 characters");
      }
      out.key_hint = *hint;
    }
  }
  if (material.contains("x509CertificateChain")) {
    ++signers;
    const std::string at = where + ".x509CertificateChain";
    const json* chain = ObjectAt(material, "x509CertificateChain");
    if (chain == nullptr) return Bad(at + " is not an object");
    if (auto extra = ExtraMember(*chain, {"certificates"})) return Extra(at, *extra);
    auto certs = chain->find("certificates");
    if (certs == chain->end() || !certs->is_array() || certs->empty() ||
        certs->size() > kMaxChainCertificates) {
      return Bad(at + ".certificates is not an array of 1 to " +
                 std::to_string(kMaxChainCertificates) + " certificates");
    }
    for (const json& cert : *certs) {
      auto der = CertificateAt(cert, at + ".certificates[]");
      if (!der) return der.error();
      out.certificates.push_back(std::move(*der));
    }
  }
  if (material.contains("certificate")) {
    ++signers;
    auto der = CertificateAt(material["certificate"], where + ".certificate");
    if (!der) return der.error();
    out.certificates.push_back(std::move(*der));
  }
  if (signers != 1) {
    return Bad(where +
               " does not hold exactly one of publicKey, x509CertificateChain and "
               "certificate");
  }
  if (auto entries = material.find("tlogEntries"); entries != material.end()) {
    if (!entries->is_array() || entries->size() > kMaxTlogEntries) {
      return Bad(where + ".tlogEntries is not an array of at most " +
                 std::to_string(kMaxTlogEntries) + " entries");
    }
    for (const json& entry : *entries) {
      auto read = ReadLogEntry(entry);
      if (!read) return Bad(read.error().message);
      // From v0.2 on, an entry must carry its inclusion proof and its
      // checkpoint. A v0.1 bundle's proof may lack the checkpoint: the
      // proof is then not used, and the entry's SET must vouch for it.
      if (version >= 2 && !read->proof) {
        return Bad("a tlogEntries member has no inclusionProof (required from bundle v0.2 on)");
      }
      if (version >= 2 && read->proof->checkpoint.empty()) {
        return Bad(
            "a tlogEntries member's inclusionProof has no checkpoint (required from bundle "
            "v0.2 on)");
      }
      out.log_entries.push_back(std::move(*read));
    }
  }
  if (auto data = material.find("timestampVerificationData"); data != material.end()) {
    const std::string at = where + ".timestampVerificationData";
    if (!data->is_object()) return Bad(at + " is not an object");
    if (auto extra = ExtraMember(*data, {"rfc3161Timestamps"})) return Extra(at, *extra);
    if (auto stamps = data->find("rfc3161Timestamps"); stamps != data->end()) {
      if (!stamps->is_array() || stamps->size() > kMaxTimestamps) {
        return Bad(at + ".rfc3161Timestamps is not an array of at most " +
                   std::to_string(kMaxTimestamps) + " timestamps");
      }
      for (const json& stamp : *stamps) {
        if (auto extra = ExtraMember(stamp, {"signedTimestamp"})) {
          return Extra(at + ".rfc3161Timestamps[]", *extra);
        }
        auto token =
            Base64At(stamp, "signedTimestamp", kMaxTimestampBytes, at + ".rfc3161Timestamps[]");
        if (!token) return token.error();
        out.rfc3161_timestamps.push_back(std::move(*token));
      }
    }
  }
  return {};
}

Result<void> ReadMessage(const json& message, SignedMaterial& out) {
  const std::string where = "messageSignature";
  if (!message.is_object()) return Bad(where + " is not an object");
  if (auto extra = ExtraMember(message, {"messageDigest", "signature"}))
    return Extra(where, *extra);
  if (message.contains("messageDigest")) {
    const std::string at = where + ".messageDigest";
    const json* digest = ObjectAt(message, "messageDigest");
    if (digest == nullptr) return Bad(at + " is not an object");
    if (auto extra = ExtraMember(*digest, {"algorithm", "digest"})) return Extra(at, *extra);
    const std::string* algorithm = StringAt(*digest, "algorithm");
    if (algorithm == nullptr || *algorithm != "SHA2_256") {
      return Bad(at + ".algorithm is not \"SHA2_256\"");
    }
    auto bytes = Base64At(*digest, "digest", 32, at);
    if (!bytes) return bytes.error();
    if (bytes->size() != 32) return Bad(at + ".digest is not a SHA-256 digest");
    out.message_digest_hint = std::move(*bytes);
  }
  auto sig = Base64At(message, "signature", kMaxSignatureBytes, where);
  if (!sig) return sig.error();
  out.signature = std::move(*sig);
  return {};
}

Result<void> ReadEnvelope(const json& envelope, SignedMaterial& out) {
  const std::string where = "dsseEnvelope";
  if (!envelope.is_object()) return Bad(where + " is not an object");
  if (auto extra = ExtraMember(envelope, {"payload", "payloadType", "signatures"})) {
    return Extra(where, *extra);
  }
  auto payload = Base64At(envelope, "payload", kMaxPayloadBytes, where);
  if (!payload) return payload.error();
  out.payload = std::move(*payload);
  const std::string* type = StringAt(envelope, "payloadType");
  if (type == nullptr || type->empty() || type->size() > kMaxPayloadType) {
    return Bad(where + ".payloadType is not a string of 1 to 256 characters");
  }
  out.payload_type = *type;
  auto signatures = envelope.find("signatures");
  if (signatures == envelope.end() || !signatures->is_array() || signatures->empty() ||
      signatures->size() > kMaxSignatures) {
    return Bad(where + ".signatures is not an array of 1 to 8 signatures");
  }
  for (const json& s : *signatures) {
    const std::string at = where + ".signatures[]";
    if (!s.is_object()) return Bad(at + " is not an object");
    if (auto extra = ExtraMember(s, {"sig", "keyid"})) return Extra(at, *extra);
    if (s.contains("keyid") &&
        (!s["keyid"].is_string() || s["keyid"].get_ref<const std::string&>().size() > kMaxHint)) {
      return Bad(at + ".keyid is not a string of at most 128 characters");
    }
    auto sig = Base64At(s, "sig", kMaxSignatureBytes, at);
    if (!sig) return sig.error();
    out.dsse_signatures.push_back(std::move(*sig));
  }
  out.is_dsse = true;
  return {};
}

}  // namespace

Result<SignedMaterial> ReadSignedMaterial(std::string_view text) {
  if (text.size() > kMaxSignedBundleBytes) return Bad("it is larger than 1 MiB");
  auto parsed = ParseStrictJson(text);
  if (!parsed) return Bad(parsed.error().message);
  const json& bundle = *parsed;
  if (!bundle.is_object()) return Bad("it is not a JSON object");
  if (auto extra = ExtraMember(
          bundle, {"mediaType", "verificationMaterial", "messageSignature", "dsseEnvelope"})) {
    return Extra("the top level", *extra);
  }
  const std::string* media_type = StringAt(bundle, "mediaType");
  const int version = media_type ? BundleVersion(*media_type) : 0;
  if (version == 0) {
    return Bad("mediaType (\"" + Shown(media_type ? *media_type : "") +
               "\") is not a bundle v0.1, v0.2 or v0.3 media type");
  }
  SignedMaterial out;
  if (auto it = bundle.find("verificationMaterial"); it == bundle.end()) {
    return Bad("verificationMaterial is missing");
  } else if (auto read = ReadMaterial(*it, version, out); !read) {
    return read.error();
  }
  const bool message = bundle.contains("messageSignature");
  if (message == bundle.contains("dsseEnvelope")) {
    return Bad("it holds not exactly one of messageSignature and dsseEnvelope");
  }
  auto content = message ? ReadMessage(bundle["messageSignature"], out)
                         : ReadEnvelope(bundle["dsseEnvelope"], out);
  if (!content) return content.error();
  return out;
}

Result<SignedMaterial> CosignKeylessMaterial(std::string_view payload, std::string_view signature,
                                             std::string_view certificate_pem,
                                             std::string_view chain_pem, const RekorSet* rekor) {
  SignedMaterial out;
  auto leaf = ParseCertificatesPem(certificate_pem);
  if (!leaf || leaf->size() != 1) {
    return Fail(ErrorCode::kInvalid, "the certificate annotation is not one PEM certificate");
  }
  out.certificates.push_back(CertificateDer(leaf->front().get()));
  // The chain annotation is read for its form only: cosign puts the root
  // there, and only the trust root's certificates build the chain.
  if (chain_pem.find_first_not_of(" \t\r\n") != std::string_view::npos) {
    auto chain = ParseCertificatesPem(chain_pem);
    if (!chain) return Fail(ErrorCode::kInvalid, "the chain annotation: " + chain.error().message);
  }
  if (signature.empty()) return Fail(ErrorCode::kInvalid, "the signature is empty");
  out.signature = std::string(signature);
  out.message_digest_hint = trust_internal::HexToBytes(Sha256Of(payload).hex());
  if (rekor != nullptr) out.log_entries.push_back(LogEntryOf(*rekor));
  return out;
}

}  // namespace keep
