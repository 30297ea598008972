#include "mirror/vetting.h"

#include "core/audit.h"
#include "mirror/rule.h"
#include "trust/cosign.h"
#include "trust/sigstore_bundle.h"

#include <nlohmann/json.hpp>

#include <map>
#include <optional>

namespace keep::mirror {
namespace {

using nlohmann::json;

// VerifyCosign and VerifyBundles speak of the namespace's keys; here they
// are the rule's.
std::string RuleWords(std::string reason) {
  constexpr std::string_view kNamespace = "any trusted key of the namespace";
  if (auto at = reason.find(kNamespace); at != std::string::npos) {
    reason.replace(at, kNamespace.size(), "any of the rule's keys");
  }
  return reason;
}

class Finder {
 public:
  Finder(Upstream& upstream, const std::string& repo, const Digest& digest,
         const std::vector<PublicKey>& keys, const KeylessTrust* keyless)
      : upstream_(upstream), repo_(repo), digest_(digest), keys_(keys), keyless_(keyless) {}

  // The blobs of one signature manifest, by digest, bounded by their sizes.
  PayloadFetcher Fetcher() {
    return [this](const Digest& d) -> Result<std::string> {
      auto size = sizes_.find(d.str());
      if (size == sizes_.end() || size->second <= 0 || size->second > (1 << 20)) {
        return Fail(ErrorCode::kSizeInvalid, "a signature's blob must be 1 byte to 1 MiB");
      }
      return Blob(d, static_cast<std::uint64_t>(size->second));
    };
  }

  // A small blob of a signature artifact, fetched once; the caller checks
  // its digest (VerifyCosign, VerifyBundles), or Keep checks it (KeepBlob).
  Result<std::string> Blob(const Digest& d, std::uint64_t size) {
    if (auto held = fetched_.find(d.str()); held != fetched_.end()) return held->second;
    std::string bytes;
    KEEP_TRY(upstream_.FetchBlob(repo_, d, size, 0, [&](std::string_view chunk) {
      bytes.append(chunk);
      return Result<void>();
    }));
    fetched_[d.str()] = bytes;
    return bytes;
  }

  // Adds a blob to what is kept, when it is there and matches its digest.
  bool KeepBlob(SignatureFindings& f, const Digest& d, std::uint64_t size) {
    auto bytes = Blob(d, size);
    if (!bytes || bytes->size() != size) return false;
    Hasher h(d.algorithm());
    h.Update(*bytes);
    if (!(h.Finish() == d)) return false;
    f.kept.blobs[d.str()] = std::move(*bytes);
    return true;
  }

  // Keeps a referrer whose every signature verified: its manifest, config
  // and layers (the layers were checked against their digests already).
  void KeepReferrer(SignatureFindings& f, const Digest& digest, const std::string& bytes,
                    const json& manifest) {
    const json& config = manifest.at("config");
    auto config_digest = Digest::Parse(config.value("digest", ""));
    std::int64_t config_size = config.value("size", std::int64_t{-1});
    if (!config_digest || config_size < 0 || config_size > (64 << 10) ||
        !KeepBlob(f, *config_digest, static_cast<std::uint64_t>(config_size))) {
      return;
    }
    for (const auto& layer : manifest.at("layers")) {
      auto d = Digest::Parse(layer.value("digest", ""));
      std::int64_t size = layer.value("size", std::int64_t{-1});
      if (!d || size <= 0 || size > (1 << 20) ||
          !KeepBlob(f, *d, static_cast<std::uint64_t>(size))) {
        return;
      }
    }
    f.kept.referrers.push_back({digest, bytes});
  }

  void Note(SignatureFindings& f, const std::string& why) {
    f.reasons += (f.reasons.empty() ? "" : "; ") + RuleWords(why);
  }

