// A cosign signature artifact carries only what a trusted key signed plus the
// envelope its format requires: starting from real shapes (what cosign,
// containers/image and keepctl write), each kind of bytes a pusher without
// the key could add is refused, one at a time; what Keep cannot check is
// reported in the verdict's unverified_material.
#include "trust/trust.h"

#include "core/base64.h"
#include "core/manifest.h"
#include "trust_testdata.h"

#include <gtest/gtest.h>

#include <map>

namespace keep {
namespace {

using nlohmann::json;
using trust_test::Data;

Digest Target() { return Digest::Parse(trust_test::kTarget).value(); }

// A hashedrekord v0.0.1 entry for `payload` signed with `signature` by the
// key `pem`, wrapped as cosign's dev.sigstore.cosign/bundle annotation.
json RekorBody(const std::string& payload, const std::string& signature, const std::string& pem) {
  return {{"apiVersion", "0.0.1"},
          {"kind", "hashedrekord"},
          {"spec",
           {{"data", {{"hash", {{"algorithm", "sha256"}, {"value", Sha256Of(payload).hex()}}}}},
            {"signature",
             {{"content", EncodeBase64(signature)},
              {"publicKey", {{"content", EncodeBase64(pem)}}}}}}}};
}
json RekorSetOf(const json& body) {
  return {{"SignedEntryTimestamp", EncodeBase64(std::string(71, '\x30'))},
          {"Payload",
           {{"body", EncodeBase64(body.dump())},
            {"integratedTime", 1732000000},
            {"logIndex", 151515151},
            {"logID", "c0d23d6ad406973f9559f3ba2d1ca01f84147d8ffc5b8445c224f98b9591801d"}}}};
}

// An in-memory registry of blobs and one cosign signature manifest made the
// way cosign makes it, to be altered by each test.
class TrustCosignSchema : public ::testing::Test {
 protected:
  void SetUp() override {
    payload_ = Data("payload.json");
    signature_ = Data("payload.json.ecdsa.sig");
    key_ = ParsePublicKey(Data("ecdsa.pub")).value();
    built_.emplace(BuildCosignManifest(payload_, signature_));
    manifest_ = json::parse(built_->manifest);
    blobs_[built_->payload_digest.str()] = payload_;
  }

  json& Annotations() { return manifest_["layers"][0]["annotations"]; }

  // The manifest read and its one layer verified; refusals as errors.
  Result<CosignVerdict> Check(const json& manifest) {
    auto layers = ReadCosignSignatures(manifest);
    if (!layers) return layers.error();
    PayloadFetcher fetch = [this](const Digest& d) -> Result<std::string> {
      auto it = blobs_.find(d.str());
      if (it == blobs_.end()) return Fail(ErrorCode::kBlobUnknown, "no such blob");
      return it->second;
    };
    auto verdicts = VerifyCosign(*layers, fetch, Target(), "acme/app", {*key_});
    if (verdicts.size() != 1) return Fail(ErrorCode::kInvalid, "not one verdict");
    return verdicts[0];
  }

  static void ExpectRefused(const Result<CosignVerdict>& r, const std::string& needle,
                            const std::string& name) {
    ASSERT_FALSE(r) << name << " was accepted";
    EXPECT_EQ(r.error().code, ErrorCode::kManifestInvalid) << name;
    EXPECT_NE(r.error().message.find(needle), std::string::npos)
        << name << ": " << r.error().message;
  }

