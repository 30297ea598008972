// One publisher key is one signer, however its public key is written. The
// attack: the same P-256 key sent again with its point compressed, or with
// the curve's parameters spelled out, used to be a new key with a new id, so
// one signature counted once per id (threshold 2 met by one key) and
// revoking one id left the key trusted under the others.
//
// The same holds across formats: one secret key can sign cosign signatures
// (its PEM public key trusted) and GPG ones (an OpenPGP certificate holding
// it, as primary key or subkey trusted), and one subkey can sit in two
// certificates. Each entry has its own id, so each used to count, and outlive
// the other's revocation. The certificates and PEM keys here are gpg's own
// exports of the same keys (tests/unit/testdata/trust/openpgp/README.md).
#include "tests/integration/trust_fixture.h"
#include "tests/unit/trust_testdata.h"

namespace keep::testkit {
namespace {

using nlohmann::json;
using trust_test::kP256Encodings;
using trust_test::PublicPemAs;

class KeyIdentityTest : public TrustTest {
 protected:
  Response AddKey(const std::string& name, const std::string& pem) {
    return client_.Post("/admin/v1/namespaces/acme/keys",
                        json{{"name", name}, {"public_key", pem}}.dump());
  }
  std::size_t KeyCount() {
    return client_.Get("/admin/v1/namespaces/acme/keys").Json()["keys"].size();
  }
  // Expects `r` to refuse a second add of key "name" (id `key_id`), naming it.
  static void ExpectNamesTheKey(const Response& r, const std::string& name,
                                const std::string& key_id, bool revoked) {
    EXPECT_EQ(StatusAndCode(r), "409 CONFLICT") << r.body;
    const std::string message = ErrorMessage(r);
    EXPECT_NE(message.find("\"" + name + "\""), std::string::npos) << message;
    EXPECT_NE(message.find(key_id), std::string::npos) << message;
    EXPECT_EQ(message.find("revoked") != std::string::npos, revoked) << message;
  }
};

TEST_F(KeyIdentityTest, AReEncodedKeyIsRefusedAsTheKeyItIs) {
  Signer ci = NewKey("ci", true, "ecdsa-p256");
  for (auto [form, encoding] : kP256Encodings) {
    std::string pem = PublicPemAs(ci.key.evp(), form, encoding);
    ASSERT_FALSE(pem.empty());
    ExpectNamesTheKey(AddKey(std::string("ci-") + form + "-" + encoding, pem), "ci", ci.key_id,
                      /*revoked=*/false);
  }
  EXPECT_EQ(KeyCount(), 1u);
}

TEST_F(KeyIdentityTest, AKeySentReEncodedIsStoredCanonically) {
  auto pair = GenerateKeyPair("ecdsa-p256", "");
  auto priv = ParsePrivateKey(pair->private_pem, "");
  ASSERT_TRUE(priv);
  Response r = AddKey("ci", PublicPemAs(priv->evp(), "compressed", "explicit"));
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(r.Json()["key_id"], pair->key_id);
  EXPECT_EQ(r.Json()["public_key"], pair->public_pem);
  ExpectNamesTheKey(AddKey("ci-plain", pair->public_pem), "ci", pair->key_id, false);
  // And signatures by it count under that one id.
  Manifest m = PushImage(client_, "acme/app", "v1");
  ASSERT_EQ(PushSignature("acme/app", m, Signer{*priv, pair->key_id}).status, 201);
  EXPECT_EQ(ReaderGet("acme/app", "v1", m).status, 200);
}

TEST_F(KeyIdentityTest, ThresholdTwoIsNotMetByOneKeyUnderTwoEncodings) {
  Signer ci = NewKey("ci", true, "ecdsa-p256");
  ASSERT_EQ(client_.Put("/admin/v1/namespaces/acme/policy", R"({"threshold":2})").status, 200);
  // The attack's second name for the key is refused...
  EXPECT_EQ(AddKey("ci-again", PublicPemAs(ci.key.evp(), "compressed", "named_curve")).status, 409);
  EXPECT_EQ(AddKey("ci-more", PublicPemAs(ci.key.evp(), "uncompressed", "explicit")).status, 409);
  // ...so its signatures, in every format Keep reads, are one signer's.
  Manifest m = PushImage(client_, "acme/app", "v1");
  ASSERT_EQ(PushSignature("acme/app", m, ci).status, 201);
  ASSERT_EQ(PushSignature("acme/app", m, ci, /*as_referrer=*/true).status, 201);
  ASSERT_EQ(PushBundle("acme/app", m, ci).status, 201);
  EXPECT_EQ(StatusAndCode(ReaderGet("acme/app", "v1", m)), "403 DENIED");
  json v = client_.Get("/admin/v1/verify?repository=acme/app&reference=v1").Json();
  EXPECT_EQ(v["trusted"], false) << v;
  for (const json& s : v["signatures"]) EXPECT_EQ(s["key_id"], ci.key_id) << v;
  // A second, distinct key does meet it.
  Signer two = NewKey("two");
  ASSERT_EQ(PushSignature("acme/app", m, two).status, 201);
  EXPECT_EQ(ReaderGet("acme/app", "v1", m).status, 200);
}

TEST_F(KeyIdentityTest, ARevokedKeyCannotComeBackInAnyEncoding) {
  Signer ci = NewKey("ci", true, "ecdsa-p256");
  Manifest m = PushImage(client_, "acme/app", "v1");
  ASSERT_EQ(PushSignature("acme/app", m, ci).status, 201);
  ASSERT_EQ(ReaderGet("acme/app", "v1", m).status, 200);
  ASSERT_EQ(client_.Delete("/admin/v1/namespaces/acme/keys/" + ci.key_id).status, 200);
  EXPECT_EQ(StatusAndCode(ReaderGet("acme/app", "v1", m)), "403 DENIED");
  for (auto [form, encoding] : kP256Encodings) {
    ExpectNamesTheKey(AddKey("ci-back", PublicPemAs(ci.key.evp(), form, encoding)), "ci",
                      ci.key_id, /*revoked=*/true);
  }
  EXPECT_EQ(KeyCount(), 1u);
  EXPECT_EQ(StatusAndCode(ReaderGet("acme/app", "v1", m)), "403 DENIED");
  // Its new signatures do not count either.
  EXPECT_EQ(StatusAndCode(PushSignature("acme/app", m, ci, /*as_referrer=*/true)), "403 DENIED");
}

TEST_F(KeyIdentityTest, AnOpenPgpKeyAddedAgainIsRefusedTheSameWay) {
  const std::string fingerprint = trust_test::Trimmed(trust_test::Data("openpgp/ed25519.fpr"));
  Response added = AddKey("gpg", trust_test::Data("openpgp/ed25519.pub.asc"));
  ASSERT_EQ(added.status, 201) << added.body;
  EXPECT_EQ(added.Json()["key_id"], fingerprint);
  // The same key with another user id and two subkeys: the same fingerprint.
  ExpectNamesTheKey(AddKey("gpg-extended", trust_test::Data("openpgp/ed25519-extended.pub.asc")),
                    "gpg", fingerprint, /*revoked=*/false);
  ASSERT_EQ(client_.Delete("/admin/v1/namespaces/acme/keys/" + fingerprint).status, 200);
  ExpectNamesTheKey(AddKey("gpg-back", trust_test::Data("openpgp/ed25519.pub.asc")), "gpg",
                    fingerprint, /*revoked=*/true);
  EXPECT_EQ(KeyCount(), 1u);
}

std::string Pgp(const std::string& name) { return trust_test::Data("openpgp/" + name); }
std::string Fpr(const std::string& name) { return trust_test::Trimmed(Pgp(name + ".fpr")); }

TEST_F(KeyIdentityTest, APemKeyAfterTheCertificateHoldingItIsRefused) {
  for (const char* key : {"p256", "ed25519"}) {
    SCOPED_TRACE(key);
    const std::string gpg_name = std::string("gpg-") + key;
    Response added = AddKey(gpg_name, Pgp(std::string(key) + ".pub.asc"));
    ASSERT_EQ(added.status, 201) << added.body;
    ExpectNamesTheKey(AddKey(std::string("cosign-") + key, Pgp(std::string(key) + ".pub.pem")),
                      gpg_name, Fpr(key), /*revoked=*/false);
  }
  EXPECT_EQ(KeyCount(), 2u);
}

TEST_F(KeyIdentityTest, ACertificateAfterThePemKeyItHoldsIsRefused) {
  for (const char* key : {"p256", "ed25519"}) {
    SCOPED_TRACE(key);
    const std::string cosign_name = std::string("cosign-") + key;
    Response added = AddKey(cosign_name, Pgp(std::string(key) + ".pub.pem"));
    ASSERT_EQ(added.status, 201) << added.body;
    const std::string key_id = added.Json()["key_id"];
    ExpectNamesTheKey(AddKey(std::string("gpg-") + key, Pgp(std::string(key) + ".pub.asc")),
                      cosign_name, key_id, /*revoked=*/false);
    // Revoked, it stays refused in the other format too.
    ASSERT_EQ(client_.Delete("/admin/v1/namespaces/acme/keys/" + key_id).status, 200);
    ExpectNamesTheKey(AddKey(std::string("gpg-") + key + "-back",
                             Pgp(std::string(key) + ".pub.asc")),
                      cosign_name, key_id, /*revoked=*/true);
  }
  // The certificate that grew subkeys holds the same primary key.
  ExpectNamesTheKey(AddKey("gpg-extended", Pgp("ed25519-extended.pub.asc")), "cosign-ed25519",
                    ParsePublicKey(Pgp("ed25519.pub.pem"))->key_id(), /*revoked=*/true);
  EXPECT_EQ(KeyCount(), 2u);
}

// B holds A's Ed25519 signing subkey and C its RSA one, under new
// fingerprints; the Ed25519 one is also a PEM key.
TEST_F(KeyIdentityTest, ASigningSubkeySharedByTwoCertificatesIsRefusedTheSecondTime) {
  Response added = AddKey("shared-b", Pgp("shared-b.pub.asc"));
  ASSERT_EQ(added.status, 201) << added.body;
  ExpectNamesTheKey(AddKey("shared-a", Pgp("shared-a.pub.asc")), "shared-b", Fpr("shared-b"),
                    /*revoked=*/false);
  ExpectNamesTheKey(AddKey("subkey-pem", Pgp("shared-subkey.pub.pem")), "shared-b",
                    Fpr("shared-b"), /*revoked=*/false);
  // C shares nothing with B.
  added = AddKey("shared-c", Pgp("shared-c.pub.asc"));
  ASSERT_EQ(added.status, 201) << added.body;
  EXPECT_EQ(KeyCount(), 2u);
  // With B revoked, A is still refused: it holds B's subkey.
  ASSERT_EQ(client_.Delete("/admin/v1/namespaces/acme/keys/" + Fpr("shared-b")).status, 200);
  ExpectNamesTheKey(AddKey("shared-a", Pgp("shared-a.pub.asc")), "shared-b", Fpr("shared-b"),
                    /*revoked=*/true);
}

TEST_F(KeyIdentityTest, ASubkeyWithNoPemFormIsComparedByItsMaterial) {
  Response added = AddKey("shared-a", Pgp("shared-a.pub.asc"));
  ASSERT_EQ(added.status, 201) << added.body;
  // C's RSA signing subkey is A's (another creation time, so another
  // fingerprint; the same keygrip).
  Response refused = AddKey("shared-c", Pgp("shared-c.pub.asc"));
  ExpectNamesTheKey(refused, "shared-a", Fpr("shared-a"), /*revoked=*/false);
  EXPECT_NE(ErrorMessage(refused).find("openpgp-keygrip:"), std::string::npos)
      << ErrorMessage(refused);
  ExpectNamesTheKey(AddKey("shared-b", Pgp("shared-b.pub.asc")), "shared-a", Fpr("shared-a"),
                    /*revoked=*/false);
  // Unrelated keys still go in beside it.
  EXPECT_EQ(AddKey("rsa", Pgp("rsa.pub.asc")).status, 201);
  EXPECT_EQ(AddKey("p256", Pgp("p256.pub.pem")).status, 201);
  EXPECT_EQ(KeyCount(), 3u);
}

}  // namespace
}  // namespace keep::testkit
