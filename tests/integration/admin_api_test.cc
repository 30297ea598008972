// The admin API (/admin/v1/, docs/admin-api.md): each call for the roles
// allowed to make it, refusals for the others, and clear errors for bad input.
#include "tests/support/keepd_test.h"

namespace keep::testkit {
namespace {

using nlohmann::json;


class AdminApiTest : public KeepdTest {
 protected:
  Response AddUser(const std::string& name, json extra = json::object()) {
    extra["name"] = name;
    if (!extra.contains("password")) extra["password"] = "password-of-" + name;
    return client_.Post("/admin/v1/users", extra.dump());
  }
  HttpsClient As(const std::string& user) {
    HttpsClient c = keepd_.AnonymousClient();
    c.SetBasicAuth(user, "password-of-" + user);
    return c;
  }
};

TEST_F(AdminApiTest, WhoamiSaysWhoAndWhere) {
  ASSERT_EQ(AddUser("erin").status, 201);
  ASSERT_EQ(client_.Post("/admin/v1/namespaces", R"({"name":"acme"})").status, 201);
  ASSERT_EQ(client_.Put("/admin/v1/namespaces/acme/members/erin", R"({"role":"publisher"})").status,
            200);
  json me = As("erin").Get("/admin/v1/whoami").Json();
  EXPECT_EQ(me["name"], "erin");
  EXPECT_EQ(me["admin"], false);
  EXPECT_EQ(me["namespaces"], json::parse(R"([{"name":"acme","role":"publisher"}])"));
  EXPECT_EQ(StatusAndCode(keepd_.AnonymousClient().Get("/admin/v1/whoami")), "401 UNAUTHORIZED");
}

TEST_F(AdminApiTest, UsersAreCreatedListedAndShownOnlyByAdmins) {
  Response r = AddUser("erin", {{"password", nullptr}});  // generated
  ASSERT_EQ(r.status, 201) << r.body;
  std::string generated = r.Json().value("password", "");
  EXPECT_EQ(generated.size(), 24u);
  HttpsClient erin = keepd_.AnonymousClient();
  erin.SetBasicAuth("erin", generated);
  EXPECT_EQ(erin.Get("/admin/v1/users/erin").Json()["name"], "erin");
  EXPECT_EQ(StatusAndCode(erin.Get("/admin/v1/users")), "403 DENIED");
  EXPECT_EQ(StatusAndCode(erin.Post("/admin/v1/users", R"({"name":"mallory","password":"long enough pw"})")),
            "403 DENIED");
  EXPECT_EQ(StatusAndCode(erin.Get("/admin/v1/users/admin")), "403 DENIED");
  EXPECT_EQ(StatusAndCode(erin.Patch("/admin/v1/users/erin", R"({"admin":true})")), "403 DENIED");
  json users = client_.Get("/admin/v1/users").Json()["users"];
  ASSERT_EQ(users.size(), 2u);
  EXPECT_EQ(users[1]["name"], "erin");
  EXPECT_EQ(users[1].contains("password_hash"), false);
  EXPECT_EQ(client_.Get("/admin/v1/users/mallory").status, 404);
}

TEST_F(AdminApiTest, UsersChangeTheirOwnPasswordOnly) {
  ASSERT_EQ(AddUser("erin").status, 201);
  ASSERT_EQ(AddUser("frank").status, 201);
  HttpsClient erin = As("erin");
  EXPECT_EQ(StatusAndCode(erin.Put("/admin/v1/users/frank/password", R"({"password":"hijacked-password"})")),
            "403 DENIED");
  EXPECT_EQ(As("frank").Get("/v2/").status, 200);
  Response r = erin.Put("/admin/v1/users/erin/password", R"({"password":"a brand new password"})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(StatusAndCode(As("erin").Get("/v2/")), "401 UNAUTHORIZED");
  HttpsClient renewed = keepd_.AnonymousClient();
  renewed.SetBasicAuth("erin", "a brand new password");
  EXPECT_EQ(renewed.Get("/v2/").status, 200);
  // An admin may reset anyone's, getting a generated one.
  r = client_.Put("/admin/v1/users/frank/password", "{}");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.Json().value("password", "").size(), 24u);
}

TEST_F(AdminApiTest, BadInputIsRefusedWithTheFieldNamed) {
  EXPECT_EQ(StatusAndCode(AddUser("Bad Name")), "400 INVALID");
  EXPECT_EQ(StatusAndCode(AddUser("short", {{"password", "tiny"}})), "400 INVALID");
  Response r = AddUser("erin", {{"colour", "blue"}});
  EXPECT_EQ(StatusAndCode(r), "400 INVALID");
  EXPECT_NE(ErrorMessage(r).find("colour"), std::string::npos) << ErrorMessage(r);
  EXPECT_EQ(StatusAndCode(AddUser("erin", {{"admin", "yes"}})), "400 INVALID");
  EXPECT_EQ(StatusAndCode(client_.Post("/admin/v1/users", "not json")), "400 INVALID");
  EXPECT_EQ(StatusAndCode(client_.Post("/admin/v1/namespaces", R"({"name":"Has/Slash"})")),
            "400 NAME_INVALID");
  EXPECT_EQ(StatusAndCode(client_.Post("/admin/v1/namespaces", R"({"name":"a/b"})")), "400 NAME_INVALID");
  ASSERT_EQ(client_.Post("/admin/v1/namespaces", R"({"name":"acme"})").status, 201);
  EXPECT_EQ(StatusAndCode(client_.Post("/admin/v1/namespaces", R"({"name":"acme"})")), "409 CONFLICT");
  ASSERT_EQ(AddUser("erin").status, 201);
  EXPECT_EQ(StatusAndCode(AddUser("erin")), "409 CONFLICT");
  EXPECT_EQ(StatusAndCode(client_.Put("/admin/v1/namespaces/acme/members/erin", R"({"role":"owner"})")),
            "400 INVALID");
  EXPECT_EQ(StatusAndCode(client_.Put("/admin/v1/namespaces/acme/members/nobody", R"({"role":"reader"})")),
            "404 NOT_FOUND");
  EXPECT_EQ(StatusAndCode(client_.Put("/admin/v1/namespaces/nowhere/members/erin", R"({"role":"reader"})")),
            "404 NOT_FOUND");
  EXPECT_EQ(StatusAndCode(client_.Get("/admin/v1/users/..%2f..")), "400 INVALID");
  EXPECT_EQ(StatusAndCode(client_.Get("/admin/v1/bogus")), "404 NOT_FOUND");
  EXPECT_EQ(StatusAndCode(client_.Delete("/admin/v1/users")), "405 UNSUPPORTED");
  // Robots: scopes must name existing namespaces and known actions.
  EXPECT_EQ(StatusAndCode(client_.Post("/admin/v1/robots", R"({"name":"r","scopes":[]})")), "400 INVALID");
  EXPECT_EQ(StatusAndCode(client_.Post(
                "/admin/v1/robots",
                R"({"name":"r","scopes":[{"namespace":"acme","actions":["admin"]}]})")),
            "400 INVALID");
  EXPECT_EQ(StatusAndCode(client_.Post(
                "/admin/v1/robots",
                R"({"name":"r","scopes":[{"namespace":"nowhere","actions":["pull"]}]})")),
            "404 NOT_FOUND");
  EXPECT_EQ(StatusAndCode(client_.Post(
                "/admin/v1/robots",
                R"({"name":"r","expires_in":-5,"scopes":[{"namespace":"acme","actions":["pull"]}]})")),
            "400 INVALID");
  EXPECT_EQ(client_.Get("/admin/v1/robots").Json()["robots"], json::array());
}

TEST_F(AdminApiTest, TheLastAdminStays) {
  Response r = client_.Patch("/admin/v1/users/admin", R"({"disabled":true})");
  EXPECT_EQ(StatusAndCode(r), "409 CONFLICT");
  EXPECT_EQ(StatusAndCode(client_.Patch("/admin/v1/users/admin", R"({"admin":false})")), "409 CONFLICT");
  EXPECT_EQ(client_.Get("/v2/").status, 200);
  ASSERT_EQ(AddUser("second", {{"admin", true}}).status, 201);
  EXPECT_EQ(client_.Patch("/admin/v1/users/second", R"({"disabled":true})").status, 200);
  EXPECT_EQ(StatusAndCode(client_.Patch("/admin/v1/users/admin", R"({"disabled":true})")), "409 CONFLICT");
}

TEST_F(AdminApiTest, MaintainersManageTheirNamespaceOnly) {
  for (const char* ns : {"acme", "other"}) {
    ASSERT_EQ(client_.Post("/admin/v1/namespaces", json{{"name", ns}}.dump()).status, 201);
  }
  for (const char* u : {"carol", "bob"}) ASSERT_EQ(AddUser(u).status, 201);
  ASSERT_EQ(client_.Put("/admin/v1/namespaces/acme/members/carol", R"({"role":"maintainer"})").status,
            200);
  HttpsClient carol = As("carol");
  EXPECT_EQ(carol.Put("/admin/v1/namespaces/acme/members/bob", R"({"role":"publisher"})").status,
            200);
  json acme = carol.Get("/admin/v1/namespaces/acme").Json();
  EXPECT_EQ(acme["members"], json::parse(R"([{"user":"bob","role":"publisher"},
                                            {"user":"carol","role":"maintainer"}])"));
  EXPECT_EQ(carol.Patch("/admin/v1/namespaces/acme", R"({"anonymous_pull":true})").status, 200);
  // Not in "other", and no namespace creation or deletion.
  EXPECT_EQ(StatusAndCode(carol.Put("/admin/v1/namespaces/other/members/bob", R"({"role":"reader"})")),
            "403 DENIED");
  EXPECT_EQ(StatusAndCode(carol.Get("/admin/v1/namespaces/other")), "403 DENIED");
  EXPECT_EQ(StatusAndCode(carol.Post("/admin/v1/namespaces", R"({"name":"mine"})")), "403 DENIED");
  EXPECT_EQ(StatusAndCode(carol.Delete("/admin/v1/namespaces/acme")), "403 DENIED");
  // The list shows her namespaces; admins see all.
  json listed = carol.Get("/admin/v1/namespaces").Json()["namespaces"];
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0]["name"], "acme");
  EXPECT_EQ(client_.Get("/admin/v1/namespaces").Json()["namespaces"].size(), 2u);
  // A publisher is no maintainer.
  EXPECT_EQ(StatusAndCode(As("bob").Get("/admin/v1/namespaces/acme/members")), "403 DENIED");
  EXPECT_EQ(carol.Delete("/admin/v1/namespaces/acme/members/bob").status, 204);
  EXPECT_EQ(StatusAndCode(carol.Delete("/admin/v1/namespaces/acme/members/bob")), "404 NOT_FOUND");
}

