// Metadata (storage/metadata.h) in SQL, on SQLite or PostgreSQL (storage/sql.h).
#include "core/base64.h"
#include "storage/metadata.h"
#include "storage/postgres.h"
#include "storage/replica_locks.h"
#include "storage/sql.h"
#include "storage/sqlite.h"
#include "storage/sqlite_accounts.h"
#include "storage/sqlite_audit.h"
#include "storage/sqlite_gc.h"
#include "storage/sqlite_key_ids.h"
#include "storage/sqlite_mirrors.h"
#include "storage/sqlite_trust.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <mutex>
#include <shared_mutex>
#include <unordered_map>

namespace keep {
namespace {

using sql::Connection;
using sql::DbFailure;
using sql::Guard;
using sql::Now;

// 1: the first release; 2: robot accounts, namespaces and members;
// 3: trust policies, publisher keys and signatures; 4: when a namespace's
// policy last became stricter, and key ids from the key's canonical form
// (storage/sqlite_key_ids.h); 5: mirror rules and their tags; 6: keyless
// identities of namespaces and the trust roots (storage/sqlite_trust.cc);
// 7: the trust root a keyless signature's record names; 8: the audit log
// (storage/sqlite_audit.cc); 9: who started an upload session (its owner),
// for the limits on a user's sessions.
constexpr int kSchemaVersion = 9;

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS repositories(
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  created_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS repo_blobs(
  repo_id INTEGER NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
  digest TEXT NOT NULL,
  size INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY(repo_id, digest)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS manifests(
  repo_id INTEGER NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
  digest TEXT NOT NULL,
  media_type TEXT NOT NULL,
  size INTEGER NOT NULL,
  artifact_type TEXT NOT NULL,
  subject TEXT,
  annotations TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY(repo_id, digest)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS manifests_by_subject ON manifests(repo_id, subject)
  WHERE subject IS NOT NULL;
CREATE TABLE IF NOT EXISTS manifest_refs(
  repo_id INTEGER NOT NULL,
  manifest TEXT NOT NULL,
  target TEXT NOT NULL,
  kind INTEGER NOT NULL, -- 0: blob, 1: child manifest
  PRIMARY KEY(repo_id, manifest, kind, target),
  FOREIGN KEY(repo_id, manifest) REFERENCES manifests(repo_id, digest) ON DELETE CASCADE
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS tags(
  repo_id INTEGER NOT NULL,
  name TEXT NOT NULL,
  digest TEXT NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY(repo_id, name),
  FOREIGN KEY(repo_id, digest) REFERENCES manifests(repo_id, digest) ON DELETE CASCADE
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS uploads(
  id TEXT PRIMARY KEY,
  repo TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  owner TEXT NOT NULL DEFAULT '') WITHOUT ROWID;
)sql";

constexpr const char* kManifestCols =
    "m.digest, m.media_type, m.size, m.artifact_type, m.subject, m.annotations";

ManifestRecord ReadManifest(sql::Stmt& s, const std::string& repo) {
  ManifestRecord r;
  r.repo = repo;
  r.digest = s.Text(0);
  r.media_type = s.Text(1);
  r.size = s.Int(2);
  r.artifact_type = s.Text(3);
  r.subject = s.IsNull(4) ? std::string() : s.Text(4);
  r.annotations_json = s.Text(5);
  return r;
}

class SqlMetadata final : public Metadata {
 public:
  // Opens the tables of `db`, creating or migrating them: SQLite's schema
  // by its user_version here, PostgreSQL's by storage/postgres.h's list.
  SqlMetadata(std::unique_ptr<sql::Database> db, const KeyCanonicalizer& canonical)
      : db_(std::move(db)), accounts_(*db_), trust_(*db_), gc_(*db_), mirrors_(*db_), audit_(*db_),
        locks_(db_->engine() == sql::Engine::kPostgres ? static_cast<postgres::Database*>(db_.get())
                                                       : nullptr) {
    if (db_->engine() == sql::Engine::kPostgres) {
      postgres::Migrate(db_->writer(), static_cast<postgres::Database&>(*db_).schema());
    } else {
      MigrateSqlite(canonical);
    }
  }

  Result<bool> RepoExists(const std::string& repo) override {
    return Guard([&]() -> Result<bool> {
      auto s = Reader().Prepare("SELECT 1 FROM repositories WHERE name=?1");
      s.Bind(1, repo);
      return s.Step();
    });
  }

  Result<std::vector<std::string>> ListRepos(
      const std::string& after, int limit,
      const std::optional<std::vector<std::string>>& namespaces) override {
    return Guard([&]() -> Result<std::vector<std::string>> {
      if (namespaces && namespaces->empty()) return std::vector<std::string>();
      auto s = Reader().Prepare(
          "SELECT name FROM repositories WHERE name>?1 AND (CAST(?3 AS TEXT) IS NULL OR "
          "instr(?3, ',' || substr(name, 1, instr(name || '/', '/') - 1) || ',') > 0) "
          "ORDER BY name LIMIT ?2");
      s.Bind(1, after).Bind(2, static_cast<std::int64_t>(limit));
      if (namespaces) {
        // ",a,b,": namespace names hold no ',' (their grammar).
        std::string list = ",";
        for (const auto& ns : *namespaces) list += ns + ",";
        s.Bind(3, list);
      } else {
        s.BindNull(3);
      }
      std::vector<std::string> out;
      while (s.Step()) out.push_back(s.Text(0));
      return out;
    });
  }

  Result<void> LinkBlob(const std::string& repo, const std::string& digest,
                        std::int64_t size) override {
    return Write([&](Connection& c) {
      std::int64_t rid = RepoId(c, repo);
      // A push renews the link's time: GC's grace counts from the last push.
      auto s = c.Prepare(
          "INSERT INTO repo_blobs(repo_id, digest, size, created_at) VALUES(?1, ?2, ?3, ?4) "
          "ON CONFLICT(repo_id, digest) DO UPDATE SET created_at=excluded.created_at");
      s.Bind(1, rid).Bind(2, digest).Bind(3, size).Bind(4, Now()).Run();
    });
  }

  Result<std::optional<std::int64_t>> LinkedBlobSize(const std::string& repo,
                                                     const std::string& digest) override {
    return Guard([&]() -> Result<std::optional<std::int64_t>> {
      auto s = Reader().Prepare(
          "SELECT b.size FROM repo_blobs b JOIN repositories r ON r.id=b.repo_id "
          "WHERE r.name=?1 AND b.digest=?2");
      s.Bind(1, repo).Bind(2, digest);
      if (!s.Step()) return std::optional<std::int64_t>();
      return std::optional<std::int64_t>(s.Int(0));
    });
  }

  Result<bool> UnlinkBlob(const std::string& repo, const std::string& digest) override {
    bool removed = false;
    KEEP_TRY(Write([&](Connection& c) {
      auto s = c.Prepare(
          "DELETE FROM repo_blobs WHERE digest=?2 AND "
          "repo_id=(SELECT id FROM repositories WHERE name=?1)");
      s.Bind(1, repo).Bind(2, digest).Run();
      removed = c.Changes() > 0;
    }));
    return removed;
  }

  Result<std::vector<std::string>> MissingBlobs(const std::string& repo,
                                                const std::vector<std::string>& digests) override {
    return Missing(repo, digests,
                   "SELECT 1 FROM repo_blobs b JOIN repositories r ON r.id=b.repo_id "
                   "WHERE r.name=?1 AND b.digest=?2");
  }

  Result<std::vector<std::string>> MissingManifests(
      const std::string& repo, const std::vector<std::string>& digests) override {
    return Missing(repo, digests,
                   "SELECT 1 FROM manifests m JOIN repositories r ON r.id=m.repo_id "
                   "WHERE r.name=?1 AND m.digest=?2");
  }

  Result<void> PutManifest(const ManifestWrite& w) override {
    const ManifestRecord& m = w.record;
    auto r = Write([&](Connection& c) {
      std::int64_t rid = RepoId(c, m.repo);
      std::int64_t now = Now();
      CheckReferences(c, rid, w);
      {
        // created_at is the time of the last push (GC's grace for untagged manifests).
        auto s = c.Prepare(
            "INSERT INTO manifests(repo_id, digest, media_type, size, artifact_type, subject, "
            "annotations, created_at) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) "
            "ON CONFLICT(repo_id, digest) DO UPDATE SET created_at=excluded.created_at");
        s.Bind(1, rid).Bind(2, m.digest).Bind(3, m.media_type).Bind(4, m.size);
        s.Bind(5, m.artifact_type);
        if (m.subject.empty()) s.BindNull(6); else s.Bind(6, m.subject);
        s.Bind(7, m.annotations_json).Bind(8, now).Run();
      }
      auto add_ref = [&](const std::string& target, std::int64_t kind) {
        auto s = c.Prepare(
            "INSERT INTO manifest_refs(repo_id, manifest, target, kind) "
            "VALUES(?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING");
        s.Bind(1, rid).Bind(2, m.digest).Bind(3, target).Bind(4, kind).Run();
      };
      for (const auto& b : w.blobs) add_ref(b, 0);
      for (const auto& ch : w.children) add_ref(ch, 1);
      {  // The manifest's own bytes are a blob of the repository too.
        auto s = c.Prepare(
            "INSERT INTO repo_blobs(repo_id, digest, size, created_at) VALUES(?1, ?2, ?3, ?4) "
            "ON CONFLICT(repo_id, digest) DO UPDATE SET created_at=excluded.created_at");
        s.Bind(1, rid).Bind(2, m.digest).Bind(3, m.size).Bind(4, now).Run();
      }
      for (const auto& tag : w.tags) {
        auto s = c.Prepare(
            "INSERT INTO tags(repo_id, name, digest, updated_at) VALUES(?1, ?2, ?3, ?4) "
            "ON CONFLICT(repo_id, name) DO UPDATE SET digest=excluded.digest, "
            "updated_at=excluded.updated_at");
        s.Bind(1, rid).Bind(2, tag).Bind(3, m.digest).Bind(4, now).Run();
      }
      // With the artifact, so that no record outlives it (nor precedes it).
      for (const auto& sig : w.signatures) sql::TrustTables::Record(c, sig);
    });
    if (!w.tags.empty()) InvalidateTags(m.repo);
    return r;
  }

  Result<std::optional<ManifestRecord>> GetManifest(const std::string& repo,
                                                    const std::string& digest) override {
    return Guard([&]() -> Result<std::optional<ManifestRecord>> {
      static const std::string sql = std::string("SELECT ") + kManifestCols +
                                     " FROM manifests m JOIN repositories r ON r.id=m.repo_id "
                                     "WHERE r.name=?1 AND m.digest=?2";
      auto s = Reader().Prepare(sql.c_str());
      s.Bind(1, repo).Bind(2, digest);
      if (!s.Step()) return std::optional<ManifestRecord>();
      return std::optional<ManifestRecord>(ReadManifest(s, repo));
    });
  }

  Result<std::optional<ManifestRecord>> GetTagged(const std::string& repo,
                                                  const std::string& tag) override {
    return Guard([&]() -> Result<std::optional<ManifestRecord>> {
      static const std::string sql =
          std::string("SELECT ") + kManifestCols +
          " FROM tags t JOIN repositories r ON r.id=t.repo_id "
          "JOIN manifests m ON m.repo_id=t.repo_id AND m.digest=t.digest "
          "WHERE r.name=?1 AND t.name=?2";
      auto s = Reader().Prepare(sql.c_str());
      s.Bind(1, repo).Bind(2, tag);
      if (!s.Step()) return std::optional<ManifestRecord>();
      return std::optional<ManifestRecord>(ReadManifest(s, repo));
    });
  }

  Result<bool> DeleteManifest(const std::string& repo, const std::string& digest) override {
    bool removed = false;
    KEEP_TRY(Write([&](Connection& c) {
      auto s = c.Prepare(
          "DELETE FROM manifests WHERE digest=?2 AND "
          "repo_id=(SELECT id FROM repositories WHERE name=?1)");
      s.Bind(1, repo).Bind(2, digest).Run();
      removed = c.Changes() > 0;
    }));
    InvalidateTags(repo);  // its tags went with it
    return removed;
  }

  Result<bool> DeleteTag(const std::string& repo, const std::string& tag) override {
    bool removed = false;
    KEEP_TRY(Write([&](Connection& c) {
      auto s = c.Prepare(
          "DELETE FROM tags WHERE name=?2 AND "
          "repo_id=(SELECT id FROM repositories WHERE name=?1)");
      s.Bind(1, repo).Bind(2, tag).Run();
      removed = c.Changes() > 0;
    }));
    InvalidateTags(repo);
    return removed;
  }

  Result<std::vector<std::string>> ListTags(const std::string& repo, const std::string& after,
                                            int limit) override {
    auto all = AllTags(repo);
    if (!all) return all.error();
    const auto& tags = **all;
    auto it = std::upper_bound(tags.begin(), tags.end(), after);
    auto n = std::min<std::size_t>(static_cast<std::size_t>(std::max(limit, 0)),
                                   static_cast<std::size_t>(tags.end() - it));
    return std::vector<std::string>(it, it + static_cast<std::ptrdiff_t>(n));
  }

  Result<std::vector<ManifestRecord>> Referrers(const std::string& repo,
                                                const std::string& subject) override {
    return Guard([&]() -> Result<std::vector<ManifestRecord>> {
      static const std::string sql = std::string("SELECT ") + kManifestCols +
                                     " FROM manifests m JOIN repositories r ON r.id=m.repo_id "
                                     "WHERE r.name=?1 AND m.subject=?2 ORDER BY m.digest";
      auto s = Reader().Prepare(sql.c_str());
      s.Bind(1, repo).Bind(2, subject);
      std::vector<ManifestRecord> out;
      while (s.Step()) out.push_back(ReadManifest(s, repo));
      return out;
    });
  }

  Result<bool> CreateUpload(const std::string& id, const std::string& repo,
                            const std::string& owner, std::int64_t max_per_owner) override {
    bool created = false;
    KEEP_TRY(Write([&](Connection& c) {
      auto s = c.Prepare(
          "INSERT INTO uploads(id, repo, created_at, owner) SELECT ?1, ?2, ?3, ?4 "
          "WHERE ?5 <= 0 OR (SELECT count(*) FROM uploads WHERE owner=?4) < ?5");
      s.Bind(1, id).Bind(2, repo).Bind(3, Now()).Bind(4, owner).Bind(5, max_per_owner).Run();
      created = c.Changes() > 0;
    }));
    return created;
  }

  Result<std::optional<UploadRecord>> GetUpload(const std::string& id) override {
    return Guard([&]() -> Result<std::optional<UploadRecord>> {
      auto s = Reader().Prepare("SELECT repo, created_at, owner FROM uploads WHERE id=?1");
      s.Bind(1, id);
      if (!s.Step()) return std::optional<UploadRecord>();
      return std::optional<UploadRecord>(UploadRecord{id, s.Text(0), s.Int(1), s.Text(2)});
    });
  }

  Result<std::vector<UploadRecord>> UploadsOf(const std::string& owner) override {
    return Guard([&]() -> Result<std::vector<UploadRecord>> {
      auto s = Reader().Prepare(
          "SELECT id, repo, created_at FROM uploads WHERE owner=?1 ORDER BY created_at, id");
      s.Bind(1, owner);
      std::vector<UploadRecord> out;
      while (s.Step()) out.push_back(UploadRecord{s.Text(0), s.Text(1), s.Int(2), owner});
      return out;
    });
  }

  Result<void> DeleteUpload(const std::string& id) override {
    return Write([&](Connection& c) {
      auto s = c.Prepare("DELETE FROM uploads WHERE id=?1");
      s.Bind(1, id).Run();
    });
  }

  Result<std::vector<std::string>> ExpiredUploads(std::int64_t before) override {
    return Guard([&]() -> Result<std::vector<std::string>> {
      auto s = Reader().Prepare("SELECT id FROM uploads WHERE created_at<?1");
      s.Bind(1, before);
      std::vector<std::string> out;
      while (s.Step()) out.push_back(s.Text(0));
      return out;
    });
  }

  // Accounts: see storage/sqlite_accounts.cc.
  Result<std::optional<UserRecord>> GetUser(const std::string& name) override {
    return accounts_.GetUser(name);
  }
  Result<std::int64_t> CreateUser(const UserRecord& user) override {
    return accounts_.CreateUser(user);
  }
  Result<bool> SetPasswordHash(const std::string& name, const std::string& hash) override {
    return accounts_.SetPasswordHash(name, hash);
  }
  Result<bool> UpdateUser(const std::string& name, std::optional<bool> disabled,
                          std::optional<bool> admin) override {
    return accounts_.UpdateUser(name, disabled, admin);
  }
  Result<std::int64_t> CountUsers() override { return accounts_.CountUsers(); }
  Result<std::vector<UserRecord>> ListUsers() override { return accounts_.ListUsers(); }
  Result<void> CreateRobot(const RobotRecord& robot) override {
    return accounts_.CreateRobot(robot);
  }
  Result<std::vector<RobotRecord>> ListRobots() override { return accounts_.ListRobots(); }
  Result<bool> DeleteRobot(const std::string& name) override {
    return accounts_.DeleteRobot(name);
  }
  Result<void> CreateNamespace(const NamespaceRecord& ns) override {
    return accounts_.CreateNamespace(ns);
  }
  Result<std::optional<NamespaceRecord>> GetNamespace(const std::string& name) override {
    return accounts_.GetNamespace(name);
  }
  Result<std::vector<NamespaceRecord>> ListNamespaces(
      std::optional<std::int64_t> member_id) override {
    return accounts_.ListNamespaces(member_id);
  }
  Result<bool> SetAnonymousPull(const std::string& name, bool on) override {
    return accounts_.SetAnonymousPull(name, on);
  }
  Result<bool> DeleteNamespace(const std::string& name) override {
    return accounts_.DeleteNamespace(name);
  }
  Result<void> SetMember(const std::string& ns, std::int64_t user_id,
                         const std::string& role) override {
    return accounts_.SetMember(ns, user_id, role);
  }
  Result<bool> RemoveMember(const std::string& ns, std::int64_t user_id) override {
    return accounts_.RemoveMember(ns, user_id);
  }
  Result<std::vector<MemberRecord>> ListMembers(const std::string& ns) override {
    return accounts_.ListMembers(ns);
  }
  Result<std::vector<Membership>> MembershipsOf(std::int64_t user_id) override {
    return accounts_.MembershipsOf(user_id);
  }
  Result<NamespaceAccess> AccessIn(const std::string& ns, std::int64_t user_id) override {
    return accounts_.AccessIn(ns, user_id);
  }
  Result<bool> SetPolicy(const std::string& ns, const TrustPolicy& policy) override {
    return accounts_.SetPolicy(ns, policy);
  }

  // Trust: see storage/sqlite_trust.cc.
  Result<void> AddKey(const PublisherKeyRecord& key, const KeyMaterialOf& material_of) override {
    return trust_.AddKey(key, material_of);
  }
  Result<std::optional<PublisherKeyRecord>> GetKey(const std::string& ns,
                                                   const std::string& key_id) override {
    return trust_.GetKey(ns, key_id);
  }
  Result<std::vector<PublisherKeyRecord>> ListKeys(const std::string& ns) override {
    return trust_.ListKeys(ns);
  }
  Result<bool> RevokeKey(const std::string& ns, const std::string& key_id) override {
    return trust_.RevokeKey(ns, key_id);
  }
  Result<void> AddIdentity(const TrustedIdentityRecord& identity) override {
    return trust_.AddIdentity(identity);
  }
  Result<std::optional<TrustedIdentityRecord>> GetIdentity(const std::string& ns,
                                                           const std::string& name) override {
    return trust_.GetIdentity(ns, name);
  }
  Result<std::vector<TrustedIdentityRecord>> ListIdentities(const std::string& ns) override {
    return trust_.ListIdentities(ns);
  }
  Result<bool> RevokeIdentity(const std::string& ns, const std::string& name) override {
    return trust_.RevokeIdentity(ns, name);
  }
  Result<void> SetTrustRoot(const TrustRootRecord& root) override {
    return trust_.SetTrustRoot(root);
  }
  Result<std::vector<TrustRootRecord>> ListTrustRoots() override { return trust_.ListTrustRoots(); }
  Result<bool> DeleteTrustRoot(const std::string& name) override {
    return trust_.DeleteTrustRoot(name);
  }
  Result<std::vector<UnvouchedSignature>> UnvouchedSignatures(const std::string& after_repo,
                                                              const std::string& after_signature,
                                                              std::size_t limit) override {
    return trust_.UnvouchedSignatures(after_repo, after_signature, limit);
  }
  Result<void> ReplaceSignatureRecords(const std::string& repo, const std::string& signature,
                                       const std::vector<SignatureRecord>& records) override {
    return trust_.ReplaceSignatureRecords(repo, signature, records);
  }
  Result<void> StoreSignature(const std::string& repo, const std::string& target,
                              const StoredSignature& signature,
                              const std::optional<SignatureRecord>& verified) override {
    return trust_.StoreSignature(repo, target, signature, verified);
  }
  Result<std::vector<StoredSignature>> StoredSignatures(const std::string& repo,
                                                        const std::string& target) override {
    return trust_.StoredSignatures(repo, target);
  }
  Result<std::vector<SignatureRecord>> SignaturesOf(const std::string& repo,
                                                    const std::string& target) override {
    return trust_.SignaturesOf(repo, target);
  }
  Result<bool> IsTrusted(const std::string& repo, const std::string& digest,
                         std::int64_t threshold) override {
    return trust_.IsTrusted(repo, digest, threshold);
  }
  Result<bool> IsServableBlob(const std::string& repo, const std::string& digest,
                              std::int64_t threshold) override {
    return trust_.IsServableBlob(repo, digest, threshold);
  }
  Result<std::vector<QuarantinedManifest>> Quarantined(const std::string& repo,
                                                       std::int64_t threshold) override {
    return trust_.Quarantined(repo, threshold);
  }
  Result<bool> HasTrusted(const std::string& repo, std::int64_t threshold) override {
    return trust_.HasTrusted(repo, threshold);
  }
  Result<std::vector<std::string>> TrustedTags(const std::string& repo,
                                               std::int64_t threshold) override {
    return trust_.TrustedTags(repo, threshold);
  }
  Result<std::vector<std::string>> TrustedReferrers(const std::string& repo,
                                                    const std::string& subject,
                                                    std::int64_t threshold) override {
    return trust_.TrustedReferrers(repo, subject, threshold);
  }

  // Garbage collection and integrity: see storage/sqlite_gc.cc.
  Result<RepoSweep> SweepRepository(const std::string& repo, const SweepPolicy& policy,
                                    bool dry_run) override {
    auto sweep = gc_.SweepRepository(repo, policy, dry_run);
    // Quarantined manifests past their TTL go with their tags.
    if (sweep && !dry_run && !sweep->manifests.empty()) InvalidateTags(repo);
    return sweep;
  }
  Result<std::int64_t> CountLinks(const std::string& digest) override {
    return gc_.CountLinks(digest);
  }
  Result<std::vector<BlobLink>> ListLinks(const BlobLink& after, int limit) override {
    return gc_.ListLinks(after, limit);
  }
  Result<std::vector<std::string>> DropLinks(const std::string& digest) override {
    return gc_.DropLinks(digest);
  }
  Result<std::vector<ManifestRef>> ManifestRefs(const std::string& repo) override {
    return gc_.ManifestRefs(repo);
  }

  Result<void> AppendAudit(const std::vector<AuditEntry>& entries,
                           std::int64_t coalesce_since_ms) override {
    return audit_.Append(entries, coalesce_since_ms);
  }
  Result<std::vector<AuditEntry>> QueryAudit(const AuditQuery& q) override {
    return audit_.Query(q);
  }
  Result<std::int64_t> PruneAudit(std::int64_t before_ms, std::int64_t keep_at_most) override {
    return audit_.Prune(before_ms, keep_at_most);
  }

  Result<void> CreateMirror(const MirrorRecord& rule) override { return mirrors_.Create(rule); }
  Result<bool> UpdateMirror(const MirrorRecord& rule) override { return mirrors_.Update(rule); }
  Result<std::optional<MirrorRecord>> GetMirror(const std::string& name) override {
    return mirrors_.Get(name);
  }
  Result<std::vector<MirrorRecord>> ListMirrors() override { return mirrors_.List(); }
  Result<bool> DeleteMirror(const std::string& name) override { return mirrors_.Delete(name); }
  Result<void> PutMirrorTag(const MirrorTagRecord& tag) override { return mirrors_.PutTag(tag); }
  Result<std::optional<MirrorTagRecord>> GetMirrorTag(const std::string& rule,
                                                      const std::string& repository,
                                                      const std::string& tag) override {
    return mirrors_.GetTag(rule, repository, tag);
  }
  Result<std::vector<MirrorTagRecord>> MirrorTags(const std::string& rule) override {
    return mirrors_.Tags(rule);
  }

  Result<void> Snapshot(const std::string& path) override {
    // VACUUM INTO reads in one transaction of its own: a consistent copy,
    // with writers going on meanwhile (WAL). Not through the statement cache:
    // a VACUUM is run once.
    if (db_->engine() != sql::Engine::kSqlite) {
      return Fail(ErrorCode::kUnsupported,
                  "keepd backs up a SQLite metadata database only; back up PostgreSQL "
                  "with its own tools (pg_dump, or a replica)");
    }
    return Guard([&]() -> Result<void> {
      sqlite3* handle = Sqlite().Reader().handle();
      sqlite3_stmt* raw = nullptr;
      int rc = sqlite3_prepare_v2(handle, "VACUUM INTO ?1", -1, &raw, nullptr);
      if (rc != SQLITE_OK) throw DbFailure(sqlite3_errmsg(handle), sqlite::FaultOf(rc));
      std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)> stmt(raw, sqlite3_finalize);
      sqlite3_bind_text(raw, 1, path.data(), static_cast<int>(path.size()), SQLITE_TRANSIENT);
      rc = sqlite3_step(raw);
      if (rc != SQLITE_DONE) {
        throw DbFailure(sqlite3_errmsg(handle), sqlite::FaultOf(rc));
      }
      return {};
    });
  }

  Result<std::unique_ptr<ReplicaLock>> LockAcrossReplicas(LockKind kind, const std::string& key,
                                                          bool wait) override {
    return locks_.Lock(kind, key, wait);
  }

  Result<std::string> SharedSecret(const std::string& name, const std::string& offer) override {
    if (db_->engine() != sql::Engine::kPostgres) {
      return Fail(ErrorCode::kUnsupported, "secrets are shared through PostgreSQL only");
    }
    auto stored = Guard([&]() -> Result<std::string> {
      KEEP_TRY(db_->Write([&](Connection& c) {
        auto s = c.Prepare(
            "INSERT INTO secrets(name, value, created_at) VALUES(?1, ?2, ?3) "
            "ON CONFLICT(name) DO NOTHING");
        s.Bind(1, name).Bind(2, EncodeBase64(offer)).Bind(3, Now()).Run();
      }));
      auto s = Reader().Prepare("SELECT value FROM secrets WHERE name=?1");
      s.Bind(1, name);
      if (!s.Step()) throw DbFailure("the secret " + name + " vanished from the database");
      return s.Text(0);
    });
    if (!stored) return stored.error();
    auto bytes = DecodeBase64(*stored);
    if (!bytes) {
      return OperatorFault(ErrorCode::kInternal,
                           "the secret " + name + " in the database's secrets table is damaged");
    }
    return *bytes;
  }

  Result<void> CheckReady() override {
    if (db_->engine() != sql::Engine::kSqlite) {
      return Guard([&]() -> Result<void> {
        auto s = Reader().Prepare("SELECT 1");
        if (!s.Step()) return Fail(ErrorCode::kUnavailable, "the metadata database gave no answer");
        return {};
      });
    }
    const std::string& path = Sqlite().path();
    // SQLite goes on with the files it opened: a database deleted or moved
    // under keepd takes writes that nobody finds again. Checked first, so
    // that no connection is opened (and a new empty database made) at the
    // path while the file is not there.
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0 || !file_ || st.st_dev != file_->dev ||
        st.st_ino != file_->ino) {
      return Fail(ErrorCode::kUnavailable, "the metadata database " + path +
                                               " was moved, replaced or deleted while keepd "
                                               "holds it");
    }
    return Guard([&]() -> Result<void> {
      sqlite::Connection& c = Sqlite().Reader();
      {
        auto s = c.Prepare("SELECT count(*) FROM sqlite_schema");
        if (!s.Step()) return Fail(ErrorCode::kUnavailable, "the metadata database gave no answer");
      }
      // And this thread's connection reads that file, not another.
      int moved = 0;
      if (sqlite3_file_control(c.handle(), "main", SQLITE_FCNTL_HAS_MOVED, &moved) == SQLITE_OK &&
          moved != 0) {
        return Fail(ErrorCode::kUnavailable,
                    "a connection to the metadata database reads a file that is no longer " + path);
      }
      for (const std::string& file : {path, path + "-wal"}) {
        if (::access(file.c_str(), W_OK) == 0) continue;
        int err = errno;
        if (err == ENOENT && file != path) continue;  // no write-ahead log yet
        return Fail(ErrorCode::kUnavailable, file + " is not writable: " + std::strerror(err));
      }
      return {};
    });
  }

  Result<StorageUsage> Usage() override {
    return Guard([&]() -> Result<StorageUsage> {
      StorageUsage u;
      {
        auto s = Reader().Prepare(
            "SELECT COALESCE(SUM(size), 0) FROM (SELECT digest, MAX(size) AS size FROM ("
            "SELECT digest, size FROM repo_blobs UNION ALL SELECT digest, size FROM manifests) "
            "AS links GROUP BY digest) AS stored");
        if (s.Step()) u.stored_bytes = s.Int(0);
      }
      auto s = Reader().Prepare("SELECT count(*) FROM uploads");
      if (s.Step()) u.upload_sessions = s.Int(0);
      return u;
    });
  }

 private:
  Connection& Reader() { return db_->Reader(); }
  template <class F>
  Result<void> Write(F&& fn) {
    return db_->Write(std::forward<F>(fn));
  }

  sqlite::Database& Sqlite() { return static_cast<sqlite::Database&>(*db_); }

  // SQLite's schema, by its user_version; from 0, a new file.
  void MigrateSqlite(const KeyCanonicalizer& canonical) {
    Connection& w = db_->writer();
    struct stat st {};
    if (::stat(Sqlite().path().c_str(), &st) == 0) file_ = FileId{st.st_dev, st.st_ino};
    int version = 0;
    {
      auto s = w.Prepare("PRAGMA user_version");
      if (s.Step()) version = static_cast<int>(s.Int(0));
    }
    if (version > kSchemaVersion) {
      throw DbFailure("the metadata database is from a newer Keep (schema " +
                      std::to_string(version) + "); upgrade keepd");
    }
    w.Exec("BEGIN IMMEDIATE");
    w.Exec(kSchema);
    sql::AccountTables::Migrate(w, version);
    sql::TrustTables::Migrate(w, version);
    if (version > 0 && version < 4) sql::RenameKeysCanonically(w, canonical);
    sql::GcTables::Migrate(w);
    sql::MirrorTables::Migrate(w);
    sql::AuditTables::Migrate(w);
    if (!sqlite::HasColumn(w, "uploads", "owner")) {
      w.Exec("ALTER TABLE uploads ADD COLUMN owner TEXT NOT NULL DEFAULT ''");
    }
    w.Exec("CREATE INDEX IF NOT EXISTS uploads_by_owner ON uploads(owner, created_at)");
    w.Exec(("PRAGMA user_version=" + std::to_string(kSchemaVersion)).c_str());
    w.Exec("COMMIT");
  }

  using TagList = std::shared_ptr<const std::vector<std::string>>;

  // All tags of a repository in byte order (SQLite's BINARY collation, the
  // same as std::string's), from a cache that every tag write invalidates.
  Result<TagList> AllTags(const std::string& repo) {
    {
      std::shared_lock lock(tags_mu_);
      auto it = tags_cache_.find(repo);
      if (it != tags_cache_.end()) return it->second;
    }
    std::uint64_t generation = tags_generation_.load();
    auto loaded = Guard([&]() -> Result<TagList> {
      auto s = Reader().Prepare(
          "SELECT t.name FROM tags t JOIN repositories r ON r.id=t.repo_id "
          "WHERE r.name=?1 ORDER BY t.name");
      s.Bind(1, repo);
      auto tags = std::make_shared<std::vector<std::string>>();
      while (s.Step()) tags->push_back(s.Text(0));
      return TagList(std::move(tags));
    });
    if (!loaded) return loaded.error();
    // On PostgreSQL other keepd replicas write too, unseen here: nothing is
    // cached, so that a moved tag is seen by every replica at once.
    if (db_->engine() == sql::Engine::kPostgres) return *loaded;
    std::unique_lock lock(tags_mu_);
    // A write since the read began may have changed the tags: don't cache then.
    if (tags_generation_.load() == generation) {
      if (tags_cache_.size() >= kMaxCachedRepos) tags_cache_.clear();
      tags_cache_.emplace(repo, *loaded);
    }
    return *loaded;
  }

  // Called after every write that may change a repository's tags.
  void InvalidateTags(const std::string& repo) {
    std::unique_lock lock(tags_mu_);
    tags_generation_.fetch_add(1);
    tags_cache_.erase(repo);
  }

  // REQUIRES: write_mu_ held, inside a transaction.
  static std::int64_t RepoId(Connection& c, const std::string& repo) {
    {
      auto s = c.Prepare("SELECT id FROM repositories WHERE name=?1");
      s.Bind(1, repo);
      if (s.Step()) return s.Int(0);
    }
    auto s = c.Prepare("INSERT INTO repositories(name, created_at) VALUES(?1, ?2) RETURNING id");
    s.Bind(1, repo).Bind(2, Now());
    if (!s.Step()) throw DbFailure("no id for the new repository " + repo);
    return s.Int(0);
  }

  // The manifest's blobs must be linked and its children be manifests of the
  // repository now, inside the write: garbage collection may have removed
  // them since the handler checked. REQUIRES: write_mu_ held, in a transaction.
  static void CheckReferences(Connection& c, std::int64_t rid, const ManifestWrite& w) {
    auto refuse = [&](const std::string& what) {
      throw ErrorException(Fail(ErrorCode::kManifestBlobUnknown,
                                "the manifest references " + what + ", which is not in repository " +
                                    w.record.repo + "; push it first"));
    };
    for (const auto& b : w.blobs) {
      auto s = c.Prepare("SELECT 1 FROM repo_blobs WHERE repo_id=?1 AND digest=?2");
      s.Bind(1, rid).Bind(2, b);
      if (!s.Step()) refuse("blob " + b);
    }
    for (const auto& ch : w.children) {
      auto s = c.Prepare("SELECT 1 FROM manifests WHERE repo_id=?1 AND digest=?2");
      s.Bind(1, rid).Bind(2, ch);
      if (!s.Step()) refuse("manifest " + ch);
    }
  }

  Result<std::vector<std::string>> Missing(const std::string& repo,
                                           const std::vector<std::string>& digests,
                                           const char* sql) {
    return Guard([&]() -> Result<std::vector<std::string>> {
      std::vector<std::string> out;
      for (const auto& d : digests) {
        auto s = Reader().Prepare(sql);
        s.Bind(1, repo).Bind(2, d);
        if (!s.Step()) out.push_back(d);
      }
      return out;
    });
  }

  std::unique_ptr<sql::Database> db_;
  // The database file as opened, for CheckReady.
  struct FileId {
    dev_t dev;
    ino_t ino;
  };
  std::optional<FileId> file_;
  sql::AccountTables accounts_;
  sql::TrustTables trust_;
  sql::GcTables gc_;
  sql::MirrorTables mirrors_;
  sql::AuditTables audit_;
  ReplicaLocks locks_;
  static constexpr std::size_t kMaxCachedRepos = 1024;
  std::shared_mutex tags_mu_;
  std::unordered_map<std::string, TagList> tags_cache_;  // GUARDED_BY(tags_mu_)
  std::atomic<std::uint64_t> tags_generation_{0};
};

}  // namespace

Result<std::unique_ptr<Metadata>> OpenSqliteMetadata(const std::string& path,
                                                     const KeyCanonicalizer& canonical) {
  try {
    return std::unique_ptr<Metadata>(
        new SqlMetadata(std::make_unique<sqlite::Database>(path), canonical));
  } catch (const DbFailure& e) {
    return sql::DbError(e);
  }
}

Result<std::unique_ptr<Metadata>> OpenPostgresMetadata(const PostgresOptions& options) {
  try {
    return std::unique_ptr<Metadata>(
        new SqlMetadata(std::make_unique<postgres::Database>(options), {}));
  } catch (const DbFailure& e) {
    return sql::DbError(e);
  }
}

}  // namespace keep
