// A mirror whose upstream is another keepd, with token auth and credentials
// (the Docker token flow, as ghcr.io or a private registry asks for it), and
// signatures found where OCI 1.1 clients put them: among the referrers
// (cosign's referrer form and sigstore bundles, cosign v3), as well as at the
// cosign tag. The upstream is the fixture's keepd (namespace acme); the
// mirror is a second keepd.
#include "tests/integration/keyless_trust_fixture.h"

#include <chrono>
#include <set>
#include <thread>

namespace keep::testkit {
namespace {

class MirrorSyncTest : public KeylessTest {
 protected:
  void SetUp() override {
    KeylessTest::SetUp();
    ASSERT_EQ(mirror_client_.Post("/admin/v1/namespaces", R"({"name":"mirror"})").status, 201);
  }

  // A rule on the mirror for acme/<repo>:v1 of the upstream, vetted by the
  // signatures of `keys` (PEM), with the upstream admin's credentials.
  Response AddRule(const std::string& name, const std::string& repo,
                   const std::vector<std::string>& keys,
                   const std::string& password = kAdminPassword) {
    return AddRuleVettedBy(name, repo, {{"keys", keys}}, password);
  }

  // The same, vetted by `signature` (vetting.signature: keys, identities).
  Response AddRuleVettedBy(const std::string& name, const std::string& repo, const json& signature,
                           const std::string& password = kAdminPassword) {
    json rule = {{"name", name},
                 {"upstream", "https://127.0.0.1:" + std::to_string(keepd_.port())},
                 {"ca_file", keepd_.ca_file()},
                 {"username", kAdminUser},
                 {"password", password},
                 {"repositories", {"acme/" + repo}},
                 {"tags", {"v1"}},
                 {"target", "mirror"},
                 {"reference_host", "mirror.example"},
                 {"vetting", {{"signature", signature}}}};
    return mirror_client_.Post("/admin/v1/mirrors", rule.dump());
  }

