#include "trust/sigstore_bundle.h"

#include "core/base64.h"
#include "core/manifest.h"
#include "trust/schema.h"
#include "trust/simple_signing.h"

#include <algorithm>

namespace keep {
namespace {

using nlohmann::json;
using trust_internal::DecodeBoundedBase64;
using trust_internal::ExtraMember;
using trust_internal::IsRfc3339;
using trust_internal::ObjectAt;
using trust_internal::ParseStrictJson;
using trust_internal::Shown;
using trust_internal::StringAt;

constexpr std::size_t kMaxHint = 128;
constexpr std::size_t kMaxShortString = 256;
constexpr std::size_t kMaxSignatureBytes = 512;

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

Error Unexpected(const std::string& where, const std::string& member) {
  return Fail(ErrorCode::kInvalid, where + " has an unexpected member \"" + Shown(member) +
                                       "\"; a signature artifact carries nothing else");
}

// The bundle's envelope and the rest of its material, once its shape is
// known to be what cosign writes.
struct Envelope {
  std::string payload;  // decoded
  std::string payload_type;
  std::vector<std::string> signatures;  // decoded
  std::vector<std::string> keyids;      // as given ("" when absent)
  std::string hint;                     // verificationMaterial.publicKey.hint ("" when absent)
  std::vector<DsseLogEntry> log_entries;
  std::size_t timestamps = 0;           // RFC 3161 timestamps carried
};

// verificationMaterial: its closed schema, into `out`.
Result<void> ReadMaterial(const json& material, Envelope& out) {
  auto fail = [](std::string why) { return Fail(ErrorCode::kInvalid, std::move(why)); };
  const json* key = ObjectAt(material, "publicKey");
  if (key == nullptr) {
    return fail(material.contains("certificate") || material.contains("x509CertificateChain")
                    ? "the bundle is signed with a certificate (keyless), which is not "
                      "checked here; sign with cosign sign --key"
                    : "the bundle's verificationMaterial has no publicKey");
  }
  const std::string where = "the bundle's verificationMaterial";
  if (auto extra = ExtraMember(material, {"publicKey", "tlogEntries", "timestampVerificationData"})) {
    return Unexpected(where, *extra);
  }
  if (auto extra = ExtraMember(*key, {"hint"})) return Unexpected(where + ".publicKey", *extra);
  if (key->contains("hint")) {
    const std::string* hint = StringAt(*key, "hint");
    if (hint == nullptr || hint->size() > kMaxHint) {
      return fail(where + ".publicKey.hint is not a string of at most " + std::to_string(kMaxHint) +
                  " characters");
    }
    out.hint = *hint;
  }
  if (auto entries = material.find("tlogEntries"); entries != material.end()) {
    if (!entries->is_array() || entries->size() > kMaxTlogEntries) {
      return fail(where + ".tlogEntries is not an array of at most " +
                  std::to_string(kMaxTlogEntries) + " entries");
    }
    for (const json& entry : *entries) {
      auto read = ReadTlogEntry(entry);
      if (!read) return fail("the bundle's " + read.error().message);
      out.log_entries.push_back(std::move(*read));
    }
  }
  if (auto data = material.find("timestampVerificationData"); data != material.end()) {
    const std::string at = where + ".timestampVerificationData";
    if (!data->is_object()) return fail(at + " is not an object");
    if (auto extra = ExtraMember(*data, {"rfc3161Timestamps"})) return Unexpected(at, *extra);
    if (auto stamps = data->find("rfc3161Timestamps"); stamps != data->end()) {
      if (!stamps->is_array() || stamps->size() > kMaxTimestamps) {
        return fail(at + ".rfc3161Timestamps is not an array of at most " +
                    std::to_string(kMaxTimestamps) + " timestamps");
      }
      for (const json& stamp : *stamps) {
        if (auto extra = ExtraMember(stamp, {"signedTimestamp"})) {
          return Unexpected(at + ".rfc3161Timestamps[]", *extra);
        }
        const std::string* token = StringAt(stamp, "signedTimestamp");
        if (token == nullptr || !DecodeBoundedBase64(*token, kMaxTimestampBytes)) {
          return fail(at + ".rfc3161Timestamps[] is not {\"signedTimestamp\": \"<base64 of at "
                      "most " + std::to_string(kMaxTimestampBytes) + " bytes>\"}");
        }
      }
      out.timestamps = stamps->size();
    }
  }
  return {};
}

// The bundle's shape, before any signature is checked: a reason on failure.
Result<Envelope> ReadBundle(std::string_view bytes) {
  auto fail = [](std::string why) { return Fail(ErrorCode::kInvalid, std::move(why)); };
  auto parsed = ParseStrictJson(bytes);
  if (!parsed) return fail("the bundle: " + parsed.error().message);
  const json& bundle = *parsed;
  if (!bundle.is_object()) return fail("the bundle is not a JSON object");
  const std::string* media_type = StringAt(bundle, "mediaType");
  if (media_type == nullptr || !IsSigstoreBundleMediaType(*media_type)) {
    return fail("the bundle's mediaType is " +
                (media_type ? "\"" + Shown(*media_type) + "\"" : std::string("missing")) +
                ", not " + std::string(kSigstoreBundleMediaType));
  }
  const json* material = ObjectAt(bundle, "verificationMaterial");
  if (material == nullptr) return fail("the bundle has no verificationMaterial");
  Envelope out;
  KEEP_TRY(ReadMaterial(*material, out));
  if (bundle.contains("messageSignature")) {
    return fail("the bundle holds a messageSignature, which signs a blob; an image signature is "
                "a DSSE envelope (cosign sign)");
  }
  if (auto extra = ExtraMember(bundle, {"mediaType", "verificationMaterial", "dsseEnvelope"})) {
    return Unexpected("the bundle", *extra);
  }
  const json* envelope = ObjectAt(bundle, "dsseEnvelope");
  if (envelope == nullptr) return fail("the bundle has no dsseEnvelope");
  if (auto extra = ExtraMember(*envelope, {"payload", "payloadType", "signatures"})) {
    return Unexpected("the envelope", *extra);
  }
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
    if (auto extra = ExtraMember(s, {"sig", "keyid"})) return Unexpected("an envelope signature", *extra);
    const std::string* sig = StringAt(s, "sig");
    auto raw = sig ? DecodeBoundedBase64(*sig, kMaxSignatureBytes) : std::nullopt;
    if (!raw) return fail("an envelope signature's \"sig\" is not standard base64");
    const std::string* keyid = StringAt(s, "keyid");
    if (s.contains("keyid") && (keyid == nullptr || keyid->size() > kMaxHint)) {
      return fail("an envelope signature's \"keyid\" is not a string of at most " +
                  std::to_string(kMaxHint) + " characters");
    }
    out.signatures.push_back(std::move(*raw));
    out.keyids.push_back(keyid ? *keyid : "");
  }
  return out;
}

// A key's fingerprint as sigstore's clients write it in a hint or keyid:
// the standard base64 of the SHA-256 of its DER SubjectPublicKeyInfo.
std::string Fingerprint(const PublicKey& key) { return EncodeBase64(FromHex(key.key_id())); }

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

// What a verified bundle carries that Keep cannot check, in words.
std::string UnverifiedMaterial(const Envelope& envelope,
                               const std::vector<const PublicKey*>& signers) {
  std::vector<std::string> unchecked;
  if (envelope.timestamps > 0) {
    unchecked.push_back(std::to_string(envelope.timestamps) +
                        " RFC 3161 timestamp(s), and Keep holds no timestamp authority roots yet");
  }
  const auto strangers = std::count(signers.begin(), signers.end(), nullptr);
  if (strangers > 0) {
    unchecked.push_back(std::to_string(strangers) +
                        " envelope signature(s) that no trusted key of the namespace made");
  }
  bool hint_named = envelope.hint.empty();
  for (const PublicKey* signer : signers) {
    hint_named = hint_named || (signer != nullptr && Fingerprint(*signer) == envelope.hint);
  }
  if (!hint_named) {
    unchecked.push_back("a publicKey.hint that is not the fingerprint of a key that verified it");
  }
  for (std::size_t i = 0; i < signers.size(); ++i) {
    const std::string& keyid = envelope.keyids[i];
    if (!keyid.empty() && (signers[i] == nullptr || Fingerprint(*signers[i]) != keyid)) {
      unchecked.push_back("a signature keyid that is not the fingerprint of the trusted key that "
                          "made it");
      break;
    }
  }
  std::string out;
  for (const std::string& u : unchecked) out += (out.empty() ? "it carries " : "; ") + u;
  return out;
}

// Whether the bundle is signed with a certificate (a keyless bundle).
bool IsCertificateBundle(std::string_view bytes) {
  auto parsed = ParseStrictJson(bytes);
  const json* material = parsed ? ObjectAt(*parsed, "verificationMaterial") : nullptr;
  return material != nullptr &&
         (material->contains("certificate") || material->contains("x509CertificateChain"));
}

// A keyless bundle's checks (VerifyBundles, with `keyless`) into `verdict`.
void VerifyKeylessBundle(const BundleLayer& layer, std::string_view bytes, const Digest& target,
                         std::string_view repository, const KeylessTrust& keyless,
                         BundleVerdict& verdict) {
  const std::string which = "bundle " + layer.digest.str();
  auto parsed = ParseStrictJson(bytes);
  const std::string* media_type = parsed ? StringAt(*parsed, "mediaType") : nullptr;
  if (media_type == nullptr || !IsSigstoreBundleMediaType(*media_type)) {
    verdict.reason = which + ": the bundle's mediaType is not " +
                     std::string(kSigstoreBundleMediaType) + ", as its layer says";
    return;
  }
  auto material = ReadSignedMaterial(bytes);
  if (!material) {
    verdict.reason = which + ": " + material.error().message;
    return;
  }
  SignedVerdict signed_by =
      VerifySigned(*material, SignedArtifact{target, std::nullopt}, keyless.roots,
                   TrustedSigners{keyless.identities, {}}, keyless.now);
  if (!signed_by.verified) {
    verdict.reason = which + ": keyless signature: " + signed_by.reason;
    return;
  }
  // Only now, with the bytes authenticated, is the statement read.
  std::string predicate;
  if (material->is_dsse) {
    auto checked = CheckStatement(material->payload, target, repository);
    if (!checked) {
      verdict.reason = which + ": " + checked.error().message;
      return;
    }
    predicate = *checked;
  }
  if (!layer.predicate_type_annotation.empty() && layer.predicate_type_annotation != predicate) {
    verdict.reason = which + ": the manifest's dev.sigstore.bundle.predicateType annotation \"" +
                     Shown(layer.predicate_type_annotation) + "\" is not the " +
                     (material->is_dsse ? "statement's predicate type \"" + Shown(predicate) + "\""
                                        : std::string("predicate of a message signature (none)"));
    return;
  }
  verdict.verified = true;
  verdict.identity = signed_by.signer;
  verdict.trust_root = signed_by.trust_root;
  verdict.predicate_type = predicate;
  verdict.is_signature = !material->is_dsse || predicate == kCosignSignPredicateType;
  std::vector<std::string> unchecked;
  const std::vector<std::string> chain(material->certificates.begin() + 1,
                                       material->certificates.end());
  if (!ChainOfTrustedRoots(chain, keyless.roots)) {
    unchecked.push_back("certificates besides the leaf that are not the trust root's");
  }
  if (material->is_dsse && material->dsse_signatures.size() > 1) {
    unchecked.push_back(std::to_string(material->dsse_signatures.size()) +
                        " envelope signatures, of which Keep checks that one verifies");
  }
  for (const std::string& u : unchecked) {
    verdict.unverified_material += (verdict.unverified_material.empty() ? "it carries " : "; ") + u;
  }
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
  auto unexpected = [](const std::string& where, const std::string& member) {
    return Invalid(where + " has an unexpected member \"" + Shown(member) +
                   "\"; a signature artifact carries nothing else");
  };
  if (auto extra = ExtraMember(manifest, {"schemaVersion", "mediaType", "artifactType", "config",
                                          "layers", "subject", "annotations"})) {
    return unexpected("the manifest", *extra);
  }
  if (auto version = manifest.find("schemaVersion");
      version == manifest.end() || !version->is_number_integer() || *version != 2) {
    return Invalid("the manifest's schemaVersion is not 2");
  }
  if (manifest.contains("artifactType")) {
    const std::string* type = StringAt(manifest, "artifactType");
    if (type == nullptr || !IsSigstoreBundleMediaType(*type)) {
      return Invalid("the artifactType is not " + std::string(kSigstoreBundleMediaType));
    }
  }
  if (auto extra = ExtraMember(*config, {"mediaType", "digest", "size", "artifactType"})) {
    return unexpected("the config", *extra);
  }
  if (auto size = config->find("size"); size == config->end() || *size != kEmptyConfig.size()) {
    return Invalid("the config's size is not " + std::to_string(kEmptyConfig.size()));
  }
  if (config->contains("artifactType")) {
    const std::string* type = StringAt(*config, "artifactType");
    if (type == nullptr || (!IsSigstoreBundleMediaType(*type) && *type != kOciEmptyMediaType)) {
      return Invalid("the config's artifactType is neither a sigstore bundle's nor the empty one");
    }
  }
  if (auto subject = manifest.find("subject"); subject != manifest.end()) {
    if (!subject->is_object()) return Invalid("the subject is not an object");
    if (auto extra = ExtraMember(*subject, {"mediaType", "digest", "size"})) {
      return unexpected("the subject", *extra);
    }
    const std::string* type = StringAt(*subject, "mediaType");
    const std::string* digest = StringAt(*subject, "digest");
    if (type == nullptr || type->size() > kMaxShortString || digest == nullptr ||
        !Digest::Parse(*digest)) {
      return Invalid("the subject is not a descriptor (mediaType, digest, size)");
    }
  }
  std::string predicate_type;
  if (auto annotations = manifest.find("annotations"); annotations != manifest.end()) {
    const std::string where = "the manifest's annotations";
    if (!annotations->is_object()) return Invalid(where + " are not an object");
    if (auto extra = ExtraMember(*annotations, {"org.opencontainers.image.created",
                                                "dev.sigstore.bundle.content",
                                                "dev.sigstore.bundle.predicateType"})) {
      return unexpected(where, *extra);
    }
    if (annotations->contains("org.opencontainers.image.created")) {
      const std::string* created = StringAt(*annotations, "org.opencontainers.image.created");
      if (created == nullptr || !IsRfc3339(*created)) {
        return Invalid(where + ": org.opencontainers.image.created is not an RFC 3339 time");
      }
    }
    if (annotations->contains("dev.sigstore.bundle.content")) {
      const std::string* content = StringAt(*annotations, "dev.sigstore.bundle.content");
      if (content == nullptr || *content != "dsse-envelope") {
        return Invalid(where + ": dev.sigstore.bundle.content is not \"dsse-envelope\"");
      }
    }
    if (annotations->contains("dev.sigstore.bundle.predicateType")) {
      const std::string* type = StringAt(*annotations, "dev.sigstore.bundle.predicateType");
      if (type == nullptr || type->empty() || type->size() > kMaxShortString) {
        return Invalid(where + ": dev.sigstore.bundle.predicateType is not a string of 1 to " +
                       std::to_string(kMaxShortString) + " characters");
      }
      predicate_type = *type;
    }
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
    if (auto extra = ExtraMember(layer, {"mediaType", "digest", "size", "annotations"})) {
      return unexpected(where, *extra);
    }
    const std::string* digest_text = StringAt(layer, "digest");
    if (digest_text == nullptr) return Invalid(where + " has no \"digest\" string");
    auto digest = Digest::Parse(*digest_text);
    if (!digest) return Invalid(where + ": " + digest.error().message);
    auto size = layer.find("size");
    if (size == layer.end() || !size->is_number_integer() || size->get<std::int64_t>() < 0) {
      return Invalid(where + " has no non-negative integer \"size\"");
    }
    if (auto annotations = layer.find("annotations"); annotations != layer.end()) {
      if (auto extra = ExtraMember(*annotations, {"org.opencontainers.image.title"})) {
        return unexpected(where + "'s annotations", *extra);
      }
      // cosign's BUNDLE_SPEC: "{digest-algorithm}-{digest-hex}.sigstore.json".
      const std::string title = std::string(digest->algorithm_name()) + "-" + digest->hex() +
                                ".sigstore.json";
      const std::string* given = StringAt(*annotations, "org.opencontainers.image.title");
      if (!annotations->is_object() || given == nullptr || *given != title) {
        return Invalid(where + "'s org.opencontainers.image.title is not \"" + title + "\"");
      }
    }
    for (const BundleLayer& seen : out) {
      if (seen.digest == *digest) return Invalid(where + " repeats bundle " + digest->str());
    }
    out.push_back(BundleLayer{*digest, size->get<std::int64_t>(), predicate_type});
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
                                         std::string_view repository,
                                         const std::vector<PublicKey>& trusted_keys,
                                         const KeylessTrust* keyless) {
  std::vector<BundleVerdict> verdicts;
  verdicts.reserve(layers.size());
  for (const BundleLayer& layer : layers) {
    BundleVerdict& verdict =
        verdicts.emplace_back(BundleVerdict{layer.digest, false, false, {}, {}, {}, {}, {}, {}});
    const std::string which = "bundle " + layer.digest.str();
    if (layer.size > kMaxBundleSize) {
      verdict.reason = which + " is larger than " + std::to_string(kMaxBundleSize) + " bytes";
      continue;
    }
    auto bytes = fetch(layer.digest);
    if (!bytes) {
      verdict.reason = which + ": " + ClientText(bytes.error());
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
    if (keyless != nullptr && IsCertificateBundle(*bytes)) {
      VerifyKeylessBundle(layer, *bytes, target, repository, *keyless, verdict);
      continue;
    }
    auto envelope = ReadBundle(*bytes);
    if (!envelope) {
      verdict.reason = which + ": " + envelope.error().message;
      continue;
    }
    const std::string pae = DssePae(envelope->payload_type, envelope->payload);
    // Which trusted key, if any, made each signature of the envelope.
    std::vector<const PublicKey*> signers(envelope->signatures.size(), nullptr);
    for (const PublicKey& key : trusted_keys) {
      bool signed_by = false;
      for (std::size_t i = 0; i < envelope->signatures.size(); ++i) {
        if (VerifySignature(key, pae, envelope->signatures[i])) {
          signed_by = true;
          if (signers[i] == nullptr) signers[i] = &key;
        }
      }
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
    // The log entries carried are of this envelope, its signatures and keys.
    std::string unbound;
    for (const DsseLogEntry& entry : envelope->log_entries) {
      auto bound = BindTlogEntry(entry, envelope->payload, pae, envelope->signatures, signers);
      if (!bound) {
        unbound = bound.error().message;
        break;
      }
    }
    if (!unbound.empty()) {
      verdict.key_ids.clear();
      verdict.reason = which + ": the bundle's " + unbound;
      continue;
    }
    // Only now, with the bytes authenticated, is the statement read.
    auto predicate = CheckStatement(envelope->payload, target, repository);
    if (!predicate) {
      verdict.key_ids.clear();
      verdict.reason = which + ": " + predicate.error().message;
      continue;
    }
    if (!layer.predicate_type_annotation.empty() && layer.predicate_type_annotation != *predicate) {
      verdict.key_ids.clear();
      verdict.reason = which + ": the manifest's dev.sigstore.bundle.predicateType annotation \"" +
                       Shown(layer.predicate_type_annotation) +
                       "\" is not the statement's predicate type \"" + Shown(*predicate) + "\"";
      continue;
    }
    verdict.verified = true;
    verdict.predicate_type = *predicate;
    verdict.is_signature = *predicate == kCosignSignPredicateType;
    verdict.unverified_material = UnverifiedMaterial(*envelope, signers);
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
        {"org.opencontainers.image.created", std::string(created)}}},
  };
  // The predicate type annotation says what the statement says, or nothing.
  const json parsed_statement = json::parse(statement, nullptr, false);
  if (const std::string* type = StringAt(parsed_statement, "predicateType");
      type != nullptr && !type->empty() && type->size() <= kMaxShortString) {
    manifest["annotations"]["dev.sigstore.bundle.predicateType"] = *type;
  }
  out.manifest = manifest.dump();
  out.manifest_digest = Sha256Of(out.manifest);
  return out;
}

}  // namespace keep
