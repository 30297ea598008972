// keepctl identity add|list|show|remove and trust-root set|list|show|remove
// against a real keepd: what is sent is checked first, what the server
// refuses is said, and the trust root comes back as it was installed.
#include "tests/cli/keepctl_fixture.h"
#include "tests/support/keyless_fixture.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>

namespace keep::testkit {
namespace {

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

class KeepctlIdentityTest : public KeepctlServerTest {
 protected:
  void SetUp() override {
    KeepctlServerTest::SetUp();
    Ok({"namespace", "create", "acme"});
  }
};

TEST_F(KeepctlIdentityTest, IdentitiesAreAddedListedShownAndRemoved) {
  std::string out = Ok({"identity", "add", "acme", "release", "--issuer", keyless_test::kIssuer,
                        "--subject-regexp", "https://github\\.com/acme/app/.*", "--extension",
                        "source-repository-ref=refs/heads/main"});
  EXPECT_TRUE(Contains(out, "Added identity release to acme")) << out;
  EXPECT_EQ(ValueOf(out, "signer_id"), "identity:release") << out;

  out = Ok({"identity", "list", "acme"});
  EXPECT_TRUE(Contains(out, "release")) << out;
  EXPECT_TRUE(Contains(out, "~ https://github\\.com/acme/app/.*")) << out;
  out = Ok({"identity", "show", "acme", "release"});
  EXPECT_EQ(ValueOf(out, "issuer"), keyless_test::kIssuer) << out;
  EXPECT_TRUE(Contains(out, "  source-repository-ref=refs/heads/main\n")) << out;

  // Refused before anything is sent, or by the server, saying why.
  KeepctlRun run = admin_.Run({"identity", "add", "acme", "bad", "--issuer", keyless_test::kIssuer,
                               "--subject-regexp", "(unclosed"});
  EXPECT_NE(run.exit_code, 0) << run;
  EXPECT_TRUE(Contains(run.err, "does not compile")) << run;
  run = admin_.Run({"identity", "add", "acme", "both", "--issuer", keyless_test::kIssuer,
                    "--subject", "a", "--subject-regexp", "b"});
  EXPECT_NE(run.exit_code, 0) << run;
  run = admin_.Run({"identity", "add", "acme", "release", "--issuer", keyless_test::kIssuer,
                    "--subject", "someone@example.com"});
  EXPECT_EQ(run.exit_code, 1) << run;
  EXPECT_TRUE(Contains(run.err, "already")) << run;

  out = Ok({"identity", "remove", "acme", "release"});
  EXPECT_TRUE(Contains(out, "Revoked identity release in acme")) << out;
  EXPECT_EQ(ValueOf(Ok({"identity", "show", "acme", "release"}), "revoked"), "true");
}

TEST_F(KeepctlIdentityTest, TrustRootsAreSetListedShownAndRemoved) {
  keyless_test::Sigstore sigstore;
  const std::string text = sigstore.TrustedRoot().dump(2);
  const auto file = admin_.dir() / "trusted_root.json";
  std::ofstream(file) << text;
  std::string out = Ok({"trust-root", "set", "private", file.string()});
  EXPECT_TRUE(Contains(out, "Installed trust root private")) << out;
  EXPECT_TRUE(Contains(Ok({"trust-root", "list"}), "private")) << out;
  EXPECT_EQ(Ok({"trust-root", "show", "private"}), text);

  // Not a trust root: refused before it is sent.
  std::ofstream(admin_.dir() / "not.json") << R"({"mediaType":"x"})";
  KeepctlRun run = admin_.Run({"trust-root", "set", "bad", (admin_.dir() / "not.json").string()});
  EXPECT_EQ(run.exit_code, 1) << run;
  EXPECT_TRUE(Contains(run.err, "cannot use")) << run;

  Ok({"trust-root", "remove", "private"});
  nlohmann::json roots = nlohmann::json::parse(Ok({"--output", "json", "trust-root", "list"}));
  EXPECT_TRUE(roots["trust_roots"].empty()) << roots;
  run = admin_.Run({"trust-root", "remove", "private"});
  EXPECT_EQ(run.exit_code, 1) << run;
}

}  // namespace
}  // namespace keep::testkit
