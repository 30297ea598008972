#include "trust/sigstore_bundle.h"

#include "core/base64.h"
#include "core/manifest.h"
#include "trust/simple_signing.h"

#include <algorithm>

namespace keep {
namespace {

using nlohmann::json;

constexpr std::string_view kStatementV1 = "https://in-toto.io/Statement/v1";
constexpr std::string_view kStatementV01 = "https://in-toto.io/Statement/v0.1";
constexpr std::string_view kEmptyConfig = "{}";

Error Invalid(std::string why) {
  return Fail(ErrorCode::kManifestInvalid, "sigstore bundle manifest: " + why);
}

// Bytes of lower-case hex text (a key id).
std::string FromHex(std::string_view hex) {
  auto nibble = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
  std::string out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(nibble(hex[i]) << 4 | nibble(hex[i + 1])));
  }
  return out;
}

const std::string* StringAt(const json& object, std::string_view key) {
  if (!object.is_object()) return nullptr;
  auto it = object.find(key);
  if (it == object.end() || !it->is_string()) return nullptr;
  return &it->get_ref<const std::string&>();
}

const json* ObjectAt(const json& object, std::string_view key) {
  if (!object.is_object()) return nullptr;
  auto it = object.find(key);
  if (it == object.end() || !it->is_object()) return nullptr;
  return &*it;
}

// The bundle's envelope, once its shape is known to be what cosign writes.
struct Envelope {
  std::string payload;  // decoded
  std::string payload_type;
  std::vector<std::string> signatures;  // decoded
};

// The bundle's shape, before any signature is checked: a reason on failure.
Result<Envelope> ReadBundle(std::string_view bytes) {
  auto fail = [](std::string why) { return Fail(ErrorCode::kInvalid, std::move(why)); };
  json bundle = json::parse(bytes, nullptr, false);
  if (!bundle.is_object()) return fail("the bundle is not a JSON object");
  const std::string* media_type = StringAt(bundle, "mediaType");
  if (media_type == nullptr || !IsSigstoreBundleMediaType(*media_type)) {
    return fail("the bundle's mediaType is " +
                (media_type ? "\"" + *media_type + "\"" : std::string("missing")) + ", not " +
                std::string(kSigstoreBundleMediaType));
  }
  const json* material = ObjectAt(bundle, "verificationMaterial");
  if (material == nullptr) return fail("the bundle has no verificationMaterial");
  if (ObjectAt(*material, "publicKey") == nullptr) {
    return fail(material->contains("certificate") || material->contains("x509CertificateChain")
                    ? "the bundle is signed with a certificate (keyless); Keep trusts the "
                      "namespace's keys, so sign with cosign sign --key"
                    : "the bundle's verificationMaterial has no publicKey");
  }
  if (bundle.contains("messageSignature")) {
    return fail("the bundle holds a messageSignature, which signs a blob; an image signature is "
                "a DSSE envelope (cosign sign)");
  }
  const json* envelope = ObjectAt(bundle, "dsseEnvelope");
  if (envelope == nullptr) return fail("the bundle has no dsseEnvelope");
  Envelope out;
  const std::string* payload_type = StringAt(*envelope, "payloadType");
  if (payload_type == nullptr || *payload_type != kInTotoPayloadType) {
    return fail("the envelope's payloadType is not " + std::string(kInTotoPayloadType));
  }
  out.payload_type = *payload_type;
  const std::string* payload = StringAt(*envelope, "payload");
  auto decoded = payload ? DecodeBase64(*payload) : std::nullopt;
  if (!decoded) return fail("the envelope's payload is not standard base64");
  out.payload = std::move(*decoded);
  auto sigs = envelope->find("signatures");
  if (sigs == envelope->end() || !sigs->is_array() || sigs->empty()) {
    return fail("the envelope has no signatures");
  }
  if (sigs->size() > kMaxEnvelopeSignatures) {
    return fail("the envelope has more than " + std::to_string(kMaxEnvelopeSignatures) +
                " signatures");
  }
  for (const json& s : *sigs) {
    const std::string* sig = StringAt(s, "sig");
    auto raw = sig ? DecodeBase64(*sig) : std::nullopt;
    if (!raw || raw->empty()) return fail("an envelope signature's \"sig\" is not standard base64");
    out.signatures.push_back(std::move(*raw));
  }
  return out;
}

