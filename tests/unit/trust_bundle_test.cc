// Sigstore bundles (cosign v3 signatures), checked against bundles made by
// sigstore's own JavaScript library (testdata/trust/bundle/make.js) and
// against Keep's own, with each check broken once.
#include "trust/trust.h"

#include "core/base64.h"
#include "core/manifest.h"
#include "trust_testdata.h"

#include <gtest/gtest.h>

#include <map>
#include <optional>

namespace keep {
namespace {

using nlohmann::json;
using trust_test::Data;

Digest Target() { return Digest::Parse(trust_test::kTarget).value(); }

PublicKey Key(const std::string& name) { return ParsePublicKey(Data(name + ".pub")).value(); }

// One bundle layer served from memory by digest.
struct Served {
  std::map<std::string, std::string> blobs;
  BundleLayer Add(const std::string& bytes) {
    Digest d = Sha256Of(bytes);
    blobs[d.str()] = bytes;
    return BundleLayer{d, static_cast<std::int64_t>(bytes.size()), {}};
  }
  PayloadFetcher Fetcher() const {
    return [this](const Digest& d) -> Result<std::string> {
      auto it = blobs.find(d.str());
      if (it == blobs.end()) return Fail(ErrorCode::kBlobUnknown, "no such blob");
      return it->second;
    };
  }
};

BundleVerdict VerifyOne(const std::string& bundle, const std::vector<PublicKey>& keys,
                        const Digest& target = Target()) {
  Served served;
  BundleLayer layer = served.Add(bundle);
  auto verdicts = VerifyBundles({layer}, served.Fetcher(), target, "acme/app", keys);
  EXPECT_EQ(verdicts.size(), 1u);
  return verdicts.at(0);
}

// The bundle with its envelope's statement replaced (signature unchanged).
std::string WithStatement(const std::string& bundle_text, const std::string& statement) {
  json bundle = json::parse(bundle_text);
  bundle["dsseEnvelope"]["payload"] = EncodeBase64(statement);
  return bundle.dump();
}

TEST(TrustBundle, PreAuthenticationEncoding) {
  // The DSSE spec's own example.
  EXPECT_EQ(DssePae("http://example.com/HelloWorld", "hello world"),
            "DSSEv1 29 http://example.com/HelloWorld 11 hello world");
  EXPECT_EQ(DssePae("", ""), "DSSEv1 0  0 ");
}

TEST(TrustBundle, SigstoreMadeBundlesVerify) {
  for (std::string name : {"ecdsa", "ed25519"}) {
    BundleVerdict v = VerifyOne(Data("bundle/" + name + ".sigstore.json"), {Key("ecdsa"), Key("ed25519")});
    EXPECT_TRUE(v.verified) << name << ": " << v.reason;
    EXPECT_TRUE(v.is_signature) << name;
    EXPECT_EQ(v.predicate_type, kCosignSignPredicateType);
    ASSERT_EQ(v.key_ids.size(), 1u) << name;
    EXPECT_EQ(v.key_ids[0], trust_test::Trimmed(Data(name + ".keyid")));
  }
}

TEST(TrustBundle, AnAttestationVerifiesButIsNotASignature) {
  BundleVerdict v = VerifyOne(Data("bundle/ecdsa-sbom.sigstore.json"), {Key("ecdsa")});
  EXPECT_TRUE(v.verified) << v.reason;
  EXPECT_FALSE(v.is_signature);
  EXPECT_EQ(v.predicate_type, "https://cyclonedx.org/bom");
}

TEST(TrustBundle, UntrustedKeyOrNoKeyIsRefused) {
  BundleVerdict v = VerifyOne(Data("bundle/ecdsa.sigstore.json"), {Key("ed25519")});
  EXPECT_FALSE(v.verified);
  EXPECT_TRUE(v.key_ids.empty());
  EXPECT_NE(v.reason.find("no signature in the envelope verifies with a trusted key"),
            std::string::npos)
      << v.reason;
  v = VerifyOne(Data("bundle/ecdsa.sigstore.json"), {});
  EXPECT_FALSE(v.verified);
  EXPECT_NE(v.reason.find("has no trusted keys"), std::string::npos) << v.reason;
}

TEST(TrustBundle, AnotherManifestsSignatureIsRefused) {
  Digest other = Sha256Of("another manifest");
  BundleVerdict v = VerifyOne(Data("bundle/ecdsa.sigstore.json"), {Key("ecdsa")}, other);
  EXPECT_FALSE(v.verified);
  EXPECT_TRUE(v.key_ids.empty());
  EXPECT_NE(v.reason.find("does not name " + other.str()), std::string::npos) << v.reason;
}

TEST(TrustBundle, TamperedBundlesAreRefused) {
  const std::string good = Data("bundle/ecdsa.sigstore.json");
  const std::vector<PublicKey> keys = {Key("ecdsa")};
  json parsed = json::parse(good);
  std::string statement =
      DecodeBase64(parsed["dsseEnvelope"]["payload"].get<std::string>()).value();

  // The statement re-pointed at another digest, signature kept.
  std::string moved = statement;
  moved.replace(moved.find(Target().hex()), 64, Sha256Of("x").hex());
  EXPECT_FALSE(VerifyOne(WithStatement(good, moved), keys).verified);

  // Another payload type is refused; and the signature covers the type (PAE):
  // signed as "application/json", presented as in-toto, it does not verify.
  json retyped = parsed;
  retyped["dsseEnvelope"]["payloadType"] = "application/json";
  BundleVerdict v = VerifyOne(retyped.dump(), keys);
  EXPECT_FALSE(v.verified);
  EXPECT_NE(v.reason.find("payloadType"), std::string::npos) << v.reason;
  PrivateKey ecdsa = ParsePrivateKey(Data("ecdsa.key"), "").value();
  json relabelled = parsed;
  relabelled["dsseEnvelope"]["signatures"][0]["sig"] =
      EncodeBase64(Sign(ecdsa, DssePae("application/json", statement)).value());
  v = VerifyOne(relabelled.dump(), keys);
  EXPECT_FALSE(v.verified);
  EXPECT_NE(v.reason.find("no signature in the envelope verifies"), std::string::npos) << v.reason;

  // A flipped bit in the signature.
  json flipped = parsed;
  std::string sig = DecodeBase64(parsed["dsseEnvelope"]["signatures"][0]["sig"].get<std::string>()).value();
  flipped["dsseEnvelope"]["signatures"][0]["sig"] = EncodeBase64(trust_test::Flipped(sig, 10));
  EXPECT_FALSE(VerifyOne(flipped.dump(), keys).verified);

  // Shapes Keep does not take, each with a reason naming it.
  std::map<std::string, std::pair<json, std::string>> broken;
  json keyless = parsed;
  keyless["verificationMaterial"] = {{"certificate", {{"rawBytes", "AAAA"}}}};
  broken["keyless"] = {keyless, "certificate (keyless)"};
  json message = parsed;
  message.erase("dsseEnvelope");
  message["messageSignature"] = {{"signature", "AAAA"}};
  broken["message"] = {message, "messageSignature"};
  json old_version = parsed;
  old_version["mediaType"] = "application/vnd.dev.sigstore.bundle+json;version=0.1";
  broken["v0.1"] = {old_version, "mediaType"};
  json no_sigs = parsed;
  no_sigs["dsseEnvelope"]["signatures"] = json::array();
  broken["no signatures"] = {no_sigs, "no signatures"};
  json bad_b64 = parsed;
  bad_b64["dsseEnvelope"]["payload"] = "not base64!";
  broken["payload"] = {bad_b64, "base64"};
  for (const auto& [name, c] : broken) {
    BundleVerdict b = VerifyOne(c.first.dump(), keys);
    EXPECT_FALSE(b.verified) << name;
    EXPECT_NE(b.reason.find(c.second), std::string::npos) << name << ": " << b.reason;
  }
  EXPECT_FALSE(VerifyOne("not json", keys).verified);

  // Signed properly, but not what an image signature says: each claim is read
  // only once the signature holds, and each is checked.
  auto signed_statement = [&](const std::string& text) {
    json b = parsed;
    b["dsseEnvelope"]["payload"] = EncodeBase64(text);
    b["dsseEnvelope"]["signatures"][0]["sig"] =
        EncodeBase64(Sign(ecdsa, DssePae(kInTotoPayloadType, text)).value());
    return VerifyOne(b.dump(), keys);
  };
  json in_toto = json::parse(statement);
  EXPECT_TRUE(signed_statement(in_toto.dump()).verified);
  json not_in_toto = in_toto;
  not_in_toto["_type"] = "https://example.com/Statement";
  v = signed_statement(not_in_toto.dump());
  EXPECT_FALSE(v.verified);
  EXPECT_NE(v.reason.find("not an in-toto statement"), std::string::npos) << v.reason;
  json no_predicate = in_toto;
  no_predicate.erase("predicateType");
  EXPECT_NE(signed_statement(no_predicate.dump()).reason.find("no predicateType"), std::string::npos);
  json no_subject = in_toto;
  no_subject.erase("subject");
  EXPECT_NE(signed_statement(no_subject.dump()).reason.find("no subject array"), std::string::npos);
  EXPECT_NE(signed_statement(R"({"critical":{}})").reason.find("not an in-toto"), std::string::npos);

  // Limits: signatures in one envelope, and the bundle's size.
  json crowded = parsed;
  for (int i = 0; i < 8; ++i) crowded["dsseEnvelope"]["signatures"].push_back(parsed["dsseEnvelope"]["signatures"][0]);
  v = VerifyOne(crowded.dump(), keys);
  EXPECT_NE(v.reason.find("more than 8 signatures"), std::string::npos) << v.reason;
  json padded = parsed;
  padded["padding"] = std::string(kMaxBundleSize, ' ');
  v = VerifyOne(padded.dump(), keys);
  EXPECT_FALSE(v.verified);
  EXPECT_NE(v.reason.find("is larger than"), std::string::npos) << v.reason;
}

// A bundle of `statement` signed by the committed ECDSA key, verified for
// the target as pushed to `repository`.
BundleVerdict VerifyStatementIn(const json& statement, std::string_view repository) {
  PrivateKey key = ParsePrivateKey(Data("ecdsa.key"), "").value();
  std::string text = statement.dump();
  BundleManifest bm = BuildBundleManifest(Target(), media::kOciManifest, 1, text,
                                          Sign(key, DssePae(kInTotoPayloadType, text)).value(),
                                          key.public_key(), "2026-01-01T00:00:00Z");
  Served served;
  BundleLayer layer = served.Add(bm.bundle);
  auto verdicts = VerifyBundles({layer}, served.Fetcher(), Target(), repository, {Key("ecdsa")});
  EXPECT_EQ(verdicts.size(), 1u);
  return verdicts.at(0);
}

json StatementNaming(std::optional<std::string> name,
                     std::string_view predicate = kCosignSignPredicateType) {
  json subject = {{"digest", {{"sha256", Target().hex()}}}};
  if (name) subject["name"] = *name;
  return {{"_type", "https://in-toto.io/Statement/v1"},
          {"subject", json::array({subject})},
          {"predicateType", std::string(predicate)},
          {"predicate", json::object()}};
}

// A statement whose subject names the image is held to that name, as a
// simple-signing payload's docker-reference is: replayed onto the same digest
// in another repository it is refused.
TEST(TrustBundle, AStatementNamingAnotherRepositoryIsRefused) {
  for (std::string name : {"acme/app", "registry.example:5000/acme/app", "localhost/acme/app:v1"}) {
    BundleVerdict here = VerifyStatementIn(StatementNaming(name), "acme/app");
    EXPECT_TRUE(here.verified) << name << ": " << here.reason;
    BundleVerdict there = VerifyStatementIn(StatementNaming(name), "acme/other");
    EXPECT_FALSE(there.verified) << name;
    EXPECT_TRUE(there.key_ids.empty());
    EXPECT_NE(there.reason.find("signs image \"" + name + "\", not repository acme/other"),
              std::string::npos)
        << there.reason;
  }
  // The rule is ReferenceNamesRepository's: no prefix or suffix matches.
  EXPECT_FALSE(VerifyStatementIn(StatementNaming("acme/app"), "acme/app2").verified);
  EXPECT_FALSE(VerifyStatementIn(StatementNaming("other/acme/app"), "acme/app").verified);
  // Attestations are held to their subject's name the same way.
  EXPECT_FALSE(VerifyStatementIn(StatementNaming("acme/app", "https://cyclonedx.org/bom"),
                                 "acme/other").verified);
  EXPECT_TRUE(VerifyStatementIn(StatementNaming("acme/app", "https://cyclonedx.org/bom"),
                                "acme/app").verified);
  // A name that is not a string is malformed.
  json odd = StatementNaming(std::nullopt);
  odd["subject"][0]["name"] = 7;
  EXPECT_NE(VerifyStatementIn(odd, "acme/app").reason.find("not a string"), std::string::npos);
  // When the caller cannot say where the bundle was pushed, a named subject
  // cannot be checked, and is refused.
  EXPECT_FALSE(VerifyStatementIn(StatementNaming("acme/app"), "").verified);
}

// cosign v3's `cosign sign` names the digest alone: that signs the content,
// wherever it is stored, so it verifies in any repository.
TEST(TrustBundle, AStatementNamingOnlyTheDigestSignsItAnywhere) {
  for (std::string_view repo : {"acme/app", "acme/other", ""}) {
    BundleVerdict v = VerifyStatementIn(StatementNaming(std::nullopt), repo);
    EXPECT_TRUE(v.verified) << repo << ": " << v.reason;
    EXPECT_TRUE(VerifyStatementIn(StatementNaming(""), repo).verified) << repo;
  }
  // Keep's own statement (keepctl sign --format bundle) is cosign's.
  EXPECT_EQ(json::parse(MakeSignStatement(Target())), StatementNaming(std::nullopt));
  // One subject for the digest without a name is enough, beside named ones.
  json both = StatementNaming("acme/app");
  both["subject"].push_back(StatementNaming(std::nullopt)["subject"][0]);
  EXPECT_TRUE(VerifyStatementIn(both, "acme/other").verified);
}

TEST(TrustBundle, BlobMustMatchItsLayer) {
  Served served;
  std::string bundle = Data("bundle/ecdsa.sigstore.json");
  BundleLayer layer = served.Add(bundle);
  BundleLayer wrong_size{layer.digest, layer.size + 1, {}};
  auto v = VerifyBundles({wrong_size}, served.Fetcher(), Target(), "acme/app", {Key("ecdsa")});
  EXPECT_FALSE(v.at(0).verified);
  EXPECT_NE(v.at(0).reason.find("bytes, but its layer says"), std::string::npos);
  served.blobs[layer.digest.str()] = bundle + " ";
  v = VerifyBundles({layer}, served.Fetcher(), Target(), "acme/app", {Key("ecdsa")});
  EXPECT_NE(v.at(0).reason.find("does not match its digest"), std::string::npos);
  v = VerifyBundles({BundleLayer{Sha256Of("absent"), 6, {}}}, served.Fetcher(), Target(), "acme/app", {Key("ecdsa")});
  EXPECT_NE(v.at(0).reason.find("no such blob"), std::string::npos);
}

TEST(TrustBundle, BuildThenReadRoundTrip) {
  PrivateKey key = ParsePrivateKey(Data("ed25519.key"), "").value();
  std::string statement = MakeSignStatement(Target());
  std::string signature = Sign(key, DssePae(kInTotoPayloadType, statement)).value();
  BundleManifest built = BuildBundleManifest(Target(), media::kOciManifest, 1234, statement,
                                             signature, key.public_key(), "2026-11-25T00:00:00Z");
  EXPECT_EQ(built.config, "{}");
  EXPECT_EQ(built.manifest_digest, Sha256Of(built.manifest));

  auto parsed = ParseManifest(built.manifest, media::kOciManifest);
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->artifact_type, kSigstoreBundleMediaType);
  ASSERT_TRUE(parsed->subject);
  EXPECT_EQ(parsed->subject->digest, Target());

