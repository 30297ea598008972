// The curated mirror's admin API and pull-through mapping against a real
// keepd, with no upstream at all: rules point at https://127.0.0.1:1, where
// nothing listens. Syncing from a real upstream is tests/e2e/mirror_test.sh.
#include "core/base64.h"
#include "tests/support/keepd_test.h"

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <thread>

namespace keep::testkit {
namespace {

using nlohmann::json;

constexpr const char* kDownUpstream = "https://127.0.0.1:1";
constexpr const char* kPassword = "Upstream-Pw-7f3a9c-never-shown";

class MirrorAdminTest : public KeepdTest {
 protected:
  void SetUp() override {
    ASSERT_EQ(client_.Post("/admin/v1/namespaces", R"({"name":"mirror"})").status, 201);
    for (const char* user : {"alice", "carol", "olga"}) {
      Response r = client_.Post("/admin/v1/users",
                                json{{"name", user}, {"password", Password(user)}}.dump());
      ASSERT_EQ(r.status, 201) << r.body;
    }
    SetRole("alice", "reader");
    SetRole("carol", "maintainer");
    // olga has no role in "mirror".
  }

  static std::string Password(const std::string& user) { return "password-of-" + user; }

  void SetRole(const std::string& user, const std::string& role) {
    Response r =
        client_.Put("/admin/v1/namespaces/mirror/members/" + user, json{{"role", role}}.dump());
    ASSERT_EQ(r.status, 200) << r.body;
  }

  HttpsClient As(const std::string& user) {
    HttpsClient c = keepd_.AnonymousClient();
    c.SetBasicAuth(user, Password(user));
    return c;
  }

  // A valid rule into namespace "mirror", from the upstream that is down.
  static json Rule(const std::string& name) {
    return json{{"name", name},
                {"upstream", kDownUpstream},
                {"repositories", {"acme/app"}},
                {"tags", {"v1"}},
                {"target", "mirror"},
                {"reference_host", "keep.example:5000"},
                {"vetting", {{"trust_on_first_sync", true}}}};
  }

  Response Create(const json& rule) { return client_.Post("/admin/v1/mirrors", rule.dump()); }

  json Show(const std::string& name) {
    Response r = client_.Get("/admin/v1/mirrors/" + name);
    EXPECT_EQ(r.status, 200) << r.body;
    return r.Json();
  }

  std::string CuratorKeyId() {
    Response r = client_.Get("/admin/v1/mirror-key");
    EXPECT_EQ(r.status, 200) << r.body;
    return r.Json().value("key_id", "");
  }

  // The entries of namespace "mirror"'s keys with this id.
  std::vector<json> KeysWithId(const std::string& key_id) {
    Response r = client_.Get("/admin/v1/namespaces/mirror/keys");
    EXPECT_EQ(r.status, 200) << r.body;
    std::vector<json> found;
    const json listed = r.Json();  // kept: the loop below reads into it
    for (const auto& k : listed["keys"]) {
      if (k.value("key_id", "") == key_id) found.push_back(k);
    }
    return found;
  }

  // Polls the rule's sync until it is done; its last status.
  json WaitForSync(const std::string& name) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    json status;
    while (std::chrono::steady_clock::now() < deadline) {
      Response r = client_.Get("/admin/v1/mirrors/" + name + "/sync");
      EXPECT_EQ(r.status, 200) << r.body;
      status = r.Json();
      if (status.value("done", false)) return status;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ADD_FAILURE() << "the sync did not end: " << status.dump();
    return status;
  }

