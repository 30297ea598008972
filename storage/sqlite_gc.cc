#include "storage/sqlite_gc.h"

#include "core/names.h"
#include "storage/sqlite_trust.h"

#include <algorithm>
#include <unordered_map>
#include <unordered_set>

namespace keep::sql {
namespace {

// "Is this blob linked anywhere?" is asked for every blob file by GC.
constexpr const char* kIndexes = R"sql(
CREATE INDEX IF NOT EXISTS repo_blobs_by_digest ON repo_blobs(digest);
)sql";

// Runs fn in one read transaction on a reader, so that its queries see one
// snapshot (PostgreSQL's default isolation takes one per statement).
template <class F>
auto InSnapshot(Connection& c, F&& fn) -> decltype(fn()) {
  c.Exec(c.engine() == Engine::kPostgres ? "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
                                         : "BEGIN");
  try {
    auto r = fn();
    c.Exec("COMMIT");
    return r;
  } catch (...) {
    try {
      if (c.InTransaction()) c.Exec("ROLLBACK");
    } catch (const DbFailure&) {
    }
    throw;
  }
}

std::optional<std::int64_t> FindRepo(Connection& c, const std::string& repo) {
  auto s = c.Prepare("SELECT id FROM repositories WHERE name=?1");
  s.Bind(1, repo);
  if (!s.Step()) return std::nullopt;
  return s.Int(0);
}

// One repository's manifests, what they reference, and its blob links.
struct Graph {
  struct Node {
    std::string subject;
    std::int64_t created_at = 0;
    bool tagged = false;
    bool expired = false;  // quarantined past its namespace's TTL
    std::vector<std::string> blobs;
    std::vector<std::string> children;
  };
  struct Link {
    std::string digest;
    std::int64_t size = 0;
    std::int64_t created_at = 0;
  };
  std::unordered_map<std::string, Node> manifests;
  std::vector<Link> links;
};

// Marks the tagged manifests that are still untrusted past the quarantine
// TTL of their namespace (a created one, not "open").
void MarkExpiredQuarantine(Connection& c, std::int64_t rid, const std::string& repo,
                           std::int64_t now, Graph& g) {
  auto s = c.Prepare(
      "SELECT mode, threshold, quarantine_ttl, policy_since FROM namespaces WHERE name=?1");
  std::string_view ns = NamespaceOf(repo);
  s.Bind(1, ns);
  if (!s.Step() || s.Text(0) == "open" || now == 0) return;
  std::int64_t threshold = s.Int(1), ttl = s.Int(2);
  // Nothing readable before the policy became stricter goes at once: the
  // TTL counts from the later of its push and that moment.
  if (s.Int(3) + ttl >= now) return;
  auto trusted = TrustTables::TrustedSet(c, rid, ns, threshold);
  std::unordered_set<std::string> ok(trusted.begin(), trusted.end());
  for (auto& [digest, node] : g.manifests) {
    node.expired = node.tagged && ok.count(digest) == 0 && node.created_at + ttl < now;
  }
  // A signature artifact is not judged by itself (one of its keys may be
  // revoked while the others still vouch for its image): it goes with its
  // image, or when its image is gone.
  auto s2 = c.Prepare("SELECT DISTINCT signature, target FROM signatures WHERE repo_id=?1");
  s2.Bind(1, rid);
  while (s2.Step()) {
    auto artifact = g.manifests.find(s2.Text(0));
    if (artifact == g.manifests.end()) continue;
    auto image = g.manifests.find(s2.Text(1));
    bool image_gone = image == g.manifests.end() || image->second.expired;
    Graph::Node& n = artifact->second;
    n.expired = n.tagged && image_gone && n.created_at + ttl < now;
  }
}

Graph LoadGraph(Connection& c, std::int64_t rid) {
  Graph g;
  {
    auto s = c.Prepare("SELECT digest, subject, created_at FROM manifests WHERE repo_id=?1");
    s.Bind(1, rid);
    while (s.Step()) {
      Graph::Node& n = g.manifests[s.Text(0)];
      n.subject = s.IsNull(1) ? std::string() : s.Text(1);
      n.created_at = s.Int(2);
    }
  }
  {
    auto s = c.Prepare("SELECT DISTINCT digest FROM tags WHERE repo_id=?1");
    s.Bind(1, rid);
    while (s.Step()) {
      auto it = g.manifests.find(s.Text(0));
      if (it != g.manifests.end()) it->second.tagged = true;
    }
  }
  {
    auto s = c.Prepare("SELECT manifest, target, kind FROM manifest_refs WHERE repo_id=?1");
    s.Bind(1, rid);
    while (s.Step()) {
      auto it = g.manifests.find(s.Text(0));
      if (it == g.manifests.end()) continue;
      (s.Int(2) == 0 ? it->second.blobs : it->second.children).push_back(s.Text(1));
    }
  }
  {
    auto s = c.Prepare("SELECT digest, size, created_at FROM repo_blobs WHERE repo_id=?1");
    s.Bind(1, rid);
    while (s.Step()) g.links.push_back({s.Text(0), s.Int(1), s.Int(2)});
  }
  return g;
}

// Marks what the roots reach: tagged manifests, young untagged ones (or
// every one when untagged manifests are kept), and referrers of reached
// manifests; from each reached manifest its children. Returns what is left.
RepoSweep Plan(const std::string& repo, const Graph& g, const SweepPolicy& policy) {
  std::unordered_map<std::string, std::vector<std::string>> referrers;  // subject → manifests
  for (const auto& [digest, node] : g.manifests) {
    if (!node.subject.empty()) referrers[node.subject].push_back(digest);
  }
  std::unordered_set<std::string> reached;
  std::vector<std::string> todo;
  auto reach = [&](const std::string& digest) {
    if (g.manifests.count(digest) != 0 && reached.insert(digest).second) todo.push_back(digest);
  };
  for (const auto& [digest, node] : g.manifests) {
    if (node.expired) continue;
    if (node.tagged || !policy.delete_untagged || node.created_at >= policy.cutoff) reach(digest);
  }
  while (!todo.empty()) {
    std::string digest = std::move(todo.back());
    todo.pop_back();
    for (const auto& child : g.manifests.at(digest).children) reach(child);
    if (auto it = referrers.find(digest); it != referrers.end()) {
      for (const auto& r : it->second) reach(r);
    }
  }

  std::unordered_set<std::string> referenced;
  for (const auto& digest : reached) {
    referenced.insert(digest);
    for (const auto& b : g.manifests.at(digest).blobs) referenced.insert(b);
  }
  RepoSweep sweep;
  for (const auto& [digest, node] : g.manifests) {
    if (reached.count(digest) == 0) sweep.manifests.push_back(digest);
  }
  // A link no kept manifest references goes only when old: a client
  // uploads layers before the manifest that references them.
  for (const auto& link : g.links) {
    if (referenced.count(link.digest) == 0 && link.created_at < policy.cutoff) {
      sweep.links.push_back({repo, link.digest, link.size});
    }
  }
  std::sort(sweep.manifests.begin(), sweep.manifests.end());
  std::sort(sweep.links.begin(), sweep.links.end(),
            [](const BlobLink& a, const BlobLink& b) { return a.digest < b.digest; });
  return sweep;
}

}  // namespace

