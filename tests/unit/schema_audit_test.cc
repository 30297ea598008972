// Schema 8: the audit log. A schema 7 database gains the audit table and
// keeps what it held; events are found by namespace, actor, action, time
// and page, newest first; repeated refusals fold into one row; retention
// and the cap prune the oldest.
#include "storage/metadata.h"

#include "schema_test_support.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

namespace keep {
namespace {

using schema_test::FreshDir;
using schema_test::Sql;

AuditEntry Event(std::int64_t time_ms, std::string action, std::string ns, std::string actor,
                 std::string target = "acme/app") {
  AuditEntry e;
  e.time_ms = time_ms;
  e.action = std::move(action);
  e.ns = std::move(ns);
  e.actor = std::move(actor);
  e.source = "127.0.0.1";
  e.target = std::move(target);
  e.outcome = "ok";
  e.details = R"({"event":"test"})";
  return e;
}

template <class F>
AuditQuery With(F&& set) {
  AuditQuery q;
  set(q);
  return q;
}

class AuditTableTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = FreshDir(::testing::UnitTest::GetInstance()->current_test_info()->name());
    path_ = (dir_ / "metadata.db").string();
    Open();
  }
  void TearDown() override {
    md_.reset();
    std::filesystem::remove_all(dir_);
  }
  void Open() {
    md_.reset();
    auto md = OpenSqliteMetadata(path_);
    ASSERT_TRUE(md) << md.error().message;
    md_ = std::move(*md);
  }
  std::vector<AuditEntry> Query(const AuditQuery& q) {
    auto r = md_->QueryAudit(q);
    EXPECT_TRUE(r) << r.error().message;
    return r ? *r : std::vector<AuditEntry>();
  }

  std::filesystem::path dir_;
  std::string path_;
  std::unique_ptr<Metadata> md_;
};

TEST_F(AuditTableTest, ASchemaSevenDatabaseGainsTheAuditTableAndKeepsItsRows) {
  ASSERT_TRUE(md_->CreateNamespace(NamespaceRecord{"acme", false, 0, "admin", 0, {}, 0}));
  md_.reset();
  Sql(path_, "DROP TABLE audit; PRAGMA user_version=7");
  Open();
  auto ns = md_->GetNamespace("acme");
  ASSERT_TRUE(ns && *ns);
  ASSERT_TRUE(md_->AppendAudit({Event(1000, "key.add", "acme", "alice")}, 0));
  auto got = Query(AuditQuery());
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].action, "key.add");
  EXPECT_EQ(got[0].ns, "acme");
  EXPECT_EQ(got[0].actor, "alice");
  EXPECT_EQ(got[0].source, "127.0.0.1");
  EXPECT_EQ(got[0].details, R"({"event":"test"})");
  EXPECT_EQ(got[0].count, 1);
}

TEST_F(AuditTableTest, FiltersPagesAndOrdersNewestFirst) {
  ASSERT_TRUE(md_->AppendAudit(
      {Event(1000, "key.add", "acme", "alice"), Event(2000, "key.remove", "acme", "bob"),
       Event(3000, "member.add", "other", "alice"),
       Event(4000, "user.create", "", "admin", "carol")},
      0));
  auto all = Query(AuditQuery());
  ASSERT_EQ(all.size(), 4u);
  EXPECT_EQ(all[0].action, "user.create");
  EXPECT_GT(all[0].id, all[1].id);

  EXPECT_EQ(Query(With([](AuditQuery& q) { q.ns = "acme"; })).size(), 2u);
  EXPECT_EQ(Query(With([](AuditQuery& q) { q.actor = "alice"; })).size(), 2u);
  EXPECT_EQ(Query(With([](AuditQuery& q) { q.action = "key.add"; })).size(), 1u);
  EXPECT_EQ(Query(With([](AuditQuery& q) { q.action_prefix = "key."; })).size(), 2u);
  EXPECT_EQ(Query(With([](AuditQuery& q) { q.since_ms = 2000; })).size(), 3u);
  EXPECT_EQ(Query(With([](AuditQuery& q) { q.until_ms = 2000; })).size(), 1u);
  EXPECT_EQ(Query(With([](AuditQuery& q) {
              q.ns = "acme";
              q.actor = "bob";
            })).size(),
            1u);

  auto first = Query(With([](AuditQuery& q) { q.limit = 3; }));
  ASSERT_EQ(first.size(), 3u);
  auto next = Query(With([&](AuditQuery& q) {
    q.before_id = first.back().id;
    q.limit = 3;
  }));
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(next[0].action, "key.add");
}

TEST_F(AuditTableTest, RepeatedRefusalsFoldIntoOneRowWithinTheWindow) {
  AuditEntry refused = Event(10'000, "pull.refused", "acme", "anonymous");
  refused.coalesce = true;
  refused.outcome = "refused";
  ASSERT_TRUE(md_->AppendAudit({refused}, 0));
  refused.time_ms = 20'000;
  ASSERT_TRUE(md_->AppendAudit({refused, refused}, 5'000));
  auto got = Query(AuditQuery());
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].count, 3);
  EXPECT_EQ(got[0].time_ms, 10'000);
  EXPECT_EQ(got[0].last_ms, 20'000);

  // Past the window, or from another source, a new row.
  refused.time_ms = 90'000;
  ASSERT_TRUE(md_->AppendAudit({refused}, 80'000));
  refused.source = "10.0.0.9";
  ASSERT_TRUE(md_->AppendAudit({refused}, 80'000));
  EXPECT_EQ(Query(AuditQuery()).size(), 3u);
}

TEST_F(AuditTableTest, PruningDropsWhatIsOlderThanTheRetentionAndPastTheCap) {
  std::vector<AuditEntry> events;
  for (int i = 1; i <= 10; ++i) events.push_back(Event(i * 1000, "gc.run", "", "keepd", ""));
  ASSERT_TRUE(md_->AppendAudit(events, 0));
  auto removed = md_->PruneAudit(3500, 1'000'000);
  ASSERT_TRUE(removed);
  EXPECT_EQ(*removed, 3);
  removed = md_->PruneAudit(0, 4);
  ASSERT_TRUE(removed);
  EXPECT_EQ(*removed, 3);
  auto left = Query(AuditQuery());
  ASSERT_EQ(left.size(), 4u);
  EXPECT_EQ(left.back().time_ms, 7000);
  // Ids are never reused after pruning.
  ASSERT_TRUE(md_->PruneAudit(1'000'000, 1'000'000));
  ASSERT_TRUE(md_->AppendAudit({Event(11'000, "gc.run", "", "keepd", "")}, 0));
  EXPECT_GT(Query(AuditQuery())[0].id, left.front().id);
}

}  // namespace
}  // namespace keep