  // A cosign signature manifest: the tag layout, or the referrer form (then
  // `referrer` is its digest and `bytes` its text). A layer is kept when it
  // verified and carries nothing Keep cannot check; a referrer, when all its
  // layers are.
  void Cosign(SignatureFindings& f, const json& manifest, const std::string& what,
              const std::optional<Digest>& referrer = std::nullopt, const std::string& bytes = {}) {
    auto layers = ReadCosignSignatures(manifest);
    if (!layers) return Note(f, what + ": " + layers.error().message);
    for (const auto& l : *layers) sizes_[l.payload_digest.str()] = l.payload_size;
    auto verdicts = VerifyCosign(*layers, Fetcher(), digest_, repo_, keys_, keyless_);
    bool all_kept = !verdicts.empty();
    for (std::size_t i = 0; i < verdicts.size(); ++i) {
      const auto& v = verdicts[i];
      if (v.verified) {
        f.signers.insert(v.identity.empty() ? v.key_id
                                            : std::string(kRuleIdentityPrefix) + v.identity);
      } else {
        Note(f, what + ": " + v.reason);
      }
      const bool keep = v.verified && v.unverified_material.empty();
      all_kept = all_kept && keep;
      if (keep && !referrer &&
          KeepBlob(f, v.payload_digest, static_cast<std::uint64_t>((*layers)[i].payload_size))) {
        f.kept.cosign_layers.push_back(manifest.at("layers").at(i));
      }
    }
    if (referrer && all_kept) KeepReferrer(f, *referrer, bytes, manifest);
  }

  // A sigstore bundle referrer: each bundle must be a signature (cosign's
  // signing statement), not an attestation.
  void Bundles(SignatureFindings& f, const json& manifest, const std::string& what,
               const Digest& referrer, const std::string& bytes) {
    auto layers = ReadBundleLayers(manifest);
    if (!layers) return Note(f, what + ": " + layers.error().message);
    for (const auto& l : *layers) sizes_[l.digest.str()] = l.size;
    auto verdicts = VerifyBundles(*layers, Fetcher(), digest_, repo_, keys_, keyless_);
    bool all_kept = !verdicts.empty();
    for (const auto& v : verdicts) {
      if (v.verified && v.is_signature) {
        f.signers.insert(v.key_ids.begin(), v.key_ids.end());
        if (!v.identity.empty()) f.signers.insert(std::string(kRuleIdentityPrefix) + v.identity);
      } else if (!v.verified) {
        Note(f, what + ": " + v.reason);
      }
      all_kept = all_kept && v.verified && v.is_signature && v.unverified_material.empty();
    }
    if (all_kept) KeepReferrer(f, referrer, bytes, manifest);
  }

