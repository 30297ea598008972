// The signature extension API (GPG simple signing): what skopeo and podman
// PUT is verified against the namespace's OpenPGP keys before it is stored,
// and counts towards trust; quarantine listing and dropping.
#include "tests/support/keepd_test.h"

#include "core/base64.h"

#include <fstream>
#include <sstream>

namespace keep::testkit {
namespace {

using nlohmann::json;


std::string ReadTestdata(const std::string& name) {
  std::ifstream in(std::string(KEEP_TESTDATA) + "/trust/openpgp/" + name, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The digest payload.json (the signed test payload) names, in acme/app.
constexpr const char* kSigned =
    "sha256:4ca7dd51e12817f0c9a67e24332ca53cc58f6ecb458e2bc8bc2e96f0c2f9f82d";

class GpgSignaturesTest : public KeepdTest {
 protected:
  void SetUp() override {
    ASSERT_EQ(client_.Post("/admin/v1/namespaces", R"({"name":"acme"})").status, 201);
    Response r = client_.Post(
        "/admin/v1/namespaces/acme/keys",
        json{{"name", "release"}, {"public_key", ReadTestdata("ed25519.pub.asc")}}.dump());
    ASSERT_EQ(r.status, 201) << r.body;
    fingerprint_ = r.Json().value("key_id", "");
  }

  Response PutSignature(const std::string& repo, const std::string& digest,
                        const std::string& message) {
    json body = {{"schemaVersion", 2},
                 {"name", digest + "@0123456789abcdef0123456789abcdef"},
                 {"type", "atomic"},
                 {"content", EncodeBase64(message)}};
    return client_.Put("/extensions/v2/" + repo + "/signatures/" + digest, body.dump());
  }

  std::string fingerprint_;
};

TEST_F(GpgSignaturesTest, ATrustedSignatureIsStoredAndServed) {
  EXPECT_EQ(fingerprint_, "" + std::string(ReadTestdata("ed25519.fpr").substr(0, 40)));
  std::string message = ReadTestdata("payload.json.ed25519.gpg");
  Response r = PutSignature("acme/app", kSigned, message);
  ASSERT_EQ(r.status, 201) << r.body;
  json listed = client_.Get(std::string("/extensions/v2/acme/app/signatures/") + kSigned).Json();
  ASSERT_EQ(listed["signatures"].size(), 1u);
  EXPECT_EQ(listed["signatures"][0]["content"], EncodeBase64(message));
  EXPECT_EQ(listed["signatures"][0]["type"], "atomic");
  // Nothing for another digest.
  EXPECT_EQ(client_.Get("/extensions/v2/acme/app/signatures/sha256:" + std::string(64, 'a'))
                .Json()["signatures"],
            json::array());
}

TEST_F(GpgSignaturesTest, ReadersGetOnlySignaturesOfKeysStillTrusted) {
  ASSERT_EQ(client_.Post("/admin/v1/users", R"({"name":"alice","password":"password-of-alice"})")
                .status,
            201);
  ASSERT_EQ(client_.Put("/admin/v1/namespaces/acme/members/alice", R"({"role":"reader"})").status,
            200);
  HttpsClient reader = keepd_.AnonymousClient();
  reader.SetBasicAuth("alice", "password-of-alice");
  ASSERT_EQ(PutSignature("acme/app", kSigned, ReadTestdata("payload.json.ed25519.gpg")).status, 201);
  std::string path = std::string("/extensions/v2/acme/app/signatures/") + kSigned;
  EXPECT_EQ(reader.Get(path).Json()["signatures"].size(), 1u);
  ASSERT_EQ(client_.Delete("/admin/v1/namespaces/acme/keys/" + fingerprint_).status, 200);
  // What the revoked key signed is withheld, and so is its signature.
  EXPECT_EQ(StatusAndCode(reader.Get(path)), "403 DENIED");
  // Publishers still see what is stored.
  EXPECT_EQ(client_.Get(path).Json()["signatures"].size(), 1u);
}

TEST_F(GpgSignaturesTest, UntrustedOrMismatchedSignaturesAreRefused) {
  // Signed by the RSA key, which acme does not trust.
  Response r = PutSignature("acme/app", kSigned, ReadTestdata("payload.json.rsa.gpg"));
  EXPECT_EQ(StatusAndCode(r), "403 DENIED") << r.body;
  // A good signature, but of another digest than the one it is stored for.
  r = PutSignature("acme/app", "sha256:" + std::string(64, 'b'),
                   ReadTestdata("payload.json.ed25519.gpg"));
  EXPECT_EQ(StatusAndCode(r), "403 DENIED") << r.body;
  // In another repository than the payload names.
  r = PutSignature("acme/other", kSigned, ReadTestdata("payload.json.ed25519.gpg"));
  EXPECT_EQ(StatusAndCode(r), "403 DENIED") << r.body;
  // A tampered message.
  std::string tampered = ReadTestdata("payload.json.ed25519-uncompressed.gpg");
  tampered[tampered.size() / 2] ^= 0x01;
  r = PutSignature("acme/app", kSigned, tampered);
  EXPECT_EQ(StatusAndCode(r), "403 DENIED") << r.body;
  // None of them was stored.
  EXPECT_EQ(client_.Get(std::string("/extensions/v2/acme/app/signatures/") + kSigned)
                .Json()["signatures"],
            json::array());
}

TEST_F(GpgSignaturesTest, MalformedBodiesAreInvalid) {
  std::string path = std::string("/extensions/v2/acme/app/signatures/") + kSigned;
  EXPECT_EQ(StatusAndCode(client_.Put(path, "not json")), "400 INVALID");
  EXPECT_EQ(StatusAndCode(client_.Put(path, R"({"schemaVersion":2,"name":"x","type":"atomic","content":""})")),
            "400 INVALID");
  json bad = {{"schemaVersion", 2},
              {"name", std::string(kSigned) + "@0123456789abcdef0123456789abcdef"},
              {"type", "atomic"},
              {"content", "!!! not base64"}};
  EXPECT_EQ(StatusAndCode(client_.Put(path, bad.dump())), "400 INVALID");
  EXPECT_EQ(StatusAndCode(client_.Put("/extensions/v2/acme/app/signatures/sha256:xyz", "{}")),
            "400 DIGEST_INVALID");
  // Readers may not store signatures.
  ASSERT_EQ(client_.Post("/admin/v1/users", R"({"name":"alice","password":"password-of-alice"})").status,
            201);
  ASSERT_EQ(client_.Put("/admin/v1/namespaces/acme/members/alice", R"({"role":"reader"})").status,
            200);
  HttpsClient alice = keepd_.AnonymousClient();
  alice.SetBasicAuth("alice", "password-of-alice");
  EXPECT_EQ(StatusAndCode(alice.Put(path, bad.dump())), "403 DENIED");
  EXPECT_EQ(alice.Get(path).status, 200);
}

TEST_F(GpgSignaturesTest, QuarantineIsListedAndDropped) {
  Manifest m = PushImage(client_, "acme/app", "v1", {.layer = "waiting"});
  json q = client_.Get("/admin/v1/quarantine?namespace=acme").Json();
  ASSERT_EQ(q["manifests"].size(), 1u) << q;
  EXPECT_EQ(q["manifests"][0]["repository"], "acme/app");
  EXPECT_EQ(q["manifests"][0]["digest"], m.digest());
  EXPECT_EQ(q["manifests"][0]["tags"], json({"v1"}));
  EXPECT_TRUE(q["manifests"][0]["expires_at"].is_number());
  Response r = client_.Delete("/admin/v1/quarantine?repository=acme/app&digest=" + m.digest());
  EXPECT_EQ(r.status, 204) << r.body;
  EXPECT_EQ(client_.Get("/admin/v1/quarantine?namespace=acme").Json()["manifests"], json::array());
  EXPECT_EQ(client_.Get(ManifestPath("acme/app", "v1")).status, 404);
  EXPECT_EQ(StatusAndCode(client_.Get("/admin/v1/quarantine")), "400 INVALID");
}

}  // namespace
}  // namespace keep::testkit