  std::string payload_, signature_;
  std::optional<PublicKey> key_;
  std::optional<CosignManifest> built_;
  json manifest_;
  std::map<std::string, std::string> blobs_;
};

TEST_F(TrustCosignSchema, KeepctlsManifestIsWithinTheRules) {
  auto v = Check(manifest_);
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_TRUE(v->verified) << v->reason;
  EXPECT_EQ(v->unverified_material, "");
  auto layers = ReadCosignSignatures(manifest_).value();
  EXPECT_TRUE(CheckCosignConfig(built_->config, layers));
}

TEST_F(TrustCosignSchema, ChosenBytesInTheManifestAreRefused) {
  std::map<std::string, std::pair<json, std::string>> cases;
  json m = manifest_;
  m["annotations"] = {{"org.example.note", "chosen bytes"}};
  cases["a manifest annotation"] = {m, "unexpected member \"annotations\""};
  m = manifest_;
  m["x-extra"] = "chosen bytes";
  cases["a top-level member"] = {m, "unexpected member \"x-extra\""};
  m = manifest_;
  Annotations()["org.example.note"] = "chosen bytes";
  cases["a layer annotation"] = {manifest_, "unexpected member \"org.example.note\""};
  Annotations().erase("org.example.note");
  m = manifest_;
  m["layers"][0]["urls"] = {"https://example.com/chosen"};
  cases["a layer member"] = {m, "unexpected member \"urls\""};
  m = manifest_;
  m["config"]["annotations"] = {{"a", "b"}};
  cases["a config descriptor member"] = {m, "unexpected member \"annotations\""};
  m = manifest_;
  m["artifactType"] = std::string(kCosignArtifactSigType);
  cases["an artifactType without a subject"] = {m, "unexpected member \"artifactType\""};
  m = manifest_;
  m["schemaVersion"] = 3;
  cases["another schemaVersion"] = {m, "schemaVersion is not 2"};
  m = manifest_;
  m["config"]["mediaType"] = "application/vnd.example.chosen";
  cases["another config type"] = {m, "the config has the media type"};
  m = manifest_;
  m["subject"] = {{"mediaType", std::string(media::kOciManifest)}, {"digest", Target().str()},
                  {"size", 10}, {"annotations", {{"a", "b"}}}};
  cases["a subject member"] = {m, "the subject has an unexpected member \"annotations\""};
  m = manifest_;
  m["subject"] = {{"mediaType", std::string(media::kOciManifest)}, {"digest", Target().str()},
                  {"size", 10}};
  m["artifactType"] = "application/vnd.example.chosen";
  cases["another artifactType"] = {m, "artifactType is not"};
  m = manifest_;
  Annotations()[std::string(kCosignSignatureAnnotation)] = 7;
  cases["a signature that is no string"] = {manifest_, "is not a string"};
  for (const auto& [name, c] : cases) ExpectRefused(Check(c.first), c.second, name);
}

TEST_F(TrustCosignSchema, ARepeatedMemberInTheManifestTextIsRefused) {
  EXPECT_TRUE(ParseSignatureManifest(built_->manifest));
  // The first "annotations" is what a lenient reader might see; a plain
  // parse keeps only the last.
  std::string text = built_->manifest;
  text.insert(1, R"("annotations":{"chosen":"bytes"},"annotations":{},)");
  auto r = ParseSignatureManifest(text);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kManifestInvalid);
  EXPECT_NE(r.error().message.find("repeats a member name \"annotations\""), std::string::npos)
      << r.error().message;
}

TEST_F(TrustCosignSchema, TheReferrerFormIsWithinTheRules) {
  json m = manifest_;
  m["subject"] = {{"mediaType", std::string(media::kOciManifest)}, {"digest", Target().str()},
                  {"size", 10}};
  m["artifactType"] = std::string(kCosignArtifactSigType);
  m["config"]["mediaType"] = std::string(kCosignArtifactSigType);
  auto v = Check(m);
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_TRUE(v->verified) << v->reason;
}

TEST_F(TrustCosignSchema, RealConfigsAreAcceptedAndChosenMembersRefused) {
  auto layers = ReadCosignSignatures(manifest_).value();
  const std::string diff_id = built_->payload_digest.str();
  // cosign's, byte for byte in its member order.
  const std::string cosign = R"({"architecture":"","created":"0001-01-01T00:00:00Z","history":[{"created":"0001-01-01T00:00:00Z"}],"os":"","rootfs":{"type":"layers","diff_ids":[")" +
                             diff_id + R"("]},"config":{}})";
  EXPECT_TRUE(CheckCosignConfig(cosign, layers));
  // containers/image's (podman, skopeo --sign-by-sigstore-private-key).
  const std::string containers_image =
      R"({"architecture":"","os":"","config":{},"rootfs":{"type":"layers","diff_ids":[")" + diff_id +
      R"("]}})";
  EXPECT_TRUE(CheckCosignConfig(containers_image, layers));
  // A real time, with fractional seconds and an offset.
  json timed = json::parse(cosign);
  timed["created"] = "2025-03-01T12:34:56.123456789+01:00";
  timed["container_config"] = json::object();
  EXPECT_TRUE(CheckCosignConfig(timed.dump(), layers));

  std::map<std::string, std::pair<std::string, std::string>> cases;
  json c = json::parse(cosign);
  c["comment"] = "chosen bytes";
  cases["an extra member"] = {c.dump(), "unexpected member \"comment\""};
  c = json::parse(cosign);
  c["config"] = {{"Env", {"A=chosen"}}};
  cases["a non-empty config"] = {c.dump(), "config is not {}"};
  c = json::parse(cosign);
  c["os"] = "linux";
  cases["an os"] = {c.dump(), "os is not \"\""};
  c = json::parse(cosign);
  c["created"] = "yesterday";
  cases["a free-text created"] = {c.dump(), "created is not an RFC 3339 time"};
  c = json::parse(cosign);
  c["history"][0]["comment"] = "chosen bytes";
  cases["a history member"] = {c.dump(), "history entry has an unexpected member \"comment\""};
  c = json::parse(cosign);
  c["history"].push_back(c["history"][0]);
  cases["more history than layers"] = {c.dump(), "at most one entry per layer"};
  c = json::parse(cosign);
  c["rootfs"]["note"] = "chosen";
  cases["a rootfs member"] = {c.dump(), "rootfs has an unexpected member \"note\""};
  c = json::parse(cosign);
  c["rootfs"]["type"] = "chosen";
  cases["another rootfs type"] = {c.dump(), "rootfs.type is not \"layers\""};
  // A member repeated: a reader might take the other value.
  cases["a repeated member"] = {cosign.substr(0, cosign.size() - 1) + R"(,"os":"chosen"})",
                                "repeats a member name \"os\""};
  for (const auto& [name, cfg] : cases) {
    auto r = CheckCosignConfig(cfg.first, layers);
    ASSERT_FALSE(r) << name;
    EXPECT_EQ(r.error().code, ErrorCode::kManifestInvalid) << name;
    EXPECT_NE(r.error().message.find(cfg.second), std::string::npos) << name << ": " << r.error().message;
  }
}

