// Client certificates (tls.client_ca): a certificate from the configured CA
// signs its holder in as the robot account its common name names, on the
// registry API and at the token service, with the robot's scopes and
// nothing more. It never names a person's account; a disabled or deleted
// robot's certificate stops working at once; a certificate from another
// CA, or one not meant for clients, fails the handshake; credentials in an
// Authorization header come first; and a keepd without a client CA asks
// for no certificate and ignores one.
#include "tests/support/keepd_test.h"

#include <cstdlib>
#include <fstream>

namespace keep::testkit {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

// A CA and certificates it issued, made once with the openssl tool.
class Pki {
 public:
  static const Pki& Get() {
    static const Pki pki;
    return pki;
  }
  fs::path ca() const { return dir_ / "ca.crt"; }
  std::string cert(const std::string& name) const { return (dir_ / (name + ".crt")).string(); }
  std::string key(const std::string& name) const { return (dir_ / (name + ".key")).string(); }

 private:
  Pki() : dir_(fs::temp_directory_path() / ("keep-pki-" + std::to_string(::getpid()))) {
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    Write("client.ext", "extendedKeyUsage=clientAuth\n");
    Write("server.ext", "extendedKeyUsage=serverAuth\n");
    MakeCa("ca", "Keep test client CA");
    MakeCa("rogue", "Another CA");
    Issue("ci", "ci", "ca", "client.ext");
    Issue("prefixed", "robot\\+ci", "ca", "client.ext");  // '+' unescaped splits the name
    Issue("admin", "admin", "ca", "client.ext");
    Issue("gone", "gone", "ca", "client.ext");
    Issue("rogue-ci", "ci", "rogue", "client.ext");
    Issue("server-only", "ci", "ca", "server.ext");
  }
  void Write(const std::string& name, const std::string& text) const {
    std::ofstream(dir_ / name) << text;
  }
  void Run(const std::string& cmd) const {
    const std::string full = "cd '" + dir_.string() + "' && " + cmd + " 2>/dev/null";
    if (std::system(full.c_str()) != 0) throw std::runtime_error("failed: " + cmd);
  }
  void MakeCa(const std::string& name, const std::string& cn) const {
    Run("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj '/CN=" +
        cn + "' -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign " +
        "-keyout " + name + ".key -out " + name + ".crt");
  }
  void Issue(const std::string& name, const std::string& cn, const std::string& ca,
             const std::string& ext) const {
    Run("openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj '/CN=" + cn +
        "' -keyout " + name + ".key -out " + name + ".csr");
    Run("openssl x509 -req -in " + name + ".csr -CA " + ca + ".crt -CAkey " + ca +
        ".key -CAcreateserial -days 2 -extfile " + ext + " -out " + name + ".crt");
  }

  fs::path dir_;
};

class ClientCertificateTest : public KeepdTest {
 protected:
  ClientCertificateTest() : KeepdTest(json{{"tls", {{"client_ca", Pki::Get().ca().string()}}}}) {}

  void SetUp() override {
    ASSERT_EQ(client_.Post("/admin/v1/namespaces", json{{"name", "acme"}}.dump()).status, 201);
    ASSERT_EQ(client_.Put("/admin/v1/namespaces/acme/policy", R"({"mode":"open"})").status, 200);
    for (const char* name : {"ci", "gone"}) {
      Response r = client_.Post(
          "/admin/v1/robots",
          json{{"name", name}, {"scopes", {{{"namespace", "acme"}, {"actions", {"pull", "push"}}}}}}
              .dump());
      ASSERT_EQ(r.status, 201) << r.body;
    }
  }

