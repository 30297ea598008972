#include "storage/sqlite_trust.h"
#include "storage/sqlite.h"

#include "core/digest.h"
#include "core/names.h"

#include <algorithm>
#include <set>

namespace keep::sql {
namespace {

constexpr const char* kTables = R"sql(
CREATE TABLE IF NOT EXISTS publisher_keys(
  namespace TEXT NOT NULL,
  key_id TEXT NOT NULL,
  name TEXT NOT NULL,
  algorithm TEXT NOT NULL,
  pem TEXT NOT NULL,
  added_by TEXT NOT NULL,
  added_at INTEGER NOT NULL,
  revoked INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY(namespace, key_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS signatures(
  repo_id INTEGER NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
  target TEXT NOT NULL,
  key_id TEXT NOT NULL,
  format TEXT NOT NULL,
  signature TEXT NOT NULL,
  verified_at INTEGER NOT NULL,
  trust_root TEXT NOT NULL DEFAULT '',
  PRIMARY KEY(repo_id, target, key_id, signature)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS stored_signatures(
  repo_id INTEGER NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
  target TEXT NOT NULL,
  name TEXT NOT NULL,
  content TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY(repo_id, target, name)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS signatures_by_artifact ON signatures(repo_id, signature);
-- Schema 6: keyless signers (their signatures are recorded under
-- 'identity:' || name) and the sigstore trust roots they are checked against.
CREATE TABLE IF NOT EXISTS trusted_identities(
  namespace TEXT NOT NULL,
  name TEXT NOT NULL,
  issuer TEXT NOT NULL,
  subject TEXT NOT NULL,
  subject_regex TEXT NOT NULL,
  extensions TEXT NOT NULL,
  added_by TEXT NOT NULL,
  added_at INTEGER NOT NULL,
  revoked INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY(namespace, name)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS trust_roots(
  name TEXT PRIMARY KEY,
  content TEXT NOT NULL,
  added_by TEXT NOT NULL,
  added_at INTEGER NOT NULL,
  digest TEXT NOT NULL DEFAULT '') WITHOUT ROWID;
-- Schema 7: a keyless signature's record names the trust root (by the
-- digest of its text) that vouched for it, and counts only while a root of
-- that digest is installed.
-- A signature artifact's records go with it: deleted through the API,
-- dropped from quarantine or collected, it no longer vouches for anything.
-- (Extension-API signatures are named "<digest>@<id>", never a manifest.)
CREATE TRIGGER IF NOT EXISTS signatures_follow_artifacts AFTER DELETE ON manifests
BEGIN
  DELETE FROM signatures WHERE repo_id=OLD.repo_id AND signature=OLD.digest;
END;
)sql";

// Schema 6 recorded keyless signatures without the trust root that vouched
// for them: each is marked as vouched for by no installed root (it does not
// count) until keepd verifies it again at start (the admin's Reverify).
constexpr const char* kAddSignatureRoot =
    "ALTER TABLE signatures ADD COLUMN trust_root TEXT NOT NULL DEFAULT ''";
constexpr const char* kAddRootDigest =
    "ALTER TABLE trust_roots ADD COLUMN digest TEXT NOT NULL DEFAULT ''";
constexpr const char* kMarkUnvouched =
    "UPDATE signatures SET trust_root='unknown' WHERE key_id LIKE 'identity:%'";

// Schema 3 had no such trigger: the records its deleted artifacts left.
constexpr const char* kMigrateFrom3 = R"sql(
DELETE FROM signatures WHERE format<>'gpg' AND NOT EXISTS (SELECT 1 FROM manifests m
  WHERE m.repo_id=signatures.repo_id AND m.digest=signatures.signature);
)sql";

}  // namespace

void TrustTables::Record(Connection& c, const SignatureRecord& sig) {
  auto s = c.Prepare(
      "INSERT INTO signatures(repo_id, target, key_id, format, signature, verified_at, "
      "trust_root) SELECT id, ?2, ?3, ?4, ?5, ?6, ?7 FROM repositories WHERE name=?1 "
      "ON CONFLICT(repo_id, target, key_id, signature) DO UPDATE SET format=excluded.format, "
      "verified_at=excluded.verified_at, trust_root=excluded.trust_root");
  s.Bind(1, sig.repo).Bind(2, sig.target).Bind(3, sig.key_id).Bind(4, sig.format);
  s.Bind(5, sig.signature).Bind(6, Now()).Bind(7, sig.trust_root).Run();
}

namespace {

// What a reader of repository ?1 may receive, given its namespace ?2 and the
// policy's threshold ?3 (DESIGN.md, "What a caller may receive"), derived
// from recorded verification results only, never from names or tags:
// - live: the namespace's unrevoked signers: its keys, and its keyless
//   identities as IdentitySignerId names them ('identity:' || name);
// - vouched: the signature records whose trust root is installed as it was
//   when it vouched for them (a key's records need none);
// - signed: manifests that at least ?3 distinct live signers signed, by
//   vouched records (attestations do not count);
// - images: those, and the children of a signed index (its platforms);
// - artifacts: signature artifacts (cosign signature manifests, sigstore
//   bundle referrers) of an image, when every signature they hold was
//   verified by a key the namespace still trusts. One that also carries a
//   signature no such key verified (recorded under kUnverifiedKeyId), or
//   one whose trust root is gone, still counts towards its image through the
//   signatures that did verify, but is withheld: its other bytes are
//   nobody's word.
#define KEEP_TRUSTED_CTE                                                                \
  "WITH live(k) AS (SELECT key_id FROM publisher_keys WHERE namespace=?2 AND revoked=0" \
  "  UNION ALL SELECT 'identity:' || name FROM trusted_identities"                      \
  "    WHERE namespace=?2 AND revoked=0),"                                              \
  "vouched(target, key_id, format, signature) AS ("                                     \
  "  SELECT target, key_id, format, signature FROM signatures WHERE repo_id=?1"         \
  "    AND (trust_root='' OR trust_root IN (SELECT digest FROM trust_roots))),"         \
  "signed(d) AS ("                                                                      \
  "  SELECT target FROM vouched"                                                        \
  "    WHERE format NOT IN ('sigstore-attestation', 'mirrored')"                        \
  "    AND key_id IN (SELECT k FROM live)"                                              \
  "    GROUP BY target HAVING count(DISTINCT key_id) >= ?3),"                           \
  "images(d) AS ("                                                                      \
  "  SELECT d FROM signed"                                                              \
  "  UNION SELECT r.target FROM manifest_refs r"                                        \
  "    WHERE r.repo_id=?1 AND r.kind=1 AND r.manifest IN (SELECT d FROM signed)),"      \
  "artifacts(d) AS ("                                                                   \
  "  SELECT signature FROM signatures WHERE repo_id=?1 AND format<>'gpg'"               \
  "    AND target IN (SELECT d FROM images) GROUP BY signature"                         \
  "    HAVING min(CASE WHEN key_id IN (SELECT k FROM live) AND"                         \
  "    (trust_root='' OR trust_root IN (SELECT digest FROM trust_roots))"               \
  "    THEN 1 ELSE 0 END) = 1),"                                                        \
  "trusted(d) AS (SELECT d FROM images UNION SELECT d FROM artifacts) "

std::int64_t RepoIdOf(Database& db, const std::string& repo) {
  auto s = db.Reader().Prepare("SELECT id FROM repositories WHERE name=?1");
  s.Bind(1, repo);
  return s.Step() ? s.Int(0) : 0;
}

}  // namespace

void TrustTables::Migrate(Connection& c, int from) {
  c.Exec(kTables);
  if (from == 3) c.Exec(kMigrateFrom3);
  if (!sqlite::HasColumn(c, "signatures", "trust_root")) {
    c.Exec(kAddSignatureRoot);
    c.Exec(kMarkUnvouched);
  }
  if (!sqlite::HasColumn(c, "trust_roots", "digest")) {
    c.Exec(kAddRootDigest);
    auto s = c.Prepare("SELECT name, content FROM trust_roots");
    std::vector<std::pair<std::string, std::string>> roots;
    while (s.Step()) roots.emplace_back(s.Text(0), s.Text(1));
    for (const auto& [name, content] : roots) {
      auto u = c.Prepare("UPDATE trust_roots SET digest=?2 WHERE name=?1");
      u.Bind(1, name).Bind(2, Sha256Of(content).str()).Run();
    }
  }
}

std::vector<std::string> TrustTables::TrustedSet(Connection& c, std::int64_t repo_id,
                                                 std::string_view ns, std::int64_t threshold) {
  auto s = c.Prepare(KEEP_TRUSTED_CTE "SELECT d FROM trusted");
  s.Bind(1, repo_id).Bind(2, ns).Bind(3, threshold);
  std::vector<std::string> out;
  while (s.Step()) out.push_back(s.Text(0));
  return out;
}

namespace {

PublisherKeyRecord ReadKey(Stmt& s, const std::string& ns) {
  return PublisherKeyRecord{ns,        s.Text(0), s.Text(1), s.Text(2), s.Text(3),
                            s.Text(4), s.Int(5),  s.Int(6) != 0};
}

std::optional<PublisherKeyRecord> KeyOn(Connection& c, const std::string& ns,
                                        const std::string& key_id) {
  auto s = c.Prepare(
      "SELECT key_id, name, algorithm, pem, added_by, added_at, revoked FROM publisher_keys "
      "WHERE namespace=?1 AND key_id=?2");
  s.Bind(1, ns).Bind(2, key_id);
  if (!s.Step()) return std::nullopt;
  return ReadKey(s, ns);
}

std::vector<PublisherKeyRecord> KeysOn(Connection& c, const std::string& ns) {
  auto s = c.Prepare(
      "SELECT key_id, name, algorithm, pem, added_by, added_at, revoked FROM publisher_keys "
      "WHERE namespace=?1 ORDER BY added_at, key_id");
  s.Bind(1, ns);
  std::vector<PublisherKeyRecord> out;
  while (s.Step()) out.push_back(ReadKey(s, ns));
  return out;
}

// Every id `k`'s material is known by: its key_id and what material_of says.
std::set<std::string> MaterialIds(const PublisherKeyRecord& k, const KeyMaterialOf& material_of) {
  std::set<std::string> ids{k.key_id};
  for (auto& id : material_of(k)) ids.insert(std::move(id));
  return ids;
}

// The 409 for adding a key that `existing` holds already (revoked or not),
// `shared` being the material both hold when their ids differ.
[[noreturn]] void RefuseKeyHeld(const std::string& ns, const PublisherKeyRecord& existing,
                                const std::string& shared) {
  const bool same_id = shared.empty();
  std::string what =
      same_id ? "namespace " + ns + " has this key already, as \"" + existing.name +
                    "\" (key id " + existing.key_id + ")"
              : "namespace " + ns + " has this key already, in \"" + existing.name +
                    "\" (key id " + existing.key_id + ", " + existing.algorithm +
                    "), which holds the same key material (material id " + shared + ")";
  std::string why;
  if (existing.revoked) {
    why = ", and it is revoked: a revoked key cannot be trusted again";
    why += same_id ? "" : ", in any format or certificate";
    why += "; give the publisher's new key instead";
  } else if (same_id) {
    why = ": it is trusted already, nothing to add";
  } else {
    why = ": it is trusted already, and one key is one signer whichever format or "
          "certificate it comes in, so it gets no second id";
  }
  throw ErrorException(Fail(ErrorCode::kConflict, what + why));
}

}  // namespace

Result<void> TrustTables::AddKey(const PublisherKeyRecord& k, const KeyMaterialOf& material_of) {
  if (!material_of) return Fail(ErrorCode::kInternal, "AddKey: no KeyMaterialOf given");
  return db_.Write([&](Connection& c) {
    // Key ids come from the key's canonical form (trust/keys.h), so this is
    // the same key however it was encoded this time.
    if (auto existing = KeyOn(c, k.ns, k.key_id)) RefuseKeyHeld(k.ns, *existing, "");
    // And a key under another id may hold the same key material: a PEM key
    // that is a key of an OpenPGP certificate, or two certificates sharing a
    // subkey. Checked here, in the write transaction, so that two adds at
    // once cannot both pass.
    const std::set<std::string> mine = MaterialIds(k, material_of);
    for (const auto& existing : KeysOn(c, k.ns)) {
      for (const auto& id : MaterialIds(existing, material_of)) {
        if (mine.contains(id)) RefuseKeyHeld(k.ns, existing, id);
      }
    }
    auto s = c.Prepare(
        "INSERT INTO publisher_keys(namespace, key_id, name, algorithm, pem, added_by, added_at) "
        "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)");
    s.Bind(1, k.ns).Bind(2, k.key_id).Bind(3, k.name).Bind(4, k.algorithm).Bind(5, k.pem);
    s.Bind(6, k.added_by).Bind(7, Now());
    s.Run();
  });
}

Result<std::optional<PublisherKeyRecord>> TrustTables::GetKey(const std::string& ns,
                                                              const std::string& key_id) {
  return Guard([&]() -> Result<std::optional<PublisherKeyRecord>> {
    return KeyOn(db_.Reader(), ns, key_id);
  });
}

Result<std::vector<PublisherKeyRecord>> TrustTables::ListKeys(const std::string& ns) {
  return Guard(
      [&]() -> Result<std::vector<PublisherKeyRecord>> { return KeysOn(db_.Reader(), ns); });
}

Result<bool> TrustTables::RevokeKey(const std::string& ns, const std::string& key_id) {
  bool found = false;
  KEEP_TRY(db_.Write([&](Connection& c) {
    auto s = c.Prepare("UPDATE publisher_keys SET revoked=1 WHERE namespace=?1 AND key_id=?2");
    s.Bind(1, ns).Bind(2, key_id).Run();
    found = c.Changes() > 0;
    if (found) {  // what the key alone signed is quarantined from now on
      auto t = c.Prepare("UPDATE namespaces SET policy_since=?2 WHERE name=?1");
      t.Bind(1, ns).Bind(2, Now()).Run();
    }
  }));
  return found;
}

namespace {

TrustedIdentityRecord ReadIdentity(Stmt& s, const std::string& ns) {
  return TrustedIdentityRecord{ns,        s.Text(0), s.Text(1), s.Text(2),    s.Text(3),
                               s.Text(4), s.Text(5), s.Int(6),  s.Int(7) != 0};
}

std::optional<TrustedIdentityRecord> IdentityOn(Connection& c, const std::string& ns,
                                                const std::string& name) {
  auto s = c.Prepare(
      "SELECT name, issuer, subject, subject_regex, extensions, added_by, added_at, revoked "
      "FROM trusted_identities WHERE namespace=?1 AND name=?2");
  s.Bind(1, ns).Bind(2, name);
  if (!s.Step()) return std::nullopt;
  return ReadIdentity(s, ns);
}

}  // namespace

Result<void> TrustTables::AddIdentity(const TrustedIdentityRecord& id) {
  return db_.Write([&](Connection& c) {
    if (auto existing = IdentityOn(c, id.ns, id.name)) {
      throw ErrorException(
          Fail(ErrorCode::kConflict,
               "namespace " + id.ns + " has an identity named \"" + id.name + "\" already" +
                   (existing->revoked ? ", and it is revoked: a revoked identity's name cannot be "
                                        "used again (its signatures would count again); choose "
                                        "another name"
                                      : "; remove it first, or choose another name")));
    }
    auto s = c.Prepare(
        "INSERT INTO trusted_identities(namespace, name, issuer, subject, subject_regex, "
        "extensions, added_by, added_at) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
    s.Bind(1, id.ns).Bind(2, id.name).Bind(3, id.issuer).Bind(4, id.subject);
    s.Bind(5, id.subject_regex).Bind(6, id.extensions_json).Bind(7, id.added_by).Bind(8, Now());
    s.Run();
  });
}

Result<std::optional<TrustedIdentityRecord>> TrustTables::GetIdentity(const std::string& ns,
                                                                      const std::string& name) {
  return Guard([&]() -> Result<std::optional<TrustedIdentityRecord>> {
    return IdentityOn(db_.Reader(), ns, name);
  });
}

Result<std::vector<TrustedIdentityRecord>> TrustTables::ListIdentities(const std::string& ns) {
  return Guard([&]() -> Result<std::vector<TrustedIdentityRecord>> {
    auto s = db_.Reader().Prepare(
        "SELECT name, issuer, subject, subject_regex, extensions, added_by, added_at, revoked "
        "FROM trusted_identities WHERE namespace=?1 ORDER BY added_at, name");
    s.Bind(1, ns);
    std::vector<TrustedIdentityRecord> out;
    while (s.Step()) out.push_back(ReadIdentity(s, ns));
    return out;
  });
}

Result<bool> TrustTables::RevokeIdentity(const std::string& ns, const std::string& name) {
  bool found = false;
  KEEP_TRY(db_.Write([&](Connection& c) {
    auto s = c.Prepare(
        "UPDATE trusted_identities SET revoked=1 WHERE namespace=?1 AND name=?2 AND revoked=0");
    s.Bind(1, ns).Bind(2, name).Run();
    const bool revoked_now = c.Changes() > 0;
    found = revoked_now || IdentityOn(c, ns, name).has_value();  // or revoked already
    if (revoked_now) {  // what the identity alone signed is quarantined from now on
      auto t = c.Prepare("UPDATE namespaces SET policy_since=?2 WHERE name=?1");
      t.Bind(1, ns).Bind(2, Now()).Run();
    }
  }));
  return found;
}

Result<void> TrustTables::SetTrustRoot(const TrustRootRecord& root) {
  return db_.Write([&](Connection& c) {
    auto s = c.Prepare(
        "INSERT INTO trust_roots(name, content, added_by, added_at, digest) "
        "VALUES(?1, ?2, ?3, ?4, ?5) ON CONFLICT(name) DO UPDATE SET content=excluded.content, "
        "added_by=excluded.added_by, added_at=excluded.added_at, digest=excluded.digest");
    s.Bind(1, root.name).Bind(2, root.content).Bind(3, root.added_by).Bind(4, Now());
    s.Bind(5, Sha256Of(root.content).str()).Run();
  });
}

Result<std::vector<TrustRootRecord>> TrustTables::ListTrustRoots() {
  return Guard([&]() -> Result<std::vector<TrustRootRecord>> {
    auto s = db_.Reader().Prepare(
        "SELECT name, content, added_by, added_at, digest FROM trust_roots ORDER BY name");
    std::vector<TrustRootRecord> out;
    while (s.Step()) {
      out.push_back(TrustRootRecord{s.Text(0), s.Text(1), s.Text(2), s.Int(3), s.Text(4)});
    }
    return out;
  });
}

Result<bool> TrustTables::DeleteTrustRoot(const std::string& name) {
  bool found = false;
  KEEP_TRY(db_.Write([&](Connection& c) {
    auto s = c.Prepare("DELETE FROM trust_roots WHERE name=?1");
    s.Bind(1, name).Run();
    found = c.Changes() > 0;
  }));
  return found;
}

Result<std::vector<UnvouchedSignature>> TrustTables::UnvouchedSignatures(
    const std::string& after_repo, const std::string& after_signature, std::size_t limit) {
  return Guard([&]() -> Result<std::vector<UnvouchedSignature>> {
    auto s = db_.Reader().Prepare(
        "SELECT r.name, min(s.target), s.signature FROM signatures s JOIN repositories r ON "
        "r.id=s.repo_id WHERE s.trust_root<>'' AND s.trust_root NOT IN (SELECT digest FROM "
        "trust_roots) AND (r.name, s.signature) > (?1, ?2) GROUP BY r.name, s.signature "
        "ORDER BY r.name, s.signature LIMIT ?3");
    s.Bind(1, after_repo).Bind(2, after_signature).Bind(3, static_cast<std::int64_t>(limit));
    std::vector<UnvouchedSignature> out;
    while (s.Step()) out.push_back(UnvouchedSignature{s.Text(0), s.Text(1), s.Text(2)});
    return out;
  });
}

Result<void> TrustTables::ReplaceSignatureRecords(const std::string& repo,
                                                  const std::string& signature,
                                                  const std::vector<SignatureRecord>& records) {
  return db_.Write([&](Connection& c) {
    auto s = c.Prepare(
        "DELETE FROM signatures WHERE signature=?2 AND repo_id=(SELECT id FROM repositories "
        "WHERE name=?1)");
    s.Bind(1, repo).Bind(2, signature).Run();
    // Deleted meanwhile (its records went with it): nothing to record.
    auto exists = c.Prepare(
        "SELECT 1 FROM manifests m JOIN repositories r ON r.id=m.repo_id WHERE r.name=?1 AND "
        "m.digest=?2");
    exists.Bind(1, repo).Bind(2, signature);
    if (!exists.Step()) return;
    for (const auto& r : records) Record(c, r);
  });
}

Result<void> TrustTables::StoreSignature(const std::string& repo, const std::string& target,
                                         const StoredSignature& signature,
                                         const std::optional<SignatureRecord>& verified) {
  return db_.Write([&](Connection& c) {
    {  // The repository exists once something was pushed to it.
      auto s = c.Prepare(
          "INSERT INTO repositories(name, created_at) VALUES(?1, ?2) ON CONFLICT DO NOTHING");
      s.Bind(1, repo).Bind(2, Now()).Run();
    }
    auto s = c.Prepare(
        "INSERT INTO stored_signatures(repo_id, target, name, content, created_at) "
        "SELECT id, ?2, ?3, ?4, ?5 FROM repositories WHERE name=?1 "
        "ON CONFLICT(repo_id, target, name) DO UPDATE SET content=excluded.content, "
        "created_at=excluded.created_at");
    s.Bind(1, repo).Bind(2, target).Bind(3, signature.name).Bind(4, signature.content);
    s.Bind(5, Now()).Run();
    if (verified) Record(c, *verified);
  });
}

Result<std::vector<StoredSignature>> TrustTables::StoredSignatures(const std::string& repo,
                                                                  const std::string& target) {
  return Guard([&]() -> Result<std::vector<StoredSignature>> {
    auto s = db_.Reader().Prepare(
        "SELECT x.name, x.content FROM stored_signatures x JOIN repositories r ON "
        "r.id=x.repo_id WHERE r.name=?1 AND x.target=?2 ORDER BY x.created_at, x.name");
    s.Bind(1, repo).Bind(2, target);
    std::vector<StoredSignature> out;
    while (s.Step()) out.push_back(StoredSignature{s.Text(0), s.Text(1)});
    return out;
  });
}

Result<std::vector<SignatureRecord>> TrustTables::SignaturesOf(const std::string& repo,
                                                               const std::string& target) {
  return Guard([&]() -> Result<std::vector<SignatureRecord>> {
    auto s = db_.Reader().Prepare(
        "SELECT s.key_id, s.format, s.signature, s.verified_at, s.trust_root, "
        "s.trust_root='' OR s.trust_root IN (SELECT digest FROM trust_roots) FROM signatures s "
        "JOIN repositories r ON r.id=s.repo_id WHERE r.name=?1 AND s.target=?2 "
        "ORDER BY s.verified_at, s.key_id");
    s.Bind(1, repo).Bind(2, target);
    std::vector<SignatureRecord> out;
    while (s.Step()) {
      out.push_back(SignatureRecord{repo, target, s.Text(0), s.Text(1), s.Text(2), s.Int(3),
                                    s.Text(4), s.Int(5) != 0});
    }
    return out;
  });
}

Result<bool> TrustTables::IsTrusted(const std::string& repo, const std::string& digest,
                                    std::int64_t threshold) {
  return Guard([&]() -> Result<bool> {
    const std::string ns(NamespaceOf(repo));
    // The common case first: enough live keys signed the manifest itself.
    // This is the CTE's `signed` for one target: its signatures are found by
    // their primary key and each signer is looked up by the keys' and the
    // identities' own (no list of the namespace's live keys is built), so a
    // yes here is the CTE's yes, and anything else is asked of the CTE whole
    // (an index's child, a signature artifact).
    auto direct = db_.Reader().Prepare(
        "SELECT count(DISTINCT s.key_id) FROM repositories r JOIN signatures s ON "
        "s.repo_id=r.id WHERE r.name=?1 AND s.target=?3"
        "  AND s.format NOT IN ('sigstore-attestation', 'mirrored')"
        "  AND (s.trust_root='' OR s.trust_root IN (SELECT digest FROM trust_roots))"
        "  AND (EXISTS (SELECT 1 FROM publisher_keys p"
        "        WHERE p.namespace=?2 AND p.key_id=s.key_id AND p.revoked=0)"
        "    OR (substr(s.key_id, 1, 9)='identity:' AND EXISTS (SELECT 1 FROM trusted_identities t"
        "        WHERE t.namespace=?2 AND t.name=substr(s.key_id, 10) AND t.revoked=0)))");
    direct.Bind(1, repo).Bind(2, ns).Bind(3, digest);
    if (direct.Step() && direct.Int(0) >= std::max<std::int64_t>(threshold, 1)) return true;
    const std::int64_t repo_id = RepoIdOf(db_, repo);
    auto s = db_.Reader().Prepare(KEEP_TRUSTED_CTE "SELECT 1 FROM trusted WHERE d=?4");
    s.Bind(1, repo_id).Bind(2, ns).Bind(3, threshold).Bind(4, digest);
    return s.Step();
  });
}

Result<bool> TrustTables::IsServableBlob(const std::string& repo, const std::string& digest,
                                         std::int64_t threshold) {
  return Guard([&]() -> Result<bool> {
    auto s = db_.Reader().Prepare(
        KEEP_TRUSTED_CTE
        "SELECT 1 FROM trusted WHERE d=?4 UNION ALL "
        "SELECT 1 FROM manifest_refs r WHERE r.repo_id=?1 AND "
        "r.kind=0 AND r.target=?4 AND r.manifest IN (SELECT d FROM trusted) LIMIT 1");
    s.Bind(1, RepoIdOf(db_, repo)).Bind(2, NamespaceOf(repo)).Bind(3, threshold).Bind(4, digest);
    return s.Step();
  });
}

Result<bool> TrustTables::HasTrusted(const std::string& repo, std::int64_t threshold) {
  return Guard([&]() -> Result<bool> {
    auto s = db_.Reader().Prepare(KEEP_TRUSTED_CTE
                                  "SELECT 1 FROM manifests m WHERE m.repo_id=?1 AND "
                                  "m.digest IN (SELECT d FROM trusted) LIMIT 1");
    s.Bind(1, RepoIdOf(db_, repo)).Bind(2, NamespaceOf(repo)).Bind(3, threshold);
    return s.Step();
  });
}

Result<std::vector<std::string>> TrustTables::TrustedTags(const std::string& repo,
                                                          std::int64_t threshold) {
  return Guard([&]() -> Result<std::vector<std::string>> {
    auto s = db_.Reader().Prepare(KEEP_TRUSTED_CTE
                                  "SELECT t.name FROM tags t WHERE t.repo_id=?1 AND "
                                  "t.digest IN (SELECT d FROM trusted) ORDER BY t.name");
    s.Bind(1, RepoIdOf(db_, repo)).Bind(2, NamespaceOf(repo)).Bind(3, threshold);
    std::vector<std::string> out;
    while (s.Step()) out.push_back(s.Text(0));
    return out;
  });
}

Result<std::vector<std::string>> TrustTables::TrustedReferrers(const std::string& repo,
                                                               const std::string& subject,
                                                               std::int64_t threshold) {
  return Guard([&]() -> Result<std::vector<std::string>> {
    auto s = db_.Reader().Prepare(
        KEEP_TRUSTED_CTE
        "SELECT m.digest FROM manifests m WHERE m.repo_id=?1 AND "
        "m.subject=?4 AND m.digest IN (SELECT d FROM trusted) ORDER BY m.digest");
    s.Bind(1, RepoIdOf(db_, repo)).Bind(2, NamespaceOf(repo)).Bind(3, threshold).Bind(4, subject);
    std::vector<std::string> out;
    while (s.Step()) out.push_back(s.Text(0));
    return out;
  });
}

Result<std::vector<QuarantinedManifest>> TrustTables::Quarantined(const std::string& repo,
                                                                 std::int64_t threshold) {
  return Guard([&]() -> Result<std::vector<QuarantinedManifest>> {
    auto s = db_.Reader().Prepare(
        KEEP_TRUSTED_CTE
        "SELECT m.digest, m.media_type, m.created_at, "
        "(SELECT group_concat(t.name, ' ') FROM tags t WHERE "
        "t.repo_id=?1 AND t.digest=m.digest) FROM manifests m "
        "WHERE m.repo_id=?1 AND m.digest NOT IN (SELECT d FROM trusted) AND NOT EXISTS "
        "(SELECT 1 FROM signatures s WHERE s.repo_id=?1 AND "
        "s.signature=m.digest) "
        "ORDER BY m.created_at, m.digest");
    s.Bind(1, RepoIdOf(db_, repo)).Bind(2, NamespaceOf(repo)).Bind(3, threshold);
    std::vector<QuarantinedManifest> out;
    while (s.Step()) {
      QuarantinedManifest q{repo, s.Text(0), s.Text(1), s.Int(2), {}};
      std::string tags = s.Text(3);
      for (std::size_t start = 0; start < tags.size();) {
        auto sp = tags.find(' ', start);
        q.tags.push_back(tags.substr(start, sp == std::string::npos ? sp : sp - start));
        start = sp == std::string::npos ? tags.size() : sp + 1;
      }
      out.push_back(std::move(q));
    }
    return out;
  });
}

#undef KEEP_TRUSTED_CTE

}  // namespace keep::sql
