// Attack: make content trusted by what it is called rather than by who
// signed it. Signature artifacts are recognised by what verified, never by
// a tag that looks like cosign's "sha256-<hex>.sig".
#include "tests/integration/attacks/attack_fixture.h"

#include <cctype>

namespace keep::testkit {
namespace {

using nlohmann::json;

TEST_F(AttackTest, UnsignedImageAtASignatureLikeTagIsWithheld) {
  NewKey("release");
  Manifest m = PushImage(mallory_, "acme/app", "sha256-evil.sig", {.layer = "evil layer"});
  ExpectWithheld(reader_, "acme/app", m, "sha256-evil.sig");
  // The maintainers see it where quarantined images are listed.
  json q = client_.Get("/admin/v1/quarantine?namespace=acme").Json();
  ASSERT_EQ(q["manifests"].size(), 1u) << q.dump();
  EXPECT_EQ(q["manifests"][0]["digest"], m.digest());
  json v = client_.Get("/admin/v1/verify?repository=acme/app&reference=sha256-evil.sig").Json();
  EXPECT_EQ(v["trusted"], false) << v.dump();
}

TEST_F(AttackTest, UnsignedImageAtAnUpperCaseDigestTagIsWithheld) {
  NewKey("release");
  Manifest target = PushImage(client_, "acme/app", "v1", {.layer = "target"});
  std::string hex = target.digest().substr(7);
  for (char& c : hex) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  std::string tag = "sha256-" + hex + ".sig";
  Manifest m = PushImage(mallory_, "acme/app", tag, {.layer = "upper-case evil"});
  ExpectWithheld(reader_, "acme/app", m, tag);
}

TEST_F(AttackTest, QuarantinedImageRetaggedAsItsOwnSignatureIsRefused) {
  NewKey("release");
  Manifest m = PushImage(mallory_, "acme/app", "v1", {.layer = "retagged"});
  // At its own signature tag, an image is no signature manifest.
  Response r = PutManifest(mallory_, "acme/app", "sha256-" + m.digest().substr(7) + ".sig", m);
  EXPECT_EQ(StatusAndCode(r), "400 MANIFEST_INVALID") << r.body;
  ExpectWithheld(reader_, "acme/app", m, "v1");
}

TEST_F(AttackTest, ImageAtAnotherImagesSignatureTagIsRefused) {
  Signer release = NewKey("release");
  Manifest good = PushImage(client_, "acme/app", "v1", {.layer = "good"});
  ASSERT_EQ(PushSignature("acme/app", good, release).status, 201);
  Manifest evil = PrepareImage(mallory_, "acme/app", {.layer = "evil"});
  Response r = PutManifest(mallory_, "acme/app", "sha256-" + good.digest().substr(7) + ".sig", evil);
  EXPECT_EQ(StatusAndCode(r), "400 MANIFEST_INVALID") << r.body;
  EXPECT_EQ(StatusAndCode(reader_.Get(BlobPath("acme/app", DigestOf("evil")))), "403 DENIED");
  EXPECT_EQ(ReaderGet("acme/app", "v1", good).status, 200);
  EXPECT_EQ(ReaderGet("acme/app", "sha256-" + good.digest().substr(7) + ".sig", good).status, 200);
}

TEST_F(AttackTest, SeveralTagsInOnePushCannotPairASignatureTagWithAnother) {
  Signer release = NewKey("release");
  Manifest good = PushImage(client_, "acme/app", "v1", {.layer = "good"});
  Manifest evil = PrepareImage(mallory_, "acme/app", {.layer = "evil"});
  // Checked under one tag, stored under both: the spec's ?tag= must not let
  // an image ride in beside a signature tag (nor a signature beside an image).
  Response r = mallory_.Put(ManifestPath("acme/app", evil.digest()) + "?tag=v2&tag=sha256-" +
                                good.digest().substr(7) + ".sig",
                            evil.bytes, {{"Content-Type", evil.media_type}});
  EXPECT_EQ(StatusAndCode(r), "400 MANIFEST_INVALID") << r.body;
  EXPECT_EQ(StatusAndCode(client_.Get(ManifestPath("acme/app", "v2"))), "404 MANIFEST_UNKNOWN");
  (void)release;
}

TEST_F(AttackTest, SignatureManifestOfNoTrustedKeyDoesNotMakeItselfServable) {
  // Open mode takes anything; once the namespace needs signatures, an
  // artifact that no trusted key verified is withheld like any other bytes.
  Signer release = NewKey("release");
  Signer stranger = NewKey("stranger", /*trusted=*/false);
  ASSERT_EQ(client_.Put("/admin/v1/namespaces/acme/policy", R"({"mode":"open"})").status, 200);
  Manifest m = PushImage(client_, "acme/app", "v1", {.layer = "open push"});
  Manifest sig;
  ASSERT_EQ(PushSignature("acme/app", m, stranger, false, &sig).status, 201);
  ASSERT_EQ(client_.Put("/admin/v1/namespaces/acme/policy", R"({"mode":"quarantine"})").status, 200);
  std::string sig_tag = "sha256-" + m.digest().substr(7) + ".sig";
  ExpectWithheld(reader_, "acme/app", sig, sig_tag);
  ExpectWithheld(reader_, "acme/app", m, "v1");
  (void)release;
}

}  // namespace
}  // namespace keep::testkit
