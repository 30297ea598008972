// keepctl sign and verify: cosign-layout signatures pushed through the
// registry API, and the registry's verdict on them from /admin/v1/verify.
#include "cli/commands.h"
#include "cli/prompt.h"
#include "cli/registry.h"

#include "core/manifest.h"
#include "trust/cosign.h"
#include "trust/sigstore_bundle.h"
#include "trust/keys.h"
#include "trust/simple_signing.h"

#include <chrono>
#include <cstdlib>
#include <ctime>
#include <iostream>
#include <set>

namespace keep::cli {
namespace {

using nlohmann::json;

constexpr std::string_view kFormatCosignTag = "cosign";  // tag sha256-<hex>.sig
constexpr std::string_view kFormatBundle = "bundle";     // cosign v3: a referrer

Result<PrivateKey> LoadPrivateKey(const Invocation& inv, const std::string& file) {
  auto pem = ReadSmallFile(file, 64 << 10);
  if (!pem) return pem.error();
  std::string passphrase;
  if (inv.Flag("passphrase-stdin")) {
    auto read = ReadPasswordFromStdin("--passphrase-stdin", "passphrase");
    if (!read) return read.error();
    passphrase = std::move(*read);
  } else if (pem->find("ENCRYPTED PRIVATE KEY") != std::string::npos) {
    if (const char* env = std::getenv("KEEPCTL_KEY_PASSPHRASE"); env && *env) {
      passphrase = env;
    } else {
      auto asked = AskPassword("Passphrase for " + file + ": ");
      if (!asked) {
        Failure f = asked.error();
        f.hint = "pass it on stdin with --passphrase-stdin, or in KEEPCTL_KEY_PASSPHRASE";
        return f;
      }
      passphrase = std::move(*asked);
    }
  }
  auto key = ParsePrivateKey(*pem, passphrase);
  if (!key) return Failed("cannot use the key " + file + ": " + key.error().message);
  return *key;
}

// The manifest to sign: the bytes of --manifest-file, else what the registry
// serves, else, for a reference by digest, the digest alone (a manifest not
// pushed yet: a strict namespace takes it only once signed). Its media type
// is then empty and its size 0.
Result<ManifestDescriptor> TargetManifest(const Invocation& inv, AdminClient& client,
                                          const ImageRef& ref) {
  auto file = inv.Value("manifest-file");
  if (!file) {
    auto found = ResolveManifest(client, ref);
    if (found || found.error().http_status != 404 || ref.digest.empty()) return found;
    auto digest = Digest::Parse(ref.digest);
    if (!digest) return Failed(ref.digest + " is not a digest: " + digest.error().message);
    return ManifestDescriptor{*digest, "", 0};
  }
  auto bytes = ReadSmallFile(*file, 4 << 20);
  if (!bytes) return bytes.error();
  json manifest = json::parse(*bytes, nullptr, false);
  if (!manifest.is_object()) {
    return Failed(*file + " is not a manifest: it is not a JSON object");
  }
  Digest digest = Sha256Of(*bytes);
  if (!ref.digest.empty() && ref.digest != digest.str()) {
    return Failed(*file + " has the digest " + digest.str() + ", not " + ref.digest);
  }
  std::string media_type = Text(At(manifest, "mediaType"));
  if (media_type.empty()) media_type = std::string(media::kOciManifest);
  return ManifestDescriptor{digest, media_type, static_cast<std::int64_t>(bytes->size())};
}

std::string NowRfc3339() {
  std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm utc{};
  gmtime_r(&now, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

// The registry's signatures of `digest` (/admin/v1/verify), or nullopt when
// it does not know the manifest yet.
Result<std::optional<json>> SignaturesOf(AdminClient& client, const std::string& repository,
                                         const Digest& digest) {
  auto verification = client.Get("/verify?repository=" + PathSegment(repository) +
                                 "&reference=" + PathSegment(digest.str()));
  if (!verification) {
    if (verification.error().http_status == 404) return std::optional<json>();
    return verification.error();
  }
  const json& signatures = At(*verification, "signatures");
  return std::optional<json>(signatures.is_array() ? signatures : json::array());
}

// True when the registry lists a signature of `digest` by `key_id` in `format`.
Result<bool> HasSignature(AdminClient& client, const std::string& repository,
                          const Digest& digest, const std::string& key_id,
                          const std::string& format) {
  auto signatures = SignaturesOf(client, repository, digest);
  if (!signatures) return signatures.error();
  for (const auto& s : signatures->value_or(json::array())) {
    if (Text(At(s, "key_id")) == key_id && Text(At(s, "format")) == format) return true;
  }
  return false;
}

// Fails unless the registry lists a signature of `digest` by `key_id` in
// `format`; passes when it does not know the manifest yet (signed before its
// push).
Result<void> CheckCounted(AdminClient& client, const std::string& repository,
                          const Digest& digest, const std::string& key_id,
                          const std::string& format) {
  auto signatures = SignaturesOf(client, repository, digest);
  if (!signatures) return signatures.error();
  if (!*signatures) return {};
  for (const auto& s : **signatures) {
    if (Text(At(s, "key_id")) == key_id && Text(At(s, "format")) == format &&
        At(s, "revoked") != true) {
      return {};
    }
  }
  const std::string ns(repository.substr(0, repository.find('/')));
  return Failed("the registry did not accept the signature of key " + key_id + " for " +
                    repository + "@" + digest.str() + ": the namespace " + ns +
                    " does not trust it (the signatures there already were kept)",
                "a maintainer of " + ns + " adds the key with `keepctl key add " + ns +
                    " --name NAME --file KEY.pub`");
}

// Pushes a signature manifest; when the registry refuses it as signed by no
// key it trusts, says which key that was and how a maintainer trusts it.
Result<void> PushSignatureManifest(AdminClient& client, const std::string& repository,
                                   const std::string& reference, const std::string& manifest,
                                   const std::string& key_id) {
  auto pushed = PushImageManifest(client, repository, reference, manifest);
  if (pushed || pushed.error().http_status != 403) return pushed;
  Failure f = pushed.error();
  if (f.hint.empty()) {
    const std::string ns(repository.substr(0, repository.find('/')));
    f.hint = "the key used is " + key_id + "; if namespace " + ns +
             " should trust it, a maintainer adds it with `keepctl key add " + ns +
             " --name NAME --file KEY.pub`";
  }
  return f;
}

// cosign v3's format: a sigstore bundle attached as an OCI 1.1 referrer of
// the manifest. Each key's bundle is a referrer of its own.
Result<void> SignWithBundle(const Invocation& inv, AdminClient& client, const ImageRef& ref,
                            const PrivateKey& key, const ManifestDescriptor& target) {
  const std::string& key_id = key.public_key().key_id();
  const std::string signed_name = ref.repository + "@" + target.digest.str();
  json answer = {{"repository", ref.repository}, {"digest", target.digest.str()},
                 {"key_id", key_id}, {"format", std::string(kFormatBundle)}, {"added", true}};
  auto already = HasSignature(client, ref.repository, target.digest, key_id, "sigstore-bundle");
  if (!already) return already.error();
  if (*already) {
    answer["added"] = false;
    Show(inv, answer, [&] {
      std::cout << signed_name << " has a bundle signed with key " << key_id << " already\n";
    });
    return {};
  }
  const std::string statement = MakeSignStatement(target.digest);
  auto signature = keep::Sign(key, DssePae(kInTotoPayloadType, statement));
  if (!signature) return Failed("cannot sign: " + signature.error().message);
  BundleManifest built = BuildBundleManifest(target.digest, target.media_type, target.size,
                                             statement, *signature, key.public_key(),
                                             NowRfc3339());
  KEEPCTL_TRY(PushBlob(client, ref.repository, built.config_digest, built.config));
  KEEPCTL_TRY(PushBlob(client, ref.repository, built.bundle_digest, built.bundle));
  KEEPCTL_TRY(PushSignatureManifest(client, ref.repository, built.manifest_digest.str(),
                                    built.manifest, key_id));
  // An open namespace keeps a referrer whose key it does not trust: say so.
  KEEPCTL_TRY(CheckCounted(client, ref.repository, target.digest, key_id, "sigstore-bundle"));
  answer["referrer"] = built.manifest_digest.str();
  Show(inv, answer, [&] {
    std::cout << "Signed " << signed_name << " with key " << key_id << " (sigstore bundle "
              << built.manifest_digest.str() << ")\n";
  });
  return {};
}

// True when `existing` holds a signature of `payload` by `key` already.
Result<bool> AlreadySigned(const json& existing, const std::string& payload,
                           const PublicKey& key) {
  auto layers = ReadCosignSignatures(existing);
  if (!layers) {
    return Failed("the signature manifest there is not one keepctl can add to: " +
                  layers.error().message);
  }
  const Digest payload_digest = Sha256Of(payload);
  for (const CosignLayer& layer : *layers) {
    if (layer.payload_digest == payload_digest && VerifySignature(key, payload, layer.signature)) {
      return true;
    }
  }
  return false;
}

// `existing` with the signature layer of `built` appended, and a config that
// lists every layer, as cosign writes when it adds a signature.
json AppendLayer(json existing, const CosignManifest& built, std::string& config_bytes,
                 Digest& config_digest) {
  json layer = json::parse(built.manifest)["layers"][0];
  existing["layers"].push_back(layer);
  json config = json::parse(built.config);
  json diff_ids = json::array();
  json history = json::array();
  for (const auto& l : existing["layers"]) {
    diff_ids.push_back(At(l, "digest"));
    history.push_back(config["history"][0]);
  }
  config["rootfs"]["diff_ids"] = diff_ids;
  config["history"] = history;
  config_bytes = config.dump();
  config_digest = Sha256Of(config_bytes);
  existing["config"] = {{"mediaType", std::string(kOciImageConfigMediaType)},
                        {"digest", config_digest.str()},
                        {"size", config_bytes.size()}};
  return existing;
}

std::string Policy(const json& verification) {
  const json& p = At(verification, "policy");
  return "policy: " + Text(At(p, "mode")) + ", threshold " + Text(At(p, "threshold"));
}

}  // namespace

Result<void> Sign(const Invocation& inv) {
  const std::string command = "keepctl sign";
  const std::string key_file = inv.Value("key").value_or("");
  auto client = ConnectSaved(inv);
  if (!client) return client.error();
  auto ref = ParseImageRef(inv.args[0], client->server(), command);
  if (!ref) return ref.error();
  auto key = LoadPrivateKey(inv, key_file);
  if (!key) return key.error();
  const std::string& key_id = key->public_key().key_id();

  const std::string format = inv.Value("format").value_or(std::string(kFormatCosignTag));
  if (format != kFormatCosignTag && format != kFormatBundle) {
    return Usage("--format is " + std::string(kFormatCosignTag) + " or " +
                     std::string(kFormatBundle) + ", not \"" + format + "\"",
                 command);
  }
  auto target = TargetManifest(inv, *client, *ref);
  if (!target) return target.error();
  const Digest* digest = &target->digest;
  if (digest->algorithm() != DigestAlgorithm::kSha256) {
    return Failed("cannot sign " + digest->str() + ": cosign signatures need a sha256 digest");
  }
  if (format == kFormatBundle) {
    if (target->media_type.empty()) {
      return Failed("there is no manifest " + ref->ToString() + " in the registry, and a bundle "
                    "names its subject's media type and size",
                    "sign the digest in the cosign layout (the default --format), give the "
                    "manifest with --manifest-file, or push it first");
    }
    return SignWithBundle(inv, *client, *ref, *key, *target);
  }
  const std::string payload =
      MakeSimpleSigning(RegistryHost(client->server()) + "/" + ref->repository, *digest);
  auto signature = keep::Sign(*key, payload);
  if (!signature) return Failed("cannot sign: " + signature.error().message);

  const std::string tag = CosignSignatureTag(*digest);
  auto existing = GetImageManifest(*client, ref->repository, tag);
  if (!existing) return existing.error();
  const std::string signed_name = ref->repository + "@" + digest->str();
  json answer = {{"repository", ref->repository}, {"digest", digest->str()},
                 {"key_id", key_id}, {"signature_tag", tag}, {"added", true}};
  if (*existing) {
    auto already = AlreadySigned(**existing, payload, key->public_key());
    if (!already) return already.error();
    if (*already) {
      answer["added"] = false;
      Show(inv, answer, [&] {
        std::cout << signed_name << " is signed with key " << key_id << " already\n";
      });
      return {};
    }
  }

  CosignManifest built = BuildCosignManifest(payload, *signature);
  std::string manifest = built.manifest;
  std::string config = built.config;
  Digest config_digest = built.config_digest;
  if (*existing) manifest = AppendLayer(**existing, built, config, config_digest).dump();
  KEEPCTL_TRY(PushBlob(*client, ref->repository, built.payload_digest, built.payload));
  KEEPCTL_TRY(PushBlob(*client, ref->repository, config_digest, config));
  KEEPCTL_TRY(PushSignatureManifest(*client, ref->repository, tag, manifest, key_id));
  // The registry refuses a signature manifest in which no layer verifies; one
  // that held good signatures already passes with ours refused in it.
  if (*existing) KEEPCTL_TRY(CheckCounted(*client, ref->repository, *digest, key_id, "cosign"));
  Show(inv, answer, [&] { std::cout << "Signed " << signed_name << " with key " << key_id << "\n"; });
  return {};
}

Result<void> Verify(const Invocation& inv) {
  auto client = ConnectSaved(inv);
  if (!client) return client.error();
  auto ref = ParseImageRef(inv.args[0], client->server(), "keepctl verify");
  if (!ref) return ref.error();
  auto answer = client->Get("/verify?repository=" + PathSegment(ref->repository) +
                            "&reference=" + PathSegment(ref->reference()));
  if (!answer) return answer.error();
  const bool trusted = At(*answer, "trusted") == true;
  const json& signatures = At(*answer, "signatures");
  Show(inv, *answer, [&] {
    std::cout << "image: " << Text(At(*answer, "repository")) << "@"
              << Text(At(*answer, "digest")) << "\n";
    if (!signatures.is_array() || signatures.empty()) {
      std::cout << "signatures: none\n";
    } else {
      const Column columns[] = {Field("KEY_ID", "key_id"), Field("KEY_NAME", "key_name"),
                                Field("FORMAT", "format"), TimeField("VERIFIED_AT", "verified_at"),
                                Field("REVOKED", "revoked")};
      // One row per key: the server lists a key again for each signature
      // manifest it was seen in (one per `keepctl sign` that added a layer).
      json rows = json::array();
      std::set<std::string> seen;
      for (const auto& s : signatures) {
        if (seen.insert(Text(At(s, "key_id"))).second) rows.push_back(s);
      }
      PrintTable(std::cout, rows, columns);
    }
    std::cout << "trusted: " << (trusted ? "yes" : "no") << " (" << Policy(*answer) << ")\n";
  });
  if (trusted) return {};
  std::set<std::string> signers;
  for (const auto& s : signatures.is_array() ? signatures : json::array()) {
    if (At(s, "revoked") != true) signers.insert(Text(At(s, "key_id")));
  }
  return Failed(ref->ToString() + " is not trusted: signed by " + std::to_string(signers.size()) +
                " trusted key(s); " + Policy(*answer));
}

}  // namespace keep::cli