TEST_F(TrustCosignSchema, AConsistentRekorBundleIsAccepted) {
  Annotations()[std::string(kCosignRekorBundleAnnotation)] =
      RekorSetOf(RekorBody(payload_, signature_, key_->pem())).dump();
  auto v = Check(manifest_);
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_TRUE(v->verified) << v->reason;
  EXPECT_TRUE(v->well_formed);
  EXPECT_EQ(v->unverified_material, "") << "the bound log entry is not unchecked material";
}

TEST_F(TrustCosignSchema, ARekorBundleWithChosenBytesOrAnotherSignatureIsRefused) {
  const json body = RekorBody(payload_, signature_, key_->pem());
  std::map<std::string, std::pair<json, std::string>> read_refused;
  json set = RekorSetOf(body);
  set["Note"] = "chosen bytes";
  read_refused["a top-level member"] = {set, "unexpected member \"Note\""};
  set = RekorSetOf(body);
  set["Payload"]["extra"] = "chosen bytes";
  read_refused["a Payload member"] = {set, "unexpected member \"extra\""};
  set = RekorSetOf(body);
  set["Payload"]["logID"] = "chosen bytes";
  read_refused["a free-text logID"] = {set, "logID is not 64 lower-case hex"};
  set = RekorSetOf(body);
  set["SignedEntryTimestamp"] = EncodeBase64(std::string(300, 'x'));
  read_refused["a long SET"] = {set, "SignedEntryTimestamp is not standard base64 of 1 to 256"};
  json b = body;
  b["spec"]["signature"]["note"] = "chosen bytes";
  read_refused["a body member"] = {RekorSetOf(b), "unexpected member \"note\""};
  b = body;
  b["kind"] = "rekord";
  read_refused["another kind"] = {RekorSetOf(b), "is not a hashedrekord v0.0.1 entry"};
  for (const auto& [name, c] : read_refused) {
    Annotations()[std::string(kCosignRekorBundleAnnotation)] = c.first.dump();
    ExpectRefused(Check(manifest_), c.second, name);
  }

  // Well formed, but not of this layer: the layer is no signature at all.
  PrivateKey ed25519 = ParsePrivateKey(Data("ed25519.key"), "").value();
  std::map<std::string, std::pair<json, std::string>> unbound;
  unbound["another signature"] = {
      RekorBody(payload_, Sign(ParsePrivateKey(Data("ecdsa.key"), "").value(), payload_).value(),
                key_->pem()),
      "logs another signature"};
  unbound["another payload"] = {RekorBody("other bytes", signature_, key_->pem()),
                                "logs another payload"};
  unbound["another key"] = {RekorBody(payload_, signature_, ed25519.public_key().pem()),
                            "logs a public key that did not make the layer's signature"};
  for (const auto& [name, c] : unbound) {
    Annotations()[std::string(kCosignRekorBundleAnnotation)] = RekorSetOf(c.first).dump();
    auto v = Check(manifest_);
    ASSERT_TRUE(v) << name << ": " << v.error().message;
    EXPECT_FALSE(v->verified) << name;
    EXPECT_FALSE(v->well_formed) << name;
    EXPECT_NE(v->reason.find(c.second), std::string::npos) << name << ": " << v->reason;
  }
}

