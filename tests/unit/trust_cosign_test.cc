#include "trust/trust.h"

#include "core/manifest.h"
#include "trust_testdata.h"

#include <gtest/gtest.h>

#include <map>

namespace keep {
namespace {

using nlohmann::json;
using trust_test::Data;

Digest D(std::string_view s) { return Digest::Parse(s).value(); }

const std::string kHex = "4ca7dd51e12817f0c9a67e24332ca53cc58f6ecb458e2bc8bc2e96f0c2f9f82d";

TEST(TrustCosign, SignatureTags) {
  EXPECT_TRUE(IsCosignSignatureTag("sha256-" + kHex + ".sig"));
  auto target = CosignTarget("sha256-" + kHex + ".sig");
  ASSERT_TRUE(target);
  EXPECT_EQ(target->str(), "sha256:" + kHex);
  EXPECT_EQ(CosignSignatureTag(*target), "sha256-" + kHex + ".sig");

  std::string upper = kHex;
  upper[0] = 'A';
  for (std::string tag :
       {std::string("latest"), "sha256-" + kHex, "sha256-" + kHex + ".att", "sha256-" + kHex + ".sbom",
        "sha256-" + kHex.substr(1) + ".sig", "sha256-" + kHex + "0.sig", "sha256-" + upper + ".sig",
        "sha256:" + kHex + ".sig", "sha512-" + kHex + ".sig", "xsha256-" + kHex + ".sig",
        "sha256-" + kHex.substr(0, 63) + "g.sig", std::string("sha256-.sig")}) {
    EXPECT_FALSE(IsCosignSignatureTag(tag)) << tag;
    EXPECT_FALSE(CosignTarget(tag)) << tag;
  }
}

TEST(TrustCosign, ReadsACosignStyleManifest) {
  // The layout of cosign's SIGNATURE_SPEC.md.
  std::string payload = Data("payload.json");
  json manifest = json::parse(R"({
    "schemaVersion": 2,
    "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": 233,
               "digest": "sha256:)" + std::string(64, 'c') + R"("},
    "layers": [
      {"mediaType": "application/vnd.dev.cosign.simplesigning.v1+json",
       "size": )" + std::to_string(payload.size()) + R"(,
       "digest": ")" + Sha256Of(payload).str() + R"(",
       "annotations": {"dev.cosignproject.cosign/signature": ")" +
                              EncodeBase64(Data("payload.json.ecdsa.sig")) + R"("}}
    ]})");
  auto layers = ReadCosignSignatures(manifest);
  ASSERT_TRUE(layers) << layers.error().message;
  ASSERT_EQ(layers->size(), 1u);
  EXPECT_EQ((*layers)[0].payload_digest, Sha256Of(payload));

  // Anything else beside the signature makes it no signature manifest: a
  // trusted signature manifest's blobs are served with it.
  json mixed = manifest;
  mixed["layers"].push_back({{"mediaType", "application/vnd.oci.image.layer.v1.tar"},
                             {"size", 1}, {"digest", "sha256:" + std::string(64, 'd')}});
  auto refused = ReadCosignSignatures(mixed);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("layer 1 is not a signature layer"), std::string::npos)
      << refused.error().message;
  json index = manifest;
  index["manifests"] = json::array();
  EXPECT_FALSE(ReadCosignSignatures(index));
  json list = manifest;
  list["mediaType"] = "application/vnd.oci.image.index.v1+json";
  EXPECT_FALSE(ReadCosignSignatures(list));
  EXPECT_EQ((*layers)[0].payload_size, static_cast<std::int64_t>(payload.size()));
  EXPECT_EQ((*layers)[0].signature, Data("payload.json.ecdsa.sig"));
}

