// The Docker token-auth flow: challenges, GET and POST /token, and what a
// bearer token does and does not let through.
#include "auth/token.h"
#include "tests/support/keepd_test.h"

#include <chrono>
#include <thread>

namespace keep::testkit {
namespace {

class TokenTest : public KeepdTest {
 protected:
  std::string Realm() const {
    return "https://127.0.0.1:" + std::to_string(keepd_.port()) + "/token";
  }
  // GET /token as `client` (its Basic credentials, if any) for these scopes.
  Response TokenResponse(HttpsClient& client, const std::vector<std::string>& scopes) {
    std::string target = "/token?service=keep";
    for (const auto& s : scopes) target += "&scope=" + s;
    return client.Get(target);
  }
  std::string TokenFor(const std::vector<std::string>& scopes) {
    Response r = TokenResponse(client_, scopes);
    EXPECT_EQ(r.status, 200) << r.body;
    return r.Json().value("token", "");
  }
  Response WithToken(const std::string& method, const std::string& target,
                     const std::string& token) {
    HttpsClient c = keepd_.AnonymousClient();
    Headers h = {{"Authorization", "Bearer " + token}};
    if (method == "POST") return c.Post(target, "", h);
    return c.Get(target, h);
  }
  // A token signed with keepd's own key, with claims of the test's choosing.
  std::string Forge(TokenClaims claims) {
    auto issuer = TokenIssuer::Open((keepd_.data_dir() / "token.key").string(), "keep");
    EXPECT_TRUE(issuer);
    return issuer->Issue(claims);
  }
  static std::int64_t Now() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
};

TEST_F(TokenTest, ChallengeNamesTheScopeTheRequestNeeds) {
  HttpsClient anonymous = keepd_.AnonymousClient();
  auto challenge = [&](Response r) { return r.Header("WWW-Authenticate"); };
  std::string base = "Bearer realm=\"" + Realm() + "\",service=\"keep\"";
  EXPECT_EQ(challenge(anonymous.Get(TagsPath("acme/app"))),
            base + ",scope=\"repository:acme/app:pull\"");
  EXPECT_EQ(challenge(anonymous.Post(UploadsPath("acme/app"))),
            base + ",scope=\"repository:acme/app:pull,push\"");
  EXPECT_EQ(challenge(anonymous.Get("/v2/_catalog")), base + ",scope=\"registry:catalog:*\"");
}

// A cross-repository mount needs pull on `from` too: the challenge names it,
// so that a client that asks for what the challenge says gets a token that
// lets the mount happen (instead of a silent fallback to an upload).
TEST_F(TokenTest, MountChallengeNamesPullOnTheSource) {
  std::string digest = PushBlob(client_, "other/src", "layer to mount");
  std::string base = "Bearer realm=\"" + Realm() + "\",service=\"keep\"";
  std::string mount = UploadsPath("acme/app") + "?mount=" + digest + "&from=other/src";
  HttpsClient anonymous = keepd_.AnonymousClient();
  std::string challenge = anonymous.Post(mount).Header("WWW-Authenticate");
  EXPECT_EQ(challenge,
            base + ",scope=\"repository:acme/app:pull,push repository:other/src:pull\"");

  // Follow it as clients do: the scope parameter as it is, spaces and all.
  auto at = challenge.find("scope=\"");
  ASSERT_NE(at, std::string::npos) << challenge;
  std::string scope = challenge.substr(at + 7, challenge.find('"', at + 7) - at - 7);
  std::string encoded;
  for (char c : scope) encoded += c == ' ' ? std::string("%20") : std::string(1, c);
  std::string token = TokenFor({encoded});
  Response r = WithToken("POST", mount, token);
  EXPECT_EQ(r.status, 201) << "the mount became an upload: " << r.status << " " << r.body;
  EXPECT_EQ(r.Header("Docker-Content-Digest"), digest);

  // Only a real mount names a source, and only a valid repository name is echoed.
  EXPECT_EQ(anonymous.Post(UploadsPath("acme/app") + "?from=other/src").Header("WWW-Authenticate"),
            base + ",scope=\"repository:acme/app:pull,push\"");
  EXPECT_EQ(anonymous.Post(UploadsPath("acme/app") + "?mount=" + digest + "&from=Bad%22Name")
                .Header("WWW-Authenticate"),
            base + ",scope=\"repository:acme/app:pull,push\"");
  // Mounting from itself needs nothing more.
  EXPECT_EQ(anonymous.Post(UploadsPath("acme/app") + "?mount=" + digest + "&from=acme/app")
                .Header("WWW-Authenticate"),
            base + ",scope=\"repository:acme/app:pull,push\"");
}

TEST_F(TokenTest, TokenResponseHasTheSpecFields) {
  Response r = TokenResponse(client_, {"repository:acme/app:pull,push"});
  ASSERT_EQ(r.status, 200) << r.body;
  auto j = r.Json();
  EXPECT_FALSE(j.value("token", "").empty());
  EXPECT_EQ(j.value("token", ""), j.value("access_token", "x"));
  EXPECT_EQ(j.value("expires_in", 0), 300);
  EXPECT_EQ(j.value("issued_at", "").size(), 20u) << j.dump();
}

TEST_F(TokenTest, TokenCarriesExactlyTheGrantedScope) {
  std::string digest = PushBlob(client_, "acme/app", "layer bytes");
  std::string pull = TokenFor({"repository:acme/app:pull"});
  EXPECT_EQ(WithToken("GET", BlobPath("acme/app", digest), pull).status, 200);
  // Pull does not cover push: the client is asked for a better token.
  Response push = WithToken("POST", UploadsPath("acme/app"), pull);
  EXPECT_TRUE(IsError(push, 401, "UNAUTHORIZED"));
  EXPECT_NE(push.Header("WWW-Authenticate").find("error=\"insufficient_scope\""), std::string::npos);
  // Nor another repository.
  EXPECT_TRUE(IsError(WithToken("GET", TagsPath("other/app"), pull), 401, "UNAUTHORIZED"));
  std::string both = TokenFor({"repository:acme/app:pull,push"});
  EXPECT_EQ(WithToken("POST", UploadsPath("acme/app"), both).status, 202);
}

TEST_F(TokenTest, SeveralScopesInOneRequest) {
  std::string token = TokenFor({"repository:a/one:pull", "repository:b/two:pull,push"});
  EXPECT_EQ(WithToken("POST", UploadsPath("b/two"), token).status, 202);
  EXPECT_TRUE(IsError(WithToken("POST", UploadsPath("a/one"), token), 401, "UNAUTHORIZED"));
}

TEST_F(TokenTest, AnonymousTokensGrantNothingButTheApiCheck) {
  HttpsClient anonymous = keepd_.AnonymousClient();
  Response r = TokenResponse(anonymous, {"repository:acme/app:pull"});
  ASSERT_EQ(r.status, 200) << r.body;
  std::string token = r.Json().value("token", "");
  EXPECT_EQ(WithToken("GET", "/v2/", token).status, 200);
  EXPECT_TRUE(IsError(WithToken("GET", TagsPath("acme/app"), token), 401, "UNAUTHORIZED"));
}

TEST_F(TokenTest, WrongPasswordGetsNoToken) {
  HttpsClient wrong = keepd_.AnonymousClient();
  wrong.SetBasicAuth(kAdminUser, "wrong");
  Response r = TokenResponse(wrong, {"repository:acme/app:pull"});
  EXPECT_TRUE(IsError(r, 401, "UNAUTHORIZED"));
  EXPECT_EQ(r.Header("WWW-Authenticate").rfind("Basic realm=\"Keep\"", 0), 0u);
}

TEST_F(TokenTest, BadTokensAreRefused) {
  std::string good = TokenFor({"repository:acme/app:pull"});
  ASSERT_EQ(WithToken("GET", TagsPath("acme/app"), good).status, 404);  // allowed; no such repo

  std::string tampered = good;
  auto dot = tampered.find('.');
  tampered[dot + 5] = tampered[dot + 5] == 'A' ? 'B' : 'A';  // the payload
  std::string bad_sig = good.substr(0, good.rfind('.') + 1) + std::string(86, 'A');
  TokenClaims base{kAdminUser, "keep", Now() - 10, Now() + 300,
                   {Grant{"repository", "acme/app", {"pull"}}}};
  TokenClaims expired = base;
  expired.issued_at = Now() - 600;
  expired.expires_at = Now() - 1;
  TokenClaims audience = base;
  audience.audience = "some-other-registry";
  TokenClaims future = base;
  future.issued_at = Now() + 3600;
  for (const auto& [name, token] :
       std::vector<std::pair<std::string, std::string>>{{"tampered payload", tampered},
                                                        {"bad signature", bad_sig},
                                                        {"expired", Forge(expired)},
                                                        {"wrong audience", Forge(audience)},
                                                        {"not yet valid", Forge(future)},
                                                        {"garbage", "not.a.token"},
                                                        {"empty", ""}}) {
    SCOPED_TRACE(name);
    EXPECT_TRUE(IsError(WithToken("GET", TagsPath("acme/app"), token), 401, "UNAUTHORIZED"));
  }
  EXPECT_EQ(WithToken("GET", TagsPath("acme/app"), Forge(base)).status, 404);  // the control
}

// keepd remembers a token it verified (a client sends the same one with
// every request); what it remembers neither outlives the token nor the
// account it was issued to.
TEST_F(TokenTest, ATokenInUseStillExpires) {
  TokenClaims soon{
      kAdminUser, "keep", Now() - 10, Now() + 2, {Grant{"repository", "acme/app", {"pull"}}}};
  std::string token = Forge(soon);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(WithToken("GET", TagsPath("acme/app"), token).status, 404);
  while (Now() < soon.expires_at) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  Response late = WithToken("GET", TagsPath("acme/app"), token);
  EXPECT_TRUE(IsError(late, 401, "UNAUTHORIZED")) << late.status << " " << late.body;
  EXPECT_NE(ErrorMessage(late).find("expired"), std::string::npos) << ErrorMessage(late);
}

TEST_F(TokenTest, ATokenInUseStopsWhenItsAccountIsDisabled) {
  ASSERT_EQ(
      client_.Post("/admin/v1/users", R"({"name":"carol","password":"carol-password-1"})").status,
      201);
  TokenClaims claims{"carol", "keep", Now() - 10, Now() + 300, {}};
  std::string token = Forge(claims);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(WithToken("GET", "/v2/", token).status, 200);
  ASSERT_EQ(client_.Patch("/admin/v1/users/carol", R"({"disabled":true})").status, 200);
  EXPECT_TRUE(IsError(WithToken("GET", "/v2/", token), 401, "UNAUTHORIZED"));
  ASSERT_EQ(client_.Patch("/admin/v1/users/carol", R"({"disabled":false})").status, 200);
  EXPECT_EQ(WithToken("GET", "/v2/", token).status, 200);
}

TEST_F(TokenTest, PostPasswordGrant) {
  HttpsClient anonymous = keepd_.AnonymousClient();
  Headers form = {{"Content-Type", "application/x-www-form-urlencoded"}};
  Response r = anonymous.Post("/token",
                              std::string("grant_type=password&service=keep&client_id=test") +
                                  "&username=" + kAdminUser + "&password=" + kAdminPassword +
                                  "&scope=repository%3Aacme%2Fapp%3Apull%2Cpush",
                              form);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Json().value("scope", ""), "repository:acme/app:pull,push");
  EXPECT_EQ(WithToken("POST", UploadsPath("acme/app"), r.Json().value("access_token", "")).status,
            202);
  Response wrong = anonymous.Post(
      "/token", std::string("grant_type=password&username=") + kAdminUser + "&password=nope", form);
  EXPECT_TRUE(IsError(wrong, 401, "UNAUTHORIZED"));
  Response refresh = anonymous.Post("/token", "grant_type=refresh_token&refresh_token=x", form);
  EXPECT_EQ(refresh.status, 400);
  EXPECT_EQ(refresh.Json().value("error", ""), "unsupported_grant_type");
}

TEST_F(TokenTest, PostScopesAreSpaceSeparatedFormValues) {
  HttpsClient anonymous = keepd_.AnonymousClient();
  Response r = anonymous.Post(
      "/token",
      std::string("grant_type=password&username=") + kAdminUser + "&password=" + kAdminPassword +
          "&scope=repository:a/one:pull+repository:b/two:pull,push",
      {{"Content-Type", "application/x-www-form-urlencoded"}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Json().value("scope", ""), "repository:a/one:pull repository:b/two:pull,push");
  std::string token = r.Json().value("access_token", "");
  EXPECT_EQ(WithToken("POST", UploadsPath("b/two"), token).status, 202);
  EXPECT_TRUE(IsError(WithToken("POST", UploadsPath("a/one"), token), 401, "UNAUTHORIZED"));
}

TEST_F(TokenTest, CatalogNeedsTheCatalogScope) {
  PushBlob(client_, "acme/app", "x");
  std::string repo_only = TokenFor({"repository:acme/app:pull"});
  EXPECT_TRUE(IsError(WithToken("GET", "/v2/_catalog", repo_only), 401, "UNAUTHORIZED"));
  std::string catalog = TokenFor({"registry:catalog:*"});
  Response r = WithToken("GET", "/v2/_catalog", catalog);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Json()["repositories"], nlohmann::json::array({"acme/app"}));
}

TEST_F(TokenTest, TokensSurviveARestart) {
  std::string token = TokenFor({"repository:acme/app:pull"});
  RestartKeepd();
  EXPECT_EQ(WithToken("GET", TagsPath("acme/app"), token).status, 404);  // allowed; no such repo
}

}  // namespace
}  // namespace keep::testkit
