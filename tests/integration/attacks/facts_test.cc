// Attack: learn about quarantined content without fetching it: its digest
// (which makes every other attack easier), who signed it so far, that its
// repository exists. A reader learns of quarantined content only that a tag
// they name exists and is quarantined.
#include "tests/integration/attacks/attack_fixture.h"

namespace keep::testkit {
namespace {

using nlohmann::json;

TEST_F(AttackTest, VerifyDoesNotTellAReaderTheDigestOfAQuarantinedTag) {
  NewKey("release");
  Manifest m = PushImage(client_, "acme/app", "v1", {.layer = "secret digest"});
  Response r = reader_.Get("/admin/v1/verify?repository=acme/app&reference=v1");
  EXPECT_EQ(StatusAndCode(r), "403 DENIED");
  EXPECT_EQ(r.body.find(m.digest().substr(7)), std::string::npos) << r.body;
  // Nor does the refusal of a pull by tag.
  r = ReaderGet("acme/app", "v1", m);
  EXPECT_EQ(StatusAndCode(r), "403 DENIED");
  EXPECT_EQ(r.body.find(m.digest().substr(7)), std::string::npos) << r.body;
  EXPECT_NE(ErrorMessage(r).find("acme/app:v1"), std::string::npos) << r.body;
  // HEAD answers no digest either.
  r = reader_.Head(ManifestPath("acme/app", "v1"), {{"Accept", m.media_type}});
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(r.Header("Docker-Content-Digest"), "");
}

TEST_F(AttackTest, VerifyAnswersAReaderForWhatTheyMayPull) {
  Signer release = NewKey("release");
  Manifest m = PushImage(client_, "acme/app", "v1", {.layer = "signed for verify"});
  ASSERT_EQ(PushSignature("acme/app", m, release).status, 201);
  json v = reader_.Get("/admin/v1/verify?repository=acme/app&reference=v1").Json();
  EXPECT_EQ(v["trusted"], true) << v.dump();
  EXPECT_EQ(v["digest"], m.digest());
}

TEST_F(AttackTest, CatalogListsOnlyRepositoriesWithSomethingServable) {
  Signer release = NewKey("release");
  PushImage(client_, "acme/hidden", "v1", {.layer = "hidden"});
  Manifest m = PushImage(client_, "acme/shown", "v1", {.layer = "shown"});
  ASSERT_EQ(PushSignature("acme/shown", m, release).status, 201);
  EXPECT_EQ(reader_.Get("/v2/_catalog").Json()["repositories"], json({"acme/shown"}));
  // Paginated, the hidden one is skipped without ending the listing early.
  PushImage(client_, "acme/a-hidden", "v1", {.layer = "a hidden"});
  Response r = reader_.Get("/v2/_catalog?n=1");
  EXPECT_EQ(r.Json()["repositories"], json({"acme/shown"})) << r.body;
  // Publishers see every repository they may push to.
  EXPECT_EQ(mallory_.Get("/v2/_catalog").Json()["repositories"],
            json({"acme/a-hidden", "acme/hidden", "acme/shown"}));
}

TEST_F(AttackTest, ReferrersOfATrustedImageListOnlyServableOnes) {
  Signer release = NewKey("release");
  Manifest m = PushImage(client_, "acme/app", "v1", {.layer = "with referrers"});
  ASSERT_EQ(PushSignature("acme/app", m, release, /*as_referrer=*/true).status, 201);
  // mallory attaches an unsigned artifact to the trusted image.
  Manifest sbom = PrepareImage(mallory_, "acme/app", {.layer = "fake sbom",
                                                      .artifact_type = "application/spdx+json",
                                                      .subject = m});
  PushManifest(mallory_, "acme/app", sbom.digest(), sbom);
  json listed = reader_.Get(ReferrersPath("acme/app", m.digest())).Json()["manifests"];
  ASSERT_EQ(listed.size(), 1u) << listed.dump();
  EXPECT_NE(listed[0]["digest"], sbom.digest());
  ExpectWithheld(reader_, "acme/app", sbom);
}

}  // namespace
}  // namespace keep::testkit
