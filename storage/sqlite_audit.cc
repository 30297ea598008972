#include "storage/sqlite_audit.h"

namespace keep::sql {
namespace {

// AUTOINCREMENT: an id is never reused once pruned, so that a page asked
// for with before=<id> never meets newer events under an old id.
constexpr const char* kTables = R"sql(
CREATE TABLE IF NOT EXISTS audit(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  time INTEGER NOT NULL,       -- unix milliseconds, UTC
  actor TEXT NOT NULL,
  source TEXT NOT NULL,
  action TEXT NOT NULL,
  namespace TEXT NOT NULL,
  target TEXT NOT NULL,
  outcome TEXT NOT NULL,
  details TEXT NOT NULL,       -- a JSON object
  count INTEGER NOT NULL,      -- repeated refusals folded into this row
  last_time INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS audit_by_time ON audit(time);
CREATE INDEX IF NOT EXISTS audit_by_namespace ON audit(namespace, id);
CREATE INDEX IF NOT EXISTS audit_by_actor ON audit(actor, id);
CREATE INDEX IF NOT EXISTS audit_by_action ON audit(action, id);
)sql";

}  // namespace

void AuditTables::Migrate(Connection& c) { c.Exec(kTables); }

Result<void> AuditTables::Append(const std::vector<AuditEntry>& entries,
                                 std::int64_t coalesce_since_ms) {
  return db_.Write([&](Connection& c) {
    for (const AuditEntry& e : entries) {
      if (e.coalesce) {
        auto fold = c.Prepare(
            "UPDATE audit SET count=count+?1, "
            "last_time=CASE WHEN last_time > ?2 THEN last_time ELSE ?2 END WHERE id=("
            "SELECT id FROM audit WHERE action=?3 AND actor=?4 AND source=?5 AND namespace=?6 "
            "AND target=?7 AND outcome=?8 AND time>=?9 ORDER BY id DESC LIMIT 1)");
        fold.Bind(1, e.count).Bind(2, e.time_ms).Bind(3, e.action).Bind(4, e.actor);
        fold.Bind(5, e.source).Bind(6, e.ns).Bind(7, e.target).Bind(8, e.outcome);
        fold.Bind(9, coalesce_since_ms).Run();
        if (c.Changes() > 0) continue;
      }
      auto s = c.Prepare(
          "INSERT INTO audit(time, actor, source, action, namespace, target, outcome, details, "
          "count, last_time) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)");
      s.Bind(1, e.time_ms).Bind(2, e.actor).Bind(3, e.source).Bind(4, e.action).Bind(5, e.ns);
      s.Bind(6, e.target).Bind(7, e.outcome).Bind(8, e.details.empty() ? "{}" : e.details);
      s.Bind(9, e.count).Bind(10, e.last_ms > e.time_ms ? e.last_ms : e.time_ms).Run();
    }
  });
}

Result<std::vector<AuditEntry>> AuditTables::Query(const AuditQuery& q) {
  return Guard([&]() -> Result<std::vector<AuditEntry>> {
    auto s = db_.Reader().Prepare(
        "SELECT id, time, actor, source, action, namespace, target, outcome, details, count, "
        "last_time FROM audit WHERE (CAST(?1 AS TEXT) IS NULL OR namespace=?1) "
        "AND (CAST(?2 AS TEXT) IS NULL OR actor=?2) AND (CAST(?3 AS TEXT) IS NULL OR action=?3) "
        "AND (CAST(?4 AS TEXT) IS NULL OR substr(action, 1, length(CAST(?4 AS TEXT)))=?4) "
        "AND time>=?5 AND (CAST(?6 AS BIGINT) IS NULL OR time<?6) "
        "AND (CAST(?7 AS BIGINT) IS NULL OR id<?7) "
        "ORDER BY id DESC LIMIT ?8");
    auto text = [&](int i, const std::optional<std::string>& v) {
      if (v)
        s.Bind(i, *v);
      else
        s.BindNull(i);
    };
    auto number = [&](int i, const std::optional<std::int64_t>& v) {
      if (v)
        s.Bind(i, *v);
      else
        s.BindNull(i);
    };
    text(1, q.ns);
    text(2, q.actor);
    text(3, q.action);
    text(4, q.action_prefix);
    s.Bind(5, q.since_ms);
    number(6, q.until_ms);
    number(7, q.before_id);
    s.Bind(8, static_cast<std::int64_t>(q.limit));
    std::vector<AuditEntry> out;
    while (s.Step()) {
      AuditEntry e;
      e.id = s.Int(0);
      e.time_ms = s.Int(1);
      e.actor = s.Text(2);
      e.source = s.Text(3);
      e.action = s.Text(4);
      e.ns = s.Text(5);
      e.target = s.Text(6);
      e.outcome = s.Text(7);
      e.details = s.Text(8);
      e.count = s.Int(9);
      e.last_ms = s.Int(10);
      out.push_back(std::move(e));
    }
    return out;
  });
}

Result<std::int64_t> AuditTables::Prune(std::int64_t before_ms, std::int64_t keep_at_most) {
  std::int64_t removed = 0;
  KEEP_TRY(db_.Write([&](Connection& c) {
    c.Prepare("DELETE FROM audit WHERE time<?1").Bind(1, before_ms).Run();
    removed = c.Changes();
    c.Prepare(
         "DELETE FROM audit WHERE id<=(SELECT id FROM audit ORDER BY id DESC LIMIT 1 "
         "OFFSET ?1)")
        .Bind(1, keep_at_most)
        .Run();
    removed += c.Changes();
  }));
  return removed;
}

}  // namespace keep::sql
