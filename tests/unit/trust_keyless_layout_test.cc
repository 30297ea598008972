// Keyless signatures in the two layouts the registry receives: cosign's
// signature layer with certificate, chain and Rekor bundle annotations
// (VerifyCosign), and a sigstore bundle referrer signed with a certificate
// (VerifyBundles), each checked with KeylessTrust against the tests' own
// sigstore (tests/support/keyless_fixture.h).
#include "trust/cosign.h"
#include "trust/sigstore_bundle.h"
#include "trust/simple_signing.h"

#include "core/base64.h"
#include "tests/support/keyless_fixture.h"

#include <gtest/gtest.h>

#include <map>

namespace keep {
namespace {

namespace kt = keyless_test;
using nlohmann::json;

const Digest kImage = Sha256Of("the image manifest");
constexpr std::string_view kRepo = "acme/app";

class KeylessLayoutTest : public ::testing::Test {
 protected:
  KeylessLayoutTest() {
    trust_.roots.push_back(ParseTrustedRoot(sigstore_.TrustedRoot().dump()).value());
    trust_.identities.push_back(
        KeylessIdentity{"release", kt::kIssuer, kt::kSubject, "", {}, nullptr});
    trust_.now = kt::kSignedAt + 3600;
  }

  PayloadFetcher Fetcher() {
    return [this](const Digest& d) -> Result<std::string> {
      auto it = blobs_.find(d.str());
      if (it == blobs_.end()) return Fail(ErrorCode::kBlobUnknown, "no blob " + d.str());
      return it->second;
    };
  }

  // A cosign layer signed by `leaf`, with its annotations as cosign writes them.
  CosignLayer Layer(const kt::Leaf& leaf, const std::string& chain, bool timestamp = false) {
    const std::string payload = MakeSimpleSigning("registry.example/acme/app", kImage);
    const std::string sig = kt::SignP256(leaf.key.get(), payload);
    blobs_[Sha256Of(payload).str()] = payload;
    json layer = {{"mediaType", std::string(kCosignSimpleSigningMediaType)},
                  {"digest", Sha256Of(payload).str()},
                  {"size", payload.size()},
                  {"annotations",
                   {{std::string(kCosignSignatureAnnotation), EncodeBase64(sig)},
                    {std::string(kCosignCertificateAnnotation), kt::CertPem(leaf.cert.get())},
                    {std::string(kCosignRekorBundleAnnotation),
                     sigstore_.CosignRekorAnnotation(payload, sig, leaf, {})}}}};
    if (!chain.empty()) layer["annotations"][std::string(kCosignChainAnnotation)] = chain;
    if (timestamp) {
      layer["annotations"][std::string(kCosignTimestampAnnotation)] =
          json{{"SignedRFC3161Timestamp", EncodeBase64("not checked")}}.dump();
    }
    CosignManifest cm = BuildCosignManifest(payload, sig);
    json manifest = json::parse(cm.manifest);
    manifest["layers"] = json::array({layer});
    auto layers = ReadCosignSignatures(manifest);
    EXPECT_TRUE(layers) << layers.error().message;
    return layers->front();
  }

  BundleLayer Bundle(const json& bundle) {
    const std::string bytes = bundle.dump();
    blobs_[Sha256Of(bytes).str()] = bytes;
    return BundleLayer{Sha256Of(bytes), static_cast<std::int64_t>(bytes.size()), ""};
  }