TEST(TrustCosign, BuildThenReadRoundTrip) {
  std::string payload = Data("payload.json");
  std::string signature = Data("payload.json.ed25519.sig");
  CosignManifest built = BuildCosignManifest(payload, signature);
  EXPECT_EQ(built.payload, payload);
  EXPECT_EQ(built.payload_digest, Sha256Of(payload));
  EXPECT_EQ(built.config_digest, Sha256Of(built.config));
  EXPECT_EQ(built.manifest_digest, Sha256Of(built.manifest));

  // Keep's own manifest parser accepts it and sees the two blobs.
  auto parsed = ParseManifest(built.manifest, media::kOciManifest);
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->media_type, media::kOciManifest);
  ASSERT_TRUE(parsed->config);
  EXPECT_EQ(parsed->config->media_type, kOciImageConfigMediaType);
  EXPECT_EQ(parsed->config->digest, built.config_digest);
  EXPECT_EQ(parsed->config->size, static_cast<std::int64_t>(built.config.size()));
  ASSERT_EQ(parsed->layers.size(), 1u);
  EXPECT_EQ(parsed->layers[0].media_type, kCosignSimpleSigningMediaType);
  EXPECT_EQ(parsed->layers[0].digest, built.payload_digest);

  // The config is an image config whose one diff_id is the payload.
  json config = json::parse(built.config);
  EXPECT_EQ(config["rootfs"]["type"], "layers");
  EXPECT_EQ(config["rootfs"]["diff_ids"], json::array({built.payload_digest.str()}));

  auto layers = ReadCosignSignatures(json::parse(built.manifest));
  ASSERT_TRUE(layers) << layers.error().message;
  ASSERT_EQ(layers->size(), 1u);
  EXPECT_EQ((*layers)[0].payload_digest, built.payload_digest);
  EXPECT_EQ((*layers)[0].payload_size, static_cast<std::int64_t>(payload.size()));
  EXPECT_EQ((*layers)[0].signature, signature);
}

TEST(TrustCosign, RefusesBadSignatureManifests) {
  std::string good_layer = R"({"mediaType":"application/vnd.dev.cosign.simplesigning.v1+json",)"
                           R"("size":3,"digest":"sha256:)" + std::string(64, 'e') + "\",";
  struct Case {
    std::string manifest;
    std::string needle;
  };
  std::vector<Case> cases = {
      {"[]", "not a JSON object"},
      {"{}", "no \"layers\" array"},
      {R"({"layers":[]})", "no signature layer"},
      {R"({"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","size":1,"digest":"sha256:)" +
           std::string(64, 'd') + R"("}]})",
       "layer 0 is not a signature layer"},
      {R"({"layers":[7]})", "layer 0 is not an object"},
      {R"({"layers":[)" + good_layer + R"("annotations":{}}]})", "no \"dev.cosignproject.cosign/signature\""},
      {R"({"layers":[)" + good_layer + R"("annotations":{"dev.cosignproject.cosign/signature":"@@@@"}}]})",
       "not valid standard base64"},
      {R"({"layers":[)" + good_layer + R"("annotations":{"dev.cosignproject.cosign/signature":"YWJj"}},)" +
           good_layer + R"("annotations":{"dev.cosignproject.cosign/signature":"YWJ"}}]})",
       "layer 1: the signature annotation is not valid"},
      {R"({"layers":[)" + good_layer + R"("annotations":{"dev.cosignproject.cosign/signature":""}}]})",
       "is empty"},
      {R"({"layers":[{"mediaType":"application/vnd.dev.cosign.simplesigning.v1+json","size":-1,"digest":"sha256:)" +
           std::string(64, 'e') + R"("}]})",
       "\"size\""},
      {R"({"layers":[{"mediaType":"application/vnd.dev.cosign.simplesigning.v1+json","size":1,"digest":"md5:x"}]})",
       "layer 0: "},
  };
  std::string many = R"({"layers":[)";
  for (std::size_t i = 0; i <= kMaxCosignLayers; ++i) {
    many += (i ? "," : "") + good_layer + R"("annotations":{"dev.cosignproject.cosign/signature":"YWJj"}})";
  }
  many += "]}";
  cases.push_back({many, "more than 64 signature layers"});
  for (const Case& c : cases) {
    auto r = ReadCosignSignatures(json::parse(c.manifest));
    ASSERT_FALSE(r) << c.manifest;
    EXPECT_EQ(r.error().code, ErrorCode::kManifestInvalid);
    EXPECT_NE(r.error().message.find(c.needle), std::string::npos)
        << c.manifest << "\n  message: " << r.error().message;
  }
}

