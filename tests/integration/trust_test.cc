// The trust layer through the registry API: unsigned manifests are
// quarantined from readers, a valid cosign-layout signature from a trusted
// key makes them servable at once, bad signatures are refused, strict mode,
// thresholds, revocation, and multi-platform indexes.
#include "tests/integration/trust_fixture.h"


namespace keep::testkit {
namespace {

using nlohmann::json;

TEST_F(TrustTest, UnsignedImageIsQuarantinedFromReaders) {
  Manifest m = PushImage(client_, "acme/app", "v1", {.layer = "unsigned layer"});
  Response r = ReaderGet("acme/app", "v1", m);
  EXPECT_EQ(StatusAndCode(r), "403 DENIED");
  EXPECT_NE(ErrorMessage(r).find("quarantined"), std::string::npos) << ErrorMessage(r);
  EXPECT_NE(ErrorMessage(r).find("keepctl sign"), std::string::npos) << ErrorMessage(r);
  EXPECT_EQ(StatusAndCode(ReaderGet("acme/app", m.digest(), m)), "403 DENIED");
  EXPECT_EQ(StatusAndCode(reader_.Get(BlobPath("acme/app", DigestOf("unsigned layer")))), "403 DENIED");
  EXPECT_EQ(reader_.Get(TagsPath("acme/app")).Json()["tags"], json::array());
  // Publishers still see it (signing tools fetch it first).
  EXPECT_EQ(client_.Get(ManifestPath("acme/app", "v1"), {{"Accept", m.media_type}}).body, m.bytes);
  // A signature tag that does not exist yet is unknown, not denied.
  EXPECT_EQ(StatusAndCode(client_.Get(ManifestPath("acme/app", "sha256-" + m.digest().substr(7) + ".sig"))),
            "404 MANIFEST_UNKNOWN");
}

// keepd keeps a manifest's bytes in memory once served (the manifest
// cache): what a publisher fetched first is still refused to readers, on
// every request, by tag and by digest.
TEST_F(TrustTest, AManifestServedToAPublisherIsStillQuarantinedFromReaders) {
  Manifest m = PushImage(client_, "acme/app", "v1", {.layer = "cached layer"});
  for (int i = 0; i < 2; ++i) {
    ASSERT_EQ(client_.Get(ManifestPath("acme/app", "v1"), {{"Accept", m.media_type}}).body,
              m.bytes);
    EXPECT_EQ(StatusAndCode(ReaderGet("acme/app", "v1", m)), "403 DENIED") << i;
    EXPECT_EQ(StatusAndCode(ReaderGet("acme/app", m.digest(), m)), "403 DENIED") << i;
  }
}

TEST_F(TrustTest, ValidSignatureMakesItServableAtOnce) {
  Signer signer = NewKey("ci");
  Manifest m = PushImage(client_, "acme/app", "v1", {.layer = "signed layer"});
  Response put = PushSignature("acme/app", m, signer);
  ASSERT_EQ(put.status, 201) << put.body;
  EXPECT_EQ(ReaderGet("acme/app", "v1", m).body, m.bytes);
  EXPECT_EQ(reader_.Get(BlobPath("acme/app", DigestOf("signed layer"))).body, "signed layer");
  json tags = reader_.Get(TagsPath("acme/app")).Json()["tags"];
  EXPECT_EQ(tags, json({"sha256-" + m.digest().substr(7) + ".sig", "v1"}));
  json v = client_.Get("/admin/v1/verify?repository=acme/app&reference=v1").Json();
  EXPECT_EQ(v["trusted"], true);
  ASSERT_EQ(v["signatures"].size(), 1u);
  EXPECT_EQ(v["signatures"][0]["key_id"], signer.key_id);
  EXPECT_EQ(v["signatures"][0]["key_name"], "ci");
}

TEST_F(TrustTest, EcdsaKeysWorkToo) {
  Signer signer = NewKey("p256", true, "ecdsa-p256");
  Manifest m = PushImage(client_, "acme/app", "v1");
  ASSERT_EQ(PushSignature("acme/app", m, signer).status, 201);
  EXPECT_EQ(ReaderGet("acme/app", "v1", m).status, 200);
}

TEST_F(TrustTest, SignatureFromAnUntrustedKeyIsRefused) {
  NewKey("trusted");
  Signer stranger = NewKey("stranger", /*trusted=*/false);
  Manifest m = PushImage(client_, "acme/app", "v1");
  Response put = PushSignature("acme/app", m, stranger);
  EXPECT_EQ(StatusAndCode(put), "403 DENIED");
  EXPECT_NE(ErrorMessage(put).find("signature"), std::string::npos) << ErrorMessage(put);
  EXPECT_EQ(StatusAndCode(ReaderGet("acme/app", "v1", m)), "403 DENIED");
  // Nothing was stored at the signature tag.
  EXPECT_EQ(client_.Get(ManifestPath("acme/app", "sha256-" + m.digest().substr(7) + ".sig")).status,
            404);
}

TEST_F(TrustTest, SignatureForAnotherRepositoryIsRefused) {
  Signer signer = NewKey("ci");
  Manifest m = PushImage(client_, "acme/app", "v1");
  // Signed as acme/other but pushed to acme/app.
  auto digest = Digest::Parse(m.digest());
  std::string payload = MakeSimpleSigning("registry.example/acme/other", *digest);
  CosignManifest cm = BuildCosignManifest(payload, *Sign(signer.key, payload));
  PushBlob(client_, "acme/app", cm.config);
  PushBlob(client_, "acme/app", cm.payload);
  Response put = client_.Put(ManifestPath("acme/app", CosignSignatureTag(*digest)), cm.manifest,
                             {{"Content-Type", "application/vnd.oci.image.manifest.v1+json"}});
  EXPECT_EQ(StatusAndCode(put), "403 DENIED");
  EXPECT_EQ(StatusAndCode(ReaderGet("acme/app", "v1", m)), "403 DENIED");
}

TEST_F(TrustTest, RevokingTheKeyTakesEffectAtOnce) {
  Signer signer = NewKey("ci");
  Manifest m = PushImage(client_, "acme/app", "v1");
  ASSERT_EQ(PushSignature("acme/app", m, signer).status, 201);
  ASSERT_EQ(ReaderGet("acme/app", "v1", m).status, 200);
  Response r = client_.Delete("/admin/v1/namespaces/acme/keys/" + signer.key_id);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Json()["revoked"], true);
  EXPECT_EQ(StatusAndCode(ReaderGet("acme/app", "v1", m)), "403 DENIED");
  EXPECT_EQ(client_.Get("/admin/v1/verify?repository=acme/app&reference=v1").Json()["trusted"],
            false);
}

TEST_F(TrustTest, ThresholdTwoNeedsTwoKeys) {
  Signer one = NewKey("one"), two = NewKey("two");
  ASSERT_EQ(client_.Put("/admin/v1/namespaces/acme/policy", R"({"threshold":2})").status, 200);
  Manifest m = PushImage(client_, "acme/app", "v1");
  ASSERT_EQ(PushSignature("acme/app", m, one).status, 201);
  EXPECT_EQ(StatusAndCode(ReaderGet("acme/app", "v1", m)), "403 DENIED");
  // The same key twice is still one signer.
  ASSERT_EQ(PushSignature("acme/app", m, one).status, 201);
  EXPECT_EQ(StatusAndCode(ReaderGet("acme/app", "v1", m)), "403 DENIED");
  ASSERT_EQ(PushSignature("acme/app", m, two).status, 201);
  EXPECT_EQ(ReaderGet("acme/app", "v1", m).status, 200);
}

TEST_F(TrustTest, StrictModeRefusesUnsignedPushesAndAcceptsSignedOnes) {
  Signer signer = NewKey("ci");
  ASSERT_EQ(client_.Put("/admin/v1/namespaces/acme/policy", R"({"mode":"strict"})").status, 200);
  Manifest m = PrepareImage(client_, "acme/app", {.layer = "strict layer"});
  Response r = PutManifest(client_, "acme/app", "v1", m);
  EXPECT_EQ(StatusAndCode(r), "403 DENIED");
  EXPECT_NE(ErrorMessage(r).find("strict"), std::string::npos) << ErrorMessage(r);
  EXPECT_EQ(client_.Get(TagsPath("acme/app")).Json()["tags"], json::array());
  // Signed first, then pushed.
  ASSERT_EQ(PushSignature("acme/app", m, signer).status, 201);
  EXPECT_EQ(PutManifest(client_, "acme/app", "v1", m).status, 201);
  EXPECT_EQ(ReaderGet("acme/app", "v1", m).body, m.bytes);
}

TEST_F(TrustTest, AnIndexSignedOnceCoversItsPlatforms) {
  Signer signer = NewKey("ci");
  Manifest amd = PrepareImage(client_, "acme/multi", {.layer = "amd64 layer"});
  Manifest arm = PrepareImage(client_, "acme/multi", {.layer = "arm64 layer"});
  ASSERT_EQ(PutManifest(client_, "acme/multi", amd.digest(), amd).status, 201);
  ASSERT_EQ(PutManifest(client_, "acme/multi", arm.digest(), arm).status, 201);
  Manifest index = IndexOf({amd, arm});
  ASSERT_EQ(PutManifest(client_, "acme/multi", "v1", index).status, 201);
  EXPECT_EQ(StatusAndCode(ReaderGet("acme/multi", amd.digest(), amd)), "403 DENIED");
  ASSERT_EQ(PushSignature("acme/multi", index, signer).status, 201);
  EXPECT_EQ(ReaderGet("acme/multi", "v1", index).status, 200);
  EXPECT_EQ(ReaderGet("acme/multi", arm.digest(), arm).body, arm.bytes);
  EXPECT_EQ(reader_.Get(BlobPath("acme/multi", DigestOf("amd64 layer"))).body, "amd64 layer");
}

TEST_F(TrustTest, OpenNamespacesServeUnsignedImages) {
  ASSERT_EQ(client_.Put("/admin/v1/namespaces/acme/policy", R"({"mode":"open"})").status, 200);
  Manifest m = PushImage(client_, "acme/app", "v1");
  EXPECT_EQ(ReaderGet("acme/app", "v1", m).status, 200);
}

TEST_F(TrustTest, KeysAndPolicyAreCheckedOnTheWayIn) {
  Response r = client_.Post("/admin/v1/namespaces/acme/keys",
                            R"({"name":"junk","public_key":"not a key"})");
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_EQ(StatusAndCode(client_.Put("/admin/v1/namespaces/acme/policy", R"({"mode":"lenient"})")),
            "400 INVALID");
  EXPECT_EQ(StatusAndCode(client_.Put("/admin/v1/namespaces/acme/policy", R"({"threshold":0})")),
            "400 INVALID");
  EXPECT_EQ(client_.Get("/admin/v1/namespaces/acme/policy").Json(),
            json::parse(R"({"mode":"quarantine","threshold":1,"quarantine_ttl":86400})"));
  // Readers do not manage keys.
  EXPECT_EQ(StatusAndCode(reader_.Get("/admin/v1/namespaces/acme/keys")), "403 DENIED");
  NewKey("ci");
  auto pair = GenerateKeyPair("ed25519", "");
  EXPECT_EQ(client_.Post("/admin/v1/namespaces/acme/keys",
                         json{{"name", "again"}, {"public_key", pair->public_pem}}.dump())
                .status,
            201);
  // The same key twice is a conflict.
  EXPECT_EQ(StatusAndCode(client_.Post("/admin/v1/namespaces/acme/keys",
                              json{{"name", "twice"}, {"public_key", pair->public_pem}}.dump())),
            "409 CONFLICT");
  EXPECT_EQ(client_.Get("/admin/v1/namespaces/acme/keys").Json()["keys"].size(), 2u);
}

TEST_F(TrustTest, ASignaturePushedAsAReferrerCounts) {
  Signer signer = NewKey("ci");
  Manifest m = PushImage(client_, "acme/app", "v1", {.layer = "referred"});
  Manifest ref;
  Response put = PushSignature("acme/app", m, signer, /*as_referrer=*/true, &ref);
  ASSERT_EQ(put.status, 201) << put.body;
  EXPECT_EQ(put.Header("OCI-Subject"), m.digest());
  EXPECT_EQ(ReaderGet("acme/app", "v1", m).body, m.bytes);
  // Readers find it through the referrers API and may fetch it.
  json index = reader_.Get(ReferrersPath("acme/app", m.digest())).Json();
  ASSERT_EQ(index["manifests"].size(), 1u) << index;
  EXPECT_EQ(index["manifests"][0]["digest"], ref.digest());
  EXPECT_EQ(ReaderGet("acme/app", ref.digest(), ref).body, ref.bytes);
  // A referrer signed by a stranger is refused like a tagged one.
  Signer stranger = NewKey("stranger", /*trusted=*/false);
  Manifest other = PushImage(client_, "acme/app", "v2", {.layer = "other"});
  EXPECT_EQ(StatusAndCode(PushSignature("acme/app", other, stranger, /*as_referrer=*/true)),
            "403 DENIED");
}

TEST_F(TrustTest, QuarantinedManifestsPastTheirTtlAreCollected) {
  Signer signer = NewKey("ci");
  Manifest unsigned_image = PushImage(client_, "acme/app", "unsigned", {.layer = "never signed"});
  Manifest signed_image = PushImage(client_, "acme/app", "signed", {.layer = "signed in time"});
  ASSERT_EQ(PushSignature("acme/app", signed_image, signer).status, 201);
  // Within the TTL (a day by default) nothing goes.
  json kept = client_.Post("/admin/v1/gc", R"({"grace_seconds":0})").Json();
  EXPECT_EQ(kept["manifests"]["count"], 0) << kept;
  AgeManifests(keepd_, 2 * 24 * 3600, {&client_, &reader_});
  json dry = client_.Post("/admin/v1/gc", R"({"dry_run":true,"grace_seconds":0})").Json();
  EXPECT_EQ(dry["manifests"]["items"], json({"acme/app@" + unsigned_image.digest()})) << dry;
  json report = client_.Post("/admin/v1/gc", R"({"grace_seconds":0})").Json();
  EXPECT_EQ(report["manifests"]["items"], json({"acme/app@" + unsigned_image.digest()})) << report;
  EXPECT_TRUE(IsError(client_.Get(ManifestPath("acme/app", "unsigned")), 404, "MANIFEST_UNKNOWN"));
  EXPECT_EQ(client_.Get(BlobPath("acme/app", DigestOf("never signed"))).status, 404);
  // The signed image, its signature and its blobs stay.
  EXPECT_EQ(ReaderGet("acme/app", "signed", signed_image).body, signed_image.bytes);
  EXPECT_EQ(reader_.Get(BlobPath("acme/app", DigestOf("signed in time"))).status, 200);
  EXPECT_EQ(client_.Get(TagsPath("acme/app")).Json()["tags"],
            json({"sha256-" + signed_image.digest().substr(7) + ".sig", "signed"}));
}

TEST_F(TrustTest, OpenNamespacesKeepUnsignedImagesPastTheTtl) {
  ASSERT_EQ(client_.Put("/admin/v1/namespaces/acme/policy", R"({"mode":"open"})").status, 200);
  Manifest m = PushImage(client_, "acme/app", "v1");
  AgeManifests(keepd_, 2 * 24 * 3600, {&client_, &reader_});
  json report = client_.Post("/admin/v1/gc", R"({"grace_seconds":0})").Json();
  EXPECT_EQ(report["manifests"]["count"], 0) << report;
  EXPECT_EQ(client_.Get(ManifestPath("acme/app", "v1"), {{"Accept", m.media_type}}).status, 200);
}

}  // namespace
}  // namespace keep::testkit