TEST_F(TrustCosignSchema, KeylessMaterialVerifiesByKeyButIsReportedUnverified) {
  const std::string cert = trust_test::Pem("CERTIFICATE", std::string(300, '\x30'));
  Annotations()[std::string(kCosignCertificateAnnotation)] = cert;
  Annotations()[std::string(kCosignChainAnnotation)] = cert + cert;
  auto v = Check(manifest_);
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_TRUE(v->verified) << v->reason;
  EXPECT_NE(v->unverified_material.find("a signing certificate"), std::string::npos)
      << v->unverified_material;
  EXPECT_NE(v->unverified_material.find("a certificate chain"), std::string::npos);

  Annotations().erase(std::string(kCosignCertificateAnnotation));
  Annotations()[std::string(kCosignChainAnnotation)] = "";
  Annotations()[std::string(kCosignTimestampAnnotation)] =
      json{{"SignedRFC3161Timestamp", EncodeBase64("token")}}.dump();
  v = Check(manifest_);
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_NE(v->unverified_material.find("an RFC 3161 timestamp"), std::string::npos)
      << v->unverified_material;
  EXPECT_EQ(v->unverified_material.find("chain"), std::string::npos) << "an empty chain is nothing";

  std::map<std::string, std::pair<std::string, std::string>> cases;
  cases["a certificate with text around it"] = {std::string(kCosignCertificateAnnotation),
                                                "chosen\n" + cert};
  cases["a certificate that is not PEM"] = {std::string(kCosignCertificateAnnotation), "chosen bytes"};
  cases["a timestamp with a member more"] = {
      std::string(kCosignTimestampAnnotation),
      json{{"SignedRFC3161Timestamp", EncodeBase64("token")}, {"x", 1}}.dump()};
  for (const auto& [name, c] : cases) {
    json m = manifest_;
    m["layers"][0]["annotations"][c.first] = c.second;
    ExpectRefused(Check(m), "annotation is not", name);
  }
}

TEST_F(TrustCosignSchema, AKeylessLayerBesideIsWellFormedButUnverified) {
  // A keyless signature: its Rekor bundle logs a certificate (of the Ed25519
  // key here), which Keep cannot check; the layer is still a signature.
  const std::string cert = Data("ed25519.crt");
  const std::string ed_sig = Data("payload.json.ed25519.sig");
  Annotations()[std::string(kCosignSignatureAnnotation)] = EncodeBase64(ed_sig);
  Annotations()[std::string(kCosignCertificateAnnotation)] = cert;
  Annotations()[std::string(kCosignRekorBundleAnnotation)] =
      RekorSetOf(RekorBody(payload_, ed_sig, cert)).dump();
  auto v = Check(manifest_);
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_TRUE(v->well_formed) << v->reason;
  EXPECT_FALSE(v->verified);
  EXPECT_NE(v->unverified_material.find("a signing certificate"), std::string::npos);
  // A log entry under another key does not log this signature.
  Annotations()[std::string(kCosignRekorBundleAnnotation)] =
      RekorSetOf(RekorBody(payload_, ed_sig, key_->pem())).dump();
  v = Check(manifest_);
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_FALSE(v->well_formed);
}

}  // namespace
}  // namespace keep