class TrustCosignVerify : public ::testing::Test {
 protected:
  void SetUp() override {
    ecdsa_ = ParsePublicKey(Data("ecdsa.pub")).value();
    ed25519_ = ParsePublicKey(Data("ed25519.pub")).value();
    payload_ = Data("payload.json");
    blobs_[Sha256Of(payload_).str()] = payload_;
  }

  CosignLayer Layer(const std::string& payload, const std::string& signature) const {
    return CosignLayer{Sha256Of(payload),
                       static_cast<std::int64_t>(payload.size()),
                       signature,
                       {},
                       {},
                       {},
                       {},
                       false};
  }

  std::vector<CosignVerdict> Verify(const std::vector<CosignLayer>& layers,
                                    const std::vector<PublicKey>& keys,
                                    std::string_view repository = "acme/app") {
    PayloadFetcher fetch = [this](const Digest& d) -> Result<std::string> {
      auto it = blobs_.find(d.str());
      if (it == blobs_.end()) return Fail(ErrorCode::kBlobUnknown, "blob unknown to registry");
      return it->second;
    };
    return VerifyCosign(layers, fetch, D(trust_test::kTarget), repository, keys);
  }

  std::optional<PublicKey> ecdsa_, ed25519_;
  std::string payload_;
  std::map<std::string, std::string> blobs_;
};

TEST_F(TrustCosignVerify, EachLayerNamesItsKey) {
  auto verdicts = Verify({Layer(payload_, Data("payload.json.ecdsa.sig")),
                          Layer(payload_, Data("payload.json.ed25519.sig"))},
                         {*ed25519_, *ecdsa_});
  ASSERT_EQ(verdicts.size(), 2u);
  EXPECT_TRUE(verdicts[0].verified) << verdicts[0].reason;
  EXPECT_EQ(verdicts[0].key_id, ecdsa_->key_id());
  EXPECT_EQ(verdicts[0].payload_digest, Sha256Of(payload_));
  EXPECT_TRUE(verdicts[1].verified) << verdicts[1].reason;
  EXPECT_EQ(verdicts[1].key_id, ed25519_->key_id());
}

TEST_F(TrustCosignVerify, UntrustedKeyFails) {
  auto verdicts = Verify({Layer(payload_, Data("payload.json.ecdsa.sig"))}, {*ed25519_});
  ASSERT_EQ(verdicts.size(), 1u);
  EXPECT_FALSE(verdicts[0].verified);
  EXPECT_TRUE(verdicts[0].key_id.empty());
  EXPECT_NE(verdicts[0].reason.find("does not verify with any trusted key"), std::string::npos);

  verdicts = Verify({Layer(payload_, Data("payload.json.ecdsa.sig"))}, {});
  EXPECT_NE(verdicts[0].reason.find("no trusted keys"), std::string::npos);
  // Signed by a stranger, but a signature all the same.
  EXPECT_TRUE(verdicts[0].well_formed);
}

TEST_F(TrustCosignVerify, ALayerThatIsNoSimpleSigningPayloadIsNotWellFormed) {
  // E.g. a layer of an image, dressed as a signature layer.
  std::string tarball(512, '\0');
  blobs_[Sha256Of(tarball).str()] = tarball;
  auto verdicts = Verify({Layer(payload_, Data("payload.json.ecdsa.sig")), Layer(tarball, "sig")},
                         {*ecdsa_});
  ASSERT_EQ(verdicts.size(), 2u);
  EXPECT_TRUE(verdicts[0].verified && verdicts[0].well_formed) << verdicts[0].reason;
  EXPECT_FALSE(verdicts[1].verified);
  EXPECT_FALSE(verdicts[1].well_formed);
}