void GcTables::Migrate(Connection& c) { c.Exec(kIndexes); }

Result<RepoSweep> GcTables::SweepRepository(const std::string& repo, const SweepPolicy& policy,
                                            bool dry_run) {
  // First on a snapshot, without the writer's lock: most repositories have
  // nothing to collect, and a dry run stops here.
  auto planned = Guard([&]() -> Result<RepoSweep> {
    Connection& c = db_.Reader();
    return InSnapshot(c, [&] {
      auto rid = FindRepo(c, repo);
      if (!rid) return RepoSweep{};
      Graph g = LoadGraph(c, *rid);
      MarkExpiredQuarantine(c, *rid, repo, policy.now, g);
      return Plan(repo, g, policy);
    });
  });
  if (!planned || dry_run || (planned->manifests.empty() && planned->links.empty())) {
    return planned;
  }
  // Then decided again and applied in one write transaction: pushes that
  // committed since are seen, and pushes after it see what it removed
  // (PutManifest re-checks its references inside its own transaction).
  RepoSweep sweep;
  KEEP_TRY(db_.Write([&](Connection& c) {
    auto rid = FindRepo(c, repo);
    if (!rid) return;
    Graph g = LoadGraph(c, *rid);
    MarkExpiredQuarantine(c, *rid, repo, policy.now, g);
    sweep = Plan(repo, g, policy);
    for (const auto& digest : sweep.manifests) {
      auto s = c.Prepare("DELETE FROM manifests WHERE repo_id=?1 AND digest=?2");
      s.Bind(1, *rid).Bind(2, digest).Run();
    }
    for (const auto& link : sweep.links) {
      auto s = c.Prepare("DELETE FROM repo_blobs WHERE repo_id=?1 AND digest=?2");
      s.Bind(1, *rid).Bind(2, link.digest).Run();
    }
  }));
  return sweep;
}