  // The rule's recorded tags as "repository:tag=state".
  std::vector<std::string> TagStates(const std::string& name) {
    std::vector<std::string> out;
    const json shown = Show(name);
    for (const auto& t : shown["tag_states"]) {
      out.push_back(t.value("repository", "") + ":" + t.value("tag", "") + "=" +
                    t.value("state", ""));
    }
    return out;
  }
};

TEST_F(MirrorAdminTest, BadRulesAndUnknownRulesAreRefusedClearly) {
  json bad = Rule("app");
  bad["vetting"] = json::object();
  Response r = Create(bad);
  EXPECT_TRUE(IsError(r, 400, "INVALID")) << r.body;
  EXPECT_NE(ErrorMessage(r).find("\"vetting\" names no rule"), std::string::npos) << r.body;

  bad = Rule("app");
  bad["vetting"]["trust_on_frist_sync"] = true;
  r = Create(bad);
  EXPECT_TRUE(IsError(r, 400, "INVALID")) << r.body;
  EXPECT_NE(ErrorMessage(r).find("unknown member \"trust_on_frist_sync\""), std::string::npos)
      << r.body;

  EXPECT_EQ(StatusAndCode(client_.Post("/admin/v1/mirrors", "not json")), "400 INVALID");
  EXPECT_EQ(StatusAndCode(client_.Post("/admin/v1/mirrors", "[]")), "400 INVALID");

  json elsewhere = Rule("app");
  elsewhere["target"] = "nowhere";
  r = Create(elsewhere);
  EXPECT_TRUE(IsError(r, 400, "INVALID")) << r.body;
  EXPECT_NE(ErrorMessage(r).find("namespace nowhere does not exist"), std::string::npos) << r.body;
  EXPECT_NE(ErrorMessage(r).find("create it first"), std::string::npos) << r.body;

  json shown = Rule("app");
  shown["username"] = "robot";
  shown["password"] = kPassword;
  shown["password_set"] = true;
  EXPECT_EQ(StatusAndCode(Create(shown)), "400 INVALID");

  // None of those left a rule behind.
  EXPECT_EQ(client_.Get("/admin/v1/mirrors").Json()["mirrors"], json::array());

  r = Create(Rule("app"));
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(r.Json().value("name", ""), "app");
  r = Create(Rule("app"));
  EXPECT_TRUE(IsError(r, 409, "CONFLICT")) << r.body;
  EXPECT_EQ(client_.Get("/admin/v1/mirrors").Json()["mirrors"].size(), 1u);

  for (const Response& unknown :
       {client_.Get("/admin/v1/mirrors/ghost"),
        client_.Patch("/admin/v1/mirrors/ghost", R"({"tags":["v2"]})"),
        client_.Delete("/admin/v1/mirrors/ghost"), client_.Post("/admin/v1/mirrors/ghost/sync"),
        client_.Get("/admin/v1/mirrors/ghost/sync")}) {
    EXPECT_EQ(unknown.status, 404) << unknown.body;
  }

  ASSERT_EQ(client_.Delete("/admin/v1/mirrors/app").status, 204);
  EXPECT_EQ(client_.Get("/admin/v1/mirrors/app").status, 404);
  EXPECT_EQ(client_.Delete("/admin/v1/mirrors/app").status, 404);
}

TEST_F(MirrorAdminTest, CreatingARuleTrustsTheCuratorKeyUntilItIsRevoked) {
  std::string key_id = CuratorKeyId();
  ASSERT_FALSE(key_id.empty());
  // Any user may read the curator key, to verify what the mirror signed.
  EXPECT_EQ(As("olga").Get("/admin/v1/mirror-key").Json().value("key_id", ""), key_id);
  EXPECT_EQ(keepd_.AnonymousClient().Get("/admin/v1/mirror-key").status, 401);
  EXPECT_TRUE(KeysWithId(key_id).empty());

  Response r = Create(Rule("app"));
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(r.Json().value("curator_trusted", false), true);
  auto keys = KeysWithId(key_id);
  ASSERT_EQ(keys.size(), 1u);
  EXPECT_EQ(keys[0].value("name", ""), "mirror-curator");
  EXPECT_EQ(keys[0].value("revoked", true), false);

  // A second rule into the namespace adds nothing.
  ASSERT_EQ(Create(Rule("tools")).status, 201);
  EXPECT_EQ(KeysWithId(key_id).size(), 1u);

  // A maintainer revokes it: the rules say so, and nothing adds it back.
  r = As("carol").Delete("/admin/v1/namespaces/mirror/keys/" + key_id);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Show("app").value("curator_trusted", true), false);
  r = client_.Patch("/admin/v1/mirrors/app", R"({"tags":["v1","v2"]})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Json().value("curator_trusted", true), false);
  r = Create(Rule("third"));
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(r.Json().value("curator_trusted", true), false);
  keys = KeysWithId(key_id);
  ASSERT_EQ(keys.size(), 1u);
  EXPECT_EQ(keys[0].value("revoked", false), true);
  const json list = client_.Get("/admin/v1/mirrors").Json();
  for (const auto& m : list["mirrors"]) {
    EXPECT_EQ(m.value("curator_trusted", true), false) << m.dump();
  }
}

TEST_F(MirrorAdminTest, ThePasswordIsNeverShownNorStoredInTheClear) {
  json rule = Rule("private");
  rule["username"] = "robot";
  rule["password"] = kPassword;
  std::vector<Response> answers;
  answers.push_back(Create(rule));
  ASSERT_EQ(answers.back().status, 201) << answers.back().body;
  answers.push_back(client_.Get("/admin/v1/mirrors/private"));
  answers.push_back(client_.Get("/admin/v1/mirrors"));
  answers.push_back(client_.Patch("/admin/v1/mirrors/private", R"({"tags":["v1","v2"]})"));
  for (const Response& a : answers) {
    ASSERT_EQ(a.status / 100, 2) << a.body;
    EXPECT_EQ(a.body.find(kPassword), std::string::npos) << a.body;
    json j = a.Json();
    if (j.contains("mirrors")) j = j["mirrors"][0];
    EXPECT_FALSE(j.contains("password")) << j.dump();
    EXPECT_EQ(j.value("password_set", false), true) << j.dump();
    EXPECT_EQ(j.value("username", ""), "robot") << j.dump();
  }

  // keepd holds its database exclusively while it runs: look once it is down.
  keepd_.Shutdown();
  const std::string encoded = EncodeBase64(kPassword);
  auto rows = QueryMetadata(keepd_, "SELECT name, spec, sealed, created_by FROM mirrors");
  for (const auto& row : rows) {
    for (std::size_t col = 0; col < row.size(); ++col) {
      EXPECT_EQ(row[col].find(kPassword), std::string::npos)
          << "column " << col << ": " << row[col];
      EXPECT_EQ(row[col].find(encoded), std::string::npos) << "column " << col << ": " << row[col];
    }
    EXPECT_NE(row.at(2), "") << "no sealed credentials stored";
  }
  EXPECT_EQ(rows.size(), 1u);
  // Nor anywhere in the database's files.
  for (const auto& entry : std::filesystem::directory_iterator(keepd_.data_dir())) {
    if (entry.path().filename().string().rfind("metadata.db", 0) != 0) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(bytes.find(kPassword), std::string::npos) << entry.path().filename();
  }

  RestartKeepd();
  json shown = Show("private");
  EXPECT_EQ(shown.value("password_set", false), true) << shown.dump();
  EXPECT_EQ(shown.value("username", ""), "robot");
}

TEST_F(MirrorAdminTest, CredentialsCanBeGivenAgainWhenTheSecretsKeyIsLost) {
  json rule = Rule("private");
  rule["username"] = "robot";
  rule["password"] = kPassword;
  ASSERT_EQ(Create(rule).status, 201);
  // As keys.h says: without mirror-secrets.key, each rule is given its password again.
  keepd_.Restart(KeepdProcess::Stop::kGraceful, [&] {
    ASSERT_TRUE(std::filesystem::remove(keepd_.data_dir() / "mirror-secrets.key"));
  });
  client_.Disconnect();
  Response r = client_.Patch("/admin/v1/mirrors/private",
                             json{{"password", "a-new-upstream-password"}}.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Json().value("password_set", false), true);
  EXPECT_EQ(Show("private").value("username", ""), "robot");
}

TEST_F(MirrorAdminTest, PatchChangesOnlyWhatItNames) {
  json rule = Rule("app");
  rule["interval_seconds"] = 3600;
  rule["tags"] = {"v1", "3.*"};
  rule["username"] = "robot";
  rule["password"] = kPassword;
  Response r = Create(rule);
  ASSERT_EQ(r.status, 201) << r.body;
  json before = r.Json();

  // The answers show the rule's own tags (the tags' states are apart).
  EXPECT_EQ(before["tags"], json::parse(R"(["v1","3.*"])"));
  EXPECT_EQ(Show("app")["tags"], before["tags"]);
  r = client_.Patch("/admin/v1/mirrors/app", R"({"tags":["v2"]})");
  ASSERT_EQ(r.status, 200) << r.body;
  json after = r.Json();
  EXPECT_EQ(after["tags"], json::parse(R"(["v2"])"));
  EXPECT_EQ(after["tag_states"], json::array());
  for (const char* same :
       {"upstream", "repositories", "target", "reference_host", "vetting", "interval_seconds",
        "pull_through", "username", "password_set", "created_at", "created_by"}) {
    EXPECT_EQ(after[same], before[same]) << same;
  }

  // null removes an optional member.
  r = client_.Patch("/admin/v1/mirrors/app", R"({"interval_seconds":null})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Json().value("interval_seconds", -1), 0);
  EXPECT_EQ(r.Json()["tags"], json::parse(R"(["v2"])"));

  // Refused changes change nothing.
  json stored = Show("app");
  for (const char* patch :
       {R"({"name":"renamed"})", R"({"password_set":false})", R"({"password_set":true})",
        R"({"interval_seconds":5})", R"({"vetting":null})", R"({"colour":"blue"})",
        R"({"username":"someone-else"})", "[]", "not json"}) {
    SCOPED_TRACE(patch);
    r = client_.Patch("/admin/v1/mirrors/app", patch);
    EXPECT_TRUE(IsError(r, 400, "INVALID")) << r.body;
  }
  r = client_.Patch("/admin/v1/mirrors/app", R"({"name":"renamed"})");
  EXPECT_NE(ErrorMessage(r).find("cannot change"), std::string::npos) << r.body;
  EXPECT_EQ(client_.Get("/admin/v1/mirrors/renamed").status, 404);
  json again = Show("app");
  again.erase("updated_at");
  stored.erase("updated_at");
  EXPECT_EQ(again, stored);
}

TEST_F(MirrorAdminTest, RulesAreForAdminsAndApprovalForMaintainers) {
  ASSERT_EQ(Create(Rule("app")).status, 201);
  json stored = Show("app");
  const std::string patch = R"({"tags":["v9"]})";
  for (const char* user : {"alice", "carol", "olga"}) {
    SCOPED_TRACE(user);
    HttpsClient c = As(user);
    EXPECT_EQ(StatusAndCode(c.Post("/admin/v1/mirrors", Rule("mine").dump())), "403 DENIED");
    EXPECT_EQ(StatusAndCode(c.Get("/admin/v1/mirrors")), "403 DENIED");
    EXPECT_EQ(StatusAndCode(c.Get("/admin/v1/mirrors/app")), "403 DENIED");
    EXPECT_EQ(StatusAndCode(c.Patch("/admin/v1/mirrors/app", patch)), "403 DENIED");
    EXPECT_EQ(StatusAndCode(c.Delete("/admin/v1/mirrors/app")), "403 DENIED");
    EXPECT_EQ(StatusAndCode(c.Post("/admin/v1/mirrors/app/sync")), "403 DENIED");
    EXPECT_EQ(StatusAndCode(c.Get("/admin/v1/mirrors/app/sync")), "403 DENIED");
  }
  HttpsClient anonymous = keepd_.AnonymousClient();
  EXPECT_EQ(anonymous.Post("/admin/v1/mirrors", Rule("mine").dump()).status, 401);
  EXPECT_EQ(anonymous.Get("/admin/v1/mirrors").status, 401);
  EXPECT_EQ(anonymous.Get("/admin/v1/mirrors/app").status, 401);
  EXPECT_EQ(anonymous.Patch("/admin/v1/mirrors/app", patch).status, 401);
  EXPECT_EQ(anonymous.Delete("/admin/v1/mirrors/app").status, 401);
  EXPECT_EQ(anonymous.Post("/admin/v1/mirrors/app/sync").status, 401);

  const std::string approve = R"({"repository":"mirror/acme/app","tag":"v1"})";
  EXPECT_EQ(anonymous.Post("/admin/v1/mirrors/app/approve", approve).status, 401);
  EXPECT_EQ(StatusAndCode(As("olga").Post("/admin/v1/mirrors/app/approve", approve)), "403 DENIED");
  EXPECT_EQ(StatusAndCode(As("alice").Post("/admin/v1/mirrors/app/approve", approve)),
            "403 DENIED");
  Response r = As("carol").Post("/admin/v1/mirrors/app/approve", approve);
  EXPECT_TRUE(IsError(r, 409, "CONFLICT")) << r.body;
  EXPECT_NE(ErrorMessage(r).find("holds nothing"), std::string::npos) << r.body;
  EXPECT_EQ(StatusAndCode(As("carol").Post("/admin/v1/mirrors/app/approve", R"({"tag":"v1"})")),
            "400 INVALID");

  // Nothing changed, and no sync was started.
  EXPECT_EQ(Show("app"), stored);
  EXPECT_EQ(client_.Get("/admin/v1/mirrors").Json()["mirrors"].size(), 1u);
  EXPECT_EQ(client_.Get("/admin/v1/mirrors/app/sync").status, 404);
}

TEST_F(MirrorAdminTest, SyncFromAnUnreachableUpstreamFailsItsTags) {
  ASSERT_EQ(Create(Rule("app")).status, 201);
  Response r = client_.Post("/admin/v1/mirrors/app/sync");
  ASSERT_EQ(r.status, 202) << r.body;
  ASSERT_TRUE(r.Json().contains("job")) << r.body;
  auto job = r.Json()["job"].get<std::uint64_t>();
  // The upstream is retried a few times, a while yet: asking again finds
  // the running sync, and the rule cannot be removed under it.
  r = client_.Post("/admin/v1/mirrors/app/sync");
  ASSERT_EQ(r.status, 202) << r.body;
  EXPECT_EQ(r.Json()["job"].get<std::uint64_t>(), job);
  EXPECT_TRUE(IsError(client_.Delete("/admin/v1/mirrors/app"), 409, "CONFLICT"));

  json status = WaitForSync("app");
  EXPECT_EQ(status.value("job", std::uint64_t{0}), job);
  json report = status["report"];
  ASSERT_EQ(report["tags"].size(), 1u) << report.dump();
  json tag = report["tags"][0];
  EXPECT_EQ(tag.value("repository", ""), "mirror/acme/app");
  EXPECT_EQ(tag.value("tag", ""), "v1");
  EXPECT_EQ(tag.value("state", ""), "failed");
  EXPECT_NE(tag.value("reason", "").find("127.0.0.1:1"), std::string::npos) << tag.dump();
  EXPECT_EQ(report.value("failed", 0), 1);
  EXPECT_EQ(report.value("synced", -1), 0);

  EXPECT_EQ(TagStates("app"), std::vector<std::string>{"mirror/acme/app:v1=failed"});
  json last = Show("app")["last_sync"];
  EXPECT_EQ(last.value("done", false), true) << last.dump();
  EXPECT_EQ(last.value("failed", 0), 1) << last.dump();
  EXPECT_TRUE(StillServing());
  // Nothing was stored under the tag.
  EXPECT_EQ(client_.Get(ManifestPath("mirror/acme/app", "v1")).status, 404);
}

TEST_F(MirrorAdminTest, StoredCredentialsNeverFollowTheRuleToAnotherUpstream) {
  json rule = Rule("app");
  rule["username"] = "robot";
  rule["password"] = kPassword;
  ASSERT_EQ(Create(rule).status, 201);
  // An admin's slip (or a stolen admin session) must not send the sealed
  // password to a host of their choosing: moving the rule takes it again.
  for (const char* patch :
       {R"({"upstream":"https://collector.example"})", R"({"upstream_host":"collector.example"})",
        R"({"ca_file":"/etc/ssl/certs/ca-certificates.crt"})"}) {
    SCOPED_TRACE(patch);
    Response r = client_.Patch("/admin/v1/mirrors/app", patch);
    EXPECT_TRUE(IsError(r, 400, "INVALID")) << r.body;
    EXPECT_NE(ErrorMessage(r).find("\"username\" and \"password\" again"), std::string::npos)
        << r.body;
    EXPECT_EQ(Show("app").value("upstream", ""), kDownUpstream);
  }
  // With the credentials given again, or dropped, it moves.
  Response r = client_.Patch(
      "/admin/v1/mirrors/app",
      json{{"upstream", "https://collector.example"}, {"username", "robot"}, {"password", "pw2"}}
          .dump());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Json().value("upstream", ""), "https://collector.example");
  r = client_.Patch("/admin/v1/mirrors/app",
                    R"({"upstream":"https://127.0.0.1:1","username":null,"password":null})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_FALSE(r.Json().contains("username")) << r.body;
}

TEST_F(MirrorAdminTest, ADockerHubNameNeverHidesALocalNamespace) {
  // A Docker Hub rule mirroring acme/app, and a local namespace acme whose
  // own acme/app:v1 its members push and pull.
  json rule = Rule("hub");
  rule["upstream"] = kDownUpstream;
  rule["upstream_host"] = "docker.io";
  rule["pull_through"] = true;
  ASSERT_EQ(Create(rule).status, 201);
  ASSERT_EQ(client_.Post("/admin/v1/namespaces", R"({"name":"acme"})").status, 201);
  Manifest local = PushImage(client_, "acme/app", "v1", {.layer = "acme's own layer"});

  // Without ?ns=, acme/app is acme's: its policy, its content.
  Response r = client_.Get(ManifestPath("acme/app", "v1"), {{"Accept", local.media_type}});
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, local.bytes);
  EXPECT_EQ(client_.Get(BlobPath("acme/app", DigestOf("acme's own layer"))).body,
            "acme's own layer");
  // With ?ns=docker.io the client asks for Docker Hub's acme/app: the rule's.
  r = client_.Get(ManifestPath("acme/app", "v1") + "?ns=docker.io", {{"Accept", local.media_type}});
  EXPECT_TRUE(IsError(r, 503, "UNAVAILABLE")) << r.body;
  EXPECT_NE(ErrorMessage(r).find("mirror rule hub"), std::string::npos) << r.body;
  EXPECT_EQ(r.Header("OCI-Namespace"), "docker.io");
}

TEST_F(MirrorAdminTest, PullThroughMapsNamesOntoTheRule) {
  json rule = Rule("hub");
  rule["pull_through"] = true;
  rule["tags"] = {"v1", "v2*"};
  ASSERT_EQ(Create(rule).status, 201);
  const std::string local = ManifestPath("mirror/acme/app", "v1");
  const std::string by_ns = ManifestPath("acme/app", "v1") + "?ns=127.0.0.1:1";

  // Who may not read the namespace is refused before anything is fetched.
  for (const std::string& path : {local, by_ns}) {
    SCOPED_TRACE(path);
    int outsider = As("olga").Get(path).status;
    EXPECT_TRUE(outsider == 403 || outsider == 401) << outsider;
    EXPECT_EQ(keepd_.AnonymousClient().Get(path).status, 401);
  }
  EXPECT_EQ(TagStates("hub"), std::vector<std::string>{});

  // A tag the rule does not name is refused by the rule, without a fetch.
  HttpsClient alice = As("alice");
  Response r = alice.Get(ManifestPath("mirror/acme/app", "x1"));
  EXPECT_TRUE(IsError(r, 403, "DENIED")) << r.body;
  EXPECT_NE(ErrorMessage(r).find("mirror rule hub"), std::string::npos) << r.body;
  EXPECT_NE(ErrorMessage(r).find("does not mirror tag x1"), std::string::npos) << r.body;
  EXPECT_EQ(TagStates("hub"), std::vector<std::string>{});

  // A tag it names is fetched from the upstream, which is down: by its local
  // name and, at once, by the upstream's name with ?ns= (containerd's form).
  Response direct, named;
  std::thread other([&] {
    HttpsClient again = As("alice");
    if (auto answer = again.TrySend({http::verb::get, by_ns})) named = std::move(*answer);
  });
  direct = alice.Get(local);
  other.join();
  for (const Response* a : {&direct, &named}) {
    EXPECT_TRUE(IsError(*a, 503, "UNAVAILABLE")) << a->body;
    EXPECT_NE(ErrorMessage(*a).find("mirror rule hub"), std::string::npos) << a->body;
    EXPECT_NE(ErrorMessage(*a).find("127.0.0.1:1"), std::string::npos) << a->body;
  }
  EXPECT_EQ(named.Header("OCI-Namespace"), "127.0.0.1:1");
  EXPECT_FALSE(direct.HasHeader("OCI-Namespace"));
  EXPECT_EQ(TagStates("hub"), std::vector<std::string>{"mirror/acme/app:v1=failed"});

  // Without ?ns=, the upstream's name is not this rule's (it is no Docker Hub rule).
  EXPECT_NE(alice.Get(ManifestPath("acme/app", "v1")).status, 503);
  EXPECT_TRUE(StillServing());
}

}  // namespace
}  // namespace keep::testkit
