#include "storage/sqlite_mirrors.h"

namespace keep::sql {
namespace {

constexpr const char* kTables = R"sql(
CREATE TABLE IF NOT EXISTS mirrors(
  name TEXT PRIMARY KEY,
  spec TEXT NOT NULL,
  sealed TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  created_by TEXT NOT NULL,
  updated_at INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS mirror_tags(
  rule TEXT NOT NULL REFERENCES mirrors(name) ON DELETE CASCADE,
  repository TEXT NOT NULL,
  tag TEXT NOT NULL,
  digest TEXT NOT NULL,
  pending TEXT NOT NULL,
  state TEXT NOT NULL,
  reason TEXT NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY(rule, repository, tag)) WITHOUT ROWID;
)sql";

constexpr const char* kRuleCols = "name, spec, sealed, created_at, created_by, updated_at";
constexpr const char* kTagCols =
    "rule, repository, tag, digest, pending, state, reason, updated_at";

MirrorRecord ReadRule(Stmt& s) {
  return MirrorRecord{s.Text(0), s.Text(1), s.Text(2), s.Int(3), s.Text(4), s.Int(5)};
}

MirrorTagRecord ReadTag(Stmt& s) {
  return MirrorTagRecord{s.Text(0), s.Text(1), s.Text(2), s.Text(3),
                         s.Text(4), s.Text(5), s.Text(6), s.Int(7)};
}

}  // namespace

void MirrorTables::Migrate(Connection& c) { c.Exec(kTables); }

Result<void> MirrorTables::Create(const MirrorRecord& rule) {
  return db_.Write([&](Connection& c) {
    auto s = c.Prepare(
        "INSERT INTO mirrors(name, spec, sealed, created_at, created_by, updated_at) "
        "VALUES(?1, ?2, ?3, ?4, ?5, ?4)");
    s.Bind(1, rule.name).Bind(2, rule.spec).Bind(3, rule.sealed).Bind(4, Now());
    s.Bind(5, rule.created_by);
    try {
      s.Run();
    } catch (const DbFailure& e) {
      if (e.fault != Fault::kConstraint) throw;
      throw ErrorException(
          Fail(ErrorCode::kConflict, "a mirror rule named " + rule.name + " exists"));
    }
  });
}

Result<bool> MirrorTables::Update(const MirrorRecord& rule) {
  bool found = false;
  auto written = db_.Write([&](Connection& c) {
    auto s = c.Prepare("UPDATE mirrors SET spec=?2, sealed=?3, updated_at=?4 WHERE name=?1");
    s.Bind(1, rule.name).Bind(2, rule.spec).Bind(3, rule.sealed).Bind(4, Now());
    s.Run();
    found = c.Changes() > 0;
  });
  if (!written) return written.error();
  return found;
}

Result<std::optional<MirrorRecord>> MirrorTables::Get(const std::string& name) {
  return Guard([&]() -> Result<std::optional<MirrorRecord>> {
    static const std::string sql =
        std::string("SELECT ") + kRuleCols + " FROM mirrors WHERE name=?1";
    auto s = db_.Reader().Prepare(sql.c_str());
    s.Bind(1, name);
    if (!s.Step()) return std::optional<MirrorRecord>();
    return std::optional<MirrorRecord>(ReadRule(s));
  });
}

Result<std::vector<MirrorRecord>> MirrorTables::List() {
  return Guard([&]() -> Result<std::vector<MirrorRecord>> {
    static const std::string sql =
        std::string("SELECT ") + kRuleCols + " FROM mirrors ORDER BY name";
    auto s = db_.Reader().Prepare(sql.c_str());
    std::vector<MirrorRecord> out;
    while (s.Step()) out.push_back(ReadRule(s));
    return out;
  });
}

Result<bool> MirrorTables::Delete(const std::string& name) {
  bool found = false;
  auto written = db_.Write([&](Connection& c) {
    auto tags = c.Prepare("DELETE FROM mirror_tags WHERE rule=?1");
    tags.Bind(1, name);
    tags.Run();
    auto s = c.Prepare("DELETE FROM mirrors WHERE name=?1");
    s.Bind(1, name);
    s.Run();
    found = c.Changes() > 0;
  });
  if (!written) return written.error();
  return found;
}

Result<void> MirrorTables::PutTag(const MirrorTagRecord& t) {
  return db_.Write([&](Connection& c) {
    auto s = c.Prepare(
        "INSERT INTO mirror_tags(rule, repository, tag, digest, pending, state, reason, "
        "updated_at) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) "
        "ON CONFLICT(rule, repository, tag) DO UPDATE SET digest=excluded.digest, "
        "pending=excluded.pending, state=excluded.state, reason=excluded.reason, "
        "updated_at=excluded.updated_at");
    s.Bind(1, t.rule).Bind(2, t.repository).Bind(3, t.tag).Bind(4, t.digest);
    s.Bind(5, t.pending).Bind(6, t.state).Bind(7, t.reason).Bind(8, Now());
    s.Run();
  });
}

Result<std::optional<MirrorTagRecord>> MirrorTables::GetTag(const std::string& rule,
                                                            const std::string& repository,
                                                            const std::string& tag) {
  return Guard([&]() -> Result<std::optional<MirrorTagRecord>> {
    static const std::string sql = std::string("SELECT ") + kTagCols +
                                   " FROM mirror_tags WHERE rule=?1 AND repository=?2 AND tag=?3";
    auto s = db_.Reader().Prepare(sql.c_str());
    s.Bind(1, rule).Bind(2, repository).Bind(3, tag);
    if (!s.Step()) return std::optional<MirrorTagRecord>();
    return std::optional<MirrorTagRecord>(ReadTag(s));
  });
}

Result<std::vector<MirrorTagRecord>> MirrorTables::Tags(const std::string& rule) {
  return Guard([&]() -> Result<std::vector<MirrorTagRecord>> {
    static const std::string sql = std::string("SELECT ") + kTagCols +
                                   " FROM mirror_tags WHERE rule=?1 ORDER BY repository, tag";
    auto s = db_.Reader().Prepare(sql.c_str());
    s.Bind(1, rule);
    std::vector<MirrorTagRecord> out;
    while (s.Step()) out.push_back(ReadTag(s));
    return out;
  });
}

}  // namespace keep::sql