Result<std::int64_t> GcTables::CountLinks(const std::string& digest) {
  return Guard([&]() -> Result<std::int64_t> {
    auto s = db_.Reader().Prepare("SELECT count(*) FROM repo_blobs WHERE digest=?1");
    s.Bind(1, digest);
    return s.Step() ? s.Int(0) : 0;
  });
}

Result<std::vector<BlobLink>> GcTables::ListLinks(const BlobLink& after, int limit) {
  return Guard([&]() -> Result<std::vector<BlobLink>> {
    auto s = db_.Reader().Prepare(
        "SELECT r.name, b.digest, b.size FROM repo_blobs b JOIN repositories r ON r.id=b.repo_id "
        "WHERE (b.digest, r.name) > (?1, ?2) ORDER BY b.digest, r.name LIMIT ?3");
    s.Bind(1, after.digest).Bind(2, after.repo).Bind(3, static_cast<std::int64_t>(limit));
    std::vector<BlobLink> out;
    while (s.Step()) out.push_back({s.Text(0), s.Text(1), s.Int(2)});
    return out;
  });
}

Result<std::vector<std::string>> GcTables::DropLinks(const std::string& digest) {
  std::vector<std::string> repos;
  KEEP_TRY(db_.Write([&](Connection& c) {
    repos.clear();
    {
      auto s = c.Prepare(
          "SELECT r.name FROM repo_blobs b JOIN repositories r ON r.id=b.repo_id "
          "WHERE b.digest=?1 ORDER BY r.name");
      s.Bind(1, digest);
      while (s.Step()) repos.push_back(s.Text(0));
    }
    auto s = c.Prepare("DELETE FROM repo_blobs WHERE digest=?1");
    s.Bind(1, digest).Run();
  }));
  return repos;
}

Result<std::vector<ManifestRef>> GcTables::ManifestRefs(const std::string& repo) {
  return Guard([&]() -> Result<std::vector<ManifestRef>> {
    Connection& c = db_.Reader();
    return InSnapshot(c, [&] {
      std::vector<ManifestRef> out;
      auto rid = FindRepo(c, repo);
      if (!rid) return out;
      auto s = c.Prepare(
          "SELECT f.manifest, f.target, f.kind, CASE f.kind "
          "  WHEN 1 THEN EXISTS(SELECT 1 FROM manifests m WHERE m.repo_id=f.repo_id AND "
          "    m.digest=f.target) "
          "  ELSE EXISTS(SELECT 1 FROM repo_blobs b WHERE b.repo_id=f.repo_id AND "
          "    b.digest=f.target) END "
          "FROM manifest_refs f WHERE f.repo_id=?1 "
          "UNION ALL "
          "SELECT m.digest, m.digest, 2, EXISTS(SELECT 1 FROM repo_blobs b WHERE "
          "  b.repo_id=m.repo_id AND b.digest=m.digest) FROM manifests m WHERE m.repo_id=?1 "
          "ORDER BY 1, 3, 2");
      s.Bind(1, *rid);
      while (s.Step()) {
        std::int64_t kind = s.Int(2);
        out.push_back({s.Text(0), s.Text(1),
                       kind == 0   ? ManifestRef::Kind::kBlob
                       : kind == 1 ? ManifestRef::Kind::kChild
                                   : ManifestRef::Kind::kSelf,
                       s.Int(3) != 0});
      }
      return out;
    });
  });
}

}  // namespace keep::sql
