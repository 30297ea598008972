// tests/integration/trust_fixture.h — a keepd with namespace "acme", its
// reader "alice", and helpers to make publisher keys and push signatures.
#pragma once

#include "tests/support/keepd_test.h"
#include "trust/trust.h"

#include <functional>

namespace keep::testkit {

// Makes every manifest and blob link look pushed `seconds` earlier, and every
// policy set that much earlier, in keepd's own database while keepd is stopped
// (on SQLite it holds the database exclusively while it runs). The clients'
// connections went with the old process; they connect again on their next request.
inline void AgeManifests(KeepdProcess& keepd, int seconds,
                         std::initializer_list<HttpsClient*> clients) {
  keepd.Restart(KeepdProcess::Stop::kGraceful, [&] {
    RunMetadataSql(
        keepd, "UPDATE manifests SET created_at = created_at - " + std::to_string(seconds) +
                   "; UPDATE repo_blobs SET created_at = created_at - " + std::to_string(seconds) +
                   "; UPDATE namespaces SET policy_since = policy_since - " +
                   std::to_string(seconds));
  });
  for (HttpsClient* c : clients) c->Disconnect();
}

class TrustTest : public KeepdTest {
 protected:
  using json = nlohmann::json;

  void SetUp() override {
    ASSERT_EQ(client_.Post("/admin/v1/namespaces", R"({"name":"acme"})").status, 201);
    ASSERT_EQ(client_.Post("/admin/v1/users",
                           R"({"name":"alice","password":"password-of-alice"})").status,
              201);
    ASSERT_EQ(client_.Put("/admin/v1/namespaces/acme/members/alice", R"({"role":"reader"})").status,
              200);
    reader_.SetBasicAuth("alice", "password-of-alice");
  }

  struct Signer {
    PrivateKey key;
    std::string key_id;
  };
  // A new key pair; with trusted, its public half is added to acme.
  Signer NewKey(const std::string& name, bool trusted = true, const char* algorithm = "ed25519") {
    auto pair = GenerateKeyPair(algorithm, "");
    EXPECT_TRUE(pair);
    auto priv = ParsePrivateKey(pair->private_pem, "");
    EXPECT_TRUE(priv);
    auto pub = ParsePublicKey(pair->public_pem);
    if (trusted) {
      Response r = client_.Post("/admin/v1/namespaces/acme/keys",
                                json{{"name", name}, {"public_key", pair->public_pem}}.dump());
      EXPECT_EQ(r.status, 201) << r.body;
      EXPECT_EQ(r.Json().value("key_id", ""), pub->key_id());
    }
    return Signer{std::move(*priv), pub->key_id()};
  }

  // Pushes a cosign-layout signature of `target` made with `signer`, as a
  // publisher (the admin) would: at its tag "sha256-<hex>.sig", or with
  // as_referrer untagged, with `target` as its subject (the OCI 1.1 form).
  // Returns the manifest PUT's response; `pushed`, when given, gets the
  // signature manifest.
  Response PushSignature(const std::string& repo, const Manifest& target, const Signer& signer,
                         bool as_referrer = false, Manifest* pushed = nullptr) {
    auto digest = Digest::Parse(target.digest());
    std::string payload = MakeSimpleSigning("registry.example:5000/" + repo, *digest);
    auto sig = Sign(signer.key, payload);
    EXPECT_TRUE(sig);
    CosignManifest cm = BuildCosignManifest(payload, *sig);
    PushBlob(client_, repo, cm.config);
    PushBlob(client_, repo, cm.payload);
    Manifest signature{"application/vnd.oci.image.manifest.v1+json", cm.manifest};
    std::string reference = CosignSignatureTag(*digest);
    if (as_referrer) {
      json referrer = json::parse(cm.manifest);
      referrer["subject"] = target.Descriptor();
      signature = MakeManifest(signature.media_type, referrer);
      reference = signature.digest();
    }
    if (pushed != nullptr) *pushed = signature;
    return PutManifest(client_, repo, reference, signature);
  }

  // Pushes a cosign v3 signature of `target`: a sigstore bundle referrer
  // signed by `signer` over `statement` (cosign's signing statement when
  // empty). `edit` may change the bundle after signing. Returns the manifest
  // PUT's response; `pushed`, when given, gets the referrer manifest.
  Response PushBundle(const std::string& repo, const Manifest& target, const Signer& signer,
                      std::string statement = "", Manifest* pushed = nullptr,
                      const std::function<void(json&)>& edit = {}) {
    auto digest = Digest::Parse(target.digest());
    if (statement.empty()) statement = MakeSignStatement(*digest);
    auto sig = Sign(signer.key, DssePae(kInTotoPayloadType, statement));
    EXPECT_TRUE(sig);
    BundleManifest bm = BuildBundleManifest(*digest, target.media_type,
                                            static_cast<std::int64_t>(target.bytes.size()),
                                            statement, *sig, signer.key.public_key(),
                                            "2026-11-25T12:00:00Z");
    json bundle = json::parse(bm.bundle);
    if (edit) edit(bundle);
    std::string bundle_bytes = bundle.dump();
    json manifest = json::parse(bm.manifest);
    manifest["layers"][0]["digest"] = Sha256Of(bundle_bytes).str();
    manifest["layers"][0]["size"] = bundle_bytes.size();
    manifest["layers"][0]["annotations"]["org.opencontainers.image.title"] =
        "sha256-" + Sha256Of(bundle_bytes).hex() + ".sigstore.json";
    PushBlob(client_, repo, bm.config);
    PushBlob(client_, repo, bundle_bytes);
    Manifest referrer = MakeManifest("application/vnd.oci.image.manifest.v1+json", manifest);
    if (pushed != nullptr) *pushed = referrer;
    return PutManifest(client_, repo, referrer.digest(), referrer);
  }

  Response ReaderGet(const std::string& repo, const std::string& ref, const Manifest& m) {
    return reader_.Get(ManifestPath(repo, ref), {{"Accept", m.media_type}});
  }

  HttpsClient reader_ = keepd_.AnonymousClient();
};

}  // namespace keep::testkit
