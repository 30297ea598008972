// Keyless signatures through the registry API: an image signed with a
// Fulcio-like certificate of the tests' own sigstore (tests/support/
// keyless_fixture.h) is trusted only once the namespace trusts the identity
// the certificate names and an admin has installed the trust root; a wrong
// identity or root is refused naming the check; revoking the identity
// quarantines the image again.
#include "tests/integration/keyless_trust_fixture.h"

namespace keep::testkit {
namespace {

using nlohmann::json;

TEST_F(KeylessTest, ABundleOfATrustedIdentityMakesItServable) {
  Manifest m = PushImage(client_, "acme/app", "v1", {.layer = "keyless layer"});
  kt::Leaf leaf = sigstore_.IssueLeaf();
  json bundle = SignBundle(m, leaf);

  // Before the namespace trusts anyone: refused, and the image stays quarantined.
  Response before = PushKeylessBundle("acme/app", m, bundle);
  EXPECT_EQ(StatusAndCode(before), "403 DENIED");
  EXPECT_NE(ErrorMessage(before).find("keyless identities"), std::string::npos)
      << ErrorMessage(before);
  EXPECT_EQ(StatusAndCode(ReaderGet("acme/app", "v1", m)), "403 DENIED");

  // The identity alone: no trust root vouches for the log entry.
  ASSERT_EQ(AddIdentity(Release()).status, 201);
  Response no_root = PushKeylessBundle("acme/app", m, bundle);
  EXPECT_EQ(StatusAndCode(no_root), "403 DENIED");
  EXPECT_NE(ErrorMessage(no_root).find("log: no trust root"), std::string::npos)
      << ErrorMessage(no_root);

  ASSERT_EQ(SetRoot("test", sigstore_.TrustedRoot()).status, 200);
  Manifest referrer;
  Response put = PushKeylessBundle("acme/app", m, bundle, &referrer);
  ASSERT_EQ(put.status, 201) << put.body;
  EXPECT_EQ(ReaderGet("acme/app", "v1", m).body, m.bytes);
  EXPECT_EQ(reader_.Get(BlobPath("acme/app", DigestOf("keyless layer"))).body, "keyless layer");
  // The bundle is served to readers too (its chain is the trust root's).
  EXPECT_EQ(ReaderGet("acme/app", referrer.digest(), referrer).status, 200);

  json v = client_.Get("/admin/v1/verify?repository=acme/app&reference=v1").Json();
  EXPECT_EQ(v["trusted"], true) << v;
  ASSERT_EQ(v["signatures"].size(), 1u) << v;
  EXPECT_EQ(v["signatures"][0]["key_id"], "identity:acme-release");
  EXPECT_EQ(v["signatures"][0]["key_name"], "acme-release");
  EXPECT_EQ(v["signatures"][0]["format"], "sigstore-bundle");
  EXPECT_EQ(v["signatures"][0]["revoked"], false);
}

TEST_F(KeylessTest, RevokingTheIdentityQuarantinesItAgain) {
  TrustRelease();
  Manifest m = PushImage(client_, "acme/app", "v1");
  ASSERT_EQ(PushKeylessBundle("acme/app", m, SignBundle(m, sigstore_.IssueLeaf())).status, 201);
  ASSERT_EQ(ReaderGet("acme/app", "v1", m).status, 200);

  Response revoked = client_.Delete("/admin/v1/namespaces/acme/identities/acme-release");
  ASSERT_EQ(revoked.status, 200) << revoked.body;
  EXPECT_EQ(revoked.Json()["revoked"], true);
  EXPECT_EQ(StatusAndCode(ReaderGet("acme/app", "v1", m)), "403 DENIED");
  // Its name cannot come back: the signatures recorded under it would count again.
  EXPECT_EQ(AddIdentity(Release()).status, 409);
  // Another name for the same workflow is another signer: what it verifies counts.
  ASSERT_EQ(AddIdentity(Release("acme-release-2")).status, 201);
  ASSERT_EQ(PushKeylessBundle("acme/app", m, SignBundle(m, sigstore_.IssueLeaf())).status, 201);
  EXPECT_EQ(ReaderGet("acme/app", "v1", m).status, 200);
}

TEST_F(KeylessTest, AnotherIdentityIsRefusedSayingIdentity) {
  ASSERT_EQ(SetRoot("test", sigstore_.TrustedRoot()).status, 200);
  json other = Release();
  other["subject"] = "https://github.com/acme/other/.github/workflows/release.yml@refs/tags/v1";
  ASSERT_EQ(AddIdentity(other).status, 201);
  Manifest m = PushImage(client_, "acme/app", "v1");
  Response put = PushKeylessBundle("acme/app", m, SignBundle(m, sigstore_.IssueLeaf()));
  EXPECT_EQ(StatusAndCode(put), "403 DENIED");
  EXPECT_NE(ErrorMessage(put).find("identity: the certificate's subject"), std::string::npos)
      << ErrorMessage(put);

  // A required extension the certificate does not carry, on an otherwise matching identity.
  json strict = Release("with-ref");
  strict["extensions"] = {{"source-repository-ref", "refs/heads/main"}};
  ASSERT_EQ(AddIdentity(strict).status, 201);
  put = PushKeylessBundle("acme/app", m, SignBundle(m, sigstore_.IssueLeaf()));
  EXPECT_EQ(StatusAndCode(put), "403 DENIED");
  EXPECT_NE(ErrorMessage(put).find("identity: the certificate's extension"), std::string::npos)
      << ErrorMessage(put);
  EXPECT_EQ(StatusAndCode(ReaderGet("acme/app", "v1", m)), "403 DENIED");
}

TEST_F(KeylessTest, AWrongTrustRootIsRefused) {
  kt::Sigstore elsewhere;
  ASSERT_EQ(SetRoot("elsewhere", elsewhere.TrustedRoot()).status, 200);
  ASSERT_EQ(AddIdentity(Release()).status, 201);
  Manifest m = PushImage(client_, "acme/app", "v1");
  json bundle = SignBundle(m, sigstore_.IssueLeaf());
  Response put = PushKeylessBundle("acme/app", m, bundle);
  EXPECT_EQ(StatusAndCode(put), "403 DENIED");
  EXPECT_NE(ErrorMessage(put).find("keyless signature: log: "), std::string::npos)
      << ErrorMessage(put);
  EXPECT_EQ(StatusAndCode(ReaderGet("acme/app", "v1", m)), "403 DENIED");

  // The right root beside it: the rotation path (set the new one, remove the old).
  ASSERT_EQ(SetRoot("test", sigstore_.TrustedRoot()).status, 200);
  ASSERT_EQ(PushKeylessBundle("acme/app", m, bundle).status, 201);
  EXPECT_EQ(client_.Delete("/admin/v1/trust-roots/elsewhere").status, 204);
  json roots = client_.Get("/admin/v1/trust-roots").Json()["trust_roots"];
  ASSERT_EQ(roots.size(), 1u) << roots;
  EXPECT_EQ(roots[0]["name"], "test");
  EXPECT_EQ(ReaderGet("acme/app", "v1", m).status, 200);
}

// A trust root vouches for what it verified only while it is installed: an
// admin who removes a compromised private sigstore, or replaces a root with
// material that no longer vouches for a signature, withdraws what it
// verified at the next request; putting it back restores it.
TEST_F(KeylessTest, RemovingTheTrustRootWithdrawsWhatItVerified) {
  TrustRelease();
  Manifest bundled = PushImage(client_, "acme/app", "v1");
  ASSERT_EQ(
      PushKeylessBundle("acme/app", bundled, SignBundle(bundled, sigstore_.IssueLeaf())).status,
      201);
  Manifest tagged = PushImage(client_, "acme/app", "v2", {.layer = "cosign layout"});
  ASSERT_EQ(PushCosignKeyless("acme/app", tagged, sigstore_.IssueLeaf()).status, 201);
  ASSERT_EQ(ReaderGet("acme/app", "v1", bundled).status, 200);
  ASSERT_EQ(ReaderGet("acme/app", "v2", tagged).status, 200);

  Response removed = client_.Delete("/admin/v1/trust-roots/test");
  ASSERT_EQ(removed.status, 204) << removed.body;
  EXPECT_EQ(StatusAndCode(ReaderGet("acme/app", "v1", bundled)), "403 DENIED");
  EXPECT_EQ(StatusAndCode(ReaderGet("acme/app", "v2", tagged)), "403 DENIED");
  json v = client_.Get("/admin/v1/verify?repository=acme/app&reference=v1").Json();
  EXPECT_EQ(v["trusted"], false) << v;

  // The same root again, under another name: the same text vouches again.
  Response back = SetRoot("test-again", sigstore_.TrustedRoot());
  ASSERT_EQ(back.status, 200) << back.body;
  EXPECT_EQ(ReaderGet("acme/app", "v1", bundled).status, 200);
  EXPECT_EQ(ReaderGet("acme/app", "v2", tagged).status, 200);
}

TEST_F(KeylessTest, ReplacingTheTrustRootReverifiesWhatItVerified) {
  TrustRelease();
  Manifest m = PushImage(client_, "acme/app", "v1");
  ASSERT_EQ(PushKeylessBundle("acme/app", m, SignBundle(m, sigstore_.IssueLeaf())).status, 201);
  ASSERT_EQ(ReaderGet("acme/app", "v1", m).status, 200);

  // A rotation that keeps the CA and logs (here: one more CT log) keeps it servable.
  kt::Sigstore other;
  const json other_root = other.TrustedRoot();
  json rotated = sigstore_.TrustedRoot();
  for (const auto& log : other_root["ctlogs"]) rotated["ctlogs"].push_back(log);
  Response kept = SetRoot("test", rotated);
  ASSERT_EQ(kept.status, 200) << kept.body;
  EXPECT_EQ(kept.Json()["reverified"]["restored"], 1) << kept.body;
  EXPECT_EQ(ReaderGet("acme/app", "v1", m).status, 200);

  // Material that no longer vouches for it (another sigstore's) withdraws it.
  Response replaced = SetRoot("test", other_root);
  ASSERT_EQ(replaced.status, 200) << replaced.body;
  EXPECT_EQ(replaced.Json()["reverified"]["withdrawn"], 1) << replaced.body;
  EXPECT_EQ(StatusAndCode(ReaderGet("acme/app", "v1", m)), "403 DENIED");
  ASSERT_EQ(SetRoot("test", sigstore_.TrustedRoot()).status, 200);
  EXPECT_EQ(ReaderGet("acme/app", "v1", m).status, 200);
}

TEST_F(KeylessTest, ACertificateFromAnotherCaIsRefused) {
  TrustRelease();
  Manifest m = PushImage(client_, "acme/app", "v1");
  Response put = PushKeylessBundle("acme/app", m, SignBundle(m, sigstore_.IssueUntrustedLeaf()));
  EXPECT_EQ(StatusAndCode(put), "403 DENIED");
  EXPECT_NE(ErrorMessage(put).find("keyless signature: certificate: "), std::string::npos)
      << ErrorMessage(put);
}

TEST_F(KeylessTest, ABundleForAnotherImageIsRefused) {
  TrustRelease();
  Manifest m = PushImage(client_, "acme/app", "v1");
  Manifest other = PushImage(client_, "acme/app", "v2", {.layer = "other"});
  Response put = PushKeylessBundle("acme/app", m, SignBundle(other, sigstore_.IssueLeaf()));
  EXPECT_EQ(StatusAndCode(put), "403 DENIED");
  EXPECT_NE(ErrorMessage(put).find("content: the in-toto statement does not name"),
            std::string::npos)
      << ErrorMessage(put);
}

TEST_F(KeylessTest, AMessageSignatureBundleOverTheManifestCounts) {
  TrustRelease();
  Manifest m = PushImage(client_, "acme/app", "v1");
  json bundle = sigstore_.MessageBundle(m.bytes, sigstore_.IssueLeaf(), {});
  ASSERT_EQ(PushKeylessBundle("acme/app", m, bundle).status, 201);
  EXPECT_EQ(ReaderGet("acme/app", "v1", m).status, 200);
}

TEST_F(KeylessTest, CosignsTagLayoutWithACertificateCounts) {
  Manifest m = PushImage(client_, "acme/app", "v1");
  kt::Leaf leaf = sigstore_.IssueLeaf();
  Response before = PushCosignKeyless("acme/app", m, leaf);
  EXPECT_EQ(StatusAndCode(before), "403 DENIED");
  TrustRelease();
  Response put = PushCosignKeyless("acme/app", m, leaf);
  ASSERT_EQ(put.status, 201) << put.body;
  EXPECT_EQ(ReaderGet("acme/app", "v1", m).status, 200);
  json v = client_.Get("/admin/v1/verify?repository=acme/app&reference=v1").Json();
  ASSERT_EQ(v["signatures"].size(), 1u) << v;
  EXPECT_EQ(v["signatures"][0]["key_id"], "identity:acme-release");
  EXPECT_EQ(v["signatures"][0]["format"], "cosign");
  // The signature artifact is served: certificate and chain are verified now.
  const std::string tag = "sha256-" + m.digest().substr(7) + ".sig";
  EXPECT_EQ(reader_
                .Get(ManifestPath("acme/app", tag),
                     {{"Accept", "application/vnd.oci.image.manifest.v1+json"}})
                .status,
            200);
}

TEST_F(KeylessTest, IdentitiesAndRootsAreCheckedWhenAdded) {
  json bad_regex = Release("bad");
  bad_regex.erase("subject");
  bad_regex["subject_regex"] = "https://github.com/acme/(";
  Response r = AddIdentity(bad_regex);
  EXPECT_EQ(StatusAndCode(r), "400 INVALID");
  EXPECT_NE(ErrorMessage(r).find("does not compile"), std::string::npos) << ErrorMessage(r);
  bad_regex["subject_regex"] = std::string(257, 'a');
  EXPECT_EQ(StatusAndCode(AddIdentity(bad_regex)), "400 INVALID");
  json both = Release("both");
  both["subject_regex"] = ".*";
  EXPECT_EQ(StatusAndCode(AddIdentity(both)), "400 INVALID");
  json unknown = Release("unknown");
  unknown["extensions"] = {{"favourite-colour", "blue"}};
  EXPECT_EQ(StatusAndCode(AddIdentity(unknown)), "400 INVALID");
  EXPECT_EQ(StatusAndCode(AddIdentity(Release("Not A Name"))), "400 INVALID");
  json regex = Release("any-tag");
  regex.erase("subject");
  regex["subject_regex"] =
      "https://github\\.com/acme/app/\\.github/workflows/release\\.yml@refs/tags/v.*";
  ASSERT_EQ(AddIdentity(regex).status, 201);
  EXPECT_EQ(AddIdentity(regex).status, 409);
  json listed = client_.Get("/admin/v1/namespaces/acme/identities").Json()["identities"];
  ASSERT_EQ(listed.size(), 1u) << listed;
  EXPECT_EQ(listed[0]["signer_id"], "identity:any-tag");
  // A reader is no maintainer.
  EXPECT_EQ(reader_.Get("/admin/v1/namespaces/acme/identities").status, 403);

  EXPECT_EQ(StatusAndCode(client_.Put("/admin/v1/trust-roots/broken",
                                      json{{"trusted_root", "{\"mediaType\": 1}"}}.dump())),
            "400 INVALID");
  json no_ca = sigstore_.TrustedRoot();
  no_ca["certificateAuthorities"] = json::array();
  EXPECT_EQ(StatusAndCode(SetRoot("no-ca", no_ca)), "400 INVALID");
  EXPECT_EQ(reader_.Get("/admin/v1/trust-roots").status, 403);
  EXPECT_EQ(client_.Get("/admin/v1/trust-roots").Json()["trust_roots"].size(), 0u);

  // With the regular expression, any release tag of the workflow signs.
  ASSERT_EQ(SetRoot("test", sigstore_.TrustedRoot()).status, 200);
  Manifest m = PushImage(client_, "acme/app", "v1");
  ASSERT_EQ(PushKeylessBundle("acme/app", m, SignBundle(m, sigstore_.IssueLeaf())).status, 201);
  EXPECT_EQ(ReaderGet("acme/app", "v1", m).status, 200);
}

}  // namespace
}  // namespace keep::testkit
