// The SQLite implementation of Metadata (storage/metadata.h).
#include "storage/metadata.h"
#include "storage/sqlite.h"

#include <atomic>
#include <chrono>
#include <algorithm>
#include <mutex>
#include <shared_mutex>
#include <unordered_map>

namespace keep {
namespace {

using sqlite::Connection;
using sqlite::SqliteError;

constexpr int kSchemaVersion = 1;

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
  created_at INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS users(
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  password_hash TEXT NOT NULL,
  admin INTEGER NOT NULL,
  disabled INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL);
)sql";

std::int64_t Now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Error DbError(const SqliteError& e) {
  if (e.code == SQLITE_FULL) {
    return Fail(ErrorCode::kInsufficientStorage,
                "the registry's disk is full; ask its operator to free space, then retry");
  }
  return Fail(ErrorCode::kInternal, std::string("metadata database: ") + e.what());
}

// Runs fn, turning SQLite exceptions into an Error.
template <class F>
auto Guard(F&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const SqliteError& e) {
    return DbError(e);
  }
}

constexpr const char* kManifestCols =
    "m.digest, m.media_type, m.size, m.artifact_type, m.subject, m.annotations";

ManifestRecord ReadManifest(sqlite::Stmt& s, const std::string& repo) {
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

class SqliteMetadata final : public Metadata {
 public:
  explicit SqliteMetadata(std::string path)
      : path_(std::move(path)), id_(next_id_.fetch_add(1)), writer_(path_) {
    int version = 0;
    {
      auto s = writer_.Prepare("PRAGMA user_version");
      if (s.Step()) version = static_cast<int>(s.Int(0));
    }
    if (version > kSchemaVersion) {
      throw SqliteError("the metadata database is from a newer Keep (schema " +
                        std::to_string(version) + "); upgrade keepd");
    }
    writer_.Exec("BEGIN IMMEDIATE");
    writer_.Exec(kSchema);
    writer_.Exec(("PRAGMA user_version=" + std::to_string(kSchemaVersion)).c_str());
    writer_.Exec("COMMIT");
  }

  Result<bool> RepoExists(const std::string& repo) override {
    return Guard([&]() -> Result<bool> {
      auto s = Reader().Prepare("SELECT 1 FROM repositories WHERE name=?1");
      s.Bind(1, repo);
      return s.Step();
    });
  }

  Result<std::vector<std::string>> ListRepos(const std::string& after, int limit) override {
    return Guard([&]() -> Result<std::vector<std::string>> {
      auto s = Reader().Prepare(
          "SELECT name FROM repositories WHERE name>?1 ORDER BY name LIMIT ?2");
      s.Bind(1, after).Bind(2, static_cast<std::int64_t>(limit));
      std::vector<std::string> out;
      while (s.Step()) out.push_back(s.Text(0));
      return out;
    });
  }

  Result<void> LinkBlob(const std::string& repo, const std::string& digest,
                        std::int64_t size) override {
    return Write([&](Connection& c) {
      std::int64_t rid = RepoId(c, repo);
      auto s = c.Prepare(
          "INSERT OR IGNORE INTO repo_blobs(repo_id, digest, size, created_at) "
          "VALUES(?1, ?2, ?3, ?4)");
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
      {
        auto s = c.Prepare(
            "INSERT INTO manifests(repo_id, digest, media_type, size, artifact_type, subject, "
            "annotations, created_at) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) "
            "ON CONFLICT(repo_id, digest) DO NOTHING");
        s.Bind(1, rid).Bind(2, m.digest).Bind(3, m.media_type).Bind(4, m.size);
        s.Bind(5, m.artifact_type);
        if (m.subject.empty()) s.BindNull(6); else s.Bind(6, m.subject);
        s.Bind(7, m.annotations_json).Bind(8, now).Run();
      }
      auto add_ref = [&](const std::string& target, std::int64_t kind) {
        auto s = c.Prepare(
            "INSERT OR IGNORE INTO manifest_refs(repo_id, manifest, target, kind) "
            "VALUES(?1, ?2, ?3, ?4)");
        s.Bind(1, rid).Bind(2, m.digest).Bind(3, target).Bind(4, kind).Run();
      };
      for (const auto& b : w.blobs) add_ref(b, 0);
      for (const auto& ch : w.children) add_ref(ch, 1);
      {  // The manifest's own bytes are a blob of the repository too.
        auto s = c.Prepare(
            "INSERT OR IGNORE INTO repo_blobs(repo_id, digest, size, created_at) "
            "VALUES(?1, ?2, ?3, ?4)");
        s.Bind(1, rid).Bind(2, m.digest).Bind(3, m.size).Bind(4, now).Run();
      }
      if (w.tag) {
        auto s = c.Prepare(
            "INSERT INTO tags(repo_id, name, digest, updated_at) VALUES(?1, ?2, ?3, ?4) "
            "ON CONFLICT(repo_id, name) DO UPDATE SET digest=excluded.digest, "
            "updated_at=excluded.updated_at");
        s.Bind(1, rid).Bind(2, *w.tag).Bind(3, m.digest).Bind(4, now).Run();
      }
    });
    if (w.tag) InvalidateTags(m.repo);
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

  Result<void> CreateUpload(const std::string& id, const std::string& repo) override {
    return Write([&](Connection& c) {
      auto s = c.Prepare("INSERT INTO uploads(id, repo, created_at) VALUES(?1, ?2, ?3)");
      s.Bind(1, id).Bind(2, repo).Bind(3, Now()).Run();
    });
  }

  Result<std::optional<UploadRecord>> GetUpload(const std::string& id) override {
    return Guard([&]() -> Result<std::optional<UploadRecord>> {
      auto s = Reader().Prepare("SELECT repo, created_at FROM uploads WHERE id=?1");
      s.Bind(1, id);
      if (!s.Step()) return std::optional<UploadRecord>();
      return std::optional<UploadRecord>(UploadRecord{id, s.Text(0), s.Int(1)});
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

  Result<std::optional<UserRecord>> GetUser(const std::string& name) override {
    return Guard([&]() -> Result<std::optional<UserRecord>> {
      auto s = Reader().Prepare(
          "SELECT id, password_hash, admin, disabled FROM users WHERE name=?1");
      s.Bind(1, name);
      if (!s.Step()) return std::optional<UserRecord>();
      return std::optional<UserRecord>(
          UserRecord{s.Int(0), name, s.Text(1), s.Int(2) != 0, s.Int(3) != 0});
    });
  }

  Result<std::int64_t> CreateUser(const std::string& name, const std::string& hash,
                                  bool admin) override {
    std::int64_t id = 0;
    KEEP_TRY(Write([&](Connection& c) {
      auto s = c.Prepare(
          "INSERT INTO users(name, password_hash, admin, created_at) VALUES(?1, ?2, ?3, ?4)");
      s.Bind(1, name).Bind(2, hash).Bind(3, static_cast<std::int64_t>(admin)).Bind(4, Now()).Run();
      id = sqlite3_last_insert_rowid(c.handle());
    }));
    return id;
  }

  Result<bool> SetPasswordHash(const std::string& name, const std::string& hash) override {
    bool changed = false;
    KEEP_TRY(Write([&](Connection& c) {
      auto s = c.Prepare("UPDATE users SET password_hash=?2 WHERE name=?1");
      s.Bind(1, name).Bind(2, hash).Run();
      changed = c.Changes() > 0;
    }));
    return changed;
  }

  Result<std::int64_t> CountUsers() override {
    return Guard([&]() -> Result<std::int64_t> {
      auto s = Reader().Prepare("SELECT count(*) FROM users");
      return s.Step() ? s.Int(0) : 0;
    });
  }

 private:
  // The calling thread's read connection to this database.
  Connection& Reader() {
    thread_local std::unordered_map<std::uint64_t, std::unique_ptr<Connection>> conns;
    auto& c = conns[id_];
    if (!c) c = std::make_unique<Connection>(path_);
    return *c;
  }

  // One short write transaction; rolled back if fn throws.
  template <class F>
  Result<void> Write(F&& fn) {
    std::lock_guard lock(write_mu_);
    try {
      writer_.Exec("BEGIN IMMEDIATE");
      try {
        fn(writer_);
        writer_.Exec("COMMIT");
      } catch (...) {
        // On a full disk SQLite has rolled back already; the first error is the one to report.
        if (writer_.InTransaction()) writer_.Exec("ROLLBACK");
        throw;
      }
    } catch (const SqliteError& e) {
      return DbError(e);
    }
    return {};
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
    auto s = c.Prepare("INSERT INTO repositories(name, created_at) VALUES(?1, ?2)");
    s.Bind(1, repo).Bind(2, Now()).Run();
    return sqlite3_last_insert_rowid(c.handle());
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

  static inline std::atomic<std::uint64_t> next_id_{1};
  std::string path_;
  std::uint64_t id_;
  std::mutex write_mu_;
  Connection writer_;  // GUARDED_BY(write_mu_)
  static constexpr std::size_t kMaxCachedRepos = 1024;
  std::shared_mutex tags_mu_;
  std::unordered_map<std::string, TagList> tags_cache_;  // GUARDED_BY(tags_mu_)
  std::atomic<std::uint64_t> tags_generation_{0};
};

}  // namespace

Result<std::unique_ptr<Metadata>> OpenSqliteMetadata(const std::string& path) {
  try {
    return std::unique_ptr<Metadata>(new SqliteMetadata(path));
  } catch (const SqliteError& e) {
    return DbError(e);
  }
}

}  // namespace keep
