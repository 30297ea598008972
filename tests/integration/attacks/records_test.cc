// Attack: keep a signature's effect after what carried it is gone or its
// key is revoked, or pass bytes no trusted key signed to readers beside a
// signature that verifies. Records follow what is stored; an artifact is
// served only when every signature in it verifies with a key still trusted.
#include "tests/integration/attacks/attack_fixture.h"

namespace keep::testkit {
namespace {

using nlohmann::json;

std::string SigTag(const Manifest& m) { return "sha256-" + m.digest().substr(7) + ".sig"; }

TEST_F(AttackTest, DeletingTheOnlySignatureArtifactWithdrawsItsSignature) {
  Signer release = NewKey("release");
  Manifest m = PushImage(client_, "acme/app", "v1", {.layer = "signed then unsigned"});
  Manifest sig;
  ASSERT_EQ(PushSignature("acme/app", m, release, false, &sig).status, 201);
  ASSERT_EQ(ReaderGet("acme/app", "v1", m).status, 200);
  ASSERT_EQ(client_.Delete(ManifestPath("acme/app", sig.digest())).status, 202);
  ExpectWithheld(reader_, "acme/app", m, "v1");
  json v = client_.Get("/admin/v1/verify?repository=acme/app&reference=v1").Json();
  EXPECT_EQ(v["trusted"], false) << v.dump();
  EXPECT_EQ(v["signatures"], json::array()) << v.dump();
}

TEST_F(AttackTest, DeletingAReferrerSignatureWithdrawsItToo) {
  Signer release = NewKey("release");
  Manifest m = PushImage(client_, "acme/app", "v1", {.layer = "referrer then gone"});
  Manifest sig;
  ASSERT_EQ(PushSignature("acme/app", m, release, /*as_referrer=*/true, &sig).status, 201);
  ASSERT_EQ(ReaderGet("acme/app", "v1", m).status, 200);
  ASSERT_EQ(client_.Delete(ManifestPath("acme/app", sig.digest())).status, 202);
  ExpectWithheld(reader_, "acme/app", m, "v1");
}

TEST_F(AttackTest, ARevokedKeysTagFormSignatureIsNoLongerServed) {
  Signer release = NewKey("release");
  Manifest m = PushImage(client_, "acme/app", "v1", {.layer = "revoked signer"});
  Manifest sig;
  ASSERT_EQ(PushSignature("acme/app", m, release, false, &sig).status, 201);
  ASSERT_EQ(ReaderGet("acme/app", SigTag(m), sig).status, 200);
  ASSERT_EQ(client_.Delete("/admin/v1/namespaces/acme/keys/" + release.key_id).status, 200);
  ExpectWithheld(reader_, "acme/app", sig, SigTag(m));
  ExpectWithheld(reader_, "acme/app", m, "v1");
}

TEST_F(AttackTest, AnUnverifiedLayerBesideAGoodOneKeepsTheArtifactFromReaders) {
  Signer release = NewKey("release");
  Signer stranger = NewKey("stranger", /*trusted=*/false);
  Manifest m = PushImage(client_, "acme/app", "v1", {.layer = "appended"});
  ASSERT_EQ(PushSignature("acme/app", m, release).status, 201);
  // mallory appends a layer of her own to the signature manifest, as cosign
  // appends each signer's layer: the good signature still counts ...
  Manifest sig;
  ASSERT_EQ(PushSignature("acme/app", m, stranger, false, &sig).status, 403);
  {
    // ... built by hand: [release's layer, stranger's layer].
    Manifest first;
    ASSERT_EQ(PushSignature("acme/app", m, release, false, &first).status, 201);
    Manifest second;
    PushSignature("acme/app", m, stranger, false, &second);  // refused alone; its blobs stay
    json a = json::parse(first.bytes), b = json::parse(second.bytes);
    json layers = a["layers"];
    layers.push_back(b["layers"][0]);
    json config = json::parse(client_.Get(BlobPath("acme/app", a["config"]["digest"].get<std::string>())).body);
    config["rootfs"]["diff_ids"].push_back(b["layers"][0]["digest"]);
    std::string config_bytes = config.dump();
    PushBlob(mallory_, "acme/app", config_bytes);
    a["layers"] = layers;
    a["config"]["digest"] = DigestOf(config_bytes);
    a["config"]["size"] = config_bytes.size();
    sig = MakeManifest(first.media_type, a);
  }
  Response put = PutManifest(mallory_, "acme/app", SigTag(m), sig);
  ASSERT_EQ(put.status, 201) << put.body;
  // ... the image stays trusted, but the artifact with chosen bytes (the
  // stranger's annotation, the new config) is withheld. (Both layers carry
  // the same payload, which release's own signature manifest still serves.)
  EXPECT_EQ(ReaderGet("acme/app", "v1", m).status, 200);
  EXPECT_EQ(StatusAndCode(ReaderGet("acme/app", SigTag(m), sig)), "403 DENIED");
  EXPECT_EQ(StatusAndCode(ReaderGet("acme/app", sig.digest(), sig)), "403 DENIED");
  EXPECT_EQ(StatusAndCode(reader_.Get(BlobPath("acme/app", sig.digest()))), "403 DENIED");
  std::string config_digest = json::parse(sig.bytes)["config"]["digest"];
  EXPECT_EQ(StatusAndCode(reader_.Get(BlobPath("acme/app", config_digest))), "403 DENIED");
  json v = client_.Get("/admin/v1/verify?repository=acme/app&reference=v1").Json();
  ASSERT_EQ(v["signatures"].size(), 1u) << v.dump();
  EXPECT_EQ(v["signatures"][0]["key_id"], release.key_id);
}

TEST_F(AttackTest, ThresholdTwoWithholdsTheFirstSignatureUntilTheSecond) {
  Signer a = NewKey("a");
  Signer b = NewKey("b");
  ASSERT_EQ(client_.Put("/admin/v1/namespaces/acme/policy", R"({"threshold":2})").status, 200);
  Manifest m = PushImage(client_, "acme/app", "v1", {.layer = "two signers"});
  Manifest sig;
  ASSERT_EQ(PushSignature("acme/app", m, a, /*as_referrer=*/true, &sig).status, 201);
  // The first signature names the image's digest: it is withheld too.
  ExpectWithheld(reader_, "acme/app", sig);
  ExpectWithheld(reader_, "acme/app", m, "v1");
  ASSERT_EQ(PushSignature("acme/app", m, b, /*as_referrer=*/true).status, 201);
  EXPECT_EQ(ReaderGet("acme/app", "v1", m).status, 200);
  EXPECT_EQ(ReaderGet("acme/app", sig.digest(), sig).status, 200);
}

}  // namespace
}  // namespace keep::testkit