  json manifest = json::parse(built.manifest);
  EXPECT_TRUE(IsSigstoreBundleManifest(manifest));
  EXPECT_FALSE(IsSigstoreBundleManifest(json::parse(BuildCosignManifest("p", "s").manifest)));
  auto layers = ReadBundleLayers(manifest);
  ASSERT_TRUE(layers) << layers.error().message;
  ASSERT_EQ(layers->size(), 1u);
  EXPECT_EQ((*layers)[0].digest, built.bundle_digest);

  Served served;
  served.Add(built.bundle);
  auto v = VerifyBundles(*layers, served.Fetcher(), Target(), "acme/app", {Key("ecdsa"), Key("ed25519")});
  ASSERT_TRUE(v.at(0).verified) << v.at(0).reason;
  EXPECT_EQ(v.at(0).key_ids, std::vector<std::string>{key.public_key().key_id()});
  // The hint is what sigstore's library writes for the same key.
  EXPECT_EQ(json::parse(built.bundle)["verificationMaterial"]["publicKey"]["hint"],
            json::parse(Data("bundle/ed25519.sigstore.json"))["verificationMaterial"]["publicKey"]["hint"]);
}

TEST(TrustBundle, ABundleReferrerCarriesNothingElse) {
  // A trusted signature's blobs are served with it, so anything beside the
  // bundles (an image's layer or config) makes it no bundle referrer.
  PrivateKey key = ParsePrivateKey(Data("ed25519.key"), "").value();
  std::string statement = MakeSignStatement(Target());
  BundleManifest built =
      BuildBundleManifest(Target(), media::kOciManifest, 1, statement,
                          Sign(key, DssePae(kInTotoPayloadType, statement)).value(),
                          key.public_key(), "2026-11-25T00:00:00Z");
  const json good = json::parse(built.manifest);
  ASSERT_TRUE(ReadBundleLayers(good));
  const json image_layer = {{"mediaType", "application/vnd.oci.image.layer.v1.tar+gzip"},
                            {"digest", "sha256:" + std::string(64, 'd')}, {"size", 10}};
  std::map<std::string, std::pair<json, std::string>> cases;
  json extra = good;
  extra["layers"].push_back(image_layer);
  cases["an image layer beside"] = {extra, "layer 1 is not a sigstore bundle"};
  json config = good;
  config["config"] = {{"mediaType", "application/vnd.oci.image.config.v1+json"},
                      {"digest", "sha256:" + std::string(64, 'c')}, {"size", 300}};
  cases["an image config"] = {config, "not the empty descriptor"};
  json index = good;
  index["mediaType"] = "application/vnd.oci.image.index.v1+json";
  cases["an index"] = {index, "OCI image manifest"};
  json children = good;
  children["manifests"] = json::array({image_layer});
  cases["children"] = {children, "an index cannot"};
  json twice = good;
  twice["layers"].push_back(good["layers"][0]);
  cases["the same bundle twice"] = {twice, "repeats bundle"};
  json many = good;
  for (std::size_t i = 0; i < kMaxBundleLayers; ++i) {
    json layer = good["layers"][0];
    layer["digest"] = Sha256Of(std::to_string(i)).str();
    many["layers"].push_back(layer);
  }
  cases["too many"] = {many, "more than 16 bundle layers"};
  json bad_digest = good;
  bad_digest["layers"][0]["digest"] = "sha256:zz";
  cases["a bad digest"] = {bad_digest, "layer 0: "};
  json none = good;
  none["layers"] = json::array();
  cases["no bundle"] = {none, "no bundle layer"};
  for (const auto& [name, c] : cases) {
    auto r = ReadBundleLayers(c.first);
    ASSERT_FALSE(r) << name;
    EXPECT_EQ(r.error().code, ErrorCode::kManifestInvalid) << name;
    EXPECT_NE(r.error().message.find(c.second), std::string::npos) << name << ": " << r.error().message;
  }
  json legacy = {{"artifactType", std::string(kSigstoreBundleLegacyMediaType)}};
  EXPECT_TRUE(IsSigstoreBundleManifest(legacy));
}

}  // namespace
}  // namespace keep