namespace keep::testkit {
namespace {

using nlohmann::json;

// What GC would collect now, as "repo@digest" items.
json Collectable(HttpsClient& admin) {
  return admin.Post("/admin/v1/gc", R"({"dry_run":true,"grace_seconds":0})").Json()["manifests"]["items"];
}

TEST_F(TrustTest, ANamespaceCreatedAfterItsImagesStartsTheirClockThen) {
  Manifest m = PushImage(client_, "late/app", "v1", {.layer = "pushed before the namespace"});
  AgeManifests(keepd_, 30 * 24 * 3600, {&client_, &reader_});
  Response r = client_.Post("/admin/v1/namespaces", R"({"name":"late"})");
  ASSERT_EQ(r.status, 201) << r.body;
  json created = r.Json();
  // The answer says what is now withheld, and when GC would remove it.
  ASSERT_EQ(created["quarantined"].size(), 1u) << created.dump();
  EXPECT_EQ(created["quarantined"][0]["digest"], m.digest());
  std::int64_t since = created["policy_since"];
  EXPECT_EQ(created["quarantined"][0]["expires_at"], since + 86400);
  EXPECT_GE(since, created["created_at"].get<std::int64_t>());
  // A month-old push is not collected at once ...
  EXPECT_EQ(Collectable(client_), json::array());
  // ... only a whole TTL after the namespace's policy took effect.
  AgeManifests(keepd_, 2 * 24 * 3600, {&client_, &reader_});
  EXPECT_EQ(Collectable(client_), json({"late/app@" + m.digest()}));
}

TEST_F(TrustTest, LeavingOpenModeOrRevokingAKeyRestartsTheClock) {
  Signer signer = NewKey("ci");
  ASSERT_EQ(client_.Put("/admin/v1/namespaces/acme/policy", R"({"mode":"open"})").status, 200);
  Manifest open_push = PushImage(client_, "acme/app", "open", {.layer = "pushed while open"});
  Manifest signed_image = PushImage(client_, "acme/app", "signed", {.layer = "signed, then revoked"});
  ASSERT_EQ(PushSignature("acme/app", signed_image, signer).status, 201);
  AgeManifests(keepd_, 30 * 24 * 3600, {&client_, &reader_});
  ASSERT_EQ(client_.Put("/admin/v1/namespaces/acme/policy", R"({"mode":"quarantine"})").status, 200);
  EXPECT_EQ(Collectable(client_), json::array());
  // A TTL change alone restarts nothing; revoking a key does.
  std::int64_t since = client_.Get("/admin/v1/namespaces/acme").Json()["policy_since"];
  ASSERT_EQ(client_.Put("/admin/v1/namespaces/acme/policy", R"({"quarantine_ttl":3600})").status, 200);
  EXPECT_EQ(client_.Get("/admin/v1/namespaces/acme").Json()["policy_since"], since);
  ASSERT_EQ(client_.Delete("/admin/v1/namespaces/acme/keys/" + signer.key_id).status, 200);
  EXPECT_GE(client_.Get("/admin/v1/namespaces/acme").Json()["policy_since"].get<std::int64_t>(), since);
  EXPECT_EQ(Collectable(client_), json::array());
  json q = client_.Get("/admin/v1/quarantine?namespace=acme").Json();
  EXPECT_EQ(q["manifests"].size(), 2u) << q.dump();
  (void)open_push;
}

}  // namespace
}  // namespace keep::testkit