  // Syncs the rule and returns the state of its one tag and the reason.
  std::pair<std::string, std::string> Sync(const std::string& name) {
    Response started = mirror_client_.Post("/admin/v1/mirrors/" + name + "/sync");
    EXPECT_EQ(started.status, 202) << started.body;
    json status;
    for (int i = 0; i < 300; ++i) {
      status = mirror_client_.Get("/admin/v1/mirrors/" + name + "/sync?after=1000000").Json();
      if (status.value("done", false)) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    EXPECT_TRUE(status.value("done", false)) << status.dump();
    const json& tags = status["report"]["tags"];
    if (!tags.is_array() || tags.size() != 1) {
      ADD_FAILURE() << status.dump();
      return {};
    }
    return {tags[0].value("state", ""), tags[0].value("reason", "")};
  }

  // What a reader of the mirror's namespace is served of mirror/acme/<repo>:v1.
  Response MirrorReaderGet(const std::string& repo, const Manifest& m) {
    return mirror_reader_.Get(ManifestPath("mirror/acme/" + repo, "v1"),
                              {{"Accept", m.media_type}});
  }

  void AddMirrorReader() {
    ASSERT_EQ(
        mirror_client_.Post("/admin/v1/users", R"({"name":"rita","password":"password-of-rita"})")
            .status,
        201);
    ASSERT_EQ(mirror_client_.Put("/admin/v1/namespaces/mirror/members/rita", R"({"role":"reader"})")
                  .status,
              200);
    mirror_reader_.SetBasicAuth("rita", "password-of-rita");
  }

  KeepdProcess mirror_;
  HttpsClient mirror_client_ = mirror_.AdminClient();
  HttpsClient mirror_reader_ = mirror_.AnonymousClient();
};

TEST_F(MirrorSyncTest, ABundleReferrerVetsAnImageFromAnUpstreamWithTokenAuth) {
  Signer signer = NewKey("ci", true, "ecdsa-p256");
  Manifest m = PushImage(client_, "acme/app", "v1", {.layer = "bundled layer"});
  ASSERT_EQ(PushBundle("acme/app", m, signer).status, 201);
  ASSERT_EQ(AddRule("app", "app", {signer.key.public_key().pem()}).status, 201);
  AddMirrorReader();

  auto [state, reason] = Sync("app");
  EXPECT_EQ(state, "synced") << reason;
  Response got = MirrorReaderGet("app", m);
  EXPECT_EQ(got.status, 200) << got.body;
  EXPECT_EQ(got.body, m.bytes);
  EXPECT_EQ(mirror_reader_.Get(BlobPath("mirror/acme/app", DigestOf("bundled layer"))).body,
            "bundled layer");
  // The upstream handed out tokens for the mirror's requests, which found
  // the signature through its referrers API.
  bool token = false, referrers = false;
  auto count = [&](const std::vector<json>& log) {
    token = referrers = false;
    for (const auto& line : log) {
      std::string path = line.value("path", "");
      token |= path == "/token" && line.value("status", 0) == 200;
      referrers |= path == "/v2/acme/app/referrers/" + m.digest() && line.value("status", 0) == 200;
    }
    return token && referrers;
  };
  keepd_.RequestLogWhen(count);
  EXPECT_TRUE(token);
  EXPECT_TRUE(referrers);
}

TEST_F(MirrorSyncTest, ThePublishersBundleIsKeptBesideTheCuratorsForReaders) {
  Signer signer = NewKey("ci", true, "ecdsa-p256");
  Manifest m = PushImage(client_, "acme/app", "v1", {.layer = "layer kept with its signature"});
  Manifest publishers;
  ASSERT_EQ(PushBundle("acme/app", m, signer, "", &publishers).status, 201);
  ASSERT_EQ(AddRule("app", "app", {signer.key.public_key().pem()}).status, 201);
  AddMirrorReader();
  auto [state, reason] = Sync("app");
  ASSERT_EQ(state, "synced") << reason;

  // A reader finds the publisher's bundle among the referrers, byte for
  // byte, beside the curator's, and can fetch it and its bundle.
  Response referrers = mirror_reader_.Get(ReferrersPath("mirror/acme/app", m.digest()));
  ASSERT_EQ(referrers.status, 200) << referrers.body;
  std::set<std::string> listed;
  const json index = referrers.Json();
  for (const auto& entry : index["manifests"]) listed.insert(entry.value("digest", ""));
  EXPECT_EQ(listed.size(), 2u) << referrers.body;
  EXPECT_TRUE(listed.contains(publishers.digest())) << referrers.body;
  Response got = mirror_reader_.Get(ManifestPath("mirror/acme/app", publishers.digest()),
                                    {{"Accept", publishers.media_type}});
  EXPECT_EQ(got.status, 200) << got.body;
  EXPECT_EQ(got.body, publishers.bytes);
  std::string bundle = json::parse(publishers.bytes)["layers"][0].value("digest", "");
  EXPECT_EQ(mirror_reader_.Get(BlobPath("mirror/acme/app", bundle)).status, 200);
  // The verify answer names it as the upstream's, vouched for by the
  // curator, apart from the signatures that count.
  json verified =
      mirror_client_.Get("/admin/v1/verify?repository=mirror/acme/app&reference=" + m.digest())
          .Json();
  ASSERT_EQ(verified["upstream_signatures"].size(), 1u) << verified.dump();
  EXPECT_EQ(verified["upstream_signatures"][0].value("manifest", ""), publishers.digest());
  for (const auto& s : verified["signatures"]) {
    EXPECT_NE(s.value("signature", ""), publishers.digest()) << verified.dump();
  }
}

TEST_F(MirrorSyncTest, ThePublishersCosignLayerStandsBeforeTheCuratorsAtTheSignatureTag) {
  Signer signer = NewKey("release");
  Manifest m = PushImage(client_, "acme/tool", "v1", {.layer = "tool layer with its .sig"});
  Manifest publishers;
  ASSERT_EQ(PushSignature("acme/tool", m, signer, false, &publishers).status, 201);
  ASSERT_EQ(AddRule("tool", "tool", {signer.key.public_key().pem()}).status, 201);
  AddMirrorReader();
  auto [state, reason] = Sync("tool");
  ASSERT_EQ(state, "synced") << reason;

  const std::string tag = CosignSignatureTag(Digest::Parse(m.digest()).value());
  Response sig = mirror_reader_.Get(ManifestPath("mirror/acme/tool", tag),
                                    {{"Accept", "application/vnd.oci.image.manifest.v1+json"}});
  ASSERT_EQ(sig.status, 200) << sig.body;
  json layers = json::parse(sig.body)["layers"];
  ASSERT_EQ(layers.size(), 2u) << sig.body;
  EXPECT_EQ(layers[0], json::parse(publishers.bytes)["layers"][0]);
  // The publisher's payload is served with it; the second layer is the
  // curator's, naming the mirror's repository.
  EXPECT_EQ(mirror_reader_.Get(BlobPath("mirror/acme/tool", layers[0].value("digest", ""))).status,
            200);
  std::string curator_payload =
      mirror_reader_.Get(BlobPath("mirror/acme/tool", layers[1].value("digest", ""))).body;
  EXPECT_NE(curator_payload.find("mirror.example/mirror/acme/tool"), std::string::npos)
      << curator_payload;
}

TEST_F(MirrorSyncTest, ACopyOfTheCuratorsSignaturePushedElsewhereCountsForNothing) {
  Signer signer = NewKey("ci", true, "ecdsa-p256");
  Manifest m = PushImage(client_, "acme/app", "v1", {.layer = "vetted upstream layer"});
  ASSERT_EQ(PushBundle("acme/app", m, signer).status, 201);
  ASSERT_EQ(AddRule("app", "app", {signer.key.public_key().pem()}).status, 201);
  auto [state, reason] = Sync("app");
  ASSERT_EQ(state, "synced") << reason;

  // Namespace prod trusts the curator too (a rule of its own lands there).
  ASSERT_EQ(mirror_client_.Post("/admin/v1/namespaces", R"({"name":"prod"})").status, 201);
  json prod_rule = {{"name", "prod"},
                    {"upstream", "https://127.0.0.1:1"},
                    {"repositories", {"other/tool"}},
                    {"tags", {"v1"}},
                    {"target", "prod"},
                    {"reference_host", "mirror.example"},
                    {"vetting", {{"trust_on_first_sync", true}}}};
  ASSERT_EQ(mirror_client_.Post("/admin/v1/mirrors", prod_rule.dump()).status, 201);

  // A publisher of prod pushes an image, then a copy of the curator's bundle
  // for it, fetched from where the mirror serves it.
  std::string config_digest = json::parse(m.bytes)["config"].value("digest", "");
  PushBlob(mirror_client_, "prod/app", client_.Get(BlobPath("acme/app", config_digest)).body);
  PushBlob(mirror_client_, "prod/app", "vetted upstream layer");
  ASSERT_EQ(PutManifest(mirror_client_, "prod/app", m.digest(), m).status, 201);
  json referrers = mirror_client_.Get(ReferrersPath("mirror/acme/app", m.digest())).Json();
  std::string curators;
  for (const auto& entry : referrers["manifests"]) {
    std::string d = entry.value("digest", "");
    Response got = mirror_client_.Get(ManifestPath("mirror/acme/app", d),
                                      {{"Accept", "application/vnd.oci.image.manifest.v1+json"}});
    if (got.body.find("\"2026-11-25T12:00:00Z\"") == std::string::npos) curators = got.body;
  }
  ASSERT_FALSE(curators.empty()) << referrers.dump();
  json copy = json::parse(curators);
  for (const json* d : {&copy["config"], &copy["layers"][0]}) {
    std::string blob = mirror_client_.Get(BlobPath("mirror/acme/app", d->value("digest", ""))).body;
    PushBlob(mirror_client_, "prod/app", blob);
  }
  Manifest pushed{"application/vnd.oci.image.manifest.v1+json", curators};
  Response r = PutManifest(mirror_client_, "prod/app", pushed.digest(), pushed);
  EXPECT_TRUE(IsError(r, 403, "DENIED")) << r.body;
  EXPECT_NE(ErrorMessage(r).find("mirror-curator key counts only for what the mirror syncs"),
            std::string::npos)
      << r.body;
  json verified =
      mirror_client_.Get("/admin/v1/verify?repository=prod/app&reference=" + m.digest()).Json();
  EXPECT_FALSE(verified.value("trusted", true)) << verified.dump();
}

TEST_F(MirrorSyncTest, ALayerKeepHoldsOnlyElsewhereIsFetchedNotLinked) {
  // Keep holds a layer in a private namespace; an upstream image names the
  // same digest. Linking it would serve it to the mirror's readers on the
  // upstream's word alone; the mirror fetches it, so the upstream must have
  // the bytes.
  ASSERT_EQ(mirror_client_.Post("/admin/v1/namespaces", R"({"name":"secret"})").status, 201);
  PushImage(mirror_client_, "secret/app", "v1", {.layer = "a layer in two places"});
  Signer signer = NewKey("ci");
  Manifest m = PushImage(client_, "acme/app", "v1", {.layer = "a layer in two places"});
  ASSERT_EQ(PushSignature("acme/app", m, signer).status, 201);
  ASSERT_EQ(AddRule("app", "app", {signer.key.public_key().pem()}).status, 201);
  auto [state, reason] = Sync("app");
  ASSERT_EQ(state, "synced") << reason;
  const std::string layer = "/v2/acme/app/blobs/" + DigestOf("a layer in two places");
  bool fetched = false;
  keepd_.RequestLogWhen([&](const std::vector<json>& log) {
    for (const auto& line : log) {
      fetched |= line.value("path", "") == layer && line.value("status", 0) == 200;
    }
    return fetched;
  });
  EXPECT_TRUE(fetched) << "the upstream was never asked for the layer";
}

TEST_F(MirrorSyncTest, APullThroughByGlobAsksTheUpstreamsTagListFirst) {
  Signer signer = NewKey("ci");
  Manifest m = PushImage(client_, "acme/app", "v1", {.layer = "pulled through by glob"});
  ASSERT_EQ(PushSignature("acme/app", m, signer).status, 201);
  ASSERT_EQ(AddRule("app", "app", {signer.key.public_key().pem()}).status, 201);
  ASSERT_EQ(mirror_client_.Patch("/admin/v1/mirrors/app", R"({"tags":["v*"],"pull_through":true})")
                .status,
            200);
  AddMirrorReader();
  // Made-up tags the glob allows: refused from the upstream's tag list, read
  // once, without asking for their manifests.
  for (const char* tag : {"v9", "v8", "v7x"}) {
    Response r = mirror_reader_.Get(ManifestPath("mirror/acme/app", tag));
    EXPECT_TRUE(IsError(r, 404, "MANIFEST_UNKNOWN")) << r.body;
    EXPECT_NE(ErrorMessage(r).find("the upstream has no tag " + std::string(tag)),
              std::string::npos)
        << r.body;
  }
  int lists = 0, manifests = 0;
  keepd_.RequestLogWhen([&](const std::vector<json>& log) {
    lists = manifests = 0;
    for (const auto& line : log) {
      std::string path = line.value("path", "");
      if (line.value("method", "") != "GET" || line.value("status", 0) == 401) continue;
      lists += path == "/v2/acme/app/tags/list";
      manifests += path.starts_with("/v2/acme/app/manifests/v") ? 1 : 0;
    }
    return lists > 0;
  });
  EXPECT_EQ(lists, 1);
  EXPECT_EQ(manifests, 0);
  // A tag the upstream has is pulled through.
  Response got = MirrorReaderGet("app", m);
  EXPECT_EQ(got.status, 200) << got.body;
  EXPECT_EQ(got.body, m.bytes);
}

// The text of GET /metrics (metrics_test.cc reads it strictly).
std::string MetricsText(HttpsClient& admin) {
  Response r = admin.Get("/metrics");
  EXPECT_EQ(r.status, 200) << r.body;
  return r.body;
}

TEST_F(MirrorSyncTest, ACosignReferrerVetsAnImage) {
  Signer signer = NewKey("release");
  Manifest m = PushImage(client_, "acme/tool", "v1", {.layer = "tool layer"});
  ASSERT_EQ(PushSignature("acme/tool", m, signer, /*as_referrer=*/true).status, 201);
  ASSERT_EQ(AddRule("tool", "tool", {signer.key.public_key().pem()}).status, 201);
  auto [state, reason] = Sync("tool");
  EXPECT_EQ(state, "synced") << reason;
  // The metrics: the upstream verified the signature pushed; the mirror
  // counted one sync that went well, and its one tag synced.
  std::string upstream = MetricsText(client_);
  EXPECT_NE(upstream.find(
                "keep_signature_verifications_total{format=\"cosign\",result=\"verified\"} 1\n"),
            std::string::npos)
      << upstream;
  EXPECT_NE(
      upstream.find(
          "keep_trust_decisions_total{decision=\"allowed\",reason=\"signature_verified\"} 1\n"),
      std::string::npos)
      << upstream;
  std::string mirror = MetricsText(mirror_client_);
  EXPECT_NE(mirror.find("keep_mirror_syncs_total{result=\"ok\"} 1\n"), std::string::npos) << mirror;
  EXPECT_NE(mirror.find("keep_mirror_tags_total{state=\"synced\"} 1\n"), std::string::npos)
      << mirror;
}

TEST_F(MirrorSyncTest, AReferrerByAnotherKeyIsRefusedAndNothingIsServed) {
  Signer publisher = NewKey("publisher", true, "ecdsa-p256");
  Signer other = NewKey("other", false);
  Manifest m = PushImage(client_, "acme/app", "v1", {.layer = "refused layer"});
  ASSERT_EQ(PushBundle("acme/app", m, publisher).status, 201);
  // The rule trusts another key than the one that signed upstream.
  ASSERT_EQ(AddRule("app", "app", {other.key.public_key().pem()}).status, 201);
  AddMirrorReader();

  auto [state, reason] = Sync("app");
  EXPECT_EQ(state, "refused");
  EXPECT_NE(reason.find("0 of the rule's keys signed " + m.digest()), std::string::npos) << reason;
  EXPECT_EQ(MirrorReaderGet("app", m).status, 404);
  EXPECT_EQ(
      mirror_client_.Get(ManifestPath("mirror/acme/app", m.digest()), {{"Accept", m.media_type}})
          .status,
      404);
}

TEST_F(MirrorSyncTest, AnUnsignedImageIsRefusedSayingWhereSignaturesWereLookedFor) {
  Signer signer = NewKey("ci");
  Manifest m = PushImage(client_, "acme/app", "v1", {.layer = "unsigned layer"});
  // The upstream serves it to its admin although it is quarantined there.
  ASSERT_EQ(AddRule("app", "app", {signer.key.public_key().pem()}).status, 201);
  auto [state, reason] = Sync("app");
  EXPECT_EQ(state, "refused");
  EXPECT_NE(reason.find("unsigned: upstream has no signature of " + m.digest()), std::string::npos)
      << reason;
  EXPECT_NE(reason.find("the referrers API"), std::string::npos) << reason;
  std::string mirror = MetricsText(mirror_client_);
  EXPECT_NE(mirror.find("keep_mirror_syncs_total{result=\"refused\"} 1\n"), std::string::npos)
      << mirror;
  EXPECT_NE(mirror.find("keep_mirror_tags_total{state=\"refused\"} 1\n"), std::string::npos)
      << mirror;
}

TEST_F(MirrorSyncTest, WrongUpstreamCredentialsFailTheSyncSayingSo) {
  Signer signer = NewKey("ci");
  Manifest m = PushImage(client_, "acme/app", "v1", {.layer = "private layer"});
  ASSERT_EQ(PushSignature("acme/app", m, signer).status, 201);
  ASSERT_EQ(AddRule("app", "app", {signer.key.public_key().pem()}, "not-the-password").status, 201);
  auto [state, reason] = Sync("app");
  EXPECT_EQ(state, "failed");
  EXPECT_NE(reason.find("credentials"), std::string::npos) << reason;
  EXPECT_EQ(reason.find("not-the-password"), std::string::npos) << reason;
  std::string mirror = MetricsText(mirror_client_);
  EXPECT_NE(mirror.find("keep_mirror_syncs_total{result=\"failed\"} 1\n"), std::string::npos)
      << mirror;
}

// Keyless signatures vet through a rule's identities, under the trust roots
// installed in the mirror's Keep: the upstream's sigstore bundle by the
// release workflow of acme/app counts once the mirror has that sigstore's
// root, and an identity that names another workflow refuses it.
TEST_F(MirrorSyncTest, AKeylessBundleVetsAnImageUnderTheMirrorsTrustRoots) {
  TrustRelease();  // the upstream accepts the signature
  Manifest m = PushImage(client_, "acme/app", "v1", {.layer = "keyless upstream layer"});
  ASSERT_EQ(PushKeylessBundle("acme/app", m, SignBundle(m, sigstore_.IssueLeaf())).status, 201);
  json release = {{"issuer", kt::kIssuer},
                  {"subject_regex", "https://github\\.com/acme/app/\\.github/workflows/.*"},
                  {"extensions", {{"source-repository-uri", "https://github.com/acme/app"}}}};
  Response added = AddRuleVettedBy("app", "app", {{"identities", {release}}});
  ASSERT_EQ(added.status, 201) << added.body;
  EXPECT_EQ(added.Json()["vetting"]["signature"]["identities"][0]["name"], "identity-1")
      << added.body;
  AddMirrorReader();

  // The mirror has no trust root yet: nothing vouches for the log entry.
  auto [state, reason] = Sync("app");
  EXPECT_EQ(state, "refused") << reason;
  EXPECT_NE(reason.find("log: no trust root"), std::string::npos) << reason;
  EXPECT_EQ(StatusAndCode(MirrorReaderGet("app", m)), "404 MANIFEST_UNKNOWN");

  Response root = mirror_client_.Put("/admin/v1/trust-roots/test",
                                     json{{"trusted_root", sigstore_.TrustedRoot().dump()}}.dump());
  ASSERT_EQ(root.status, 200) << root.body;
  std::tie(state, reason) = Sync("app");
  EXPECT_EQ(state, "synced") << reason;
  Response got = MirrorReaderGet("app", m);
  EXPECT_EQ(got.status, 200) << got.body;
  EXPECT_EQ(got.body, m.bytes);
}

TEST_F(MirrorSyncTest, AKeylessSignatureByAnotherWorkflowIsRefused) {
  TrustRelease();
  ASSERT_EQ(mirror_client_
                .Put("/admin/v1/trust-roots/test",
                     json{{"trusted_root", sigstore_.TrustedRoot().dump()}}.dump())
                .status,
            200);
  Manifest m = PushImage(client_, "acme/app", "v1", {.layer = "cosign keyless layer"});
  ASSERT_EQ(PushCosignKeyless("acme/app", m, sigstore_.IssueLeaf()).status, 201);
  json other = {
      {"name", "other"},
      {"issuer", kt::kIssuer},
      {"subject", "https://github.com/acme/other/.github/workflows/release.yml@refs/tags/v1"}};
  ASSERT_EQ(AddRuleVettedBy("app", "app", {{"identities", {other}}}).status, 201);
  AddMirrorReader();
  auto [state, reason] = Sync("app");
  EXPECT_EQ(state, "refused") << reason;
  EXPECT_NE(reason.find("identity: the certificate's subject"), std::string::npos) << reason;
  EXPECT_EQ(StatusAndCode(MirrorReaderGet("app", m)), "404 MANIFEST_UNKNOWN");

  // Bad identities are refused when the rule is written, naming the member.
  json bad = {{"issuer", kt::kIssuer}, {"subject", "x"}, {"subject_regex", "y"}};
  Response refused = AddRuleVettedBy("bad", "app", {{"identities", {bad}}});
  EXPECT_EQ(StatusAndCode(refused), "400 INVALID");
  EXPECT_NE(ErrorMessage(refused).find("vetting.signature.identities\"[0]"), std::string::npos)
      << ErrorMessage(refused);
  json threshold = {{"identities", {other}}, {"threshold", 2}};
  EXPECT_EQ(StatusAndCode(AddRuleVettedBy("bad", "app", threshold)), "400 INVALID");
}

}  // namespace
}  // namespace keep::testkit
