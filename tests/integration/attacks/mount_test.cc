// Attack: copy quarantined content out of a namespace into one where the
// attacker decides what is served, by mounting it. A mount reads its
// source: it needs what a pull of that blob there needs, servability too.
#include "tests/integration/attacks/attack_fixture.h"

namespace keep::testkit {
namespace {

using nlohmann::json;

// eve mounts `digest` from `from` into her own repository eve/x.
Response Mount(HttpsClient& eve, const std::string& digest, const std::string& from) {
  return eve.Post(UploadsPath("eve/x") + "?mount=" + digest + "&from=" + from);
}

TEST_F(AttackTest, QuarantinedBlobsCannotBeMountedIntoAnotherNamespace) {
  NewKey("release");
  Manifest q = PushImage(client_, "acme/q", "v1", {.layer = "quarantined layer"});
  json body = json::parse(q.bytes);
  for (const std::string& digest :
       {DigestOf("quarantined layer"), body["config"]["digest"].get<std::string>(), q.digest()}) {
    Response r = Mount(eve_, digest, "acme/q");
    // Not mountable: an ordinary upload session, as the spec says, and no link.
    EXPECT_EQ(r.status, 202) << digest << " " << r.body;
    EXPECT_EQ(StatusAndCode(eve_.Get(BlobPath("eve/x", digest))), "404 BLOB_UNKNOWN") << digest;
  }
  // Nor can a manifest in eve/x reference what she could not mount.
  Manifest copy = MakeManifest(q.media_type, body);
  EXPECT_EQ(StatusAndCode(PutManifest(eve_, "eve/x", "stolen", copy)), "400 MANIFEST_BLOB_UNKNOWN");
}

TEST_F(AttackTest, ServableBlobsMountAsBefore) {
  Signer release = NewKey("release");
  Manifest m = PushImage(client_, "acme/app", "v1", {.layer = "public layer"});
  ASSERT_EQ(PushSignature("acme/app", m, release).status, 201);
  Response r = Mount(eve_, DigestOf("public layer"), "acme/app");
  EXPECT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(eve_.Get(BlobPath("eve/x", DigestOf("public layer"))).body, "public layer");
}

TEST_F(AttackTest, BlobOfAnImageWhoseKeyWasRevokedCannotBeMounted) {
  Signer release = NewKey("release");
  Manifest m = PushImage(client_, "acme/app", "v1", {.layer = "revoked layer"});
  ASSERT_EQ(PushSignature("acme/app", m, release).status, 201);
  ASSERT_EQ(client_.Delete("/admin/v1/namespaces/acme/keys/" + release.key_id).status, 200);
  EXPECT_EQ(Mount(eve_, DigestOf("revoked layer"), "acme/app").status, 202);
  EXPECT_EQ(StatusAndCode(eve_.Get(BlobPath("eve/x", DigestOf("revoked layer")))),
            "404 BLOB_UNKNOWN");
}

}  // namespace
}  // namespace keep::testkit
