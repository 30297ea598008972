// keepctl audit against a real keepd: the table and -o json show who did
// what, from where; --namespace, --user, --action, --since and --limit
// narrow it; a bad --since is refused before anything is sent, saying what
// is accepted.
#include "tests/cli/keepctl_fixture.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <sstream>

namespace keep::testkit {
namespace {

using nlohmann::json;

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// The table's rows (without its header) whose ACTION column is `action`.
std::vector<std::string> RowsOf(const std::string& out, const std::string& action) {
  std::vector<std::string> rows;
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) {
    if (Contains(line, " " + action + " ")) rows.push_back(line);
  }
  return rows;
}

class KeepctlAuditTest : public KeepctlServerTest {
 protected:
  void SetUp() override {
    KeepctlServerTest::SetUp();
    Ok({"namespace", "create", "acme"});
    Ok({"namespace", "create", "other"});
    Ok({"user", "add", "alice", "--password-stdin"}, "password-of-alice\n");
    Ok({"member", "add", "acme", "alice", "--role", "maintainer"});
  }
};

TEST_F(KeepctlAuditTest, TheTableShowsWhoDidWhatFromWhere) {
  std::string out = Ok({"audit"});
  for (const char* title :
       {"TIME", "ACTOR", "SOURCE", "ACTION", "NAMESPACE", "TARGET", "OUTCOME"}) {
    EXPECT_TRUE(Contains(out, title)) << out;
  }
  auto member = RowsOf(out, "member.add");
  ASSERT_EQ(member.size(), 1u) << out;
  EXPECT_TRUE(Contains(member[0], " admin ")) << member[0];
  EXPECT_TRUE(Contains(member[0], " 127.0.0.1 ")) << member[0];
  EXPECT_TRUE(Contains(member[0], " acme ")) << member[0];
  EXPECT_TRUE(Contains(member[0], " alice ")) << member[0];
  EXPECT_EQ(RowsOf(out, "namespace.create").size(), 2u) << out;
  EXPECT_EQ(RowsOf(out, "user.create").size(), 1u) << out;
}

TEST_F(KeepctlAuditTest, JsonAndFiltersNarrowTheAnswer) {
  json all = json::parse(Ok({"audit", "-o", "json"}));
  ASSERT_TRUE(all["events"].is_array());
  EXPECT_GE(all["events"].size(), 4u);

  json acme = json::parse(Ok({"audit", "--namespace", "acme", "-o", "json"}));
  ASSERT_EQ(acme["events"].size(), 2u) << acme;  // created, member added
  for (const auto& e : acme["events"]) EXPECT_EQ(e["namespace"], "acme");

  json created =
      json::parse(Ok({"audit", "--action", "namespace.*", "--since", "1h", "-o", "json"}));
  EXPECT_EQ(created["events"].size(), 2u) << created;

  json users = json::parse(Ok({"-o", "json", "audit", "--action", "user.create", "--user", "admin",
                               "--since", "2020-01-01T00:00:00Z"}));
  ASSERT_EQ(users["events"].size(), 1u) << users;
  EXPECT_EQ(users["events"][0]["target"], "alice");

  json none = json::parse(Ok({"audit", "--user", "alice", "-o", "json"}));
  EXPECT_TRUE(none["events"].empty()) << none;

  json one = json::parse(Ok({"audit", "--limit", "1", "-o", "json"}));
  ASSERT_EQ(one["events"].size(), 1u);
  ASSERT_TRUE(one.contains("next_before"));
  json next =
      json::parse(Ok({"audit", "--limit", "1", "--before",
                      std::to_string(one["next_before"].get<std::int64_t>()), "-o", "json"}));
  ASSERT_EQ(next["events"].size(), 1u);
  EXPECT_EQ(next["events"][0], all["events"][1]);
  EXPECT_TRUE(Contains(Ok({"audit", "--limit", "1"}), "--before")) << "the table says how to page";
}

TEST_F(KeepctlAuditTest, ABadSinceIsRefusedSayingWhatIsAccepted) {
  for (const char* bad : {"yesterday", "1y", "-1h", "2026-13-01T00:00:00Z"}) {
    KeepctlRun run = admin_.Run({"audit", std::string("--since=") + bad});
    EXPECT_EQ(run.exit_code, 2) << run;
    EXPECT_TRUE(Contains(run.err, "bad --since")) << run;
    EXPECT_TRUE(Contains(run.err, "RFC 3339")) << run;
    EXPECT_TRUE(Contains(run.err, "1h")) << run;
  }
  KeepctlRun limit = admin_.Run({"audit", "--limit", "5000"});
  EXPECT_EQ(limit.exit_code, 2) << limit;
  EXPECT_TRUE(Contains(limit.err, "--limit")) << limit;
}

TEST_F(KeepctlAuditTest, AMaintainerReadsTheirNamespaceOnly) {
  Keepctl alice;
  Login(alice, "alice", "password-of-alice");
  KeepctlRun whole = alice.Run({"audit"});
  EXPECT_EQ(whole.exit_code, 1) << whole;
  EXPECT_TRUE(Contains(whole.err, "only an admin")) << whole;
  KeepctlRun other = alice.Run({"audit", "--namespace", "other"});
  EXPECT_EQ(other.exit_code, 1) << other;
  KeepctlRun mine = alice.Run({"audit", "--namespace", "acme", "-o", "json"});
  ASSERT_EQ(mine.exit_code, 0) << mine;
  EXPECT_EQ(json::parse(mine.out)["events"].size(), 2u) << mine;
}

}  // namespace
}  // namespace keep::testkit
