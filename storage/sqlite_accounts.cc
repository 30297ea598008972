#include "storage/sqlite_accounts.h"
#include "storage/sqlite.h"

#include <sstream>

namespace keep::sql {
namespace {

// Schema 1 had users without the robot columns.
constexpr const char* kTables = R"sql(
CREATE TABLE IF NOT EXISTS users(
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  password_hash TEXT NOT NULL,
  admin INTEGER NOT NULL,
  disabled INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  robot INTEGER NOT NULL DEFAULT 0,
  expires_at INTEGER NOT NULL DEFAULT 0,
  created_by TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS robot_scopes(
  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  namespace TEXT NOT NULL,
  actions TEXT NOT NULL, -- comma-separated: pull,push,delete
  PRIMARY KEY(user_id, namespace)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS namespaces(
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  anonymous_pull INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  created_by TEXT NOT NULL,
  mode TEXT NOT NULL DEFAULT 'quarantine',
  threshold INTEGER NOT NULL DEFAULT 1,
  quarantine_ttl INTEGER NOT NULL DEFAULT 86400,
  policy_since INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS members(
  namespace_id INTEGER NOT NULL REFERENCES namespaces(id) ON DELETE CASCADE,
  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  role TEXT NOT NULL,
  PRIMARY KEY(namespace_id, user_id)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS members_by_user ON members(user_id);
)sql";

constexpr const char* kMigrateFrom1 = R"sql(
ALTER TABLE users ADD COLUMN robot INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN expires_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN created_by TEXT NOT NULL DEFAULT '';
)sql";

// Schema 2 had namespaces without a trust policy: whoever could pull a
// repository was served everything in it. Its namespaces keep that ("open")
// until a maintainer chooses signing; quarantine would hide every image they
// served and, one TTL later, have GC delete them. Namespaces created after
// the upgrade get the default policy (quarantine).
constexpr const char* kMigrateFrom2 = R"sql(
ALTER TABLE namespaces ADD COLUMN mode TEXT NOT NULL DEFAULT 'quarantine';
ALTER TABLE namespaces ADD COLUMN threshold INTEGER NOT NULL DEFAULT 1;
ALTER TABLE namespaces ADD COLUMN quarantine_ttl INTEGER NOT NULL DEFAULT 86400;
UPDATE namespaces SET mode='open';
)sql";

// Schema 3 counted a quarantine TTL from each push alone. The upgrade is
// when the policy took effect as far as GC can know: what was stored before
// gets a whole TTL from now.
constexpr const char* kAddPolicySince =
    "ALTER TABLE namespaces ADD COLUMN policy_since INTEGER NOT NULL DEFAULT 0";
constexpr const char* kMigrateFrom3 =
    "UPDATE namespaces SET policy_since=CAST(strftime('%s', 'now') AS INTEGER)";

constexpr const char* kUserCols =
    "id, name, password_hash, admin, disabled, robot, expires_at, created_at, created_by";

UserRecord ReadUser(Stmt& s) {
  return UserRecord{s.Int(0),      s.Text(1),      s.Text(2), s.Int(3) != 0, s.Int(4) != 0,
                    s.Int(5) != 0, s.Int(6),       s.Int(7),  s.Text(8)};
}

// Repositories of a namespace: the name itself, or names under "<ns>/".
// (Both bounds are in byte order: '/' + 1 == '0'.)
constexpr const char* kRepoCount =
    "(SELECT count(*) FROM repositories r WHERE r.name=n.name OR "
    "(r.name>n.name||'/' AND r.name<n.name||'0'))";

constexpr const char* kNamespaceCols =
    "n.name, n.anonymous_pull, n.created_at, n.created_by, n.mode, n.threshold, "
    "n.quarantine_ttl, n.policy_since, ";

NamespaceRecord ReadNamespace(Stmt& s) {
  return NamespaceRecord{s.Text(0), s.Int(1) != 0, s.Int(2), s.Text(3), s.Int(8),
                         TrustPolicy{s.Text(4), s.Int(5), s.Int(6)}, s.Int(7)};
}

std::string JoinActions(const std::vector<std::string>& actions) {
  std::string out;
  for (const auto& a : actions) out += (out.empty() ? "" : ",") + a;
  return out;
}

std::vector<std::string> SplitActions(const std::string& csv) {
  std::vector<std::string> out;
  std::stringstream in(csv);
  for (std::string a; std::getline(in, a, ',');) {
    if (!a.empty()) out.push_back(a);
  }
  return out;
}

bool IsUniqueViolation(const DbFailure& e) { return e.fault == Fault::kConstraint; }

}  // namespace

void AccountTables::Migrate(Connection& c, int from) {
  if (from == 1) c.Exec(kMigrateFrom1);
  if (from == 2) c.Exec(kMigrateFrom2);
  if (from == 2 || from == 3) {
    if (!sqlite::HasColumn(c, "namespaces", "policy_since")) c.Exec(kAddPolicySince);
    c.Exec(kMigrateFrom3);
  }
  c.Exec(kTables);
}

Result<std::optional<UserRecord>> AccountTables::GetUser(const std::string& name) {
  return Guard([&]() -> Result<std::optional<UserRecord>> {
    static const std::string sql = std::string("SELECT ") + kUserCols + " FROM users WHERE name=?1";
    auto s = db_.Reader().Prepare(sql.c_str());
    s.Bind(1, name);
    if (!s.Step()) return std::optional<UserRecord>();
    return std::optional<UserRecord>(ReadUser(s));
  });
}

Result<std::int64_t> AccountTables::CreateUser(const UserRecord& u) {
  std::int64_t id = 0;
  auto r = db_.Write([&](Connection& c) {
    auto s = c.Prepare(
        "INSERT INTO users(name, password_hash, admin, disabled, robot, expires_at, created_at, "
        "created_by) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) RETURNING id");
    s.Bind(1, u.name).Bind(2, u.password_hash).Bind(3, static_cast<std::int64_t>(u.admin));
    s.Bind(4, static_cast<std::int64_t>(u.disabled)).Bind(5, static_cast<std::int64_t>(u.robot));
    s.Bind(6, u.expires_at).Bind(7, Now()).Bind(8, u.created_by);
    try {
      if (s.Step()) id = s.Int(0);
    } catch (const DbFailure& e) {
      if (!IsUniqueViolation(e)) throw;
      throw ErrorException(Fail(ErrorCode::kConflict, "the name " + u.name + " is taken"));
    }
  });
  if (!r) return r.error();
  return id;
}

Result<bool> AccountTables::SetPasswordHash(const std::string& name, const std::string& hash) {
  bool changed = false;
  KEEP_TRY(db_.Write([&](Connection& c) {
    auto s = c.Prepare("UPDATE users SET password_hash=?2 WHERE name=?1 AND robot=0");
    s.Bind(1, name).Bind(2, hash).Run();
    changed = c.Changes() > 0;
  }));
  return changed;
}

Result<bool> AccountTables::UpdateUser(const std::string& name, std::optional<bool> disabled,
                                       std::optional<bool> admin) {
  bool found = false;
  KEEP_TRY(db_.Write([&](Connection& c) {
    auto s = c.Prepare(
        "UPDATE users SET disabled=coalesce(?2, disabled), admin=coalesce(?3, admin) "
        "WHERE name=?1 AND robot=0");
    s.Bind(1, name);
    if (disabled) s.Bind(2, static_cast<std::int64_t>(*disabled)); else s.BindNull(2);
    if (admin) s.Bind(3, static_cast<std::int64_t>(*admin)); else s.BindNull(3);
    s.Run();
    found = c.Changes() > 0;
  }));
  return found;
}

Result<std::int64_t> AccountTables::CountUsers() {
  return Guard([&]() -> Result<std::int64_t> {
    auto s = db_.Reader().Prepare("SELECT count(*) FROM users WHERE robot=0");
    return s.Step() ? s.Int(0) : 0;
  });
}

Result<std::vector<UserRecord>> AccountTables::ListUsers() {
  return Guard([&]() -> Result<std::vector<UserRecord>> {
    static const std::string sql =
        std::string("SELECT ") + kUserCols + " FROM users WHERE robot=0 ORDER BY name";
    auto s = db_.Reader().Prepare(sql.c_str());
    std::vector<UserRecord> out;
    while (s.Step()) out.push_back(ReadUser(s));
    return out;
  });
}

Result<void> AccountTables::CreateRobot(const RobotRecord& robot) {
  return db_.Write([&](Connection& c) {
    const UserRecord& u = robot.account;
    auto s = c.Prepare(
        "INSERT INTO users(name, password_hash, admin, disabled, robot, expires_at, created_at, "
        "created_by) VALUES(?1, ?2, 0, 0, 1, ?3, ?4, ?5) RETURNING id");
    s.Bind(1, u.name).Bind(2, u.password_hash).Bind(3, u.expires_at).Bind(4, Now());
    s.Bind(5, u.created_by);
    std::int64_t id = 0;
    try {
      if (s.Step()) id = s.Int(0);
    } catch (const DbFailure& e) {
      if (!IsUniqueViolation(e)) throw;
      throw ErrorException(Fail(ErrorCode::kConflict, "a robot named " + u.name + " exists"));
    }
    for (const auto& scope : robot.scopes) {
      auto t = c.Prepare(
          "INSERT INTO robot_scopes(user_id, namespace, actions) VALUES(?1, ?2, ?3) "
          "ON CONFLICT(user_id, namespace) DO UPDATE SET actions=excluded.actions");
      t.Bind(1, id).Bind(2, scope.ns).Bind(3, JoinActions(scope.actions)).Run();
    }
  });
}

Result<std::vector<RobotRecord>> AccountTables::ListRobots() {
  return Guard([&]() -> Result<std::vector<RobotRecord>> {
    static const std::string sql =
        std::string("SELECT ") + kUserCols + " FROM users WHERE robot=1 ORDER BY name";
    std::vector<RobotRecord> out;
    {
      auto s = db_.Reader().Prepare(sql.c_str());
      while (s.Step()) out.push_back(RobotRecord{ReadUser(s), {}});
    }
    for (auto& r : out) {
      auto s = db_.Reader().Prepare(
          "SELECT namespace, actions FROM robot_scopes WHERE user_id=?1 ORDER BY namespace");
      s.Bind(1, r.account.id);
      while (s.Step()) r.scopes.push_back(RobotScope{s.Text(0), SplitActions(s.Text(1))});
    }
    return out;
  });
}

Result<bool> AccountTables::DeleteRobot(const std::string& name) {
  bool removed = false;
  KEEP_TRY(db_.Write([&](Connection& c) {
    auto s = c.Prepare("DELETE FROM users WHERE name=?1 AND robot=1");
    s.Bind(1, name).Run();
    removed = c.Changes() > 0;
  }));
  return removed;
}

Result<void> AccountTables::CreateNamespace(const NamespaceRecord& ns) {
  return db_.Write([&](Connection& c) {
    auto s = c.Prepare(
        "INSERT INTO namespaces(name, anonymous_pull, created_at, created_by, mode, threshold, "
        "quarantine_ttl, policy_since) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?3)");
    s.Bind(1, ns.name).Bind(2, static_cast<std::int64_t>(ns.anonymous_pull)).Bind(3, Now());
    s.Bind(4, ns.created_by).Bind(5, ns.policy.mode).Bind(6, ns.policy.threshold);
    s.Bind(7, ns.policy.quarantine_ttl);
    try {
      s.Run();
    } catch (const DbFailure& e) {
      if (!IsUniqueViolation(e)) throw;
      throw ErrorException(Fail(ErrorCode::kConflict, "namespace " + ns.name + " exists"));
    }
  });
}

Result<std::optional<NamespaceRecord>> AccountTables::GetNamespace(const std::string& name) {
  return Guard([&]() -> Result<std::optional<NamespaceRecord>> {
    static const std::string sql =
        std::string("SELECT ") + kNamespaceCols +
        kRepoCount + " FROM namespaces n WHERE n.name=?1";
    auto s = db_.Reader().Prepare(sql.c_str());
    s.Bind(1, name);
    if (!s.Step()) return std::optional<NamespaceRecord>();
    return std::optional<NamespaceRecord>(ReadNamespace(s));
  });
}

Result<std::vector<NamespaceRecord>> AccountTables::ListNamespaces(
    std::optional<std::int64_t> member_id) {
  return Guard([&]() -> Result<std::vector<NamespaceRecord>> {
    static const std::string sql =
        std::string("SELECT ") + kNamespaceCols + kRepoCount +
        " FROM namespaces n WHERE CAST(?1 AS BIGINT) IS NULL OR EXISTS (SELECT 1 FROM members m "
        "WHERE m.namespace_id=n.id AND m.user_id=?1) ORDER BY n.name";
    auto s = db_.Reader().Prepare(sql.c_str());
    if (member_id)
      s.Bind(1, *member_id);
    else
      s.BindNull(1);
    std::vector<NamespaceRecord> out;
    while (s.Step()) out.push_back(ReadNamespace(s));
    return out;
  });
}

Result<bool> AccountTables::SetAnonymousPull(const std::string& name, bool on) {
  bool found = false;
  KEEP_TRY(db_.Write([&](Connection& c) {
    auto s = c.Prepare("UPDATE namespaces SET anonymous_pull=?2 WHERE name=?1");
    s.Bind(1, name).Bind(2, static_cast<std::int64_t>(on)).Run();
    found = c.Changes() > 0;
  }));
  return found;
}

Result<bool> AccountTables::SetPolicy(const std::string& name, const TrustPolicy& p) {
  bool found = false;
  KEEP_TRY(db_.Write([&](Connection& c) {
    auto s = c.Prepare(
        "UPDATE namespaces SET mode=?2, threshold=?3, quarantine_ttl=?4, policy_since=CASE WHEN "
        "mode<>?2 OR threshold<?3 THEN ?5 ELSE policy_since END WHERE name=?1");
    s.Bind(1, name).Bind(2, p.mode).Bind(3, p.threshold).Bind(4, p.quarantine_ttl);
    s.Bind(5, Now()).Run();
    found = c.Changes() > 0;
  }));
  return found;
}

Result<bool> AccountTables::DeleteNamespace(const std::string& name) {
  bool removed = false;
  KEEP_TRY(db_.Write([&](Connection& c) {
    {
      auto s = c.Prepare(
          "SELECT count(DISTINCT r.id) FROM repositories r JOIN manifests m ON m.repo_id=r.id "
          "WHERE r.name=?1 OR (r.name>?1||'/' AND r.name<?1||'0')");
      s.Bind(1, name);
      std::int64_t held = s.Step() ? s.Int(0) : 0;
      if (held > 0) {
        throw ErrorException(Fail(
            ErrorCode::kConflict,
            "namespace " + name + " still holds manifests in " + std::to_string(held) +
                " repositories; delete them first, then delete the namespace"));
      }
    }
    auto s = c.Prepare("DELETE FROM namespaces WHERE name=?1");
    s.Bind(1, name).Run();
    removed = c.Changes() > 0;
    // Robots scoped to it lose that scope with it, and its keys and identities go too.
    auto t = c.Prepare("DELETE FROM robot_scopes WHERE namespace=?1");
    t.Bind(1, name).Run();
    auto k = c.Prepare("DELETE FROM publisher_keys WHERE namespace=?1");
    k.Bind(1, name).Run();
    auto i = c.Prepare("DELETE FROM trusted_identities WHERE namespace=?1");
    i.Bind(1, name).Run();
  }));
  return removed;
}

Result<void> AccountTables::SetMember(const std::string& ns, std::int64_t user_id,
                                      const std::string& role) {
  return db_.Write([&](Connection& c) {
    auto s = c.Prepare(
        "INSERT INTO members(namespace_id, user_id, role) "
        "SELECT id, ?2, ?3 FROM namespaces WHERE name=?1 "
        "ON CONFLICT(namespace_id, user_id) DO UPDATE SET role=excluded.role");
    s.Bind(1, ns).Bind(2, user_id).Bind(3, role).Run();
    if (c.Changes() == 0) {
      throw ErrorException(Fail(ErrorCode::kNotFound, "no namespace named " + ns));
    }
  });
}

Result<bool> AccountTables::RemoveMember(const std::string& ns, std::int64_t user_id) {
  bool removed = false;
  KEEP_TRY(db_.Write([&](Connection& c) {
    auto s = c.Prepare(
        "DELETE FROM members WHERE user_id=?2 AND "
        "namespace_id=(SELECT id FROM namespaces WHERE name=?1)");
    s.Bind(1, ns).Bind(2, user_id).Run();
    removed = c.Changes() > 0;
  }));
  return removed;
}

Result<std::vector<MemberRecord>> AccountTables::ListMembers(const std::string& ns) {
  return Guard([&]() -> Result<std::vector<MemberRecord>> {
    auto s = db_.Reader().Prepare(
        "SELECT u.name, m.role FROM members m JOIN namespaces n ON n.id=m.namespace_id "
        "JOIN users u ON u.id=m.user_id WHERE n.name=?1 ORDER BY u.name");
    s.Bind(1, ns);
    std::vector<MemberRecord> out;
    while (s.Step()) out.push_back(MemberRecord{s.Text(0), s.Text(1)});
    return out;
  });
}

Result<std::vector<Membership>> AccountTables::MembershipsOf(std::int64_t user_id) {
  return Guard([&]() -> Result<std::vector<Membership>> {
    auto s = db_.Reader().Prepare(
        "SELECT n.name, m.role FROM members m JOIN namespaces n ON n.id=m.namespace_id "
        "WHERE m.user_id=?1 ORDER BY n.name");
    s.Bind(1, user_id);
    std::vector<Membership> out;
    while (s.Step()) out.push_back(Membership{s.Text(0), s.Text(1)});
    return out;
  });
}

Result<NamespaceAccess> AccountTables::AccessIn(const std::string& ns, std::int64_t user_id) {
  return Guard([&]() -> Result<NamespaceAccess> {
    auto s = db_.Reader().Prepare(
        // One row whether or not the namespace exists: its columns are
        // NULL when it does not (read once, on every authorised request).
        "SELECT n.anonymous_pull, "
        "(SELECT role FROM members WHERE namespace_id=n.id AND user_id=?2), "
        "(SELECT actions FROM robot_scopes WHERE namespace=?1 AND user_id=?2), "
        "n.mode, n.threshold, n.quarantine_ttl "
        "FROM (SELECT 1) AS one LEFT JOIN namespaces n ON n.name=?1");
    s.Bind(1, ns).Bind(2, user_id);
    NamespaceAccess a;
    if (!s.Step()) return a;
    a.exists = !s.IsNull(0);
    a.anonymous_pull = s.Int(0) != 0;
    a.role = s.Text(1);
    if (!s.IsNull(2)) a.robot_actions = SplitActions(s.Text(2));
    if (a.exists) a.policy = TrustPolicy{s.Text(3), s.Int(4), s.Int(5)};
    return a;
  });
}

}  // namespace keep::sql