// Reads the authenticated statement: its predicate type, after checking that
// a subject names `target` and, if that subject names an image too, that the
// image is in `repository` (ReferenceNamesRepository, as for a simple-signing
// payload's docker-reference). An empty `repository` is one the caller could
// not give: a subject naming an image is then refused, not waved through.
//
// A subject with a digest and no name signs the content, not a place: it
// counts in whatever repository holds that digest. That is what cosign v3's
// `cosign sign` writes (its statement's subject is the digest alone, with
// the --annotations), so a cosign v3 signature, unlike a cosign v2 one, may
// be copied to another repository and count there, as the same image signed.
Result<std::string> CheckStatement(std::string_view payload, const Digest& target,
                                   std::string_view repository) {
  auto fail = [](std::string why) { return Fail(ErrorCode::kInvalid, std::move(why)); };
  json statement = json::parse(payload, nullptr, false);
  const std::string* type = StringAt(statement, "_type");
  if (type == nullptr || (*type != kStatementV1 && *type != kStatementV01)) {
    return fail("the payload is not an in-toto statement (_type " + std::string(kStatementV1) + ")");
  }
  const std::string* predicate_type = StringAt(statement, "predicateType");
  if (predicate_type == nullptr || predicate_type->empty()) {
    return fail("the statement has no predicateType");
  }
  auto subjects = statement.find("subject");
  if (subjects == statement.end() || !subjects->is_array()) {
    return fail("the statement has no subject array");
  }
  const std::string algorithm(target.str().substr(0, target.str().find(':')));
  std::string other_image;  // a name the target's subject gave, for the refusal
  for (const json& subject : *subjects) {
    const json* digests = ObjectAt(subject, "digest");
    const std::string* hex = digests ? StringAt(*digests, algorithm) : nullptr;
    if (hex == nullptr || *hex != target.hex()) continue;
    if (subject.is_object() && subject.contains("name") && !subject["name"].is_string()) {
      return fail("the statement's subject for " + target.str() + " has a \"name\" that is not a string");
    }
    const std::string* name = StringAt(subject, "name");
    if (name == nullptr || name->empty()) return *predicate_type;  // the digest alone
    if (!repository.empty() && ReferenceNamesRepository(*name, repository)) return *predicate_type;
    if (other_image.empty()) other_image = *name;
  }
  if (!other_image.empty()) {
    std::string shown = other_image.size() > 256 ? other_image.substr(0, 256) + "..." : other_image;
    return fail(repository.empty()
                    ? "the statement signs image \"" + shown +
                          "\", and the repository it was pushed to is not known here"
                    : "the statement signs image \"" + shown + "\", not repository " +
                          std::string(repository) + "; sign the image in " +
                          std::string(repository) + ", or with cosign sign (which names only "
                          "the digest)");
  }
  return fail("the statement's subject does not name " + target.str() +
              "; it signs another manifest");
}

}  // namespace

bool IsSigstoreBundleMediaType(std::string_view media_type) {
  return media_type == kSigstoreBundleMediaType || media_type == kSigstoreBundleLegacyMediaType;
}

bool IsSigstoreBundleManifest(const json& manifest) {
  if (!manifest.is_object()) return false;
  if (const std::string* type = StringAt(manifest, "artifactType");
      type != nullptr && IsSigstoreBundleMediaType(*type)) {
    return true;
  }
  auto layers = manifest.find("layers");
  if (layers == manifest.end() || !layers->is_array()) return false;
  return std::any_of(layers->begin(), layers->end(), [](const json& l) {
    const std::string* type = StringAt(l, "mediaType");
    return type != nullptr && IsSigstoreBundleMediaType(*type);
  });
}

