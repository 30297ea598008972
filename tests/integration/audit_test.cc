// The audit log through a real keepd: pushes, refused pulls, key, member and
// user changes are kept with who, from where, what and where, and found
// again by GET /admin/v1/audit with its filters and pages; only admins (and
// a namespace's maintainers, for it) may read it; retention prunes what is
// old; a schema 7 database gains the table; the stderr lines stay.
#include "tests/integration/trust_fixture.h"

#include <string>

namespace keep::testkit {
namespace {

using nlohmann::json;

// Runs `sql` on the (stopped) keepd's metadata.db.
void OnDatabase(KeepdProcess& keepd, const std::string& sql) { RunMetadataSql(keepd, sql); }

std::string ErrorCodeOf(const Response& r) {
  json j = json::parse(r.body, nullptr, false);
  if (!j.is_object() || !j.contains("errors") || !j["errors"].is_array() || j["errors"].empty()) {
    return "";
  }
  return j["errors"][0].value("code", "");
}

std::string ErrorMessageOf(const Response& r) {
  json j = json::parse(r.body, nullptr, false);
  if (!j.is_object() || !j.contains("errors") || !j["errors"].is_array() || j["errors"].empty()) {
    return "";
  }
  return j["errors"][0].value("message", "");
}

class AuditTest : public TrustTest {
 protected:
  // The events GET /admin/v1/audit<query> answers (as the admin).
  json Events(const std::string& query = "") {
    Response r = client_.Get("/admin/v1/audit" + query);
    EXPECT_EQ(r.status, 200) << r.body;
    json j = r.Json();
    return j.is_object() && j.contains("events") ? j["events"] : json::array();
  }
  // The newest event of `action` in `events`, or null.
  static json Find(const json& events, const std::string& action) {
    for (const auto& e : events) {
      if (e.value("action", "") == action) return e;
    }
    return json();
  }
};

TEST_F(AuditTest, EachChangeAndRefusalNamesWhoWhatWhereAndFromWhere) {
  Manifest m = PushImage(client_, "acme/app", "v1", {.layer = "audited"});
  Signer signer = NewKey("ci");
  // alice reads acme, from another address: the unsigned image is refused.
  reader_.SetSourceAddress("127.0.0.2");
  reader_.SetBasicAuth("alice", "password-of-alice");
  ASSERT_EQ(ReaderGet("acme/app", "v1", m).status, 403);

  json events = Events();
  json push = Find(events, "manifest.push");
  ASSERT_FALSE(push.is_null()) << events.dump(1);
  EXPECT_EQ(push["actor"], "admin");
  EXPECT_EQ(push["source"], "127.0.0.1");
  EXPECT_EQ(push["namespace"], "acme");
  EXPECT_EQ(push["target"], "acme/app@" + m.digest());
  EXPECT_EQ(push["outcome"], "quarantined");
  EXPECT_EQ(push["details"]["tag"], "v1");

  json refused = Find(events, "pull.refused");
  ASSERT_FALSE(refused.is_null()) << events.dump(1);
  EXPECT_EQ(refused["actor"], "alice");
  EXPECT_EQ(refused["source"], "127.0.0.2");
  EXPECT_EQ(refused["namespace"], "acme");
  EXPECT_EQ(refused["target"], "acme/app:v1");
  EXPECT_EQ(refused["outcome"], "refused");
  EXPECT_NE(refused["details"].value("reason", "").find("quarantined"), std::string::npos)
      << refused;

  json key = Find(events, "key.add");
  ASSERT_FALSE(key.is_null()) << events.dump(1);
  EXPECT_EQ(key["actor"], "admin");
  EXPECT_EQ(key["namespace"], "acme");
  EXPECT_EQ(key["target"], signer.key_id);

  json member = Find(events, "member.add");
  ASSERT_FALSE(member.is_null()) << events.dump(1);
  EXPECT_EQ(member["actor"], "admin");
  EXPECT_EQ(member["namespace"], "acme");
  EXPECT_EQ(member["target"], "alice");
  EXPECT_EQ(member["details"]["role"], "reader");

  json user = Find(events, "user.create");
  ASSERT_FALSE(user.is_null()) << events.dump(1);
  EXPECT_EQ(user["actor"], "admin");
  EXPECT_EQ(user["namespace"], "");
  EXPECT_EQ(user["target"], "alice");

  json ns = Find(events, "namespace.create");
  ASSERT_FALSE(ns.is_null()) << events.dump(1);
  EXPECT_EQ(ns["target"], "acme");

  // Newest first: ids fall.
  for (std::size_t i = 1; i < events.size(); ++i) {
    EXPECT_LT(events[i]["id"].get<std::int64_t>(), events[i - 1]["id"].get<std::int64_t>());
  }

  // The lines on stderr stay, for log shippers, with the same fields.
  const std::string log = keepd_.Messages();
  EXPECT_NE(log.find(R"("event":"manifest accepted, quarantined")"), std::string::npos);
  EXPECT_NE(log.find(R"("action":"pull.refused")"), std::string::npos);
  EXPECT_NE(log.find(R"("source":"127.0.0.2")"), std::string::npos);
}

TEST_F(AuditTest, AnAnonymousRefusalAndAMemberRemovalAreAuditedToo) {
  Manifest m = PushImage(client_, "acme/app", "v1", {.layer = "anonymous"});
  ASSERT_EQ(client_.Patch("/admin/v1/namespaces/acme", R"({"anonymous_pull":true})").status, 200);
  HttpsClient anonymous = keepd_.AnonymousClient();
  ASSERT_EQ(anonymous.Get(ManifestPath("acme/app", m.digest()), {{"Accept", m.media_type}}).status,
            403);
  ASSERT_EQ(client_.Delete("/admin/v1/namespaces/acme/members/alice").status, 204);
  json events = Events();
  json refused = Find(events, "pull.refused");
  ASSERT_FALSE(refused.is_null()) << events.dump(1);
  EXPECT_EQ(refused["actor"], "anonymous");
  EXPECT_EQ(refused["target"], "acme/app@" + m.digest());
  json removed = Find(events, "member.remove");
  ASSERT_FALSE(removed.is_null()) << events.dump(1);
  EXPECT_EQ(removed["target"], "alice");
  EXPECT_FALSE(Find(events, "namespace.update").is_null());
}

TEST_F(AuditTest, RepeatedRefusalsAreOneRowWithACount) {
  Manifest m = PushImage(client_, "acme/app", "v1", {.layer = "flood"});
  for (int i = 0; i < 5; ++i) ASSERT_EQ(ReaderGet("acme/app", "v1", m).status, 403);
  json events = Events("?action=pull.refused");
  ASSERT_EQ(events.size(), 1u) << events.dump(1);
  EXPECT_EQ(events[0]["count"], 5);
  // Another target is another row.
  ASSERT_EQ(ReaderGet("acme/app", m.digest(), m).status, 403);
  EXPECT_EQ(Events("?action=pull.refused").size(), 2u);
}

TEST_F(AuditTest, FiltersNarrowAndPagesFollowOneAnother) {
  ASSERT_EQ(client_.Post("/admin/v1/namespaces", R"({"name":"other"})").status, 201);
  ASSERT_EQ(
      client_.Put("/admin/v1/namespaces/other/members/alice", R"({"role":"publisher"})").status,
      200);
  NewKey("first");
  NewKey("second");

  for (const auto& e : Events("?namespace=other")) EXPECT_EQ(e["namespace"], "other") << e;
  EXPECT_EQ(Events("?namespace=other").size(), 2u);  // created, member set
  EXPECT_EQ(Events("?action=key.add").size(), 2u);
  EXPECT_EQ(Events("?action=key.*").size(), 2u);
  EXPECT_EQ(Events("?action=member.add&namespace=acme").size(), 1u);
  EXPECT_EQ(Events("?user=alice").size(), 0u);
  EXPECT_GE(Events("?user=admin").size(), 6u);
  EXPECT_EQ(Events("?since=2020-01-01T00:00:00Z").size(), Events().size());
  EXPECT_EQ(Events("?since=1h").size(), Events().size());
  EXPECT_EQ(Events("?until=1h").size(), 0u);
  EXPECT_EQ(Events("?since=2999-01-01T00:00:00Z").size(), 0u);

  // Pages of two, newest first, each after the last.
  json all = Events();
  ASSERT_GE(all.size(), 5u);
  Response first = client_.Get("/admin/v1/audit?limit=2");
  ASSERT_EQ(first.status, 200);
  ASSERT_EQ(first.Json()["events"].size(), 2u);
  EXPECT_EQ(first.Json()["events"][0], all[0]);
  std::int64_t before = first.Json()["next_before"].get<std::int64_t>();
  json second = Events("?limit=2&before=" + std::to_string(before));
  ASSERT_EQ(second.size(), 2u);
  EXPECT_EQ(second[0], all[2]);
  EXPECT_EQ(second[1], all[3]);
  // A page that is not full says there is no next.
  Response last = client_.Get("/admin/v1/audit?limit=1000");
  EXPECT_FALSE(last.Json().contains("next_before"));
}

TEST_F(AuditTest, BadParametersAreRefusedWithWhatIsWrong) {
  struct Case {
    std::string query;
    std::string says;
  };
  for (const Case& c :
       {Case{"?since=yesterday", "since"}, Case{"?until=5x", "until"}, Case{"?limit=0", "limit"},
        Case{"?limit=1001", "limit"}, Case{"?limit=ten", "limit"}, Case{"?before=-3", "before"},
        Case{"?namespace=Bad..Name", "namespace"}, Case{"?action=DROP%20TABLE", "action"},
        Case{"?user=a%20b", "user"}, Case{"?colour=red", "colour"}}) {
    Response r = client_.Get("/admin/v1/audit" + c.query);
    EXPECT_EQ(r.status, 400) << c.query << ": " << r.body;
    EXPECT_TRUE(ErrorCodeOf(r) == "INVALID" || ErrorCodeOf(r) == "NAME_INVALID")
        << c.query << ": " << r.body;
    if (c.says != "namespace") {
      EXPECT_NE(ErrorMessageOf(r).find(c.says), std::string::npos) << c.query << ": " << r.body;
    }
  }
}

// The log's names for keepd itself and for callers without credentials
// cannot be taken by a user, who would then pass for them.
TEST_F(AuditTest, NoUserMayTakeTheNamesOfKeepdOrOfAnonymousCallers) {
  for (const char* name : {"keepd", "anonymous"}) {
    Response r = client_.Post("/admin/v1/users", std::string(R"({"name":")") + name +
                                                     R"(","password":"password-of-someone"})");
    EXPECT_TRUE(IsError(r, 400, "INVALID")) << name << ": " << r.status << " " << r.body;
    EXPECT_NE(ErrorMessage(r).find("reserved"), std::string::npos) << r.body;
  }
  EXPECT_EQ(client_.Get("/admin/v1/users/keepd").status, 404);
}

TEST_F(AuditTest, OnlyAdminsReadItAllAndMaintainersTheirNamespace) {
  // alice only reads acme.
  EXPECT_EQ(reader_.Get("/admin/v1/audit").status, 403);
  EXPECT_EQ(reader_.Get("/admin/v1/audit?namespace=acme").status, 403);
  HttpsClient anonymous = keepd_.AnonymousClient();
  EXPECT_EQ(anonymous.Get("/admin/v1/audit").status, 401);

  ASSERT_EQ(
      client_.Post("/admin/v1/users", R"({"name":"mona","password":"password-of-mona"})").status,
      201);
  ASSERT_EQ(
      client_.Put("/admin/v1/namespaces/acme/members/mona", R"({"role":"maintainer"})").status,
      200);
  ASSERT_EQ(client_.Post("/admin/v1/namespaces", R"({"name":"other"})").status, 201);
  HttpsClient mona = keepd_.AnonymousClient();
  mona.SetBasicAuth("mona", "password-of-mona");
  Response whole = mona.Get("/admin/v1/audit");
  EXPECT_EQ(whole.status, 403) << whole.body;
  EXPECT_NE(ErrorMessageOf(whole).find("namespace"), std::string::npos) << whole.body;
  EXPECT_EQ(mona.Get("/admin/v1/audit?namespace=other").status, 403);
  Response mine = mona.Get("/admin/v1/audit?namespace=acme");
  ASSERT_EQ(mine.status, 200) << mine.body;
  ASSERT_FALSE(mine.Json()["events"].empty());
  for (const auto& e : mine.Json()["events"]) EXPECT_EQ(e["namespace"], "acme") << e;
}

TEST_F(AuditTest, RetentionPrunesOldEventsAtStart) {
  NewKey("old");
  ASSERT_FALSE(Events("?action=key.add").empty());
  // 91 days pass (the default retention is 90): 7,862,400,000 ms.
  keepd_.Restart(KeepdProcess::Stop::kGraceful,
                 [&] { OnDatabase(keepd_, "UPDATE audit SET time = time - 7862400000"); });
  client_.Disconnect();
  EXPECT_TRUE(Events("?action=key.add").empty());
  EXPECT_TRUE(Events("?action=user.create").empty());
  EXPECT_NE(keepd_.Messages().find("keepd: audit log: removed"), std::string::npos);
  // What happens now is kept.
  NewKey("new");
  EXPECT_EQ(Events("?action=key.add").size(), 1u);
}

TEST_F(AuditTest, AnAuditWriteThatFailsFailsNoRequestAndIsLogged) {
  // The database refuses every audit row from now on.
  keepd_.Restart(KeepdProcess::Stop::kGraceful, [&] {
    if (keepd_.postgres_schema().empty()) {
      OnDatabase(keepd_,
                 "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit "
                 "BEGIN SELECT RAISE(ABORT, 'audit refused by the test'); END");
    } else {
      OnDatabase(keepd_,
                 "CREATE FUNCTION refuse_audit() RETURNS trigger LANGUAGE plpgsql AS "
                 "$$BEGIN RAISE EXCEPTION 'audit refused by the test'; END$$; "
                 "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit "
                 "FOR EACH ROW EXECUTE FUNCTION refuse_audit()");
    }
  });
  client_.Disconnect();
  Signer signer = NewKey("while-broken");  // expects 201
  EXPECT_TRUE(Events("?action=key.add").empty());
  const std::string log = keepd_.Messages();
  EXPECT_NE(log.find("could not be written to the database"), std::string::npos) << log;
  EXPECT_NE(log.find("audit refused by the test"), std::string::npos) << log;
  // The stderr line was written all the same.
  EXPECT_NE(log.find(R"("action":"key.add")"), std::string::npos) << log;
  EXPECT_NE(log.find(signer.key_id), std::string::npos) << log;
}

TEST_F(AuditTest, ASchemaSevenDatabaseGainsTheAuditLog) {
  Manifest m = PushImage(client_, "acme/app", "v1", {.layer = "before the upgrade"});
  keepd_.Restart(KeepdProcess::Stop::kGraceful,
                 [&] { OnDatabase(keepd_, "DROP TABLE audit; PRAGMA user_version=7"); });
  client_.Disconnect();
  reader_.Disconnect();
  // What schema 7 held is still there; the log starts empty and fills.
  Response policy = client_.Get("/admin/v1/namespaces/acme/policy");
  EXPECT_EQ(policy.status, 200) << policy.body;
  EXPECT_TRUE(Events().empty());
  EXPECT_EQ(ReaderGet("acme/app", "v1", m).status, 403);
  json events = Events();
  ASSERT_EQ(events.size(), 1u) << events.dump(1);
  EXPECT_EQ(events[0]["action"], "pull.refused");
}

}  // namespace
}  // namespace keep::testkit