namespace keep::testkit {
namespace {

using nlohmann::json;

// A two-layer signature manifest of `m`: one layer by each signer.
Manifest TwoSignerManifest(HttpsClient& client, const std::string& repo, const Manifest& m,
                           const PrivateKey& a, const PrivateKey& b) {
  auto digest = Digest::Parse(m.digest());
  std::string payload = MakeSimpleSigning("registry.example:5000/" + repo, *digest);
  CosignManifest first = BuildCosignManifest(payload, *Sign(a, payload));
  CosignManifest second = BuildCosignManifest(payload, *Sign(b, payload));
  json manifest = json::parse(first.manifest);
  manifest["layers"].push_back(json::parse(second.manifest)["layers"][0]);
  json config = json::parse(first.config);
  config["rootfs"]["diff_ids"].push_back(first.payload_digest.str());
  config["history"].push_back(config["history"][0]);
  std::string config_bytes = config.dump();
  PushBlob(client, repo, config_bytes);
  PushBlob(client, repo, payload);
  manifest["config"]["digest"] = DigestOf(config_bytes);
  manifest["config"]["size"] = config_bytes.size();
  return MakeManifest(mt::kOciManifest, manifest);
}

TEST_F(AttackTest, RevokingOneOfTwoSignersDoesNotGetTheImageCollected) {
  Signer one = NewKey("one");
  Signer two = NewKey("two");
  Manifest m = PushImage(client_, "acme/app", "v1", {.layer = "two layers"});
  Manifest sig = TwoSignerManifest(client_, "acme/app", m, one.key, two.key);
  ASSERT_EQ(PutManifest(client_, "acme/app", "sha256-" + m.digest().substr(7) + ".sig", sig).status,
            201);
  ASSERT_EQ(client_.Delete("/admin/v1/namespaces/acme/keys/" + two.key_id).status, 200);
  // The artifact is withheld (it holds a revoked key's signature) ...
  EXPECT_EQ(StatusAndCode(ReaderGet("acme/app", sig.digest(), sig)), "403 DENIED");
  // ... but it still vouches for its image through the other key, at any age.
  AgeManifests(keepd_, 2 * 24 * 3600, {&client_, &reader_});
  json report = client_.Post("/admin/v1/gc", R"({"grace_seconds":0})").Json();
  EXPECT_EQ(report["manifests"]["count"], 0) << report;
  EXPECT_EQ(ReaderGet("acme/app", "v1", m).status, 200);
}

TEST_F(AttackTest, ASignatureOfAQuarantinedImageGoesWithItPastTheTtl) {
  Signer a = NewKey("a");
  NewKey("b");
  ASSERT_EQ(client_.Put("/admin/v1/namespaces/acme/policy", R"({"threshold":2})").status, 200);
  Manifest m = PushImage(client_, "acme/app", "v1", {.layer = "half signed"});
  Manifest sig;
  ASSERT_EQ(PushSignature("acme/app", m, a, false, &sig).status, 201);
  // Not listed as quarantined on its own: it is the image's.
  json q = client_.Get("/admin/v1/quarantine?namespace=acme").Json();
  ASSERT_EQ(q["manifests"].size(), 1u) << q.dump();
  EXPECT_EQ(q["manifests"][0]["digest"], m.digest());
  AgeManifests(keepd_, 2 * 24 * 3600, {&client_, &reader_});
  json report = client_.Post("/admin/v1/gc", R"({"grace_seconds":0})").Json();
  json items = report["manifests"]["items"];
  std::sort(items.begin(), items.end());
  json expected = {"acme/app@" + m.digest(), "acme/app@" + sig.digest()};
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(items, expected) << report;
}

}  // namespace
}  // namespace keep::testkit
