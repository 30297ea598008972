// The API base, authentication, routing, repository names and the error body.
#include "tests/support/keepd_test.h"

namespace keep::testkit {
namespace {

using BaseTest = KeepdTest;

TEST_F(BaseTest, AnonymousIsChallengedForAToken) {
  HttpsClient anonymous = keepd_.AnonymousClient();
  Response r = anonymous.Get("/v2/");
  EXPECT_TRUE(IsError(r, 401, "UNAUTHORIZED"));
  EXPECT_EQ(r.Header("WWW-Authenticate"),
            "Bearer realm=\"https://127.0.0.1:" + std::to_string(keepd_.port()) +
                "/token\",service=\"keep\"");
}

TEST_F(BaseTest, WrongCredentialsAreChallenged) {
  const std::pair<std::string, std::string> wrong[] = {
      {kAdminUser, "not-the-password"}, {"nobody", kAdminPassword}, {kAdminUser, ""}};
  for (const auto& [user, password] : wrong) {
    SCOPED_TRACE(user + ":" + password);
    HttpsClient client = keepd_.AnonymousClient();
    client.SetBasicAuth(user, password);
    Response r = client.Get("/v2/");
    EXPECT_TRUE(IsError(r, 401, "UNAUTHORIZED"));
    EXPECT_EQ(r.Header("WWW-Authenticate").rfind("Bearer realm=", 0), 0u);
  }
}

TEST_F(BaseTest, RightCredentialsAnswerWithTheApiVersion) {
  Response r = client_.Get("/v2/");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Header("Docker-Distribution-API-Version"), "registry/2.0");
}

TEST_F(BaseTest, RepositoryEndpointsNeedCredentials) {
  std::string digest = PushBlob(client_, "private/app", "secret bytes");
  HttpsClient anonymous = keepd_.AnonymousClient();
  EXPECT_TRUE(IsError(anonymous.Get(BlobPath("private/app", digest)), 401, "UNAUTHORIZED"));
  EXPECT_TRUE(IsError(anonymous.Get(TagsPath("private/app")), 401, "UNAUTHORIZED"));
  EXPECT_TRUE(IsError(anonymous.Post(UploadsPath("private/app")), 401, "UNAUTHORIZED"));
  EXPECT_TRUE(IsError(anonymous.Get("/v2/_catalog"), 401, "UNAUTHORIZED"));
}

TEST_F(BaseTest, ConnectionIsKeptAliveAcrossRequests) {
  for (int i = 0; i < 5; ++i) ASSERT_EQ(client_.Get("/v2/").status, 200);
  PushBlob(client_, "keepalive", "bytes");
  EXPECT_EQ(client_.Get("/v2/nothing/here/tags/list").status, 404);
  EXPECT_EQ(client_.connections_opened(), 1);
}

TEST_F(BaseTest, ErrorBodyHasTheSpecShape) {
  Response r = client_.Get(BlobPath("shape", DigestOf("never pushed")));
  ASSERT_EQ(r.status, 404);
  EXPECT_EQ(r.Header("Content-Type"), "application/json");
  nlohmann::json j = r.Json();
  ASSERT_TRUE(j.is_object()) << r.body;
  ASSERT_TRUE(j["errors"].is_array());
  ASSERT_EQ(j["errors"].size(), 1u);
  const nlohmann::json& e = j["errors"][0];
  EXPECT_EQ(e["code"], "BLOB_UNKNOWN");
  ASSERT_TRUE(e["message"].is_string());
  EXPECT_FALSE(e["message"].get<std::string>().empty());
  EXPECT_TRUE(e.contains("detail"));
}

TEST_F(BaseTest, UnknownRoutesAreNotFound) {
  for (const char* target : {"/", "/v1/", "/v2/_ping", "/v2/repo/unknown/thing", "/v3/repo/tags/list",
                             "/v2/repo/manifests/"}) {
    SCOPED_TRACE(target);
    EXPECT_EQ(client_.Get(target).status, 404);
  }
}

TEST_F(BaseTest, WrongVerbOnAKnownRouteIsUnsupported) {
  std::string blob = BlobPath("verbs", DigestOf("x"));
  const std::pair<http::verb, std::string> wrong[] = {
      {http::verb::post, TagsPath("verbs")},
      {http::verb::put, blob},
      {http::verb::patch, ManifestPath("verbs", "latest")},
      {http::verb::delete_, "/v2/_catalog"},
      {http::verb::delete_, "/v2/"},
  };
  for (const auto& [verb, target] : wrong) {
    SCOPED_TRACE(std::string(http::to_string(verb)) + " " + target);
    EXPECT_TRUE(IsError(client_.Send({verb, target}), 405, "UNSUPPORTED"));
  }
}

// Each bad name is tried where a lenient parser would find a real repository:
// the repositories below exist, so answering 200 means the name was rewritten.
class RepoNameTest : public KeepdTest, public ::testing::WithParamInterface<const char*> {
 protected:
  void SetUp() override {
    for (const char* repo : {"upper", "a/b", "b", "a.b", "a/c"}) PushImage(client_, repo, "v1");
  }
};

TEST_P(RepoNameTest, InvalidNameIsRefused) {
  Response r = client_.Get(GetParam());
  EXPECT_NE(r.status / 100, 2) << r.body;
  if (r.status != 404) {
    EXPECT_TRUE(IsError(r, 400, "NAME_INVALID"));
  }
}

INSTANTIATE_TEST_SUITE_P(
    Names, RepoNameTest,
    ::testing::Values("/v2/UPPER/tags/list", "/v2/Upper/manifests/v1", "/v2/a..b/tags/list",
                      "/v2/a//b/tags/list", "/v2//b/tags/list", "/v2/a/%2e%2e/b/tags/list",
                      "/v2/a/%2E%2E/b/tags/list", "/v2/a/../b/tags/list", "/v2/a/./b/tags/list",
                      "/v2/a/%2e%2e%2fb/tags/list", "/v2/a/b/../c/tags/list",
                      "/v2/-a/tags/list", "/v2/a-/tags/list", "/v2/a%00b/tags/list"));

}  // namespace
}  // namespace keep::testkit