  HttpsClient WithCertificate(const std::string& name) {
    HttpsClient c = keepd_.AnonymousClient();
    c.SetClientCertificate(Pki::Get().cert(name), Pki::Get().key(name));
    return c;
  }
};

// The robot's certificate alone pushes and pulls where its scopes allow,
// and no further.
TEST_F(ClientCertificateTest, ARobotsCertificatePushesAndPullsWithinItsScopes) {
  HttpsClient ci = WithCertificate("ci");
  EXPECT_EQ(ci.Get("/v2/").status, 200);
  Manifest m = PushImage(ci, "acme/app", "v1");
  Response tags = ci.Get(TagsPath("acme/app"));
  ASSERT_EQ(tags.status, 200) << tags.body;
  EXPECT_EQ(tags.Json()["tags"], json::array({"v1"}));
  EXPECT_EQ(ci.Get(ManifestPath("acme/app", "v1")).body, m.bytes);

  // Nothing past its scopes, and never the admin API.
  ASSERT_EQ(client_.Post("/admin/v1/namespaces", json{{"name", "other"}}.dump()).status, 201);
  EXPECT_EQ(StatusAndCode(ci.Post(UploadsPath("other/app"))), "403 DENIED");
  EXPECT_EQ(StatusAndCode(ci.Get("/admin/v1/users")), "403 DENIED");

  // The log names the robot as the pusher.
  EXPECT_NE(keepd_.Messages().find(R"("actor":"robot+ci")"), std::string::npos);

  // A common name that already says robot+ names the same account.
  HttpsClient prefixed = WithCertificate("prefixed");
  EXPECT_EQ(prefixed.Get(TagsPath("acme/app")).status, 200);
}

// The token flow: the client asks /token without credentials, as docker does
// when it has no login, and gets a token with the robot's grants.
TEST_F(ClientCertificateTest, TheTokenServiceIssuesTheRobotsToken) {
  HttpsClient ci = WithCertificate("ci");
  Response token = ci.Get("/token?service=keep&scope=repository:acme/app:pull,push");
  ASSERT_EQ(token.status, 200) << token.body;
  std::string bearer = token.Json().value("token", "");
  ASSERT_FALSE(bearer.empty());

  HttpsClient plain = keepd_.AnonymousClient();
  Response start = plain.Post(UploadsPath("acme/app"), "", {{"Authorization", "Bearer " + bearer}});
  EXPECT_EQ(start.status, 202) << start.body;
}

// A certificate that names a person's account signs no one in; neither does
// one whose robot was deleted (at once, with no cache to wait out).
TEST_F(ClientCertificateTest, NoCertificateSignsInAPersonOrADeletedRobot) {
  HttpsClient admin = WithCertificate("admin");
  Response r = admin.Get("/admin/v1/users");
  EXPECT_EQ(StatusAndCode(r), "401 UNAUTHORIZED");
  EXPECT_NE(r.body.find("no robot account"), std::string::npos) << r.body;
  EXPECT_EQ(StatusAndCode(admin.Get("/v2/")), "401 UNAUTHORIZED");
  EXPECT_EQ(admin.Get("/token?service=keep&scope=repository:acme/app:pull").status, 401);

  HttpsClient gone = WithCertificate("gone");
  ASSERT_EQ(gone.Get("/v2/").status, 200);
  ASSERT_EQ(client_.Delete("/admin/v1/robots/gone").status, 204);
  EXPECT_EQ(StatusAndCode(gone.Get("/v2/")), "401 UNAUTHORIZED");
}

// Credentials in an Authorization header are who the caller is, whatever
// certificate the connection carries.
TEST_F(ClientCertificateTest, AnAuthorizationHeaderComesFirst) {
  HttpsClient both = WithCertificate("ci");
  both.SetBasicAuth(kAdminUser, kAdminPassword);
  EXPECT_EQ(both.Get("/admin/v1/users").status, 200);
  both.SetBasicAuth(kAdminUser, "a wrong password");
  EXPECT_EQ(StatusAndCode(both.Get("/v2/")), "401 UNAUTHORIZED");
}

// A certificate from another CA, or one whose extended key usage is not
// for clients, ends the handshake; a client with no certificate goes on as
// before.
TEST_F(ClientCertificateTest, CertificatesKeepdCannotTrustFailTheHandshake) {
  // (With TLS 1.3 the client's side of the handshake ends before keepd has
  // checked its certificate: the refusal reaches it at its first request.)
  HttpsClient rogue = WithCertificate("rogue-ci");
  EXPECT_FALSE(rogue.TrySend({http::verb::get, "/v2/"}));
  HttpsClient server_only = WithCertificate("server-only");
  EXPECT_FALSE(server_only.TrySend({http::verb::get, "/v2/"}));
  HttpsClient right = WithCertificate("ci");
  EXPECT_TRUE(right.TrySend({http::verb::get, "/v2/"}));

  EXPECT_EQ(StatusAndCode(keepd_.AnonymousClient().Get("/v2/")), "401 UNAUTHORIZED");
  EXPECT_EQ(keepd_.AdminClient().Get("/v2/").status, 200);
}

// Without tls.client_ca, a certificate a client sends anyway names no one.
TEST(ClientCertificateOff, AKeepdWithoutAClientCaIgnoresCertificates) {
  KeepdProcess keepd;
  HttpsClient admin = keepd.AdminClient();
  ASSERT_EQ(admin.Post("/admin/v1/namespaces", json{{"name", "acme"}}.dump()).status, 201);
  ASSERT_EQ(
      admin
          .Post("/admin/v1/robots",
                json{{"name", "ci"}, {"scopes", {{{"namespace", "acme"}, {"actions", {"pull"}}}}}}
                    .dump())
          .status,
      201);
  HttpsClient ci = keepd.AnonymousClient();
  ci.SetClientCertificate(Pki::Get().cert("ci"), Pki::Get().key("ci"));
  Response r = ci.Get("/v2/");
  EXPECT_EQ(StatusAndCode(r), "401 UNAUTHORIZED");
  EXPECT_NE(r.body.find("authentication required"), std::string::npos) << r.body;
}

}  // namespace
}  // namespace keep::testkit
