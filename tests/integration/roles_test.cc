// Namespace roles, robot accounts and anonymous pull against the registry
// API: what each role may do works, what it may not gets UNAUTHORIZED or
// DENIED and changes nothing stored.
#include "tests/support/keepd_test.h"

#include <chrono>
#include <thread>

namespace keep::testkit {
namespace {

using nlohmann::json;

class RolesTest : public KeepdTest {
 protected:
  void SetUp() override {
    // Roles are tested apart from signatures (trust_test.cc): open namespaces.
    for (const char* ns : {"acme", "other"}) {
      ASSERT_EQ(client_.Post("/admin/v1/namespaces", json{{"name", ns}}.dump()).status, 201);
      ASSERT_EQ(client_.Put("/admin/v1/namespaces/" + std::string(ns) + "/policy",
                            R"({"mode":"open"})").status,
                200);
    }
    for (const char* user : {"alice", "bob", "carol", "dave"}) {
      Response r = client_.Post("/admin/v1/users",
                                json{{"name", user}, {"password", Password(user)}}.dump());
      ASSERT_EQ(r.status, 201) << r.body;
    }
    SetRole("acme", "alice", "reader");
    SetRole("acme", "bob", "publisher");
    SetRole("acme", "carol", "maintainer");
    image_ = PushImage(client_, "acme/app", "v1", {.layer = "acme layer"});
    other_ = PushImage(client_, "other/app", "v1", {.layer = "other layer"});
  }

  static std::string Password(const std::string& user) { return "password-of-" + user; }

  void SetRole(const std::string& ns, const std::string& user, const std::string& role) {
    Response r = client_.Put("/admin/v1/namespaces/" + ns + "/members/" + user,
                             json{{"role", role}}.dump());
    ASSERT_EQ(r.status, 200) << r.body;
  }

  HttpsClient As(const std::string& user, const std::string& password = "") {
    HttpsClient c = keepd_.AnonymousClient();
    if (!user.empty()) c.SetBasicAuth(user, password.empty() ? Password(user) : password);
    return c;
  }

  std::string LayerDigest() const { return DigestOf("acme layer"); }