TEST(TrustCosign, TheConfigListsTheSignatureLayers) {
  std::string payload = Data("payload.json");
  CosignManifest built = BuildCosignManifest(payload, "signature");
  EXPECT_TRUE(IsCosignSignatureManifest(json::parse(built.manifest)));
  EXPECT_FALSE(IsCosignSignatureManifest(json::parse(built.config)));
  auto layers = ReadCosignSignatures(json::parse(built.manifest)).value();
  EXPECT_EQ(CosignConfigDigest(json::parse(built.manifest)).value(), built.config_digest);
  EXPECT_TRUE(CheckCosignConfig(built.config, layers));
  // An image's own config (other diff_ids) is not a signature config.
  json image_config = {{"architecture", "amd64"}, {"os", "linux"},
                       {"rootfs", {{"type", "layers"}, {"diff_ids", {"sha256:" + std::string(64, 'a')}}}}};
  auto r = CheckCosignConfig(image_config.dump(), layers);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kManifestInvalid);
  EXPECT_FALSE(CheckCosignConfig("not json", layers));
  EXPECT_FALSE(CosignConfigDigest(json::object()));
}

TEST_F(TrustCosignVerify, PayloadMustMatchItsDigestAndSize) {
  CosignLayer layer = Layer(payload_, Data("payload.json.ecdsa.sig"));
  blobs_[layer.payload_digest.str()] = trust_test::Flipped(payload_, 10);
  auto verdicts = Verify({layer}, {*ecdsa_});
  EXPECT_FALSE(verdicts[0].verified);
  EXPECT_NE(verdicts[0].reason.find("does not match its digest"), std::string::npos);

  blobs_[layer.payload_digest.str()] = payload_;
  layer.payload_size += 1;
  verdicts = Verify({layer}, {*ecdsa_});
  EXPECT_NE(verdicts[0].reason.find("but its layer says"), std::string::npos);

  CosignLayer missing = Layer("not stored", Data("payload.json.ecdsa.sig"));
  verdicts = Verify({missing}, {*ecdsa_});
  EXPECT_NE(verdicts[0].reason.find("blob unknown to registry"), std::string::npos);
}

TEST_F(TrustCosignVerify, PayloadMustNameTargetAndRepository) {
  auto verdicts = Verify({Layer(payload_, Data("payload.json.ecdsa.sig"))}, {*ecdsa_}, "acme/app2");
  EXPECT_FALSE(verdicts[0].verified);
  EXPECT_NE(verdicts[0].reason.find("not for repository acme/app2"), std::string::npos);

  // A validly signed payload for another manifest.
  auto signer = ParsePrivateKey(Data("ed25519.key"), "").value();
  std::string other = MakeSimpleSigning("acme/app", D("sha256:" + std::string(64, 'b')));
  blobs_[Sha256Of(other).str()] = other;
  verdicts = Verify({Layer(other, Sign(signer, other).value())}, {*ed25519_});
  EXPECT_FALSE(verdicts[0].verified);
  EXPECT_NE(verdicts[0].reason.find("signature is for manifest sha256:bbbb"), std::string::npos);

  // A validly signed document that is not a simple-signing payload.
  std::string junk = R"({"hello":"world"})";
  blobs_[Sha256Of(junk).str()] = junk;
  verdicts = Verify({Layer(junk, Sign(signer, junk).value())}, {*ed25519_});
  EXPECT_FALSE(verdicts[0].verified);
  EXPECT_NE(verdicts[0].reason.find("signature payload:"), std::string::npos);
}

TEST_F(TrustCosignVerify, KeepctlSignFlowVerifies) {
  // What `keepctl sign` will do: make the payload, sign it, build the manifest.
  auto pair = GenerateKeyPair(kAlgorithmEd25519, "pw").value();
  auto signer = ParsePrivateKey(pair.private_pem, "pw").value();
  std::string payload = MakeSimpleSigning("keep.example/acme/app:v1", D(trust_test::kTarget));
  CosignManifest built = BuildCosignManifest(payload, Sign(signer, payload).value());
  blobs_[built.payload_digest.str()] = built.payload;
  auto layers = ReadCosignSignatures(json::parse(built.manifest)).value();
  auto verdicts = Verify(layers, {*ecdsa_, ParsePublicKey(pair.public_pem).value()});
  ASSERT_EQ(verdicts.size(), 1u);
  EXPECT_TRUE(verdicts[0].verified) << verdicts[0].reason;
  EXPECT_EQ(verdicts[0].key_id, pair.key_id);
}

}  // namespace
}  // namespace keep
