#include "trust/cosign.h"

#include "core/base64.h"
#include "core/manifest.h"
#include "trust/fulcio.h"
#include "trust/schema.h"
#include "trust/simple_signing.h"

namespace keep {
namespace {

using nlohmann::json;
using trust_internal::DecodeBoundedBase64;
using trust_internal::ExtraMember;
using trust_internal::IsRfc3339;
using trust_internal::ParseStrictJson;
using trust_internal::Shown;
using trust_internal::StringAt;

constexpr std::string_view kTagPrefix = "sha256-";
constexpr std::string_view kTagSuffix = ".sig";
constexpr std::size_t kSha256HexSize = 64;

Error Invalid(std::string why) {
  return Fail(ErrorCode::kManifestInvalid, "cosign signature manifest: " + why);
}

constexpr std::size_t kMaxSignatureText = 1024;      // base64 of a DER ECDSA or Ed25519 signature
constexpr std::size_t kMaxCertificateText = 16 << 10;
constexpr std::size_t kMaxChainText = 64 << 10;
constexpr std::size_t kMaxMediaType = 255;

Error Unexpected(const std::string& where, const std::string& member, std::string_view note = {}) {
  return Invalid(where + " has an unexpected member \"" + Shown(member) +
                 "\"; a signature artifact carries nothing else" + std::string(note));
}

// {"mediaType", "digest", "size"} of a descriptor (a layer's annotations are
// read by its caller); its digest. `media_types` are the ones allowed.
Result<Digest> ReadDescriptor(const json& d, const std::string& where, bool with_annotations,
                              std::initializer_list<std::string_view> media_types) {
  if (!d.is_object()) return Invalid(where + " is not an object");
  auto extra = with_annotations ? ExtraMember(d, {"mediaType", "digest", "size", "annotations"})
                                : ExtraMember(d, {"mediaType", "digest", "size"});
  if (extra) return Unexpected(where, *extra);
  const std::string* type = StringAt(d, "mediaType");
  bool known = media_types.size() == 0 && type != nullptr && !type->empty() &&
               type->size() <= kMaxMediaType;
  for (std::string_view t : media_types) known = known || (type != nullptr && *type == t);
  if (!known) {
    return Invalid(where + " has the media type " + (type ? "\"" + Shown(*type) + "\"" : "(none)") +
                   ", not one a signature artifact uses");
  }
  const std::string* digest_text = StringAt(d, "digest");
  if (digest_text == nullptr) return Invalid(where + " has no \"digest\" string");
  auto digest = Digest::Parse(*digest_text);
  if (!digest) return Invalid(where + ": " + digest.error().message);
  auto size = d.find("size");
  if (size == d.end() || !size->is_number_integer() || size->get<std::int64_t>() < 0) {
    return Invalid(where + " has no non-negative integer \"size\"");
  }
  return *digest;
}

// One or more PEM certificates, and nothing else: BEGIN and END lines around
// base64 lines of at most 76 characters.
bool IsPemCertificates(std::string_view text) {
  constexpr std::string_view kBegin = "-----BEGIN CERTIFICATE-----";
  constexpr std::string_view kEnd = "-----END CERTIFICATE-----";
  std::size_t blocks = 0;
  bool inside = false;
  std::size_t body_lines = 0;
  while (!text.empty()) {
    auto end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    if (!inside) {
      if (line != kBegin) return false;
      inside = true;
      body_lines = 0;
    } else if (line == kEnd) {
      if (body_lines == 0) return false;
      inside = false;
      ++blocks;
    } else {
      if (line.empty() || line.size() > 76) return false;
      for (char c : line) {
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '+' || c == '/' || c == '=';
        if (!ok) return false;
      }
      ++body_lines;
    }
  }
  return !inside && blocks > 0;
}

// Reads a layer's annotations into `out`: the signature, and what else
// cosign may put there, each of its form.
Result<void> ReadAnnotations(const json& annotations, const std::string& where, CosignLayer& out) {
  const std::string at = where + "'s annotations";
  if (auto extra = ExtraMember(annotations, {kCosignSignatureAnnotation, kCosignRekorBundleAnnotation,
                                             kCosignCertificateAnnotation, kCosignChainAnnotation,
                                             kCosignTimestampAnnotation})) {
    return Unexpected(at, *extra);
  }
  for (const auto& [name, value] : annotations.items()) {
    if (!value.is_string()) return Invalid(at + ": \"" + name + "\" is not a string");
  }
  const std::string* encoded = StringAt(annotations, kCosignSignatureAnnotation);
  if (encoded == nullptr) {
    return Invalid(where + " has no \"" + std::string(kCosignSignatureAnnotation) +
                   "\" annotation string");
  }
  if (encoded->empty()) return Invalid(where + ": the signature annotation is empty");
  auto signature = encoded->size() <= kMaxSignatureText ? DecodeBase64(*encoded) : std::nullopt;
  if (!signature) {
    return Invalid(where + ": the signature annotation is not valid standard base64 of at most " +
                   std::to_string(kMaxSignatureText / 4 * 3) + " bytes");
  }
  out.signature = std::move(*signature);

  if (const std::string* set = StringAt(annotations, kCosignRekorBundleAnnotation)) {
    auto read = ReadRekorSet(*set);
    if (!read) return Invalid(where + ": " + read.error().message);
    out.rekor = std::move(*read);
  }
  std::vector<std::string> unchecked;
  if (const std::string* cert = StringAt(annotations, kCosignCertificateAnnotation)) {
    if (cert->size() > kMaxCertificateText || !IsPemCertificates(*cert)) {
      return Invalid(where + ": the certificate annotation is not one PEM certificate of at most " +
                     std::to_string(kMaxCertificateText) + " bytes");
    }
    unchecked.push_back("a signing certificate (" + std::string(kCosignCertificateAnnotation) + ")");
    out.certificate_pem = *cert;
  }
  if (const std::string* chain = StringAt(annotations, kCosignChainAnnotation)) {
    if (!chain->empty() && (chain->size() > kMaxChainText || !IsPemCertificates(*chain))) {
      return Invalid(where + ": the chain annotation is not PEM certificates of at most " +
                     std::to_string(kMaxChainText) + " bytes");
    }
    if (!chain->empty()) {
      unchecked.push_back("a certificate chain (" + std::string(kCosignChainAnnotation) + ")");
      out.chain_pem = *chain;
    }
  }
  if (const std::string* stamp = StringAt(annotations, kCosignTimestampAnnotation)) {
    auto parsed = ParseStrictJson(*stamp);
    const std::string* token = parsed && parsed->is_object() && parsed->size() == 1
                                   ? StringAt(*parsed, "SignedRFC3161Timestamp")
                                   : nullptr;
    if (token == nullptr || !DecodeBoundedBase64(*token, kMaxTimestampBytes)) {
      return Invalid(where + ": the timestamp annotation is not {\"SignedRFC3161Timestamp\": "
                     "\"<base64 of at most " + std::to_string(kMaxTimestampBytes) + " bytes>\"}");
    }
    unchecked.push_back("an RFC 3161 timestamp (" + std::string(kCosignTimestampAnnotation) + ")");
    out.has_timestamp = true;
  }
  for (const std::string& u : unchecked) {
    out.unverified_material += (out.unverified_material.empty() ? "" : ", ") + u;
  }
  if (!out.unverified_material.empty()) {
    out.unverified_material =
        "it carries " + out.unverified_material + " that no trusted key vouches for";
  }
  return {};
}

Result<CosignLayer> ReadLayer(const json& layer, std::size_t index) {
  const std::string where = "layer " + std::to_string(index);
  auto digest = ReadDescriptor(layer, where, true, {kCosignSimpleSigningMediaType});
  if (!digest) return digest.error();
  CosignLayer out{*digest, layer["size"].get<std::int64_t>(), {}, {}, {}, {}, {}, false};
  auto annotations = layer.find("annotations");
  if (annotations == layer.end() || !annotations->is_object()) {
    return Invalid(where + " has no annotations, so no \"" +
                   std::string(kCosignSignatureAnnotation) + "\"");
  }
  KEEP_TRY(ReadAnnotations(*annotations, where, out));
  return out;
}

// The members of a signature manifest beside its layers.
Result<void> CheckEnvelope(const json& manifest) {
  const bool referrer = manifest.contains("subject");
  auto extra = referrer ? ExtraMember(manifest, {"schemaVersion", "mediaType", "config", "layers",
                                                 "subject", "artifactType"})
                        : ExtraMember(manifest, {"schemaVersion", "mediaType", "config", "layers"});
  if (extra) {
    return Unexpected("the manifest", *extra,
                      *extra == "annotations" ? " (cosign writes no manifest annotations)"
                      : *extra == "artifactType" ? " (an artifactType belongs to the referrer form, with a subject)"
                                                 : "");
  }
  auto version = manifest.find("schemaVersion");
  if (version == manifest.end() || !version->is_number_integer() || *version != 2) {
    return Invalid("the manifest's schemaVersion is not 2");
  }
  auto config = manifest.find("config");
  if (config == manifest.end()) return Invalid("no config descriptor");
  auto config_digest =
      referrer ? ReadDescriptor(*config, "the config", false,
                                {kOciImageConfigMediaType, kDockerImageConfigMediaType,
                                 kCosignArtifactSigType})
               : ReadDescriptor(*config, "the config", false,
                                {kOciImageConfigMediaType, kDockerImageConfigMediaType});
  if (!config_digest) return config_digest.error();
  if (!referrer) return {};
  if (auto type = manifest.find("artifactType");
      type != manifest.end() && (!type->is_string() || *type != kCosignArtifactSigType)) {
    return Invalid("the artifactType is not " + std::string(kCosignArtifactSigType));
  }
  auto subject = ReadDescriptor(manifest["subject"], "the subject", false, {});
  if (!subject) return subject.error();
  return {};
}

// rootfs, history and the rest of a signature manifest's config.
Result<void> CheckConfigMembers(const json& config, std::size_t layers) {
  const std::string where = "the config";
  if (auto extra = ExtraMember(config, {"architecture", "os", "created", "history", "rootfs",
                                        "config", "container_config"})) {
    return Unexpected(where, *extra);
  }
  for (const char* name : {"architecture", "os"}) {
    if (config.contains(name) && config[name] != "") {
      return Invalid(where + "'s " + name + " is not \"\": a signature is no image to run");
    }
  }
  for (const char* name : {"config", "container_config"}) {
    if (config.contains(name) && config[name] != json::object()) {
      return Invalid(where + "'s " + name + " is not {}: a signature is no image to run");
    }
  }
  if (config.contains("created")) {
    const std::string* created = StringAt(config, "created");
    if (created == nullptr || !IsRfc3339(*created)) {
      return Invalid(where + "'s created is not an RFC 3339 time");
    }
  }
  if (auto history = config.find("history"); history != config.end()) {
    if (!history->is_array() || history->size() > layers) {
      return Invalid(where + "'s history is not an array of at most one entry per layer");
    }
    for (const json& h : *history) {
      if (auto extra = ExtraMember(h, {"created"})) return Unexpected(where + "'s history entry", *extra);
      const std::string* created = StringAt(h, "created");
      if (created == nullptr || !IsRfc3339(*created)) {
        return Invalid(where + "'s history entry is not {\"created\": <RFC 3339 time>}");
      }
    }
  }
  const json& rootfs = config["rootfs"];
  if (auto extra = ExtraMember(rootfs, {"type", "diff_ids"})) return Unexpected(where + "'s rootfs", *extra);
  if (const std::string* type = StringAt(rootfs, "type"); type == nullptr || *type != "layers") return Invalid(where + "'s rootfs.type is not \"layers\"");
  return {};
}

}  // namespace

bool IsCosignSignatureTag(std::string_view tag) { return CosignTarget(tag).has_value(); }

std::optional<Digest> CosignTarget(std::string_view tag) {
  if (tag.size() != kTagPrefix.size() + kSha256HexSize + kTagSuffix.size() ||
      !tag.starts_with(kTagPrefix) || !tag.ends_with(kTagSuffix)) {
    return std::nullopt;
  }
  auto digest = Digest::Parse("sha256:" + std::string(tag.substr(kTagPrefix.size(), kSha256HexSize)));
  if (!digest) return std::nullopt;
  return *digest;
}

std::string CosignSignatureTag(const Digest& target) {
  return std::string(kTagPrefix) + target.hex() + std::string(kTagSuffix);
}

Result<json> ParseSignatureManifest(std::string_view text) {
  auto parsed = ParseStrictJson(text);
  if (!parsed) {
    return Fail(ErrorCode::kManifestInvalid, "signature manifest: " + parsed.error().message);
  }
  return std::move(*parsed);
}

bool IsCosignSignatureManifest(const json& manifest) {
  if (!manifest.is_object() || !manifest.contains("layers") || !manifest["layers"].is_array()) {
    return false;
  }
  for (const auto& l : manifest["layers"]) {
    if (l.is_object() && l.value("mediaType", "") == kCosignSimpleSigningMediaType) return true;
  }
  return false;
}

Result<std::vector<CosignLayer>> ReadCosignSignatures(const json& manifest) {
  if (!manifest.is_object()) return Invalid("not a JSON object");
  if (manifest.contains("manifests")) return Invalid("an index cannot be a signature manifest");
  if (auto type = manifest.find("mediaType");
      type != manifest.end() && (!type->is_string() || (*type != media::kOciManifest &&
                                                        *type != media::kDockerManifest))) {
    return Invalid("a signature manifest is an image manifest, not " + type->dump());
  }
  auto layers = manifest.find("layers");
  if (layers == manifest.end() || !layers->is_array()) return Invalid("no \"layers\" array");
  if (layers->size() > kMaxCosignLayers) {
    return Invalid("more than " + std::to_string(kMaxCosignLayers) + " signature layers");
  }
  std::vector<CosignLayer> out;
  for (std::size_t i = 0; i < layers->size(); ++i) {
    const json& layer = (*layers)[i];
    if (!layer.is_object()) return Invalid("layer " + std::to_string(i) + " is not an object");
    auto media_type = layer.find("mediaType");
    if (media_type == layer.end() || !media_type->is_string() ||
        media_type->get_ref<const std::string&>() != kCosignSimpleSigningMediaType) {
      return Invalid("layer " + std::to_string(i) + " is not a signature layer (media type " +
                     std::string(kCosignSimpleSigningMediaType) +
                     "); a signature manifest holds nothing else");
    }
    auto read = ReadLayer(layer, i);
    if (!read) return read.error();
    out.push_back(std::move(*read));
  }
  if (out.empty()) {
    return Invalid("no signature layer (media type " + std::string(kCosignSimpleSigningMediaType) +
                   ")");
  }
  KEEP_TRY(CheckEnvelope(manifest));
  return out;
}

Result<Digest> CosignConfigDigest(const json& manifest) {
  auto config = manifest.is_object() ? manifest.find("config") : manifest.end();
  if (config == manifest.end() || !config->is_object() || !config->contains("digest") ||
      !(*config)["digest"].is_string()) {
    return Invalid("no config descriptor with a digest");
  }
  auto digest = Digest::Parse((*config)["digest"].get<std::string>());
  if (!digest) return Invalid("config: " + digest.error().message);
  return *digest;
}

Result<void> CheckCosignConfig(std::string_view config, const std::vector<CosignLayer>& layers) {
  auto parsed = ParseStrictJson(config);
  if (!parsed) return Invalid("the config: " + parsed.error().message);
  const json* diff_ids = nullptr;
  if (parsed->is_object() && parsed->contains("rootfs") && (*parsed)["rootfs"].is_object() &&
      (*parsed)["rootfs"].contains("diff_ids") && (*parsed)["rootfs"]["diff_ids"].is_array()) {
    diff_ids = &(*parsed)["rootfs"]["diff_ids"];
  }
  if (diff_ids == nullptr) return Invalid("the config is not an image config with rootfs.diff_ids");
  bool same = diff_ids->size() == layers.size();
  for (std::size_t i = 0; same && i < layers.size(); ++i) {
    same = (*diff_ids)[i].is_string() && (*diff_ids)[i] == layers[i].payload_digest.str();
  }
  if (!same) return Invalid("the config's rootfs.diff_ids are not the signature layers' digests");
  return CheckConfigMembers(*parsed, layers.size());
}

CosignManifest BuildCosignManifest(std::string_view payload, std::string_view signature,
                                   const std::vector<json>& earlier) {
  Digest payload_digest = Sha256Of(payload);
  json layers = json::array();
  json diff_ids = json::array();
  json history = json::array();
  for (const json& layer : earlier) {
    layers.push_back(layer);
    diff_ids.push_back(layer.at("digest"));
    history.push_back({{"created", "0001-01-01T00:00:00Z"}});
  }
  layers.push_back({
      {"mediaType", std::string(kCosignSimpleSigningMediaType)},
      {"digest", payload_digest.str()},
      {"size", payload.size()},
      {"annotations", {{std::string(kCosignSignatureAnnotation), EncodeBase64(signature)}}},
  });
  diff_ids.push_back(payload_digest.str());
  history.push_back({{"created", "0001-01-01T00:00:00Z"}});
  // cosign's config: an empty image whose "layers" are the payloads.
  json config = {
      {"architecture", ""},
      {"os", ""},
      {"created", "0001-01-01T00:00:00Z"},
      {"history", std::move(history)},
      {"rootfs", {{"type", "layers"}, {"diff_ids", std::move(diff_ids)}}},
      {"config", json::object()},
  };
  std::string config_bytes = config.dump();
  Digest config_digest = Sha256Of(config_bytes);
  json manifest = {
      {"schemaVersion", 2},
      {"mediaType", std::string(media::kOciManifest)},
      {"config",
       {{"mediaType", std::string(kOciImageConfigMediaType)},
        {"digest", config_digest.str()},
        {"size", config_bytes.size()}}},
      {"layers", std::move(layers)},
  };
  std::string manifest_bytes = manifest.dump();
  Digest manifest_digest = Sha256Of(manifest_bytes);
  return CosignManifest{std::move(config_bytes), std::string(payload), std::move(manifest_bytes),
                        std::move(config_digest), std::move(payload_digest),
                        std::move(manifest_digest)};
}

namespace {

// A layer no trusted key verified, checked as a keyless signature of
// `payload` (trust/keyless.h). On success the verdict names the identity and
// says what of the layer is still nobody's word: a chain that is not the
// trust roots' own certificates, a timestamp.
void VerifyKeylessLayer(const CosignLayer& layer, const std::string& payload,
                        const KeylessTrust& keyless, CosignVerdict& verdict) {
  auto material = CosignKeylessMaterial(payload, layer.signature, layer.certificate_pem,
                                        layer.chain_pem, layer.rekor ? &*layer.rekor : nullptr);
  if (!material) {
    verdict.reason = "keyless signature: " + material.error().message;
    return;
  }
  SignedVerdict signed_by =
      VerifySigned(*material, SignedArtifact{Sha256Of(payload), payload}, keyless.roots,
                   TrustedSigners{keyless.identities, {}}, keyless.now);
  if (!signed_by.verified) {
    verdict.reason = "keyless signature: " + signed_by.reason;
    return;
  }
  verdict.identity = signed_by.signer;
  verdict.trust_root = signed_by.trust_root;
  verdict.unverified_material.clear();  // the certificate is verified now
  std::vector<std::string> unchecked;
  // The chain annotation played no part (the trust root's certificates
  // built the chain): served, it must say nothing the trust root does not.
  std::vector<std::string> chain;
  if (layer.chain_pem.find_first_not_of(" \t\r\n") != std::string::npos) {
    auto parsed = ParseCertificatesPem(layer.chain_pem);
    if (parsed) {
      for (const auto& cert : *parsed) chain.push_back(CertificateDer(cert.get()));
    } else {
      chain.emplace_back();  // unreadable: no trust root's certificate
    }
  }
  if (!ChainOfTrustedRoots(chain, keyless.roots)) {
    unchecked.push_back("a certificate chain (" + std::string(kCosignChainAnnotation) +
                        ") holding certificates that are not the trust root's");
  }
  if (layer.has_timestamp) {
    unchecked.push_back("an RFC 3161 timestamp (" + std::string(kCosignTimestampAnnotation) +
                        "), which Keep does not verify yet");
  }
  for (const std::string& u : unchecked) {
    verdict.unverified_material += (verdict.unverified_material.empty() ? "it carries " : "; ") + u;
  }
}

}  // namespace

std::vector<CosignVerdict> VerifyCosign(const std::vector<CosignLayer>& layers,
                                        const PayloadFetcher& fetch, const Digest& target,
                                        std::string_view repository,
                                        const std::vector<PublicKey>& trusted_keys,
                                        const KeylessTrust* keyless) {
  std::vector<CosignVerdict> verdicts;
  verdicts.reserve(layers.size());
  for (const CosignLayer& layer : layers) {
    CosignVerdict& verdict = verdicts.emplace_back(
        CosignVerdict{layer.payload_digest, false, false, {}, {}, {}, {}, {}});
    auto payload = fetch(layer.payload_digest);
    if (!payload) {
      verdict.reason = "payload " + layer.payload_digest.str() + ": " + ClientText(payload.error());
      continue;
    }
    Hasher hasher(layer.payload_digest.algorithm());
    hasher.Update(*payload);
    if (!(hasher.Finish() == layer.payload_digest)) {
      verdict.reason = "payload " + layer.payload_digest.str() + " does not match its digest";
      continue;
    }
    if (static_cast<std::int64_t>(payload->size()) != layer.payload_size) {
      verdict.reason = "payload " + layer.payload_digest.str() + " is " +
                       std::to_string(payload->size()) + " bytes, but its layer says " +
                       std::to_string(layer.payload_size);
      continue;
    }
    auto parsed = ParseSimpleSigning(*payload);
    if (!parsed) {
      verdict.reason = parsed.error().message;
      continue;
    }
    // The Rekor bundle logs this layer, under a key that made its signature.
    if (layer.rekor) {
      if (auto bound = BindRekorSet(*layer.rekor, *payload, layer.signature, nullptr); !bound) {
        verdict.reason = bound.error().message;
        continue;
      }
    }
    verdict.well_formed = true;
    verdict.unverified_material = layer.unverified_material;
    const PublicKey* signer = nullptr;
    for (const PublicKey& key : trusted_keys) {
      if (VerifySignature(key, *payload, layer.signature)) {
        signer = &key;
        break;
      }
    }
    // ... and that key is the trusted one.
    if (signer != nullptr && layer.rekor) {
      if (auto bound = BindRekorSet(*layer.rekor, *payload, layer.signature, signer); !bound) {
        verdict.well_formed = false;
        verdict.reason = bound.error().message;
        continue;
      }
    }
    if (signer == nullptr && keyless != nullptr && !layer.certificate_pem.empty()) {
      VerifyKeylessLayer(layer, *payload, *keyless, verdict);
      if (verdict.identity.empty()) continue;
    } else if (signer == nullptr) {
      verdict.reason = trusted_keys.empty()
                           ? "the namespace has no trusted keys to verify signatures with"
                           : "the signature does not verify with any trusted key of the namespace";
      continue;
    }
    // Only now, with the bytes authenticated, are the payload's claims read.
    if (auto checked = CheckPayload(*parsed, target, repository); !checked) {
      verdict.identity.clear();
      verdict.reason = checked.error().message;
      continue;
    }
    verdict.verified = true;
    if (signer != nullptr) verdict.key_id = signer->key_id();
  }
  return verdicts;
}

}  // namespace keep
