// The keyless half of the trust tests' fixture: an upstream keepd (the
// fixture's) that trusts the release workflow of acme/app under the tests'
// own sigstore (tests/support/keyless_fixture.h), and the ways a keyless
// signature reaches it: a sigstore bundle referrer (cosign v3) and cosign's
// tag layout with a certificate.
#pragma once

#include "tests/integration/trust_fixture.h"
#include "tests/support/keyless_fixture.h"

namespace keep::testkit {

namespace kt = keyless_test;

constexpr std::string_view kBundleType = "application/vnd.dev.sigstore.bundle.v0.3+json";

class KeylessTest : public TrustTest {
 protected:
  // Installs `root` (a trusted_root.json) as trust root `name`.
  Response SetRoot(const std::string& name, const json& root) {
    return client_.Put("/admin/v1/trust-roots/" + name, json{{"trusted_root", root.dump()}}.dump());
  }

  Response AddIdentity(const json& identity) {
    return client_.Post("/admin/v1/namespaces/acme/identities", identity.dump());
  }

  // The release workflow of acme/app, as the fixture's certificates name it.
  json Release(const std::string& name = "acme-release") {
    return {{"name", name}, {"issuer", kt::kIssuer}, {"subject", kt::kSubject}};
  }

  // Trusts the release workflow under the tests' sigstore.
  void TrustRelease() {
    Response root = SetRoot("test", sigstore_.TrustedRoot());
    ASSERT_EQ(root.status, 200) << root.body;
    Response id = AddIdentity(Release());
    ASSERT_EQ(id.status, 201) << id.body;
  }

  // Pushes `bundle` as a sigstore bundle referrer of `target`.
  Response PushKeylessBundle(const std::string& repo, const Manifest& target, const json& bundle,
                             Manifest* pushed = nullptr) {
    const std::string bytes = bundle.dump();
    PushBlob(client_, repo, "{}");
    PushBlob(client_, repo, bytes);
    Manifest referrer = MakeManifest(
        "application/vnd.oci.image.manifest.v1+json",
        {{"schemaVersion", 2},
         {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
         {"artifactType", kBundleType},
         {"config",
          {{"mediaType", "application/vnd.oci.empty.v1+json"},
           {"digest", DigestOf("{}")},
           {"size", 2}}},
         {"layers",
          json::array(
              {{{"mediaType", kBundleType}, {"digest", DigestOf(bytes)}, {"size", bytes.size()}}})},
         {"subject", target.Descriptor()}});
    if (pushed != nullptr) *pushed = referrer;
    return PutManifest(client_, repo, referrer.digest(), referrer);
  }

  // cosign v3's keyless signature of `target`: a DSSE bundle of its signing
  // statement, signed by `leaf`.
  json SignBundle(const Manifest& target, const kt::Leaf& leaf) {
    return sigstore_.DsseBundleOf(MakeSignStatement(*Digest::Parse(target.digest())), leaf, {});
  }

  // cosign v2's keyless signature of `target` at its tag "sha256-<hex>.sig":
  // the certificate, chain and Rekor bundle in the layer's annotations.
  Response PushCosignKeyless(const std::string& repo, const Manifest& target,
                             const kt::Leaf& leaf) {
    auto digest = Digest::Parse(target.digest());
    const std::string payload = MakeSimpleSigning("registry.example:5000/" + repo, *digest);
    const std::string sig = kt::SignP256(leaf.key.get(), payload);
    CosignManifest cm = BuildCosignManifest(payload, sig);
    json manifest = json::parse(cm.manifest);
    json& annotations = manifest["layers"][0]["annotations"];
    annotations["dev.sigstore.cosign/certificate"] = kt::CertPem(leaf.cert.get());
    annotations["dev.sigstore.cosign/chain"] = sigstore_.ChainPem();
    annotations["dev.sigstore.cosign/bundle"] =
        sigstore_.CosignRekorAnnotation(payload, sig, leaf, {});
    PushBlob(client_, repo, cm.config);
    PushBlob(client_, repo, cm.payload);
    Manifest signature = MakeManifest("application/vnd.oci.image.manifest.v1+json", manifest);
    return PutManifest(client_, repo, CosignSignatureTag(*digest), signature);
  }

  kt::Sigstore sigstore_;
};

}  // namespace keep::testkit
