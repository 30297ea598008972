// The admin API's trust calls: a namespace's publisher keys and trust
// policy, and what the signatures of a manifest amount to (docs/admin-api.md).
#include "server/handlers/admin_json.h"
#include "server/handlers/trust_gate.h"

#include "trust/trust.h"

#include <set>

namespace keep::server::handlers {
namespace {

using namespace admin;

constexpr std::int64_t kMaxThreshold = 16;
constexpr std::int64_t kMinTtl = 60;
constexpr std::int64_t kMaxTtl = 365 * 24 * 3600;

json KeyJson(const PublisherKeyRecord& k) {
  return {{"key_id", k.key_id},         {"name", k.name},         {"algorithm", k.algorithm},
          {"public_key", k.pem},        {"added_by", k.added_by}, {"added_at", k.added_at},
          {"revoked", k.revoked}};
}

// What a stored key's material is known by, for Metadata::AddKey. A stored
// key that no longer parses verifies nothing, so its key_id is enough.
std::vector<std::string> StoredKeyMaterial(const PublisherKeyRecord& k) {
  auto ids = KeyMaterialIds(k.algorithm, k.pem);
  return ids ? std::move(*ids) : std::vector<std::string>();
}

Result<PublisherKeyRecord> FindKey(Metadata& md, const std::string& ns, const std::string& id) {
  auto key = md.GetKey(ns, id);
  if (!key) return key.error();
  if (!*key) return Fail(ErrorCode::kNotFound, "namespace " + ns + " has no key " + id);
  return std::move(**key);
}

}  // namespace

namespace admin {
json PolicyJson(const TrustPolicy& p) {
  return {{"mode", p.mode}, {"threshold", p.threshold}, {"quarantine_ttl", p.quarantine_ttl}};
}
}  // namespace admin

Awaitable<Result<Reply>> ListKeys(Exchange& ex) {
  auto& md = ex.services().metadata;
  KEEP_CO_TRY(FindNamespace(md, ex.params.name));
  auto keys = md.ListKeys(ex.params.name);
  if (!keys) co_return keys.error();
  json list = json::array();
  for (const auto& k : *keys) list.push_back(KeyJson(k));
  co_return JsonReply(http::status::ok, {{"keys", std::move(list)}});
}

Awaitable<Result<Reply>> AddKey(Exchange& ex) {
  auto& md = ex.services().metadata;
  static constexpr std::string_view kFields[] = {"name", "public_key"};
  auto body = co_await ReadObject(ex, kFields);
  if (!body) co_return body.error();
  auto name = StringField(*body, "name");
  if (!name) co_return name.error();
  auto pem = StringField(*body, "public_key");
  if (!pem) co_return pem.error();
  if (!*name || (*name)->empty() || (*name)->size() > 128) {
    co_return Fail(ErrorCode::kInvalid, "field \"name\" is required (1 to 128 characters)");
  }
  if (!*pem) co_return Fail(ErrorCode::kInvalid, "field \"public_key\" (a PEM public key) is required");
  KEEP_CO_TRY(FindNamespace(md, ex.params.name));
  PublisherKeyRecord rec;
  rec.ns = ex.params.name;
  rec.name = **name;
  rec.added_by = ex.who.user;
  // A key is named by what it is, not how it was written: a PEM key by its
  // canonical form, an OpenPGP key by its primary key's fingerprint (the same
  // whatever the armor, user ids or subkeys). So the same key sent again in
  // any encoding has the id it has already, and AddKey refuses it with 409
  // CONFLICT naming the key the namespace has (revoked or not): one key can
  // neither count twice towards a threshold nor outlive its revocation.
  // Nor can it come back in the other format: a PEM key that is a key of an
  // OpenPGP certificate the namespace has, a certificate holding a PEM key or
  // a subkey of another certificate it has (trust/key_material.h).
  if ((*pem)->find("BEGIN PGP PUBLIC KEY BLOCK") != std::string::npos) {
    // An OpenPGP key, for GPG simple signing.
    auto key = ParseOpenPgpPublicKey(**pem);
    if (!key) co_return key.error();
    rec.key_id = key->fingerprint;
    rec.algorithm = "openpgp-" + key->algorithm;
    rec.pem = key->armored;
  } else {
    auto key = ParsePublicKey(**pem);
    if (!key) co_return key.error();
    rec.key_id = key->key_id();
    rec.algorithm = std::string(key->algorithm());
    rec.pem = key->pem();
  }
  // Its material must be readable (a P-256 or Ed25519 key in a certificate
  // whose point is malformed is refused here, not ignored).
  KEEP_CO_TRY(KeyMaterialIds(rec.algorithm, rec.pem));
  KEEP_CO_TRY(md.AddKey(rec, StoredKeyMaterial));
  AuditEvent event = AuditBy(ex, "key.add", rec.ns, rec.key_id);
  event.details = {{"event", "key added"}, {"key_id", rec.key_id}, {"algorithm", rec.algorithm}};
  Audit(std::move(event));
  auto stored = FindKey(md, rec.ns, rec.key_id);
  if (!stored) co_return stored.error();
  co_return JsonReply(http::status::created, KeyJson(*stored));
}

Awaitable<Result<Reply>> RevokeKey(Exchange& ex) {
  auto& md = ex.services().metadata;
  auto found = md.RevokeKey(ex.params.name, ex.params.reference);
  if (!found) co_return found.error();
  if (!*found) {
    co_return Fail(ErrorCode::kNotFound,
                   "namespace " + ex.params.name + " has no key " + ex.params.reference);
  }
  AuditEvent event = AuditBy(ex, "key.remove", ex.params.name, ex.params.reference);
  event.details = {{"event", "key revoked"}, {"key_id", ex.params.reference}};
  Audit(std::move(event));
  auto key = FindKey(md, ex.params.name, ex.params.reference);
  if (!key) co_return key.error();
  co_return JsonReply(http::status::ok, KeyJson(*key));
}

Awaitable<Result<Reply>> GetPolicy(Exchange& ex) {
  auto ns = FindNamespace(ex.services().metadata, ex.params.name);
  if (!ns) co_return ns.error();
  co_return JsonReply(http::status::ok, PolicyJson(ns->policy));
}

Awaitable<Result<Reply>> SetPolicy(Exchange& ex) {
  auto& md = ex.services().metadata;
  static constexpr std::string_view kFields[] = {"mode", "threshold", "quarantine_ttl"};
  auto body = co_await ReadObject(ex, kFields);
  if (!body) co_return body.error();
  auto ns = FindNamespace(md, ex.params.name);
  if (!ns) co_return ns.error();
  TrustPolicy p = ns->policy;
  auto mode = StringField(*body, "mode");
  if (!mode) co_return mode.error();
  auto threshold = IntField(*body, "threshold");
  if (!threshold) co_return threshold.error();
  auto ttl = IntField(*body, "quarantine_ttl");
  if (!ttl) co_return ttl.error();
  if (*mode) {
    if (**mode != "quarantine" && **mode != "strict" && **mode != "open") {
      co_return Fail(ErrorCode::kInvalid,
                     "field \"mode\" must be \"quarantine\", \"strict\" or \"open\"");
    }
    p.mode = **mode;
  }
  if (*threshold) {
    if (**threshold < 1 || **threshold > kMaxThreshold) {
      co_return Fail(ErrorCode::kInvalid, "field \"threshold\" must be between 1 and 16");
    }
    p.threshold = **threshold;
  }
  if (*ttl) {
    if (**ttl < kMinTtl || **ttl > kMaxTtl) {
      co_return Fail(ErrorCode::kInvalid,
                     "field \"quarantine_ttl\" must be between 60 seconds and 365 days");
    }
    p.quarantine_ttl = **ttl;
  }
  auto found = md.SetPolicy(ex.params.name, p);
  if (!found) co_return found.error();
  AuditEvent event = AuditBy(ex, "policy.set", ex.params.name, ex.params.name);
  event.details = {{"event", "policy set"}, {"policy", PolicyJson(p)}};
  Audit(std::move(event));
  co_return JsonReply(http::status::ok, PolicyJson(p));
}

Awaitable<Result<Reply>> Verify(Exchange& ex) {
  const auto& svc = ex.services();
  auto repo = ex.query("repository");
  auto reference = ex.query("reference");
  if (!repo || !reference) {
    co_return Fail(ErrorCode::kInvalid, "give ?repository=<name>&reference=<tag or digest>");
  }
  KEEP_CO_TRY(ValidateRepoName(*repo));
  KEEP_CO_TRY(Authorize(svc.metadata, ex.who, Access{Action::kPull, *repo}));
  auto ref = Reference::Parse(*reference);
  if (!ref) co_return ref.error();
  auto record = ref->is_digest() ? svc.metadata.GetManifest(*repo, ref->digest().str())
                                 : svc.metadata.GetTagged(*repo, ref->tag());
  if (!record) co_return record.error();
  if (!*record) {
    co_return Fail(ErrorCode::kManifestUnknown,
                   "manifest " + *reference + " is not in repository " + *repo);
  }
  const std::string& digest = (*record)->digest;
  // A reader learns of a manifest what a pull would give them, no more: not
  // the digest behind a quarantined tag, nor who signed it so far.
  KEEP_CO_TRY(CheckManifestServable(svc, ex.who, *repo, digest, *reference));
  auto policy = PolicyOf(svc.metadata, *repo);
  if (!policy) co_return policy.error();
  auto signatures = svc.metadata.SignaturesOf(*repo, digest);
  if (!signatures) co_return signatures.error();
  auto keys = svc.metadata.ListKeys(std::string(NamespaceOf(*repo)));
  if (!keys) co_return keys.error();
  auto identities = svc.metadata.ListIdentities(std::string(NamespaceOf(*repo)));
  if (!identities) co_return identities.error();
  json list = json::array();
  json attestations = json::array();  // verified, but not signatures (trust/sigstore_bundle.h)
  json mirrored = json::array();      // kept by the curated mirror (kFormatMirrored)
  std::set<std::string> seen;  // one entry per key and format: the first such signature
  for (const auto& s : *signatures) {
    if (s.key_id == kUnverifiedKeyId) continue;  // the mark of an artifact withheld
    if (s.format == kFormatSigstoreAttestation) {
      attestations.push_back({{"key_id", s.key_id}, {"manifest", s.signature},
                              {"verified_at", s.verified_at}});
      continue;
    }
    if (s.format == kFormatMirrored) {  // the upstream publisher's, vouched for by the curator
      mirrored.push_back(
          {{"vouched_by", s.key_id}, {"manifest", s.signature}, {"verified_at", s.verified_at}});
      continue;
    }
    if (!seen.insert(s.key_id + " " + s.format).second) continue;
    json entry = {{"key_id", s.key_id},       {"format", s.format},
                  {"signature", s.signature}, {"verified_at", s.verified_at},
                  {"key_name", ""},           {"revoked", true}};
    for (const auto& k : *keys) {
      if (k.key_id == s.key_id) {
        entry["key_name"] = k.name;
        entry["revoked"] = k.revoked;
      }
    }
    for (const auto& id : *identities) {  // a keyless signer: key_name is its name
      if (IdentitySignerId(id.name) == s.key_id) {
        entry["key_name"] = id.name;
        entry["identity"] = {
            {"issuer", id.issuer}, {"subject", id.subject}, {"subject_regex", id.subject_regex}};
        entry["revoked"] = id.revoked;
      }
    }
    if (!s.trust_root.empty()) {  // keyless: the trust root that vouched for it, if still there
      entry["trust_root"] = s.trust_root;
      entry["trust_root_installed"] = s.vouched;
    }
    list.push_back(std::move(entry));
  }
  auto trusted = policy->mode == "open"
                     ? Result<bool>(true)
                     : svc.metadata.IsTrusted(*repo, digest, policy->threshold);
  if (!trusted) co_return trusted.error();
  co_return JsonReply(http::status::ok, {{"repository", *repo},
                                         {"digest", digest},
                                         {"policy", PolicyJson(*policy)},
                                         {"trusted", *trusted},
                                         {"signatures", std::move(list)},
                                         {"attestations", std::move(attestations)},
                                         {"upstream_signatures", std::move(mirrored)}});
}

namespace admin {
Result<json> QuarantineJson(Metadata& md, const NamespaceRecord& ns) {
  json list = json::array();
  if (ns.policy.mode == "open") return list;
  const std::vector<std::string> only{ns.name};
  for (std::string after;;) {
    auto repos = md.ListRepos(after, 500, only);
    if (!repos) return repos.error();
    for (const auto& repo : *repos) {
      auto q = md.Quarantined(repo, ns.policy.threshold);
      if (!q) return q.error();
      for (const auto& m : *q) {
        // GC removes a tagged one a TTL after the later of its push and the
        // moment the policy became stricter.
        list.push_back({{"repository", m.repo},
                        {"digest", m.digest},
                        {"media_type", m.media_type},
                        {"tags", m.tags},
                        {"pushed_at", m.pushed_at},
                        {"expires_at", m.tags.empty()
                                           ? json(nullptr)
                                           : json(std::max(m.pushed_at, ns.policy_since) +
                                                  ns.policy.quarantine_ttl)}});
      }
    }
    if (repos->size() < 500) break;
    after = repos->back();
  }
  return list;
}
}  // namespace admin

Awaitable<Result<Reply>> ListQuarantine(Exchange& ex) {
  const auto& svc = ex.services();
  auto ns = ex.query("namespace");
  if (!ns) co_return Fail(ErrorCode::kInvalid, "give ?namespace=<name>");
  KEEP_CO_TRY(ValidateNamespaceName(*ns));
  KEEP_CO_TRY(Authorize(svc.metadata, ex.who, Access{Action::kMaintain, *ns}));
  auto record = FindNamespace(svc.metadata, *ns);
  if (!record) co_return record.error();
  auto list = QuarantineJson(svc.metadata, *record);
  if (!list) co_return list.error();
  co_return JsonReply(http::status::ok, {{"namespace", *ns},
                                         {"policy", PolicyJson(record->policy)},
                                         {"manifests", std::move(*list)}});
}

Awaitable<Result<Reply>> DropQuarantined(Exchange& ex) {
  const auto& svc = ex.services();
  auto repo = ex.query("repository");
  auto digest = ex.query("digest");
  if (!repo || !digest) co_return Fail(ErrorCode::kInvalid, "give ?repository=<name>&digest=<digest>");
  KEEP_CO_TRY(ValidateRepoName(*repo));
  KEEP_CO_TRY(Digest::Parse(*digest));
  std::string ns(NamespaceOf(*repo));
  KEEP_CO_TRY(Authorize(svc.metadata, ex.who, Access{Action::kMaintain, ns}));
  auto policy = PolicyOf(svc.metadata, *repo);
  if (!policy) co_return policy.error();
  auto trusted = svc.metadata.IsTrusted(*repo, *digest, policy->threshold);
  if (!trusted) co_return trusted.error();
  if (*trusted || policy->mode == "open") {
    co_return Fail(ErrorCode::kConflict, "manifest " + *digest + " of " + *repo +
                                             " is not quarantined; delete it through the "
                                             "registry API if you mean to");
  }
  auto removed = svc.metadata.DeleteManifest(*repo, *digest);
  if (!removed) co_return removed.error();
  if (!*removed) {
    co_return Fail(ErrorCode::kManifestUnknown, "manifest " + *digest + " is not in " + *repo);
  }
  AuditEvent event = AuditBy(ex, "manifest.quarantine_drop", ns, *repo + "@" + *digest);
  event.details = {{"event", "quarantined manifest dropped"}, {"repository", *repo}};
  Audit(std::move(event));
  co_return Reply::Empty(http::status::no_content);
}

}  // namespace keep::server::handlers
