// The mirror's search for an upstream's signatures against CNCF Distribution,
// a registry without the referrers API: a sigstore bundle is found through
// the spec's fallback, an image index tagged "sha256-<hex>", and what
// verified is handed back to be kept beside the image.
#include "mirror/vetting.h"

#include "tests/support/distribution_process.h"
#include "tests/support/registry.h"
#include "trust/cosign.h"
#include "trust/sigstore_bundle.h"
#include "trust/simple_signing.h"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>

namespace keep::mirror {
namespace {

using namespace std::chrono_literals;
using testkit::DistributionProcess;
using testkit::Manifest;

class FallbackTagTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto pair = GenerateKeyPair("ed25519", "");
    ASSERT_TRUE(pair);
    key_.emplace(ParsePrivateKey(pair->private_pem, "").value());
    public_.emplace(ParsePublicKey(pair->public_pem).value());
    testkit::HttpsClient client = dist_.Client();
    std::string config = R"({"architecture":"amd64","os":"linux","rootfs":{"type":"layers"}})";
    std::string layer = "the layer of " + std::string(kRepo);
    testkit::UploadBlob(client, kRepo, config);
    testkit::UploadBlob(client, kRepo, layer);
    nlohmann::json body = {{"schemaVersion", 2},
                           {"mediaType", testkit::mt::kOciManifest},
                           {"config",
                            {{"mediaType", testkit::mt::kOciConfig},
                             {"digest", testkit::DigestOf(config)},
                             {"size", config.size()}}},
                           {"layers",
                            {{{"mediaType", testkit::mt::kOciLayer},
                              {"digest", testkit::DigestOf(layer)},
                              {"size", layer.size()}}}}};
    image_ = testkit::PushManifest(client, kRepo, "v1",
                                   testkit::MakeManifest(testkit::mt::kOciManifest, body));
    digest_.emplace(Digest::Parse(image_.digest()).value());
  }

  // A bundle referrer of the image signed by the test's key, pushed by its
  // digest (Distribution keeps it, but lists no referrers).
  BundleManifest PushBundle() {
    std::string statement = MakeSignStatement(*digest_);
    auto sig = Sign(*key_, DssePae(kInTotoPayloadType, statement));
    EXPECT_TRUE(sig);
    BundleManifest bm = BuildBundleManifest(*digest_, image_.media_type,
                                            static_cast<std::int64_t>(image_.bytes.size()),
                                            statement, *sig, *public_, "2026-12-02T06:00:00Z");
    testkit::HttpsClient client = dist_.Client();
    testkit::UploadBlob(client, kRepo, bm.config);
    testkit::UploadBlob(client, kRepo, bm.bundle);
    testkit::PushManifest(client, kRepo, bm.manifest_digest.str(),
                          Manifest{testkit::mt::kOciManifest, bm.manifest});
    return bm;
  }

  std::unique_ptr<Upstream> Open() {
    UpstreamOptions o;
    o.url = dist_.url();
    o.ca_file = dist_.ca_file();
    o.timeout = 10s;
    o.first_backoff = 10ms;
    auto u = Upstream::Open(std::move(o));
    EXPECT_TRUE(u);
    return u ? std::move(*u) : nullptr;
  }

  static constexpr const char* kRepo = "acme/app";
  DistributionProcess dist_;
  // Made in SetUp.
  std::optional<PrivateKey> key_;
  std::optional<PublicKey> public_;
  Manifest image_;
  std::optional<Digest> digest_;
};