  Result<SignatureFindings> Run() {
    SignatureFindings f;
    const std::string tag = CosignSignatureTag(digest_);
    f.where = "tag " + tag + " and the referrers API";
    auto sig = upstream_.GetManifest(repo_, tag, 1 << 20);
    if (sig) {
      f.found_any = true;
      auto manifest = ParseSignatureManifest(sig->bytes);
      if (manifest) {
        Cosign(f, *manifest, "signature " + tag);
      } else {
        Note(f, "signature " + tag + ": " + manifest.error().message);
      }
    } else if (sig.error().code != ErrorCode::kManifestUnknown) {
      return sig.error();
    }

    auto index = upstream_.Referrers(repo_, digest_);
    if (!index) return index.error();
    if (!*index) {
      // An upstream without the referrers API: the spec's fallback, an image
      // index tagged "sha256-<hex>" that the pushing client keeps up to date.
      const std::string fallback = std::string(digest_.algorithm_name()) + "-" + digest_.hex();
      f.where = "tags " + tag + " and " + fallback + " (the upstream has no referrers API)";
      auto tagged = upstream_.GetManifest(repo_, fallback, 1 << 20);
      if (!tagged) {
        if (tagged.error().code == ErrorCode::kManifestUnknown) return f;
        return tagged.error();
      }
      index = std::optional<std::string>(std::move(tagged->bytes));
    }
    auto listed = json::parse(**index, nullptr, false);
    if (!listed.is_object() || !listed.contains("manifests") || !listed["manifests"].is_array()) {
      Note(f, "the upstream's referrers answer is not an image index");
      return f;
    }
    std::size_t examined = 0;
    for (const auto& entry : listed["manifests"]) {
      if (!entry.is_object() || !entry.contains("digest") || !entry["digest"].is_string()) continue;
      // Sigstore bundles and cosign's referrer form announce themselves by
      // their artifactType; a cosign signature pushed without one shows its
      // config's type. Other referrers (SBOMs, attestations) are skipped.
      std::string type = entry.value("artifactType", "");
      bool bundle = IsSigstoreBundleMediaType(type);
      if (!bundle && type != kCosignArtifactSigType && type != kOciImageConfigMediaType) continue;
      if (++examined > kMaxReferrersVetted) break;
      auto d = Digest::Parse(entry["digest"].get<std::string>());
      if (!d) continue;
      const std::string what = "referrer " + d->str();
      auto got = upstream_.GetManifest(repo_, d->str(), 1 << 20);
      if (!got) {
        if (got.error().code == ErrorCode::kUnavailable) return got.error();
        Note(f, what + ": " + got.error().message);
        continue;
      }
      auto manifest = ParseSignatureManifest(got->bytes);
      if (!manifest) {
        Note(f, what + ": " + manifest.error().message);
        continue;
      }
      bundle = bundle || IsSigstoreBundleManifest(*manifest);
      if (!bundle && !IsCosignSignatureManifest(*manifest)) continue;  // an image, not a signature
      f.found_any = true;
      // A referrer counts for the manifest its own subject names, whatever
      // the index said.
      const json* subject = manifest->contains("subject") ? &(*manifest)["subject"] : nullptr;
      if (!subject || !subject->is_object() || subject->value("digest", "") != digest_.str()) {
        Note(f, what + " does not name " + digest_.str() + " as its subject");
        continue;
      }
      if (bundle) {
        Bundles(f, *manifest, what, *d, got->bytes);
      } else {
        Cosign(f, *manifest, what, *d, got->bytes);
      }
    }
    return f;
  }

 private:
  Upstream& upstream_;
  const std::string& repo_;
  const Digest& digest_;
  const std::vector<PublicKey>& keys_;
  const KeylessTrust* keyless_;
  std::map<std::string, std::int64_t> sizes_;
  std::map<std::string, std::string> fetched_;
};

}  // namespace

Result<std::vector<TrustedRoot>> InstalledTrustRoots(Metadata& md) {
  auto records = md.ListTrustRoots();
  if (!records) return records.error();
  std::vector<TrustedRoot> out;
  for (const TrustRootRecord& r : *records) {
    auto root = ParseTrustedRoot(r.content);
    if (!root) {
      AuditEvent event;
      event.action = "trust_root.unusable";
      event.target = r.name;
      event.outcome = "failed";
      event.details = {
          {"event", "trust root unusable"}, {"name", r.name}, {"reason", root.error().message}};
      Audit(std::move(event));
      continue;
    }
    out.push_back(std::move(*root));
  }
  return out;
}

Result<SignatureFindings> FindUpstreamSignatures(Upstream& upstream, const std::string& repo,
                                                 const Digest& digest,
                                                 const std::vector<PublicKey>& keys,
                                                 const KeylessTrust* keyless) {
  if (digest.algorithm() != DigestAlgorithm::kSha256) {
    return Fail(ErrorCode::kDigestInvalid, "the upstream manifest is digested with " +
                                               std::string(digest.algorithm_name()) +
                                               "; signatures are found by sha256 digests");
  }
  return Finder(upstream, repo, digest, keys, keyless).Run();
}

}  // namespace keep::mirror
