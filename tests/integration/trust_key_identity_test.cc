// One publisher key is one signer, however its public key is written. The
// attack: the same P-256 key sent again with its point compressed, or with
// the curve's parameters spelled out, used to be a new key with a new id, so
// one signature counted once per id (threshold 2 met by one key) and
// revoking one id left the key trusted under the others.
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

}  // namespace
}  // namespace keep::testkit