Result<std::vector<BundleLayer>> ReadBundleLayers(const json& manifest) {
  if (!manifest.is_object()) return Invalid("not a JSON object");
  if (manifest.contains("manifests")) return Invalid("an index cannot carry a bundle");
  if (const std::string* type = StringAt(manifest, "mediaType");
      type == nullptr || *type != media::kOciManifest) {
    return Invalid("a bundle referrer is an OCI image manifest (mediaType " +
                   std::string(media::kOciManifest) + ")");
  }
  const json* config = ObjectAt(manifest, "config");
  const std::string* config_type = config ? StringAt(*config, "mediaType") : nullptr;
  const std::string* config_digest = config ? StringAt(*config, "digest") : nullptr;
  if (config_type == nullptr || *config_type != kOciEmptyMediaType || config_digest == nullptr ||
      *config_digest != Sha256Of(kEmptyConfig).str()) {
    return Invalid("the config is not the empty descriptor (" + std::string(kOciEmptyMediaType) +
                   ", the blob \"{}\")");
  }
  auto layers = manifest.find("layers");
  if (layers == manifest.end() || !layers->is_array()) return Invalid("no \"layers\" array");
  if (layers->size() > kMaxBundleLayers) {
    return Invalid("more than " + std::to_string(kMaxBundleLayers) + " bundle layers");
  }
  std::vector<BundleLayer> out;
  for (std::size_t i = 0; i < layers->size(); ++i) {
    const json& layer = (*layers)[i];
    const std::string where = "layer " + std::to_string(i);
    const std::string* type = StringAt(layer, "mediaType");
    if (type == nullptr || !IsSigstoreBundleMediaType(*type)) {
      return Invalid(where + " is not a sigstore bundle (media type " +
                     std::string(kSigstoreBundleMediaType) + "); a bundle referrer holds nothing else");
    }
    const std::string* digest_text = StringAt(layer, "digest");
    if (digest_text == nullptr) return Invalid(where + " has no \"digest\" string");
    auto digest = Digest::Parse(*digest_text);
    if (!digest) return Invalid(where + ": " + digest.error().message);
    auto size = layer.find("size");
    if (size == layer.end() || !size->is_number_integer() || size->get<std::int64_t>() < 0) {
      return Invalid(where + " has no non-negative integer \"size\"");
    }
    for (const BundleLayer& seen : out) {
      if (seen.digest == *digest) return Invalid(where + " repeats bundle " + digest->str());
    }
    out.push_back(BundleLayer{*digest, size->get<std::int64_t>()});
  }
  if (out.empty()) {
    return Invalid("no bundle layer (media type " + std::string(kSigstoreBundleMediaType) + ")");
  }
  return out;
}

std::string DssePae(std::string_view payload_type, std::string_view payload) {
  std::string out = "DSSEv1 ";
  out += std::to_string(payload_type.size());
  out += ' ';
  out += payload_type;
  out += ' ';
  out += std::to_string(payload.size());
  out += ' ';
  out += payload;
  return out;
}

std::vector<BundleVerdict> VerifyBundles(const std::vector<BundleLayer>& layers,
                                         const PayloadFetcher& fetch, const Digest& target,
                                         const std::vector<PublicKey>& trusted_keys) {
  return VerifyBundles(layers, fetch, target, std::string_view(), trusted_keys);
}

