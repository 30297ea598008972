// keepctl verify-bundle: the conformance protocol's verify command, run as a
// person would on bundles from a private sigstore the test makes
// (tests/support/keyless_fixture.h). No keepd: the command is offline.
#include "tests/cli/run_keepctl.h"
#include "tests/support/keyless_fixture.h"

#include "core/base64.h"
#include "core/digest.h"

#include <gtest/gtest.h>

#include <fstream>

namespace keep::testkit {
namespace {

namespace fs = std::filesystem;
using keyless_test::Sigstore;

const std::string kArtifact = "artifact bytes\n";

void Write(const fs::path& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

struct VerifyBundleTest : ::testing::Test {
  void SetUp() override {
    keyless_test::Leaf leaf = sigstore.IssueLeaf();
    Write(dir / "trusted_root.json", sigstore.TrustedRoot().dump());
    Write(dir / "bundle.json", sigstore.MessageBundle(kArtifact, leaf, {}).dump());
    Write(dir / "artifact", kArtifact);
  }
  KeepctlRun Verify(const std::string& subject, const std::string& artifact) {
    return keepctl.Run({"verify-bundle", "--bundle", (dir / "bundle.json").string(),
                        "--certificate-identity", subject, "--certificate-oidc-issuer",
                        keyless_test::kIssuer, "--trusted-root",
                        (dir / "trusted_root.json").string(), artifact});
  }
  Keepctl keepctl;
  Sigstore sigstore;
  fs::path dir = keepctl.dir();
};

TEST_F(VerifyBundleTest, VerifiesAFileAndItsDigest) {
  KeepctlRun run = Verify(keyless_test::kSubject, (dir / "artifact").string());
  EXPECT_EQ(run.exit_code, 0) << run;
  EXPECT_NE(run.out.find("verified: " + Sha256Of(kArtifact).str()), std::string::npos) << run;
  run = Verify(keyless_test::kSubject, Sha256Of(kArtifact).str());
  EXPECT_EQ(run.exit_code, 0) << run;
}

TEST_F(VerifyBundleTest, RefusesAnotherIdentityOrArtifactSayingWhy) {
  KeepctlRun run = Verify("https://github.com/acme/other", (dir / "artifact").string());
  EXPECT_EQ(run.exit_code, 1) << run;
  EXPECT_NE(run.err.find("identity: the certificate's subject"), std::string::npos) << run;
  run = Verify(keyless_test::kSubject, Sha256Of("other").str());
  EXPECT_EQ(run.exit_code, 1) << run;
  EXPECT_NE(run.err.find("content:"), std::string::npos) << run;
}

TEST_F(VerifyBundleTest, RefusesACertificateWithoutASignedTime) {
  keyless_test::Leaf leaf = sigstore.IssueLeaf();
  Write(dir / "bundle.json", sigstore.MessageBundle(kArtifact, leaf, {.set = false}).dump());
  KeepctlRun run = Verify(keyless_test::kSubject, (dir / "artifact").string());
  EXPECT_EQ(run.exit_code, 1) << run;
  EXPECT_NE(run.err.find("log: no signed time"), std::string::npos) << run;
}

// As its help says: with --key, a bundle without log entries verifies by
// the key alone.
TEST_F(VerifyBundleTest, AKeyBundleWithoutLogEntriesVerifiesByTheKey) {
  keyless_test::KeyPtr key = keyless_test::NewP256();
  Write(dir / "key.pub", keyless_test::SpkiPem(key.get()));
  const nlohmann::json bundle = {
      {"mediaType", "application/vnd.dev.sigstore.bundle.v0.3+json"},
      {"verificationMaterial", {{"publicKey", {{"hint", "k"}}}}},
      {"messageSignature",
       {{"signature", EncodeBase64(keyless_test::SignP256(key.get(), kArtifact))}}}};
  Write(dir / "key-bundle.json", bundle.dump());
  KeepctlRun run = keepctl.Run({"verify-bundle", "--bundle", (dir / "key-bundle.json").string(),
                                "--key", (dir / "key.pub").string(), "--trusted-root",
                                (dir / "trusted_root.json").string(), (dir / "artifact").string()});
  EXPECT_EQ(run.exit_code, 0) << run;
}

TEST_F(VerifyBundleTest, NeedsATrustRootAndOneKindOfSigner) {
  KeepctlRun run =
      keepctl.Run({"verify-bundle", "--bundle", (dir / "bundle.json").string(),
                   "--certificate-identity", keyless_test::kSubject, "--certificate-oidc-issuer",
                   keyless_test::kIssuer, (dir / "artifact").string()});
  EXPECT_EQ(run.exit_code, 1) << run;
  EXPECT_NE(run.err.find("no trust root"), std::string::npos) << run;
  keepctl.SetEnv("KEEPCTL_TRUSTED_ROOT", (dir / "trusted_root.json").string());
  run = keepctl.Run({"verify-bundle", "--bundle", (dir / "bundle.json").string(),
                     "--certificate-identity", keyless_test::kSubject, "--certificate-oidc-issuer",
                     keyless_test::kIssuer, (dir / "artifact").string()});
  EXPECT_EQ(run.exit_code, 0) << run;
  run =
      keepctl.Run({"verify-bundle", "--bundle", (dir / "bundle.json").string(),
                   "--certificate-identity", keyless_test::kSubject, (dir / "artifact").string()});
  EXPECT_EQ(run.exit_code, 2) << run;
}

}  // namespace
}  // namespace keep::testkit
