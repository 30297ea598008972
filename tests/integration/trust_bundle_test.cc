// cosign v3 signatures through the registry API: a sigstore bundle attached
// as an OCI 1.1 referrer makes its subject servable when a trusted key signed
// cosign's statement for it; anything else is refused or, for attestations,
// kept without counting.
#include "tests/integration/trust_fixture.h"

#include "core/base64.h"

namespace keep::testkit {
namespace {

using nlohmann::json;

constexpr std::string_view kBundleType = "application/vnd.dev.sigstore.bundle.v0.3+json";

TEST_F(TrustTest, ABundleReferrerMakesItServable) {
  Signer signer = NewKey("ci", true, "ecdsa-p256");
  Manifest m = PushImage(client_, "acme/app", "v1", {.layer = "bundled"});
  ASSERT_EQ(StatusAndCode(ReaderGet("acme/app", "v1", m)), "403 DENIED");
  Manifest referrer;
  Response put = PushBundle("acme/app", m, signer, "", &referrer);
  ASSERT_EQ(put.status, 201) << put.body;
  EXPECT_EQ(put.Header("OCI-Subject"), m.digest());

  EXPECT_EQ(ReaderGet("acme/app", "v1", m).body, m.bytes);
  EXPECT_EQ(reader_.Get(BlobPath("acme/app", DigestOf("bundled"))).body, "bundled");
  // A reader verifying as cosign does: the referrers API, filtered by type,
  // then the referrer and its bundle.
  json index = reader_.Get(ReferrersPath("acme/app", m.digest()) + "?artifactType=" +
                           std::string(kBundleType)).Json();
  ASSERT_EQ(index["manifests"].size(), 1u) << index;
  EXPECT_EQ(index["manifests"][0]["digest"], referrer.digest());
  EXPECT_EQ(index["manifests"][0]["artifactType"], kBundleType);
  EXPECT_EQ(index["manifests"][0]["annotations"]["dev.sigstore.bundle.predicateType"],
            "https://sigstore.dev/cosign/sign/v1");
  EXPECT_EQ(ReaderGet("acme/app", referrer.digest(), referrer).body, referrer.bytes);
  json layer = json::parse(referrer.bytes)["layers"][0];
  Response bundle = reader_.Get(BlobPath("acme/app", layer["digest"].get<std::string>()));
  ASSERT_EQ(bundle.status, 200);
  EXPECT_EQ(json::parse(bundle.body)["mediaType"], kBundleType);

  json v = client_.Get("/admin/v1/verify?repository=acme/app&reference=v1").Json();
  EXPECT_EQ(v["trusted"], true);
  ASSERT_EQ(v["signatures"].size(), 1u) << v;
  EXPECT_EQ(v["signatures"][0]["format"], "sigstore-bundle");
  EXPECT_EQ(v["signatures"][0]["key_id"], signer.key_id);
  EXPECT_EQ(v["signatures"][0]["signature"], referrer.digest());
}

TEST_F(TrustTest, ReadersListOnlyTheReferrersTheyMayFetch) {
  Signer signer = NewKey("ci");
  Manifest m = PushImage(client_, "acme/app", "v1");
  ASSERT_EQ(PushBundle("acme/app", m, signer).status, 201);
  // An unsigned artifact about the image: quarantined like any manifest.
  std::string sbom = R"({"bomFormat":"CycloneDX"})";
  PushBlob(client_, "acme/app", "{}");
  PushBlob(client_, "acme/app", sbom);
  Manifest artifact = MakeManifest(
      "application/vnd.oci.image.manifest.v1+json",
      {{"schemaVersion", 2},
       {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
       {"artifactType", "application/vnd.cyclonedx+json"},
       {"config", {{"mediaType", "application/vnd.oci.empty.v1+json"}, {"digest", DigestOf("{}")}, {"size", 2}}},
       {"layers", json::array({{{"mediaType", "application/vnd.cyclonedx+json"},
                                {"digest", DigestOf(sbom)},
                                {"size", sbom.size()}}})},
       {"subject", m.Descriptor()}});
  ASSERT_EQ(PutManifest(client_, "acme/app", artifact.digest(), artifact).status, 201);
  EXPECT_EQ(client_.Get(ReferrersPath("acme/app", m.digest())).Json()["manifests"].size(), 2u);
  json seen = reader_.Get(ReferrersPath("acme/app", m.digest())).Json()["manifests"];
  ASSERT_EQ(seen.size(), 1u) << seen;
  EXPECT_EQ(seen[0]["artifactType"], kBundleType);
  EXPECT_EQ(StatusAndCode(ReaderGet("acme/app", artifact.digest(), artifact)), "403 DENIED");
}

// A publisher without a trusted key must not get a quarantined image's blobs
// served by dressing them up as a signature: a real signature of a trusted
// image, with the quarantined image's config and layers beside it.
TEST_F(TrustTest, ASignatureCannotCarryAnotherImagesBlobs) {
  Signer signer = NewKey("ci");
  Manifest signed_image = PushImage(client_, "acme/app", "v1", {.layer = "signed layer"});
  Manifest bundle_referrer;
  ASSERT_EQ(PushBundle("acme/app", signed_image, signer, "", &bundle_referrer).status, 201);
  Manifest cosign_signature;
  ASSERT_EQ(PushSignature("acme/app", signed_image, signer, false, &cosign_signature).status, 201);
  Manifest hidden = PushImage(client_, "acme/app", "hidden", {.layer = "quarantined layer"});
  json hidden_json = json::parse(hidden.bytes);
  const std::string hidden_layer = DigestOf("quarantined layer");

  // The bundle referrer, with the hidden image's layer and then its config.
  json smuggled = json::parse(bundle_referrer.bytes);
  smuggled["layers"].push_back(hidden_json["layers"][0]);
  Manifest m1 = MakeManifest("application/vnd.oci.image.manifest.v1+json", smuggled);
  Response r = PutManifest(client_, "acme/app", m1.digest(), m1);
  EXPECT_EQ(StatusAndCode(r), "400 MANIFEST_INVALID");
  EXPECT_NE(ErrorMessage(r).find("holds nothing else"), std::string::npos) << ErrorMessage(r);
  json smuggled_config = json::parse(bundle_referrer.bytes);
  smuggled_config["config"] = hidden_json["config"];
  Manifest m2 = MakeManifest("application/vnd.oci.image.manifest.v1+json", smuggled_config);
  EXPECT_EQ(StatusAndCode(PutManifest(client_, "acme/app", m2.digest(), m2)), "400 MANIFEST_INVALID");

  // The cosign signature manifest, the same ways, at its tag and as a referrer.
  const std::string sig_tag = "sha256-" + signed_image.digest().substr(7) + ".sig";
  const json cosign = json::parse(cosign_signature.bytes);
  json with_layer = cosign;
  with_layer["layers"].push_back(hidden_json["layers"][0]);
  Manifest m3 = MakeManifest("application/vnd.oci.image.manifest.v1+json", with_layer);
  EXPECT_EQ(StatusAndCode(PutManifest(client_, "acme/app", sig_tag, m3)), "400 MANIFEST_INVALID");
  with_layer["subject"] = signed_image.Descriptor();
  Manifest m4 = MakeManifest("application/vnd.oci.image.manifest.v1+json", with_layer);
  EXPECT_EQ(StatusAndCode(PutManifest(client_, "acme/app", m4.digest(), m4)), "400 MANIFEST_INVALID");
  json with_config = cosign;
  with_config["config"] = hidden_json["config"];
  Manifest m5 = MakeManifest("application/vnd.oci.image.manifest.v1+json", with_config);
  r = PutManifest(client_, "acme/app", sig_tag, m5);
  EXPECT_EQ(StatusAndCode(r), "400 MANIFEST_INVALID");
  EXPECT_NE(ErrorMessage(r).find("diff_ids"), std::string::npos) << ErrorMessage(r);
  // A layer of the image typed as a signature layer.
  json disguised = cosign;
  json fake = hidden_json["layers"][0];
  fake["mediaType"] = "application/vnd.dev.cosign.simplesigning.v1+json";
  fake["annotations"] = {{"dev.cosignproject.cosign/signature", "c2lnbmF0dXJl"}};
  disguised["layers"].push_back(fake);
  Manifest m6 = MakeManifest("application/vnd.oci.image.manifest.v1+json", disguised);
  EXPECT_EQ(StatusAndCode(PutManifest(client_, "acme/app", sig_tag, m6)), "400 MANIFEST_INVALID");

  // The hidden image stays hidden, blobs and all; the signed one is served.
  EXPECT_EQ(StatusAndCode(ReaderGet("acme/app", "hidden", hidden)), "403 DENIED");
  EXPECT_EQ(StatusAndCode(reader_.Get(BlobPath("acme/app", hidden_layer))), "403 DENIED");
  EXPECT_EQ(StatusAndCode(reader_.Get(BlobPath("acme/app", hidden_json["config"]["digest"].get<std::string>()))),
            "403 DENIED");
  EXPECT_EQ(ReaderGet("acme/app", "v1", signed_image).status, 200);
}

TEST_F(TrustTest, EveryBundleOfAReferrerMustVerify) {
  Signer signer = NewKey("ci");
  Signer stranger = NewKey("stranger", /*trusted=*/false);
  Manifest m = PushImage(client_, "acme/app", "v1");
  Manifest good;
  Manifest bad;
  ASSERT_EQ(PushBundle("acme/app", m, signer, "", &good).status, 201);
  EXPECT_EQ(StatusAndCode(PushBundle("acme/app", m, stranger, "", &bad)), "403 DENIED");
  json both = json::parse(good.bytes);
  both["layers"].push_back(json::parse(bad.bytes)["layers"][0]);
  Manifest two = MakeManifest("application/vnd.oci.image.manifest.v1+json", both);
  Response r = PutManifest(client_, "acme/app", two.digest(), two);
  EXPECT_EQ(StatusAndCode(r), "403 DENIED");
  EXPECT_NE(ErrorMessage(r).find("no signature in the envelope verifies"), std::string::npos)
      << ErrorMessage(r);
}

TEST_F(TrustTest, ABundleFromAnUntrustedKeyIsRefusedAndNothingIsStored) {
  NewKey("trusted");
  Signer stranger = NewKey("stranger", /*trusted=*/false);
  Manifest m = PushImage(client_, "acme/app", "v1");
  Manifest referrer;
  Response put = PushBundle("acme/app", m, stranger, "", &referrer);
  EXPECT_EQ(StatusAndCode(put), "403 DENIED");
  EXPECT_NE(ErrorMessage(put).find("no signature in the envelope verifies with a trusted key"),
            std::string::npos)
      << ErrorMessage(put);
  EXPECT_EQ(StatusAndCode(ReaderGet("acme/app", "v1", m)), "403 DENIED");
  EXPECT_EQ(StatusAndCode(client_.Get(ManifestPath("acme/app", referrer.digest()))),
            "404 MANIFEST_UNKNOWN");
  EXPECT_EQ(client_.Get(ReferrersPath("acme/app", m.digest())).Json()["manifests"], json::array());
}

TEST_F(TrustTest, ABundleMustSignItsSubject) {
  Signer signer = NewKey("ci");
  Manifest m = PushImage(client_, "acme/app", "v1", {.layer = "one"});
  Manifest other = PushImage(client_, "acme/app", "v2", {.layer = "two"});
  // A valid signature of v2, attached to v1.
  Response put = PushBundle("acme/app", m, signer, MakeSignStatement(*Digest::Parse(other.digest())));
  EXPECT_EQ(StatusAndCode(put), "403 DENIED");
  EXPECT_NE(ErrorMessage(put).find("does not name " + m.digest()), std::string::npos)
      << ErrorMessage(put);
  EXPECT_EQ(StatusAndCode(ReaderGet("acme/app", "v1", m)), "403 DENIED");
  EXPECT_EQ(StatusAndCode(ReaderGet("acme/app", "v2", other)), "403 DENIED");

  // Tampered after signing: the statement swapped for v1's.
  put = PushBundle("acme/app", m, signer, MakeSignStatement(*Digest::Parse(other.digest())),
                   nullptr, [&](json& bundle) {
                     bundle["dsseEnvelope"]["payload"] =
                         EncodeBase64(MakeSignStatement(*Digest::Parse(m.digest())));
                   });
  EXPECT_EQ(StatusAndCode(put), "403 DENIED");
  EXPECT_EQ(StatusAndCode(ReaderGet("acme/app", "v1", m)), "403 DENIED");
}

// A bundle whose certificate replaced the key is checked as a keyless
// signature (trust_keyless_test.cc), and this one is no certificate.
TEST_F(TrustTest, KeylessBundlesAreRefusedSayingWhy) {
  Signer signer = NewKey("ci");
  Manifest m = PushImage(client_, "acme/app", "v1");
  Response put = PushBundle("acme/app", m, signer, "", nullptr, [](json& bundle) {
    bundle["verificationMaterial"] = {{"certificate", {{"rawBytes", "MIIB"}}}};
  });
  EXPECT_EQ(StatusAndCode(put), "403 DENIED");
  EXPECT_NE(ErrorMessage(put).find("keyless signature: certificate: "), std::string::npos)
      << ErrorMessage(put);
}

TEST_F(TrustTest, AnAttestationIsKeptButDoesNotSign) {
  Signer signer = NewKey("ci");
  Manifest m = PushImage(client_, "acme/app", "v1");
  json statement = json::parse(MakeSignStatement(*Digest::Parse(m.digest())));
  statement["predicateType"] = "https://cyclonedx.org/bom";
  statement["predicate"] = {{"bomFormat", "CycloneDX"}};
  Manifest attestation;
  Response put = PushBundle("acme/app", m, signer, statement.dump(), &attestation);
  ASSERT_EQ(put.status, 201) << put.body;
  // The image is still unsigned, and so is withheld with what is said of it.
  EXPECT_EQ(StatusAndCode(ReaderGet("acme/app", "v1", m)), "403 DENIED");
  EXPECT_EQ(StatusAndCode(ReaderGet("acme/app", attestation.digest(), attestation)), "403 DENIED");
  json v = client_.Get("/admin/v1/verify?repository=acme/app&reference=v1").Json();
  EXPECT_EQ(v["trusted"], false);
  EXPECT_EQ(v["signatures"], json::array());
  ASSERT_EQ(v["attestations"].size(), 1u) << v;
  EXPECT_EQ(v["attestations"][0]["manifest"], attestation.digest());
  // Signing it makes it trusted, and its attestation served.
  ASSERT_EQ(PushBundle("acme/app", m, signer).status, 201);
  EXPECT_EQ(ReaderGet("acme/app", "v1", m).status, 200);
  EXPECT_EQ(ReaderGet("acme/app", attestation.digest(), attestation).status, 200);
  // Revoking the key withdraws the image and the attestation alike.
  ASSERT_EQ(client_.Delete("/admin/v1/namespaces/acme/keys/" + signer.key_id).status, 200);
  EXPECT_EQ(StatusAndCode(ReaderGet("acme/app", "v1", m)), "403 DENIED");
  EXPECT_EQ(StatusAndCode(ReaderGet("acme/app", attestation.digest(), attestation)), "403 DENIED");
  EXPECT_EQ(reader_.Get(ReferrersPath("acme/app", m.digest())).Json()["manifests"], json::array());
}

TEST_F(TrustTest, ABundleAndACosignTagSignatureMeetAThresholdOfTwo) {
  Signer first = NewKey("first");
  Signer second = NewKey("second", true, "ecdsa-p256");
  ASSERT_EQ(client_.Put("/admin/v1/namespaces/acme/policy", R"({"threshold":2})").status, 200);
  Manifest m = PushImage(client_, "acme/app", "v1");
  ASSERT_EQ(PushBundle("acme/app", m, first).status, 201);
  EXPECT_EQ(StatusAndCode(ReaderGet("acme/app", "v1", m)), "403 DENIED");
  // The same key again, in the other format, is still one key.
  ASSERT_EQ(PushSignature("acme/app", m, first).status, 201);
  EXPECT_EQ(StatusAndCode(ReaderGet("acme/app", "v1", m)), "403 DENIED");
  ASSERT_EQ(PushSignature("acme/app", m, second).status, 201);
  EXPECT_EQ(ReaderGet("acme/app", "v1", m).status, 200);
  // Revoking the bundle's key drops it below the threshold again.
  ASSERT_EQ(client_.Delete("/admin/v1/namespaces/acme/keys/" + first.key_id).status, 200);
  EXPECT_EQ(StatusAndCode(ReaderGet("acme/app", "v1", m)), "403 DENIED");
}

TEST_F(TrustTest, StrictModeTakesABundleBeforeThePush) {
  // cosign signs by digest, so in strict mode the signature goes first: a
  // referrer may name a subject that is not stored yet.
  Signer signer = NewKey("ci");
  ASSERT_EQ(client_.Put("/admin/v1/namespaces/acme/policy", R"({"mode":"strict"})").status, 200);
  json config = {{"architecture", "amd64"}, {"os", "linux"}};
  PushBlob(client_, "acme/app", config.dump());
  PushBlob(client_, "acme/app", "strict layer");
  Manifest m = MakeManifest("application/vnd.oci.image.manifest.v1+json",
                            {{"schemaVersion", 2},
                             {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                             {"config", {{"mediaType", "application/vnd.oci.image.config.v1+json"},
                                         {"digest", DigestOf(config.dump())},
                                         {"size", config.dump().size()}}},
                             {"layers", json::array({{{"mediaType", "application/vnd.oci.image.layer.v1.tar"},
                                                      {"digest", DigestOf("strict layer")},
                                                      {"size", 12}}})}});
  EXPECT_EQ(StatusAndCode(PutManifest(client_, "acme/app", "v1", m)), "403 DENIED");
  ASSERT_EQ(PushBundle("acme/app", m, signer).status, 201);
  ASSERT_EQ(PutManifest(client_, "acme/app", "v1", m).status, 201);
  EXPECT_EQ(ReaderGet("acme/app", "v1", m).body, m.bytes);
}

// A bundle whose statement names the image is held to that name, as a
// simple-signing payload is: signed for acme/app, it does not count when
// replayed onto the same digest in acme/other.
TEST_F(TrustTest, ABundleNamingAnotherRepositoryIsRefused) {
  Signer signer = NewKey("ci");
  Manifest m = PushImage(client_, "acme/other", "v1", {.layer = "same bytes"});
  json statement = json::parse(MakeSignStatement(*Digest::Parse(m.digest())));
  statement["subject"][0]["name"] = "registry.example:5000/acme/app";
  Response put = PushBundle("acme/other", m, signer, statement.dump());
  EXPECT_EQ(StatusAndCode(put), "403 DENIED");
  EXPECT_NE(ErrorMessage(put).find("signs image \"registry.example:5000/acme/app\""),
            std::string::npos)
      << ErrorMessage(put);
  EXPECT_EQ(StatusAndCode(ReaderGet("acme/other", "v1", m)), "403 DENIED");
  EXPECT_EQ(client_.Get(ReferrersPath("acme/other", m.digest())).Json()["manifests"].size(), 0u);
}

// cosign v3's `cosign sign` statement names the digest alone (its subject is
// {"digest": {"sha256": ...}}, no "name"): the key vouches for those bytes,
// not for a place, so the same bundle replayed onto the same digest in
// another repository of the namespace counts there too. Keep takes it at its
// word: refusing it would refuse what cosign v3 makes, and what it signs
// (these exact bytes) is what the reader of acme/other gets.
TEST_F(TrustTest, ABundleNamingOnlyTheDigestCountsInAnyRepository) {
  Signer signer = NewKey("ci");
  Manifest m = PushImage(client_, "acme/app", "v1", {.layer = "same bytes"});
  Manifest referrer;
  ASSERT_EQ(PushBundle("acme/app", m, signer, "", &referrer).status, 201);
  ASSERT_EQ(ReaderGet("acme/app", "v1", m).status, 200);
  // The replay: the same image, then the very same referrer and bundle blob.
  Manifest copy = PushImage(client_, "acme/other", "v1", {.layer = "same bytes"});
  ASSERT_EQ(copy.digest(), m.digest());
  EXPECT_EQ(StatusAndCode(ReaderGet("acme/other", "v1", copy)), "403 DENIED");
  json layer = json::parse(referrer.bytes)["layers"][0];
  Response bundle = client_.Get(BlobPath("acme/app", layer["digest"].get<std::string>()));
  ASSERT_EQ(bundle.status, 200);
  PushBlob(client_, "acme/other", "{}");
  PushBlob(client_, "acme/other", bundle.body);
  ASSERT_EQ(PutManifest(client_, "acme/other", referrer.digest(), referrer).status, 201);
  EXPECT_EQ(ReaderGet("acme/other", "v1", copy).body, m.bytes);
}

}  // namespace
}  // namespace keep::testkit