std::vector<BundleVerdict> VerifyBundles(const std::vector<BundleLayer>& layers,
                                         const PayloadFetcher& fetch, const Digest& target,
                                         std::string_view repository,
                                         const std::vector<PublicKey>& trusted_keys) {
  std::vector<BundleVerdict> verdicts;
  verdicts.reserve(layers.size());
  for (const BundleLayer& layer : layers) {
    BundleVerdict& verdict = verdicts.emplace_back(BundleVerdict{layer.digest, false, false, {}, {}, {}});
    const std::string which = "bundle " + layer.digest.str();
    if (layer.size > kMaxBundleSize) {
      verdict.reason = which + " is larger than " + std::to_string(kMaxBundleSize) + " bytes";
      continue;
    }
    auto bytes = fetch(layer.digest);
    if (!bytes) {
      verdict.reason = which + ": " + bytes.error().message;
      continue;
    }
    Hasher hasher(layer.digest.algorithm());
    hasher.Update(*bytes);
    if (!(hasher.Finish() == layer.digest)) {
      verdict.reason = which + " does not match its digest";
      continue;
    }
    if (static_cast<std::int64_t>(bytes->size()) != layer.size) {
      verdict.reason = which + " is " + std::to_string(bytes->size()) +
                       " bytes, but its layer says " + std::to_string(layer.size);
      continue;
    }
    auto envelope = ReadBundle(*bytes);
    if (!envelope) {
      verdict.reason = which + ": " + envelope.error().message;
      continue;
    }
    const std::string pae = DssePae(envelope->payload_type, envelope->payload);
    for (const PublicKey& key : trusted_keys) {
      bool signed_by = std::any_of(envelope->signatures.begin(), envelope->signatures.end(),
                                   [&](const std::string& sig) {
                                     return VerifySignature(key, pae, sig);
                                   });
      if (signed_by) verdict.key_ids.push_back(key.key_id());
    }
    if (verdict.key_ids.empty()) {
      verdict.reason = which + ": " +
                       (trusted_keys.empty()
                            ? "the namespace has no trusted keys to verify signatures with"
                            : "no signature in the envelope verifies with a trusted key of the "
                              "namespace");
      continue;
    }
    // Only now, with the bytes authenticated, is the statement read.
    auto predicate = CheckStatement(envelope->payload, target, repository);
    if (!predicate) {
      verdict.key_ids.clear();
      verdict.reason = which + ": " + predicate.error().message;
      continue;
    }
    verdict.verified = true;
    verdict.predicate_type = *predicate;
    verdict.is_signature = *predicate == kCosignSignPredicateType;
  }
  return verdicts;
}

std::string MakeSignStatement(const Digest& target) {
  json statement = {
      {"_type", std::string(kStatementV1)},
      {"subject", json::array({{{"digest", {{"sha256", target.hex()}}}}})},
      {"predicateType", std::string(kCosignSignPredicateType)},
      {"predicate", json::object()},
  };
  return statement.dump();
}

BundleManifest BuildBundleManifest(const Digest& subject, std::string_view subject_media_type,
                                   std::int64_t subject_size, std::string_view statement,
                                   std::string_view signature, const PublicKey& signer,
                                   std::string_view created) {
  json bundle = {
      {"mediaType", std::string(kSigstoreBundleMediaType)},
      {"verificationMaterial",
       {{"publicKey", {{"hint", EncodeBase64(FromHex(signer.key_id()))}}},
        {"tlogEntries", json::array()}}},
      {"dsseEnvelope",
       {{"payload", EncodeBase64(statement)},
        {"payloadType", std::string(kInTotoPayloadType)},
        {"signatures", json::array({{{"sig", EncodeBase64(signature)}, {"keyid", ""}}})}}},
  };
  std::string config(kEmptyConfig);
  std::string bundle_bytes = bundle.dump();
  BundleManifest out{config, bundle_bytes, {}, Sha256Of(config), Sha256Of(bundle_bytes), Sha256Of("")};
  json manifest = {
      {"schemaVersion", 2},
      {"mediaType", std::string(media::kOciManifest)},
      {"artifactType", std::string(kSigstoreBundleMediaType)},
      {"config",
       {{"mediaType", std::string(kOciEmptyMediaType)},
        {"digest", out.config_digest.str()},
        {"size", out.config.size()}}},
      {"layers", json::array({{
                     {"mediaType", std::string(kSigstoreBundleMediaType)},
                     {"digest", out.bundle_digest.str()},
                     {"size", out.bundle.size()},
                     {"annotations",
                      {{"org.opencontainers.image.title",
                        "sha256-" + out.bundle_digest.hex() + ".sigstore.json"}}},
                 }})},
      {"subject",
       {{"mediaType", std::string(subject_media_type)},
        {"digest", subject.str()},
        {"size", subject_size}}},
      {"annotations",
       {{"dev.sigstore.bundle.content", "dsse-envelope"},
        {"dev.sigstore.bundle.predicateType", std::string(kCosignSignPredicateType)},
        {"org.opencontainers.image.created", std::string(created)}}},
  };
  out.manifest = manifest.dump();
  out.manifest_digest = Sha256Of(out.manifest);
  return out;
}

}  // namespace keep
