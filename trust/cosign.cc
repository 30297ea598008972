#include "trust/cosign.h"

#include "core/base64.h"
#include "core/manifest.h"
#include "trust/simple_signing.h"

namespace keep {
namespace {

using nlohmann::json;

constexpr std::string_view kTagPrefix = "sha256-";
constexpr std::string_view kTagSuffix = ".sig";
constexpr std::size_t kSha256HexSize = 64;

Error Invalid(std::string why) {
  return Fail(ErrorCode::kManifestInvalid, "cosign signature manifest: " + why);
}

Result<CosignLayer> ReadLayer(const json& layer, std::size_t index) {
  const std::string where = "layer " + std::to_string(index);
  auto digest_it = layer.find("digest");
  if (digest_it == layer.end() || !digest_it->is_string()) {
    return Invalid(where + " has no \"digest\" string");
  }
  auto digest = Digest::Parse(digest_it->get_ref<const std::string&>());
  if (!digest) return Invalid(where + ": " + digest.error().message);
  auto size_it = layer.find("size");
  if (size_it == layer.end() || !size_it->is_number_integer() || size_it->get<std::int64_t>() < 0) {
    return Invalid(where + " has no non-negative integer \"size\"");
  }
  auto annotations = layer.find("annotations");
  if (annotations == layer.end() || !annotations->is_object()) {
    return Invalid(where + " has no annotations, so no \"" +
                   std::string(kCosignSignatureAnnotation) + "\"");
  }
  auto encoded = annotations->find(std::string(kCosignSignatureAnnotation));
  if (encoded == annotations->end() || !encoded->is_string()) {
    return Invalid(where + " has no \"" + std::string(kCosignSignatureAnnotation) +
                   "\" annotation string");
  }
  auto signature = DecodeBase64(encoded->get_ref<const std::string&>());
  if (!signature) {
    return Invalid(where + ": the signature annotation is not valid standard base64");
  }
  if (signature->empty()) return Invalid(where + ": the signature annotation is empty");
  return CosignLayer{*digest, size_it->get<std::int64_t>(), std::move(*signature)};
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
  json parsed = json::parse(config, nullptr, false);
  const json* diff_ids = nullptr;
  if (parsed.is_object() && parsed.contains("rootfs") && parsed["rootfs"].is_object() &&
      parsed["rootfs"].contains("diff_ids") && parsed["rootfs"]["diff_ids"].is_array()) {
    diff_ids = &parsed["rootfs"]["diff_ids"];
  }
  if (diff_ids == nullptr) return Invalid("the config is not an image config with rootfs.diff_ids");
  bool same = diff_ids->size() == layers.size();
  for (std::size_t i = 0; same && i < layers.size(); ++i) {
    same = (*diff_ids)[i].is_string() && (*diff_ids)[i] == layers[i].payload_digest.str();
  }
  if (!same) return Invalid("the config's rootfs.diff_ids are not the signature layers' digests");
  return {};
}

CosignManifest BuildCosignManifest(std::string_view payload, std::string_view signature) {
  Digest payload_digest = Sha256Of(payload);
  // cosign's config: an empty image whose one "layer" is the payload.
  json config = {
      {"architecture", ""},
      {"os", ""},
      {"created", "0001-01-01T00:00:00Z"},
      {"history", json::array({{{"created", "0001-01-01T00:00:00Z"}}})},
      {"rootfs", {{"type", "layers"}, {"diff_ids", json::array({payload_digest.str()})}}},
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
      {"layers", json::array({{
                     {"mediaType", std::string(kCosignSimpleSigningMediaType)},
                     {"digest", payload_digest.str()},
                     {"size", payload.size()},
                     {"annotations", {{std::string(kCosignSignatureAnnotation), EncodeBase64(signature)}}},
                 }})},
  };
  std::string manifest_bytes = manifest.dump();
  Digest manifest_digest = Sha256Of(manifest_bytes);
  return CosignManifest{std::move(config_bytes), std::string(payload), std::move(manifest_bytes),
                        std::move(config_digest), std::move(payload_digest),
                        std::move(manifest_digest)};
}

std::vector<CosignVerdict> VerifyCosign(const std::vector<CosignLayer>& layers,
                                        const PayloadFetcher& fetch, const Digest& target,
                                        std::string_view repository,
                                        const std::vector<PublicKey>& trusted_keys) {
  std::vector<CosignVerdict> verdicts;
  verdicts.reserve(layers.size());
  for (const CosignLayer& layer : layers) {
    CosignVerdict& verdict = verdicts.emplace_back(CosignVerdict{layer.payload_digest, false, false, {}, {}});
    auto payload = fetch(layer.payload_digest);
    if (!payload) {
      verdict.reason = "payload " + layer.payload_digest.str() + ": " + payload.error().message;
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
    verdict.well_formed = true;
    const PublicKey* signer = nullptr;
    for (const PublicKey& key : trusted_keys) {
      if (VerifySignature(key, *payload, layer.signature)) {
        signer = &key;
        break;
      }
    }
    if (signer == nullptr) {
      verdict.reason = trusted_keys.empty()
                           ? "the namespace has no trusted keys to verify signatures with"
                           : "the signature does not verify with any trusted key of the namespace";
      continue;
    }
    // Only now, with the bytes authenticated, are the payload's claims read.
    if (auto checked = CheckPayload(*parsed, target, repository); !checked) {
      verdict.reason = checked.error().message;
      continue;
    }
    verdict.verified = true;
    verdict.key_id = signer->key_id();
  }
  return verdicts;
}

}  // namespace keep
