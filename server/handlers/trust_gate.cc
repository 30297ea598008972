// The trust layer on the request path: which manifests and blobs a caller
// may be served (only trusted ones, unless they may push to the repository
// or the namespace is open), and the check of signatures as they are pushed.
#include "server/handlers/trust_gate.h"

#include "core/clock.h"
#include "core/metrics.h"
#include "mirror/service.h"
#include "mirror/vetting.h"
#include "trust/trust.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>

namespace keep::server::handlers {
namespace {

std::string SignHint(const std::string& repo, const std::string& digest) {
  return "sign it with `keepctl sign " + repo + "@" + digest +
         " --key KEY` (or cosign sign --key) using a key the namespace trusts";
}

}  // namespace

Result<TrustPolicy> PolicyOf(Metadata& md, const std::string& repo) {
  // AccessIn reads the policy with the namespace row (the default when none),
  // without GetNamespace's count of its repositories.
  auto standing = md.AccessIn(std::string(NamespaceOf(repo)), 0);
  if (!standing) return standing.error();
  return standing->policy;
}

namespace {

// What `who` sees of `repo`: everything (no threshold), and why, or only
// what meets the threshold.
struct View {
  std::optional<std::int64_t> threshold;
  metrics::Trust served_as = metrics::Trust::kServedSigned;
};

Result<View> ViewOf(const Services& svc, const Identity& who, const std::string& repo) {
  // One read: the caller's standing and the policy of the namespace, as
  // authorising this request read them when it did.
  std::string ns(NamespaceOf(repo));
  NamespaceAccess read;
  const NamespaceAccess* standing = who.StandingIn(ns);
  if (standing == nullptr) {
    auto s = svc.metadata.AccessIn(ns, who.id);
    if (!s) return s.error();
    read = std::move(*s);
    standing = &read;
  }
  if (standing->policy.mode == "open") return View{std::nullopt, metrics::Trust::kServedOpen};
  // Publishers see what they pushed, so that signing tools can fetch it.
  if (!PermittedActions(who, Grant{"repository", repo, {"push"}}, *standing).empty()) {
    return View{std::nullopt, metrics::Trust::kServedToPublisher};
  }
  return View{standing->policy.threshold, metrics::Trust::kServedSigned};
}

}  // namespace

Result<std::optional<std::int64_t>> TrustedViewThreshold(const Services& svc, const Identity& who,
                                                         const std::string& repo) {
  auto view = ViewOf(svc, who, repo);
  if (!view) return view.error();
  return view->threshold;
}

namespace {

// A reader is refused content that is not trusted; what the refusal says
// names only what the caller already named (a tag, never its digest), and
// sends them to those who can sign.
Error Withheld(const std::string& what, const std::string& repo, std::int64_t threshold) {
  std::string ns(NamespaceOf(repo));
  return Fail(ErrorCode::kDenied,
              what + " is quarantined: it is not signed by " +
                  (threshold > 1 ? std::to_string(threshold) + " trusted publishers"
                                 : std::string("a trusted publisher")) +
                  " of namespace " + ns + "; ask a publisher or maintainer of " + ns +
                  " to sign it (keepctl sign)");
}

}  // namespace

Result<void> CheckManifestServable(const Services& svc, const Identity& who,
                                   const std::string& repo, const std::string& digest,
                                   std::string_view asked) {
  auto view = ViewOf(svc, who, repo);
  if (!view) return view.error();
  const auto& threshold = view->threshold;
  if (!threshold) {
    metrics::CountTrust(view->served_as);
    return {};
  }
  auto trusted = svc.metadata.IsTrusted(repo, digest, *threshold);
  if (!trusted) return trusted.error();
  metrics::CountTrust(*trusted ? metrics::Trust::kServedSigned : metrics::Trust::kUnsignedManifest);
  if (*trusted) return {};
  // A tag has no ':', a digest always has one.
  std::string what = "manifest " + repo + (asked.empty() || asked.find(':') != asked.npos
                                               ? "@" + digest
                                               : ":" + std::string(asked));
  return Withheld(what, repo, *threshold);
}

Result<void> CheckPendingServable(const Services& svc, const Identity& who, const std::string& repo,
                                  std::string_view what) {
  auto view = ViewOf(svc, who, repo);
  if (!view) return view.error();
  const auto& threshold = view->threshold;
  if (!threshold) {
    metrics::CountTrust(view->served_as);
    return {};
  }
  if (*threshold <= 1) {
    auto keys = svc.metadata.ListKeys(std::string(NamespaceOf(repo)));
    if (!keys) return keys.error();
    const std::string& curator = svc.mirrors.curator().public_key().key_id();
    for (const auto& k : *keys) {
      if (k.key_id == curator && !k.revoked) {
        metrics::CountTrust(metrics::Trust::kServedMirrorVetted);
        return {};
      }
    }
  }
  metrics::CountTrust(metrics::Trust::kUnsignedManifest);
  return Withheld(std::string(what), repo, *threshold);
}

Error RefusedPull(const Exchange& ex, const std::string& target, Error refusal) {
  if (refusal.code != ErrorCode::kDenied) return refusal;
  AuditEvent event = AuditBy(ex, "pull.refused", std::string(NamespaceOf(ex.params.name)), target);
  event.outcome = "refused";
  event.details = {{"event", "pull refused"}, {"reason", refusal.message}};
  Audit(std::move(event));
  return refusal;
}

Result<void> CheckBlobServable(const Services& svc, const Identity& who, const std::string& repo,
                               const std::string& digest) {
  auto view = ViewOf(svc, who, repo);
  if (!view) return view.error();
  if (!view->threshold) {
    metrics::CountTrust(view->served_as);
    return {};
  }
  auto ok = svc.metadata.IsServableBlob(repo, digest, *view->threshold);
  if (!ok) return ok.error();
  metrics::CountTrust(*ok ? metrics::Trust::kServedSigned : metrics::Trust::kUnsignedBlob);
  if (*ok) return {};
  return Fail(ErrorCode::kDenied,
              "blob " + digest + " of " + repo +
                  " belongs to no manifest signed by a trusted publisher of namespace " +
                  std::string(NamespaceOf(repo)) + "; it is quarantined with its image");
}

Result<bool> HasServableContent(const Services& svc, const Identity& who,
                                const std::string& repo) {
  auto threshold = TrustedViewThreshold(svc, who, repo);
  if (!threshold) return threshold.error();
  if (!*threshold) return true;
  return svc.metadata.HasTrusted(repo, **threshold);
}

Result<KeylessIdentity> KeylessIdentityOf(const TrustedIdentityRecord& r) {
  KeylessIdentity id{r.name, r.issuer, r.subject, r.subject_regex, {}, nullptr};
  auto extensions = nlohmann::json::parse(r.extensions_json, nullptr, false);
  if (!extensions.is_object()) {
    return Fail(ErrorCode::kInternal, "the stored extensions of identity " + r.name +
                                          " of namespace " + r.ns + " are not a JSON object");
  }
  for (const auto& [name, value] : extensions.items()) {
    if (!value.is_string()) {
      return Fail(ErrorCode::kInternal, "the stored extension " + name + " of identity " + r.name +
                                            " of namespace " + r.ns + " is not a string");
    }
    id.extensions.emplace(name, value.get<std::string>());
  }
  return id;
}

Result<KeylessTrust> KeylessTrustOf(Metadata& md, const std::string& ns) {
  KeylessTrust out;
  out.now = UnixNow();
  auto identities = md.ListIdentities(ns);
  if (!identities) return identities.error();
  for (const TrustedIdentityRecord& r : *identities) {
    if (r.revoked) continue;
    auto id = KeylessIdentityOf(r);
    if (!id) return id.error();
    out.identities.push_back(std::move(*id));
  }
  auto roots = mirror::InstalledTrustRoots(md);
  if (!roots) return roots.error();
  out.roots = std::move(*roots);
  return out;
}

Result<Incoming> CheckIncoming(const Services& svc, const Identity& who, std::string_view source,
                               const std::string& repo, const std::optional<std::string>& tag,
                               const Digest& digest, std::string_view body,
                               const std::optional<Digest>& subject,
                               bool is_index_child_candidate) {
  auto standing = svc.metadata.AccessIn(std::string(NamespaceOf(repo)), 0);
  if (!standing) return standing.error();
  Incoming incoming{{}, standing->exists, standing->policy};
  std::vector<SignatureRecord>& verified = incoming.signatures;
  const TrustPolicy* policy = &incoming.policy;
  std::optional<Digest> target = tag ? CosignTarget(*tag) : std::nullopt;
  auto manifest = nlohmann::json::parse(body, nullptr, false);
  // The same signature pushed as an OCI 1.1 referrer, or cosign v3's bundle.
  const bool bundle = !target && subject && IsSigstoreBundleManifest(manifest);
  if (!target && subject && (bundle || IsCosignSignatureManifest(manifest))) target = *subject;
  if (target) {
    // A signature artifact's text is read strictly: a member named twice
    // would show readers a value the checks below never saw.
    auto strict = ParseSignatureManifest(body);
    if (!strict) return strict.error();
    manifest = std::move(*strict);
    auto keys = svc.metadata.ListKeys(std::string(NamespaceOf(repo)));
    if (!keys) return keys.error();
    std::vector<PublicKey> trusted;  // the PEM keys (OpenPGP keys sign GPG signatures)
    // The mirror's curator key vouches only for what the mirror synced and
    // signed itself, under the vetting of the rule that brought it: a copy of
    // its signature pushed by anyone counts for nothing, or a push right in
    // one namespace that trusts the curator would turn everything the curator
    // ever signed, under any rule, into a trusted image there.
    const std::string& curator = svc.mirrors.curator().public_key().key_id();
    bool trusts_curator = false;
    for (const auto& k : *keys) {
      if (k.revoked) continue;
      if (k.key_id == curator) {
        trusts_curator = true;
        continue;
      }
      if (auto parsed = ParsePublicKey(k.pem)) trusted.push_back(std::move(*parsed));
    }
    // Keyless signatures: the namespace's identities, under the trust roots.
    auto keyless = KeylessTrustOf(svc.metadata, std::string(NamespaceOf(repo)));
    if (!keyless) return keyless.error();
    auto fetch = [&](const Digest& d) { return svc.blobs.ReadSmall(d, 1 << 20); };
    std::string reasons;
    auto refused = [&](const std::string& why) {
      reasons += (reasons.empty() ? "" : "; ") + why;
    };
    // Why the artifact is to be withheld from readers although it counts:
    // a signature no trusted key verified, or bytes Keep cannot check.
    std::string withheld;
    auto withhold = [&](const std::string& why) {
      withheld += (withheld.empty() ? "" : "; ") + why;
    };
    if (bundle) {
      auto layers = ReadBundleLayers(manifest);
      if (!layers) return layers.error();
      auto verdicts = VerifyBundles(*layers, fetch, *target, repo, trusted, &*keyless);
      // Every bundle must verify, and all be signatures or all attestations:
      // one referrer is one signature (or one attestation).
      bool signatures = false;
      bool attestations = false;
      for (const auto& v : verdicts) {
        metrics::CountSignature(metrics::SignatureFormat::kSigstoreBundle, v.verified);
        if (!v.verified) refused(v.reason);
        (v.is_signature ? signatures : attestations) |= v.verified;
      }
      if (signatures && attestations) {
        return Fail(ErrorCode::kManifestInvalid,
                    "sigstore bundle manifest: it mixes signatures and attestations; push each "
                    "as a referrer of its own");
      }
      if (!reasons.empty()) {
        verdicts.clear();
        withhold(reasons);
      }
      for (const auto& v : verdicts) {
        if (!v.unverified_material.empty()) withhold(v.unverified_material);
        // An attestation (SBOM, provenance) signed by a trusted key is kept
        // and served, but does not count as a signature of its subject.
        const char* format = v.is_signature ? kFormatSigstoreBundle : kFormatSigstoreAttestation;
        for (const auto& key_id : v.key_ids) {
          verified.push_back(
              SignatureRecord{repo, target->str(), key_id, format, digest.str(), 0, "", true});
        }
        if (!v.identity.empty()) {
          verified.push_back(SignatureRecord{repo, target->str(), IdentitySignerId(v.identity),
                                             format, digest.str(), 0, v.trust_root, true});
        }
      }
    } else {
      auto layers = ReadCosignSignatures(manifest);
      if (!layers) return layers.error();
      auto config_digest = CosignConfigDigest(manifest);
      if (!config_digest) return config_digest.error();
      auto config = svc.blobs.ReadSmall(*config_digest, 64 << 10);
      if (!config) return config.error();
      KEEP_TRY(CheckCosignConfig(*config, *layers));
      auto verdicts = VerifyCosign(*layers, fetch, *target, repo, trusted, &*keyless);
      for (const auto& v : verdicts) {
        // A layer by a key this namespace does not trust may stand beside
        // good ones, but every layer must be a signature.
        if (!v.well_formed) {
          return Fail(ErrorCode::kManifestInvalid, "cosign signature manifest: " + v.reason);
        }
      }
      // A layer no trusted key verified may stand beside good ones (cosign
      // appends each signer's layer to the same manifest): the good ones
      // count, but the artifact is withheld from readers.
      for (const auto& v : verdicts) {
        metrics::CountSignature(metrics::SignatureFormat::kCosign, v.verified);
        if (v.verified) {
          const std::string signer = v.identity.empty() ? v.key_id : IdentitySignerId(v.identity);
          verified.push_back(SignatureRecord{repo, target->str(), signer, kFormatCosign,
                                             digest.str(), 0, v.trust_root, true});
        } else {
          refused(v.reason);
          withhold(v.reason);
        }
        if (!v.unverified_material.empty()) withhold(v.unverified_material);
      }
    }
    if (!withheld.empty()) {  // recorded as a mark no key matches (kUnverifiedKeyId)
      verified.push_back(SignatureRecord{repo, target->str(), kUnverifiedKeyId,
                                         bundle ? kFormatSigstoreBundle : kFormatCosign,
                                         digest.str(), 0, "", true});
    }
    const bool any_verified =
        std::any_of(verified.begin(), verified.end(),
                    [](const SignatureRecord& r) { return r.key_id != kUnverifiedKeyId; });
    bool enforce = policy->mode != "open";
    AuditEvent event;
    event.action = any_verified ? "signature.accepted" : "signature.refused";
    event.actor = AuditActor(who.user);
    event.source = std::string(source);
    event.ns = std::string(NamespaceOf(repo));
    event.target = repo + "@" + target->str();
    event.outcome = any_verified ? "ok" : "refused";
    event.details = {
        {"event", !any_verified ? "signature refused" : "signature accepted"},
        {"repository", repo},
        {"signature", digest.str()},
        {"format", bundle ? (verified.empty() ? kFormatSigstoreBundle : verified.front().format)
                          : kFormatCosign},
        {"verified_keys",
         [&] {
           std::vector<std::string> ids;
           for (const auto& s : verified) {
             if (s.key_id != kUnverifiedKeyId) ids.push_back(s.key_id);
           }
           return ids;
         }()},
        {"reasons", reasons},
        {"withheld_from_readers", withheld}};
    Audit(std::move(event));
    metrics::CountTrust(any_verified || !enforce ? metrics::Trust::kSignatureAccepted
                                                 : metrics::Trust::kSignatureRefused);
    if (!any_verified && enforce) {
      std::string why = trusted.empty() && keyless->identities.empty()
                            ? std::string("namespace ") + std::string(NamespaceOf(repo)) +
                                  " trusts no ECDSA or Ed25519 keys and no keyless identities "
                                  "yet; a maintainer adds one with keepctl key add or keepctl "
                                  "identity add"
                            : reasons;
      if (trusts_curator) {
        why +=
            " (the mirror-curator key counts only for what the mirror syncs and signs "
            "itself, never for a signature pushed)";
      }
      return Fail(ErrorCode::kDenied, "signature for " + target->str() + " refused: " + why);
    }
    return incoming;
  }
  if (policy->mode == "strict" && !(is_index_child_candidate && !tag)) {
    auto signed_ok = svc.metadata.IsTrusted(repo, digest.str(), policy->threshold);
    if (!signed_ok) return signed_ok.error();
    if (!*signed_ok) {
      AuditEvent event;
      event.action = "manifest.push";
      event.actor = AuditActor(who.user);
      event.source = std::string(source);
      event.ns = std::string(NamespaceOf(repo));
      event.target = repo + "@" + digest.str();
      event.outcome = "refused";
      event.details = {{"event", "push refused"},
                       {"repository", repo},
                       {"digest", digest.str()},
                       {"reason", "strict mode: not signed"}};
      Audit(std::move(event));
      metrics::CountTrust(metrics::Trust::kStrictUnsigned);
      return Fail(ErrorCode::kDenied,
                  "namespace " + std::string(NamespaceOf(repo)) +
                      " is in strict mode: manifest " + digest.str() +
                      " needs a signature before it is pushed; " + SignHint(repo, digest.str()) +
                      " (keepctl sign --manifest-file signs before the push)");
    }
  }
  return incoming;
}

Result<Reverified> ReverifyUnvouched(const Services& svc) {
  Reverified out;
  Identity keepd;  // who the audit log names for the checks below
  keepd.user = kAuditActorKeepd;
  std::string after_repo, after_signature;
  for (;;) {
    auto page = svc.metadata.UnvouchedSignatures(after_repo, after_signature, 200);
    if (!page) return page.error();
    for (const UnvouchedSignature& u : *page) {
      after_repo = u.repo;
      after_signature = u.signature;
      auto digest = Digest::Parse(u.signature);
      auto target = Digest::Parse(u.target);
      if (!digest || !target) continue;  // not a manifest's record (never keyless)
      auto body = svc.blobs.ReadSmall(*digest, svc.config.max_manifest_bytes);
      auto verified = [&]() -> Result<Incoming> {
        if (!body) return body.error();
        // As it was pushed: a referrer names its subject, cosign's tag layout
        // its target by the tag.
        auto manifest = nlohmann::json::parse(*body, nullptr, false);
        std::optional<Digest> subject;
        if (manifest.is_object() && manifest.contains("subject") &&
            manifest["subject"].is_object() && manifest["subject"].contains("digest") &&
            manifest["subject"]["digest"].is_string()) {
          auto parsed = Digest::Parse(manifest["subject"]["digest"].get<std::string>());
          if (!parsed) return parsed.error();
          subject = *parsed;
        }
        // Pushed at cosign's tag, the tag named the target (a subject, if
        // any, played no part then, and plays none now).
        if (subject && *subject != *target) subject.reset();
        std::optional<std::string> tag;
        if (!subject) tag = CosignSignatureTag(*target);
        return CheckIncoming(svc, keepd, "", u.repo, tag, *digest, *body, subject, false);
      }();
      const bool restored =
          verified && std::any_of(verified->signatures.begin(), verified->signatures.end(),
                                  [](const SignatureRecord& r) { return !r.trust_root.empty(); });
      // One that does not verify now keeps its records: they count for
      // nothing while no installed root vouches for them, and a root put
      // back restores them.
      if (restored)
        KEEP_TRY(svc.metadata.ReplaceSignatureRecords(u.repo, u.signature, verified->signatures));
      ++(restored ? out.restored : out.withdrawn);
      AuditEvent event;
      event.action = restored ? "signature.reverified" : "signature.withdrawn";
      event.ns = std::string(NamespaceOf(u.repo));
      event.target = u.repo + "@" + u.target;
      event.outcome = restored ? "ok" : "withdrawn";
      event.details = {
          {"event", restored ? "keyless signature verified again" : "keyless signature withdrawn"},
          {"repository", u.repo},
          {"signature", u.signature},
          {"reason", verified ? std::string() : verified.error().message}};
      Audit(std::move(event));
    }
    if (page->size() < 200) break;
  }
  return out;
}

}  // namespace keep::server::handlers