TEST_F(AdminApiTest, NamespacesHoldingManifestsAreNotDeleted) {
  ASSERT_EQ(client_.Post("/admin/v1/namespaces", R"({"name":"acme"})").status, 201);
  Manifest m = PushImage(client_, "acme/app", "v1");
  EXPECT_EQ(client_.Get("/admin/v1/namespaces/acme").Json()["repositories"], 1);
  Response r = client_.Delete("/admin/v1/namespaces/acme");
  EXPECT_EQ(StatusAndCode(r), "409 CONFLICT");
  EXPECT_NE(ErrorMessage(r).find("delete them first"), std::string::npos) << ErrorMessage(r);
  EXPECT_EQ(TagsOf(client_, "acme/app"), std::vector<std::string>{"v1"});
  ASSERT_EQ(client_.Delete(ManifestPath("acme/app", m.digest())).status, 202);
  EXPECT_EQ(client_.Delete("/admin/v1/namespaces/acme").status, 204);
  EXPECT_EQ(StatusAndCode(client_.Get("/admin/v1/namespaces/acme")), "404 NOT_FOUND");
}

TEST_F(AdminApiTest, BearerTokensNeedTheAdminScope) {
  std::string pull = client_.Get("/token?service=keep&scope=repository:acme/app:pull")
                         .Json()["token"];
  HttpsClient bearer = keepd_.AnonymousClient();
  Response r = bearer.Get("/admin/v1/users", {{"Authorization", "Bearer " + pull}});
  EXPECT_EQ(StatusAndCode(r), "401 UNAUTHORIZED");
  EXPECT_NE(r.Header("WWW-Authenticate").find("scope=\"registry:admin:*\""), std::string::npos)
      << r.Header("WWW-Authenticate");
  std::string admin = client_.Get("/token?service=keep&scope=registry:admin:*").Json()["token"];
  EXPECT_EQ(bearer.Get("/admin/v1/users", {{"Authorization", "Bearer " + admin}}).status, 200);
}

}  // namespace
}  // namespace keep::testkit
