// Headers on every kind of answer keepd gives, made by a handler, an error,
// a refusal before routing or a blob streamed: X-Content-Type-Options:
// nosniff always, no Server field, Strict-Transport-Security only when
// tls.hsts_max_age_seconds is set; Cache-Control: no-store on the token
// service and the admin API, errors included, while blobs keep theirs.
#include "tests/support/keepd_test.h"

#include <utility>
#include <vector>

namespace keep::testkit {
namespace {

using Answers = std::vector<std::pair<std::string, Response>>;

// One answer of each kind, named, with the status it must have (so that a
// kind that stopped being what its name says fails here, not silently).
Answers EveryKind(const KeepdProcess& keepd, HttpsClient& admin) {
  Manifest image = PushImage(admin, "acme/app", "v1");
  const std::string layer = BlobPath("acme/app", DigestOf("layer bytes"));
  HttpsClient anonymous = keepd.AnonymousClient();
  Answers a;
  auto add = [&](std::string name, int status, Response r) {
    EXPECT_EQ(r.status, status) << name << ": " << r.body;
    a.emplace_back(std::move(name), std::move(r));
  };
  add("api check", 200, admin.Get("/v2/"));
  add("challenge", 401, anonymous.Get("/v2/"));
  add("blob", 200, admin.Get(layer));
  add("blob head", 200, admin.Head(layer));
  add("blob range", 206, admin.Get(layer, {{"Range", "bytes=0-3"}}));
  add("blob unknown", 404, admin.Get(BlobPath("acme/app", DigestOf("never pushed"))));
  add("manifest", 200, admin.Get(ManifestPath("acme/app", "v1"), {{"Accept", image.media_type}}));
  add("manifest head", 200,
      admin.Head(ManifestPath("acme/app", "v1"), {{"Accept", image.media_type}}));
  add("upload", 202, admin.Post(UploadsPath("acme/app")));
  add("tags", 200, admin.Get(TagsPath("acme/app")));
  add("catalog", 200, admin.Get("/v2/_catalog"));
  add("bad name", 400, admin.Get("/v2/UPPER/tags/list"));
  add("no route", 404, admin.Get("/nothing/here"));
  add("wrong method", 405, admin.Send({http::verb::delete_, "/v2/"}));
  add("token", 200, admin.Get("/token?service=keep&scope=repository:acme/app:pull"));
  add("anonymous token", 200, anonymous.Get("/token?service=keep"));
  add("token refused", 401, [&] {
    HttpsClient wrong = keepd.AnonymousClient();
    wrong.SetBasicAuth(kAdminUser, "not-the-password");
    return wrong.Get("/token?service=keep");
  }());
  add("admin", 200, admin.Get("/admin/v1/whoami"));
  add("admin unknown", 404, admin.Get("/admin/v1/users/nobody"));
  add("admin anonymous", 401, anonymous.Get("/admin/v1/whoami"));
  add("healthz", 200, anonymous.Get("/healthz"));
  add("readyz", 200, anonymous.Get("/readyz"));
  // Refused before routing: a body whose length cannot be told.
  HttpsClient raw = keepd.AnonymousClient();
  raw.WriteRaw("GET /v2/ HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: gzip\r\n\r\n");
  auto malformed = raw.ReadResponse();
  EXPECT_TRUE(malformed.has_value()) << raw.last_error();
  if (malformed) add("malformed", 400, std::move(*malformed));
  return a;
}

using SecurityHeadersTest = KeepdTest;

TEST_F(SecurityHeadersTest, EveryAnswerSaysNosniffAndNamesNoServer) {
  for (const auto& [kind, r] : EveryKind(keepd_, client_)) {
    SCOPED_TRACE(kind);
    EXPECT_EQ(r.Header("X-Content-Type-Options"), "nosniff");
    EXPECT_FALSE(r.HasHeader("Server")) << r.Header("Server");
    EXPECT_FALSE(r.HasHeader("X-Powered-By"));
    EXPECT_FALSE(r.HasHeader("Strict-Transport-Security")) << "HSTS is off unless configured";
    // Keep serves no HTML (were it to, Content-Security-Policy would come with it).
    EXPECT_EQ(r.Header("Content-Type").find("html"), std::string::npos) << r.Header("Content-Type");
    EXPECT_FALSE(r.HasHeader("Content-Security-Policy"));
  }
}

TEST_F(SecurityHeadersTest, TokensAndTheAdminApiAreNeverStored) {
  Answers answers = EveryKind(keepd_, client_);
  auto of = [&](const std::string& kind) -> const Response& {
    for (const auto& [k, r] : answers) {
      if (k == kind) return r;
    }
    ADD_FAILURE() << "no answer of kind " << kind;
    static const Response none;
    return none;
  };
  for (const char* kind : {"token", "anonymous token", "token refused", "admin", "admin unknown",
                           "admin anonymous", "healthz", "readyz"}) {
    SCOPED_TRACE(kind);
    EXPECT_EQ(of(kind).Header("Cache-Control"), "no-store");
  }
  // Blobs, addressed by their content, stay cacheable; the rest is as it was.
  EXPECT_EQ(of("blob").Header("Cache-Control"), "max-age=31536000");
  EXPECT_EQ(of("manifest").Header("Cache-Control"), "");
  EXPECT_EQ(of("api check").Header("Cache-Control"), "");
}

class HstsTest : public KeepdTest {
 protected:
  HstsTest() : KeepdTest({{"tls", {{"hsts_max_age_seconds", 31536000}}}}) {}
};

TEST_F(HstsTest, EveryAnswerCarriesTheConfiguredMaxAge) {
  for (const auto& [kind, r] : EveryKind(keepd_, client_)) {
    SCOPED_TRACE(kind);
    EXPECT_EQ(r.Header("Strict-Transport-Security"), "max-age=31536000");
    EXPECT_EQ(r.Header("X-Content-Type-Options"), "nosniff");
  }
}

}  // namespace
}  // namespace keep::testkit
