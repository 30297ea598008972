// Attack: ride a real signature. Starting from a copy of a signature
// artifact that a trusted key made, a pusher without a key adds bytes of
// their own choosing where no signature covers them, hoping readers are
// served them beside the real signature. What a reader receives of a
// signature artifact is what a trusted key signed plus the envelope its
// format requires: anything else is refused, or withholds the artifact.
#include "tests/integration/attacks/attack_fixture.h"

#include <optional>

namespace keep::testkit {
namespace {

using nlohmann::json;

class ArtifactBytesTest : public AttackTest {
 protected:
  void SetUp() override {
    AttackTest::SetUp();
    release_ = NewKey("release");
    image_ = PushImage(client_, "acme/app", "v1", {.layer = "ridden"});
    ASSERT_EQ(PushSignature("acme/app", image_, *release_, false, &signature_).status, 201);
  }

  std::string SigTag() const { return "sha256-" + image_.digest().substr(7) + ".sig"; }

  // mallory pushes her edit of the real signature manifest at its tag.
  Response PushEdited(const std::function<void(json&)>& edit) {
    json m = json::parse(signature_.bytes);
    edit(m);
    return PutManifest(mallory_, "acme/app", SigTag(), MakeManifest(signature_.media_type, m));
  }

  // The real signature is what readers still get at the tag.
  void ExpectOriginalServed() {
    EXPECT_EQ(ReaderGet("acme/app", SigTag(), signature_).body, signature_.bytes);
    EXPECT_EQ(ReaderGet("acme/app", "v1", image_).status, 200);
  }

  std::optional<Signer> release_;
  Manifest image_;
  Manifest signature_;
};

TEST_F(ArtifactBytesTest, ManifestAnnotationsAreRefused) {
  Response r = PushEdited([](json& m) { m["annotations"] = {{"note", "chosen bytes"}}; });
  EXPECT_EQ(StatusAndCode(r), "400 MANIFEST_INVALID") << r.body;
  ExpectOriginalServed();
}

TEST_F(ArtifactBytesTest, UnknownTopLevelMembersAreRefused) {
  Response r = PushEdited([](json& m) { m["x-smuggled"] = "chosen bytes"; });
  EXPECT_EQ(StatusAndCode(r), "400 MANIFEST_INVALID") << r.body;
  ExpectOriginalServed();
}

TEST_F(ArtifactBytesTest, UnknownLayerAnnotationsAreRefused) {
  Response r = PushEdited([](json& m) { m["layers"][0]["annotations"]["x-note"] = "chosen"; });
  EXPECT_EQ(StatusAndCode(r), "400 MANIFEST_INVALID") << r.body;
  ExpectOriginalServed();
}

TEST_F(ArtifactBytesTest, ExtraConfigMembersAreRefused) {
  Response r = PushEdited([&](json& m) {
    json config = json::parse(client_.Get(BlobPath("acme/app", m["config"]["digest"].get<std::string>())).body);
    config["author"] = "chosen bytes";
    std::string bytes = config.dump();
    PushBlob(mallory_, "acme/app", bytes);
    m["config"]["digest"] = DigestOf(bytes);
    m["config"]["size"] = bytes.size();
  });
  EXPECT_EQ(StatusAndCode(r), "400 MANIFEST_INVALID") << r.body;
  ExpectOriginalServed();
}

TEST_F(ArtifactBytesTest, AMemberNamedTwiceIsRefused) {
  // The checks would read the last "mediaType", a lax reader the first.
  std::string text = signature_.bytes;
  auto at = text.find("\"schemaVersion\"");
  ASSERT_NE(at, std::string::npos);
  text.insert(at, "\"mediaType\": \"text/plain\",\n  ");
  Response r = PutManifest(mallory_, "acme/app", SigTag(), Manifest{signature_.media_type, text});
  EXPECT_EQ(StatusAndCode(r), "400 MANIFEST_INVALID") << r.body;
  ExpectOriginalServed();
}

TEST_F(ArtifactBytesTest, MaterialKeepCannotCheckWithholdsTheArtifactButTheSignatureCounts) {
  // A certificate annotation is what a keyless signer adds; Keep has no
  // Fulcio roots yet, so its bytes are nobody's word here.
  Manifest edited;
  Response r = PushEdited([&](json& m) {
    m["layers"][0]["annotations"]["dev.sigstore.cosign/certificate"] =
        "-----BEGIN CERTIFICATE-----\nY2hvc2VuIGJ5dGVz\n-----END CERTIFICATE-----\n";
    edited = MakeManifest(signature_.media_type, m);
  });
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(ReaderGet("acme/app", "v1", image_).status, 200);
  EXPECT_EQ(StatusAndCode(ReaderGet("acme/app", SigTag(), edited)), "403 DENIED");
  EXPECT_EQ(StatusAndCode(reader_.Get(BlobPath("acme/app", edited.digest()))), "403 DENIED");
}

TEST_F(ArtifactBytesTest, ExtraBundleMembersOutsideTheEnvelopeAreRefused) {
  Manifest bundle;
  Response r = PushBundle("acme/app", image_, *release_, "", &bundle,
                          [](json& b) { b["x-smuggled"] = "chosen bytes"; });
  EXPECT_EQ(StatusAndCode(r), "403 DENIED") << r.body;
  EXPECT_EQ(StatusAndCode(ReaderGet("acme/app", bundle.digest(), bundle)), "404 MANIFEST_UNKNOWN");
  r = PushBundle("acme/app", image_, *release_, "", &bundle, [](json& b) {
    b["verificationMaterial"]["publicKey"]["x-smuggled"] = "chosen bytes";
  });
  EXPECT_EQ(StatusAndCode(r), "403 DENIED") << r.body;
  // The untouched bundle is taken and served.
  r = PushBundle("acme/app", image_, *release_, "", &bundle);
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(ReaderGet("acme/app", bundle.digest(), bundle).status, 200);
}

}  // namespace
}  // namespace keep::testkit