  kt::Sigstore sigstore_;
  KeylessTrust trust_;
  std::map<std::string, std::string> blobs_;
};

TEST_F(KeylessLayoutTest, ACosignLayerWithACertificateVerifiesByIdentity) {
  kt::Leaf leaf = sigstore_.IssueLeaf();
  CosignLayer layer = Layer(leaf, sigstore_.ChainPem());
  auto v = VerifyCosign({layer}, Fetcher(), kImage, kRepo, {}, &trust_);
  ASSERT_TRUE(v[0].verified) << v[0].reason;
  EXPECT_EQ(v[0].identity, "release");
  EXPECT_EQ(v[0].key_id, "");
  EXPECT_EQ(v[0].unverified_material, "") << "the chain is the trust root's own";

  // Without keyless trust, the key path: nothing verifies it.
  v = VerifyCosign({layer}, Fetcher(), kImage, kRepo, {}, nullptr);
  EXPECT_FALSE(v[0].verified);
  // For another repository, the payload's reference says no.
  v = VerifyCosign({layer}, Fetcher(), kImage, "acme/other", {}, &trust_);
  EXPECT_FALSE(v[0].verified);
  EXPECT_EQ(v[0].identity, "");
}

TEST_F(KeylessLayoutTest, ACosignLayerOfAnotherIdentityIsRefusedSayingIdentity) {
  trust_.identities.front().subject = "someone@example.com";
  auto v = VerifyCosign({Layer(sigstore_.IssueLeaf(), "")}, Fetcher(), kImage, kRepo, {}, &trust_);
  EXPECT_FALSE(v[0].verified);
  EXPECT_NE(v[0].reason.find("keyless signature: identity: "), std::string::npos) << v[0].reason;
}

TEST_F(KeylessLayoutTest, AChainOfOtherCertificatesIsUnverifiedMaterial) {
  kt::Sigstore other;
  auto v = VerifyCosign({Layer(sigstore_.IssueLeaf(), other.ChainPem())}, Fetcher(), kImage, kRepo,
                        {}, &trust_);
  ASSERT_TRUE(v[0].verified) << v[0].reason;
  EXPECT_NE(v[0].unverified_material.find("not the trust root's"), std::string::npos)
      << v[0].unverified_material;
}

TEST_F(KeylessLayoutTest, ATimestampIsUnverifiedMaterial) {
  auto v =
      VerifyCosign({Layer(sigstore_.IssueLeaf(), "", true)}, Fetcher(), kImage, kRepo, {}, &trust_);
  ASSERT_TRUE(v[0].verified) << v[0].reason;
  EXPECT_NE(v[0].unverified_material.find("RFC 3161 timestamp"), std::string::npos)
      << v[0].unverified_material;
  EXPECT_EQ(v[0].unverified_material.find("certificate"), std::string::npos)
      << "the certificate is verified: " << v[0].unverified_material;
}

TEST_F(KeylessLayoutTest, AKeylessBundleOfCosignsStatementIsASignature) {
  json bundle = sigstore_.DsseBundleOf(MakeSignStatement(kImage), sigstore_.IssueLeaf(), {});
  auto v = VerifyBundles({Bundle(bundle)}, Fetcher(), kImage, kRepo, {}, &trust_);
  ASSERT_TRUE(v[0].verified) << v[0].reason;
  EXPECT_TRUE(v[0].is_signature);
  EXPECT_EQ(v[0].identity, "release");
  EXPECT_TRUE(v[0].key_ids.empty());
  EXPECT_EQ(v[0].unverified_material, "");

  // Without keyless trust it is refused as before.
  v = VerifyBundles({Bundle(bundle)}, Fetcher(), kImage, kRepo, {}, nullptr);
  EXPECT_FALSE(v[0].verified);
  EXPECT_NE(v[0].reason.find("certificate (keyless)"), std::string::npos) << v[0].reason;
  // For another image, the content check says so.
  v = VerifyBundles({Bundle(bundle)}, Fetcher(), Sha256Of("another"), kRepo, {}, &trust_);
  EXPECT_FALSE(v[0].verified);
  EXPECT_NE(v[0].reason.find("content: "), std::string::npos) << v[0].reason;
}

TEST_F(KeylessLayoutTest, AnAttestationIsNoSignatureAndItsNameMustBeTheRepository) {
  json statement = {{"_type", "https://in-toto.io/Statement/v1"},
                    {"subject", json::array({{{"name", "registry.example/acme/app"},
                                              {"digest", {{"sha256", kImage.hex()}}}}})},
                    {"predicateType", "https://slsa.dev/provenance/v1"},
                    {"predicate", json::object()}};
  json bundle = sigstore_.DsseBundleOf(statement.dump(), sigstore_.IssueLeaf(), {});
  auto v = VerifyBundles({Bundle(bundle)}, Fetcher(), kImage, kRepo, {}, &trust_);
  ASSERT_TRUE(v[0].verified) << v[0].reason;
  EXPECT_FALSE(v[0].is_signature);
  EXPECT_EQ(v[0].predicate_type, "https://slsa.dev/provenance/v1");
  v = VerifyBundles({Bundle(bundle)}, Fetcher(), kImage, "acme/other", {}, &trust_);
  EXPECT_FALSE(v[0].verified);
  EXPECT_NE(v[0].reason.find("not repository acme/other"), std::string::npos) << v[0].reason;
}

TEST_F(KeylessLayoutTest, AMessageSignatureOverTheManifestCounts) {
  const std::string manifest = "the image manifest";
  json bundle = sigstore_.MessageBundle(manifest, sigstore_.IssueLeaf(), {});
  auto v = VerifyBundles({Bundle(bundle)}, Fetcher(), kImage, kRepo, {}, &trust_);
  ASSERT_TRUE(v[0].verified) << v[0].reason;
  EXPECT_TRUE(v[0].is_signature);
  // With a predicate type annotation, which no message signature has.
  BundleLayer layer = Bundle(bundle);
  layer.predicate_type_annotation = "https://sigstore.dev/cosign/sign/v1";
  v = VerifyBundles({layer}, Fetcher(), kImage, kRepo, {}, &trust_);
  EXPECT_FALSE(v[0].verified);
}

// A Rekor v2 bundle referrer: timed by its RFC 3161 timestamp, which is
// verified, so nothing is withheld for it.
TEST_F(KeylessLayoutTest, ARekorV2BundleWithATimestampCountsWhole) {
  kt::Sigstore::EntryOptions o;
  o.rekor_v2 = true;
  json bundle = sigstore_.DsseBundleOf(MakeSignStatement(kImage), sigstore_.IssueLeaf(), o);
  auto v = VerifyBundles({Bundle(bundle)}, Fetcher(), kImage, kRepo, {}, &trust_);
  EXPECT_FALSE(v[0].verified);
  EXPECT_NE(v[0].reason.find("keyless signature: log: no signed time"), std::string::npos)
      << v[0].reason;
  sigstore_.AddTimestamp(bundle);
  v = VerifyBundles({Bundle(bundle)}, Fetcher(), kImage, kRepo, {}, &trust_);
  ASSERT_TRUE(v[0].verified) << v[0].reason;
  EXPECT_TRUE(v[0].is_signature);
  EXPECT_EQ(v[0].unverified_material, "");
  // One from an authority the trust root does not name is refused, naming it.
  sigstore_.AddTimestamp(bundle, {.untrusted = true});
  v = VerifyBundles({Bundle(bundle)}, Fetcher(), kImage, kRepo, {}, &trust_);
  EXPECT_FALSE(v[0].verified);
  EXPECT_NE(v[0].reason.find("keyless signature: timestamp: "), std::string::npos) << v[0].reason;
}

TEST_F(KeylessLayoutTest, NoTrustRootIsALogRefusal) {
  trust_.roots.clear();
  json bundle = sigstore_.DsseBundleOf(MakeSignStatement(kImage), sigstore_.IssueLeaf(), {});
  auto v = VerifyBundles({Bundle(bundle)}, Fetcher(), kImage, kRepo, {}, &trust_);
  EXPECT_FALSE(v[0].verified);
  EXPECT_NE(v[0].reason.find("keyless signature: log: no trust root"), std::string::npos)
      << v[0].reason;
}

}  // namespace
}  // namespace keep