TEST_F(FallbackTagTest, ABundleListedByTheFallbackTagIsFoundVerifiedAndKept) {
  BundleManifest bm = PushBundle();
  nlohmann::json index = {{"schemaVersion", 2},
                          {"mediaType", testkit::mt::kOciIndex},
                          {"manifests",
                           {{{"mediaType", testkit::mt::kOciManifest},
                             {"digest", bm.manifest_digest.str()},
                             {"size", bm.manifest.size()},
                             {"artifactType", "application/vnd.dev.sigstore.bundle.v0.3+json"}}}}};
  testkit::HttpsClient client = dist_.Client();
  testkit::PushManifest(client, kRepo, "sha256-" + digest_->hex(),
                        testkit::MakeManifest(testkit::mt::kOciIndex, index));

  auto u = Open();
  ASSERT_TRUE(u);
  auto found = FindUpstreamSignatures(*u, kRepo, *digest_, {*public_});
  ASSERT_TRUE(found) << found.error().message;
  EXPECT_TRUE(found->found_any);
  EXPECT_EQ(found->signers, std::set<std::string>{public_->key_id()}) << found->reasons;
  EXPECT_NE(found->where.find("sha256-" + digest_->hex() + " (the upstream has no referrers API)"),
            std::string::npos)
      << found->where;
  // The referrer is kept byte for byte, with its blobs.
  ASSERT_EQ(found->kept.referrers.size(), 1u);
  EXPECT_EQ(found->kept.referrers[0].digest, bm.manifest_digest);
  EXPECT_EQ(found->kept.referrers[0].manifest, bm.manifest);
  EXPECT_EQ(found->kept.blobs.at(bm.bundle_digest.str()), bm.bundle);
  EXPECT_EQ(found->kept.blobs.at(bm.config_digest.str()), bm.config);
  EXPECT_TRUE(found->kept.cosign_layers.empty());
}

TEST_F(FallbackTagTest, WithoutTheFallbackTagTheBundleIsNotFound) {
  PushBundle();
  auto u = Open();
  ASSERT_TRUE(u);
  auto found = FindUpstreamSignatures(*u, kRepo, *digest_, {*public_});
  ASSERT_TRUE(found) << found.error().message;
  EXPECT_FALSE(found->found_any);
  EXPECT_TRUE(found->signers.empty());
  EXPECT_TRUE(found->kept.referrers.empty());
}

TEST_F(FallbackTagTest, OnlyTheCosignLayersByTheRulesKeysAreKept) {
  auto other = GenerateKeyPair("ed25519", "");
  ASSERT_TRUE(other);
  PrivateKey other_key = ParsePrivateKey(other->private_pem, "").value();
  // Two signers at cosign's tag: a key the rule does not name, then the rule's.
  std::string theirs = MakeSimpleSigning("upstream.example/" + std::string(kRepo), *digest_);
  std::string ours = theirs + " ";  // another payload: a layer of its own
  auto their_sig = Sign(other_key, theirs);
  auto our_sig = Sign(*key_, ours);
  ASSERT_TRUE(their_sig && our_sig);
  CosignManifest first = BuildCosignManifest(theirs, *their_sig);
  CosignManifest both =
      BuildCosignManifest(ours, *our_sig, {nlohmann::json::parse(first.manifest)["layers"][0]});
  testkit::HttpsClient client = dist_.Client();
  testkit::UploadBlob(client, kRepo, theirs);
  testkit::UploadBlob(client, kRepo, ours);
  testkit::UploadBlob(client, kRepo, both.config);
  testkit::PushManifest(client, kRepo, CosignSignatureTag(*digest_),
                        Manifest{testkit::mt::kOciManifest, both.manifest});
  // cosign's own check of the config accepts the two layers in order.
  auto layers = ReadCosignSignatures(nlohmann::json::parse(both.manifest));
  ASSERT_TRUE(layers) << layers.error().message;
  EXPECT_TRUE(CheckCosignConfig(both.config, *layers));

  auto u = Open();
  ASSERT_TRUE(u);
  auto found = FindUpstreamSignatures(*u, kRepo, *digest_, {*public_});
  ASSERT_TRUE(found) << found.error().message;
  EXPECT_EQ(found->signers, std::set<std::string>{public_->key_id()}) << found->reasons;
  ASSERT_EQ(found->kept.cosign_layers.size(), 1u);
  EXPECT_EQ(found->kept.cosign_layers[0], nlohmann::json::parse(both.manifest)["layers"][1]);
  EXPECT_EQ(found->kept.blobs.at(Sha256Of(ours).str()), ours);
  EXPECT_FALSE(found->kept.blobs.contains(Sha256Of(theirs).str()));
}

}  // namespace
}  // namespace keep::mirror