  Manifest image_, other_;
};


TEST_F(RolesTest, ReaderPullsButCannotPushOrDelete) {
  HttpsClient alice = As("alice");
  EXPECT_EQ(alice.Get(ManifestPath("acme/app", "v1"), {{"Accept", image_.media_type}}).status,
            200);
  EXPECT_EQ(alice.Get(BlobPath("acme/app", LayerDigest())).body, "acme layer");
  EXPECT_EQ(alice.Get(TagsPath("acme/app")).status, 200);
  EXPECT_EQ(StatusAndCode(alice.Post(UploadsPath("acme/app"))), "403 DENIED");
  EXPECT_EQ(StatusAndCode(PutManifest(alice, "acme/app", "v2", image_)), "403 DENIED");
  EXPECT_EQ(StatusAndCode(alice.Delete(ManifestPath("acme/app", "v1"))), "403 DENIED");
  EXPECT_EQ(StatusAndCode(alice.Delete(ManifestPath("acme/app", image_.digest()))), "403 DENIED");
  EXPECT_EQ(StatusAndCode(alice.Delete(BlobPath("acme/app", LayerDigest()))), "403 DENIED");
  // Nothing changed.
  EXPECT_EQ(TagsOf(client_, "acme/app"), std::vector<std::string>{"v1"});
  EXPECT_EQ(client_.Get(BlobPath("acme/app", LayerDigest())).status, 200);
}

TEST_F(RolesTest, DeniedMessageSaysWhoAndWhatToDo) {
  Response r = As("alice").Post(UploadsPath("acme/app"));
  EXPECT_EQ(StatusAndCode(r), "403 DENIED");
  std::string message = r.Json()["errors"][0].value("message", "");
  EXPECT_NE(message.find("user alice may not push repository acme/app"), std::string::npos)
      << message;
  EXPECT_NE(message.find("publisher"), std::string::npos) << message;
}

TEST_F(RolesTest, PublisherPushesAndDeletesInItsNamespaceOnly) {
  HttpsClient bob = As("bob");
  PushImage(bob, "acme/app", "v2", {.layer = "bob's layer"});
  EXPECT_EQ(TagsOf(client_, "acme/app"), (std::vector<std::string>{"v1", "v2"}));
  EXPECT_EQ(bob.Delete(ManifestPath("acme/app", "v2")).status, 202);
  // Another namespace: no push, no pull, no tag list.
  EXPECT_EQ(StatusAndCode(bob.Post(UploadsPath("other/app"))), "403 DENIED");
  EXPECT_EQ(StatusAndCode(bob.Get(ManifestPath("other/app", "v1"))), "403 DENIED");
  EXPECT_EQ(StatusAndCode(bob.Get(TagsPath("other/app"))), "403 DENIED");
  EXPECT_EQ(StatusAndCode(bob.Get(BlobPath("other/app", DigestOf("other layer")))), "403 DENIED");
  EXPECT_EQ(TagsOf(client_, "other/app"), std::vector<std::string>{"v1"});
}

TEST_F(RolesTest, MountNeedsPullOnTheSource) {
  HttpsClient bob = As("bob");
  std::string digest = DigestOf("other layer");
  // bob may not read other/app: no mount, an ordinary upload session instead.
  Response r = bob.Post(UploadsPath("acme/app") + "?mount=" + digest + "&from=other/app");
  EXPECT_EQ(r.status, 202) << r.body;
  EXPECT_EQ(client_.Head(BlobPath("acme/app", digest)).status, 404);
  // From his own namespace the mount works.
  PushImage(client_, "acme/base", "v1", {.layer = "shared layer"});
  r = bob.Post(UploadsPath("acme/app") + "?mount=" + DigestOf("shared layer") + "&from=acme/base");
  EXPECT_EQ(r.status, 201) << r.body;
}

TEST_F(RolesTest, UsersWithoutARoleGetNothing) {
  HttpsClient dave = As("dave");
  EXPECT_EQ(dave.Get("/v2/").status, 200);  // signed in
  EXPECT_EQ(StatusAndCode(dave.Get(ManifestPath("acme/app", "v1"))), "403 DENIED");
  EXPECT_EQ(StatusAndCode(dave.Post(UploadsPath("acme/app"))), "403 DENIED");
  EXPECT_EQ(dave.Get("/v2/_catalog").Json()["repositories"], json::array());
}

TEST_F(RolesTest, CatalogListsOnlyWhatTheCallerMayPull) {
  EXPECT_EQ(As("alice").Get("/v2/_catalog").Json()["repositories"], json({"acme/app"}));
  EXPECT_EQ(client_.Get("/v2/_catalog").Json()["repositories"], json({"acme/app", "other/app"}));
}

TEST_F(RolesTest, OnlyAdminsPushToANamespaceNobodyCreated) {
  EXPECT_EQ(StatusAndCode(As("bob").Post(UploadsPath("nowhere/app"))), "403 DENIED");
  PushImage(client_, "nowhere/app", "v1");
}

TEST_F(RolesTest, AnonymousPullIsOffUntilTheNamespaceAllowsIt) {
  HttpsClient anonymous = keepd_.AnonymousClient();
  EXPECT_EQ(StatusAndCode(anonymous.Get(ManifestPath("acme/app", "v1"))), "401 UNAUTHORIZED");
  Response r = client_.Patch("/admin/v1/namespaces/acme", json{{"anonymous_pull", true}}.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Json()["anonymous_pull"], true);
  EXPECT_EQ(anonymous.Get(ManifestPath("acme/app", "v1"), {{"Accept", image_.media_type}}).status,
            200);
  EXPECT_EQ(anonymous.Get(BlobPath("acme/app", LayerDigest())).body, "acme layer");
  // Pull only: no push, and other namespaces stay closed.
  EXPECT_EQ(StatusAndCode(anonymous.Post(UploadsPath("acme/app"))), "401 UNAUTHORIZED");
  EXPECT_EQ(StatusAndCode(anonymous.Get(ManifestPath("other/app", "v1"))), "401 UNAUTHORIZED");
  // Anonymous tokens carry the pull too.
  json token = anonymous.Get("/token?service=keep&scope=repository:acme/app:pull,push").Json();
  EXPECT_EQ(token["token"].is_string(), true);
  // Users without a role may pull it as well.
  EXPECT_EQ(As("dave").Get(TagsPath("acme/app")).status, 200);
}

TEST_F(RolesTest, TokensCarryOnlyWhatTheRoleAllows) {
  HttpsClient alice = As("alice");
  Response r = alice.Get("/token?service=keep&scope=repository:acme/app:pull,push,delete"
                         "&scope=repository:other/app:pull");
  ASSERT_EQ(r.status, 200) << r.body;
  std::string token = r.Json()["token"];
  HttpsClient bearer = keepd_.AnonymousClient();
  Headers h = {{"Authorization", "Bearer " + token}};
  EXPECT_EQ(bearer.Get(TagsPath("acme/app"), h).status, 200);
  // The token lacks push (she is a reader): a new token would not have it either.
  EXPECT_EQ(StatusAndCode(bearer.Post(UploadsPath("acme/app"), "", h)), "403 DENIED");
  EXPECT_EQ(StatusAndCode(bearer.Get(TagsPath("other/app"), h)), "403 DENIED");
}

TEST_F(RolesTest, RemovingAMemberStopsTheirTokenAtOnce) {
  Response r = As("bob").Get("/token?service=keep&scope=repository:acme/app:pull,push");
  std::string token = r.Json()["token"];
  HttpsClient bearer = keepd_.AnonymousClient();
  Headers h = {{"Authorization", "Bearer " + token}};
  ASSERT_EQ(bearer.Get(TagsPath("acme/app"), h).status, 200);
  ASSERT_EQ(client_.Delete("/admin/v1/namespaces/acme/members/bob").status, 204);
  EXPECT_EQ(StatusAndCode(bearer.Get(TagsPath("acme/app"), h)), "403 DENIED");
  EXPECT_EQ(StatusAndCode(bearer.Post(UploadsPath("acme/app"), "", h)), "403 DENIED");
}

TEST_F(RolesTest, DisabledUsersAreRefusedAtOnce) {
  HttpsClient bob = As("bob");
  ASSERT_EQ(bob.Get(TagsPath("acme/app")).status, 200);  // now cached
  ASSERT_EQ(client_.Patch("/admin/v1/users/bob", json{{"disabled", true}}.dump()).status, 200);
  EXPECT_EQ(StatusAndCode(bob.Get(TagsPath("acme/app"))), "401 UNAUTHORIZED");
  ASSERT_EQ(client_.Patch("/admin/v1/users/bob", json{{"disabled", false}}.dump()).status, 200);
  EXPECT_EQ(bob.Get(TagsPath("acme/app")).status, 200);
}

class RobotTest : public RolesTest {
 protected:
  // Creates a robot; returns {name, secret}.
  std::pair<std::string, std::string> Robot(const std::string& name, const json& scopes,
                                            std::optional<int> expires_in = std::nullopt,
                                            HttpsClient* as = nullptr) {
    json body = {{"name", name}, {"scopes", scopes}};
    if (expires_in) body["expires_in"] = *expires_in;
    Response r = (as ? *as : client_).Post("/admin/v1/robots", body.dump());
    EXPECT_EQ(r.status, 201) << r.body;
    return {r.Json().value("name", ""), r.Json().value("secret", "")};
  }
};

TEST_F(RobotTest, RobotsDoWhatTheirScopesSayAndNothingElse) {
  auto [name, secret] = Robot("ci", json::array({{{"namespace", "acme"}, {"actions", {"pull"}}}}));
  EXPECT_EQ(name, "robot+ci");
  EXPECT_GE(secret.size(), 32u);
  HttpsClient robot = As(name, secret);
  EXPECT_EQ(robot.Get(BlobPath("acme/app", LayerDigest())).body, "acme layer");
  EXPECT_EQ(StatusAndCode(robot.Post(UploadsPath("acme/app"))), "403 DENIED");
  EXPECT_EQ(StatusAndCode(robot.Get(TagsPath("other/app"))), "403 DENIED");
  EXPECT_EQ(robot.Get("/v2/_catalog").Json()["repositories"], json({"acme/app"}));
  // Robots may not use the admin API beyond whoami.
  EXPECT_EQ(robot.Get("/admin/v1/whoami").Json()["robot"], true);
  EXPECT_EQ(StatusAndCode(robot.Get("/admin/v1/namespaces")), "403 DENIED");
  EXPECT_EQ(StatusAndCode(robot.Post("/admin/v1/robots", json{{"name", "x"}}.dump())), "403 DENIED");
}

TEST_F(RobotTest, PushingRobotsPush) {
  auto [name, secret] =
      Robot("builder", json::array({{{"namespace", "acme"}, {"actions", {"pull", "push"}}}}));
  HttpsClient robot = As(name, secret);
  PushImage(robot, "acme/app", "built", {.layer = "built by a robot"});
  EXPECT_EQ(TagsOf(client_, "acme/app"), (std::vector<std::string>{"built", "v1"}));
}

TEST_F(RobotTest, RevokedRobotsAreRefusedAtOnce) {
  auto [name, secret] = Robot("ci", json::array({{{"namespace", "acme"}, {"actions", {"pull"}}}}));
  HttpsClient robot = As(name, secret);
  ASSERT_EQ(robot.Get(TagsPath("acme/app")).status, 200);
  ASSERT_EQ(client_.Delete("/admin/v1/robots/ci").status, 204);
  EXPECT_EQ(StatusAndCode(robot.Get(TagsPath("acme/app"))), "401 UNAUTHORIZED");
  EXPECT_EQ(StatusAndCode(client_.Delete("/admin/v1/robots/ci")), "404 NOT_FOUND");
}

TEST_F(RobotTest, ExpiredRobotsAreRefused) {
  auto [name, secret] =
      Robot("brief", json::array({{{"namespace", "acme"}, {"actions", {"pull"}}}}), 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(2100));
  EXPECT_EQ(StatusAndCode(As(name, secret).Get(TagsPath("acme/app"))), "401 UNAUTHORIZED");
}

TEST_F(RobotTest, MaintainersManageRobotsOfTheirNamespaceOnly) {
  HttpsClient carol = As("carol");
  auto [name, secret] =
      Robot("deploy", json::array({{{"namespace", "acme"}, {"actions", {"pull"}}}}), {}, &carol);
  EXPECT_EQ(name, "robot+deploy");
  Response r = carol.Post("/admin/v1/robots",
                          json{{"name", "sneaky"},
                               {"scopes", {{{"namespace", "other"}, {"actions", {"pull"}}}}}}
                              .dump());
  EXPECT_EQ(StatusAndCode(r), "403 DENIED");
  Robot("admins", json::array({{{"namespace", "other"}, {"actions", {"pull"}}}}));
  // carol sees and revokes hers, not the admin's robot of "other".
  json listed = carol.Get("/admin/v1/robots").Json()["robots"];
  ASSERT_EQ(listed.size(), 1u) << listed;
  EXPECT_EQ(listed[0]["name"], "robot+deploy");
  EXPECT_EQ(StatusAndCode(carol.Delete("/admin/v1/robots/admins")), "403 DENIED");
  EXPECT_EQ(carol.Delete("/admin/v1/robots/robot+deploy").status, 204);
  // Publishers don't manage robots.
  r = As("bob").Post("/admin/v1/robots",
                     json{{"name", "b"}, {"scopes", {{{"namespace", "acme"}, {"actions", {"pull"}}}}}}
                         .dump());
  EXPECT_EQ(StatusAndCode(r), "403 DENIED");
}

}  // namespace
}  // namespace keep::testkit
