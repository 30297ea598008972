// A cosign v3 bundle referrer carries only what a trusted key signed plus the
// envelope its format requires: starting from real shapes (cosign's
// BUNDLE_SPEC referrer with its three annotations, sigstore-js's bundles,
// keepctl's), each kind of bytes a pusher without the key could add is
// refused one at a time; transparency-log entries must be of the envelope
// beside them; what Keep cannot check is reported as unverified_material.
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

std::string Bytes(const Digest& d) {
  std::string out;
  for (std::size_t i = 0; i < d.hex().size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(d.hex().substr(i, 2), nullptr, 16)));
  }
  return out;
}
std::string LeafHash(const std::string& leaf) { return Bytes(Sha256Of(std::string(1, '\0') + leaf)); }
std::string NodeHash(const std::string& l, const std::string& r) {
  return Bytes(Sha256Of(std::string(1, '\1') + l + r));
}

// RFC 9162 2.1.1 and 2.1.3.1, written from their definitions: the root of
// leaves [begin, end) and the inclusion path of leaf m in it.
std::string Root(const std::vector<std::string>& d, std::size_t begin, std::size_t end) {
  if (end - begin == 1) return LeafHash(d[begin]);
  std::size_t k = 1;
  while (k * 2 < end - begin) k *= 2;
  return NodeHash(Root(d, begin, begin + k), Root(d, begin + k, end));
}
std::vector<std::string> Path(const std::vector<std::string>& d, std::size_t m, std::size_t begin,
                              std::size_t end) {
  if (end - begin == 1) return {};
  std::size_t k = 1;
  while (k * 2 < end - begin) k *= 2;
  std::vector<std::string> out;
  if (m < k) {
    out = Path(d, m, begin, begin + k);
    out.push_back(Root(d, begin + k, end));
  } else {
    out = Path(d, m - k, begin + k, end);
    out.push_back(Root(d, begin, begin + k));
  }
  return out;
}

std::string Checkpoint(const std::string& origin, std::size_t size, const std::string& root) {
  return origin + "\n" + std::to_string(size) + "\n" + EncodeBase64(root) +
         "\n\n\xe2\x80\x94 rekor.test " + EncodeBase64(std::string(4 + 71, '\x30')) + "\n";
}

class TrustBundleSchema : public ::testing::Test {
 protected:
  void SetUp() override {
    key_ = ParsePrivateKey(Data("ed25519.key"), "").value();
    statement_ = MakeSignStatement(Target());
    signature_ = Sign(*key_, DssePae(kInTotoPayloadType, statement_)).value();
    BundleManifest built =
        BuildBundleManifest(Target(), media::kOciManifest, 1234, statement_, signature_,
                            key_->public_key(), "2026-11-25T00:00:00Z");
    manifest_ = json::parse(built.manifest);
    bundle_ = json::parse(built.bundle);
  }

  // A dsse v0.0.1 body logging the envelope of bundle_, as Rekor writes it.
  json DsseBody() const {
    return {{"apiVersion", "0.0.1"},
            {"kind", "dsse"},
            {"spec",
             {{"envelopeHash", {{"algorithm", "sha256"}, {"value", std::string(64, 'e')}}},
              {"payloadHash", {{"algorithm", "sha256"}, {"value", Sha256Of(statement_).hex()}}},
              {"signatures",
               json::array({{{"signature", EncodeBase64(signature_)},
                             {"verifier", EncodeBase64(key_->public_key().pem())}}})}}}};
  }

  // A log entry for `body` at index 5 of a 7-leaf tree, with its proof and
  // checkpoint, as cosign's bundles carry them.
  static json Entry(const json& body, const std::string& origin = "rekor.test - 42") {
    std::vector<std::string> leaves;
    for (int i = 0; i < 7; ++i) leaves.push_back("leaf " + std::to_string(i));
    leaves[5] = body.dump();
    json hashes = json::array();
    for (const std::string& h : Path(leaves, 5, 0, 7)) hashes.push_back(EncodeBase64(h));
    const std::string root = Root(leaves, 0, 7);
    return {{"logIndex", "1234567"},
            {"logId", {{"keyId", EncodeBase64(std::string(32, '\x11'))}}},
            {"kindVersion", {{"kind", "dsse"}, {"version", "0.0.1"}}},
            {"integratedTime", "1732000000"},
            {"inclusionPromise", {{"signedEntryTimestamp", EncodeBase64(std::string(70, '\x30'))}}},
            {"inclusionProof",
             {{"logIndex", "5"},
              {"rootHash", EncodeBase64(root)},
              {"treeSize", "7"},
              {"hashes", hashes},
              {"checkpoint", {{"envelope", Checkpoint(origin, 7, root)}}}}},
            {"canonicalizedBody", EncodeBase64(body.dump())}};
  }

  BundleVerdict Verify(const json& bundle, const std::vector<BundleLayer>& read = {}) const {
    const std::string bytes = bundle.dump();
    BundleLayer layer{Sha256Of(bytes), static_cast<std::int64_t>(bytes.size()),
                      read.empty() ? std::string() : read[0].predicate_type_annotation};
    PayloadFetcher fetch = [&](const Digest&) -> Result<std::string> { return bytes; };
    return VerifyBundles({layer}, fetch, Target(), "acme/app", {ParsePublicKey(Data("ecdsa.pub")).value(),
                                                    key_->public_key()})
        .at(0);
  }

  std::optional<PrivateKey> key_;
  std::string statement_, signature_;
  json manifest_, bundle_;
};

TEST_F(TrustBundleSchema, RealReferrersAreWithinTheRules) {
  // keepctl's (cosign v3's layout, with its three annotations and a title).
  auto layers = ReadBundleLayers(manifest_);
  ASSERT_TRUE(layers) << layers.error().message;
  EXPECT_EQ((*layers)[0].predicate_type_annotation, kCosignSignPredicateType);
  BundleVerdict v = Verify(bundle_, *layers);
  EXPECT_TRUE(v.verified) << v.reason;
  EXPECT_EQ(v.unverified_material, "");
  // sigstore-js's @sigstore/oci: no title, a created time with milliseconds,
  // a subject without size; its bundles carry "timestampVerificationData":{}.
  json js = manifest_;
  js["layers"][0].erase("annotations");
  js["annotations"]["org.opencontainers.image.created"] = "2025-01-02T03:04:05.678Z";
  js["subject"].erase("size");
  EXPECT_TRUE(ReadBundleLayers(js));
  for (std::string name : {"ecdsa", "ed25519"}) {
    BundleVerdict js_v = Verify(json::parse(Data("bundle/" + name + ".sigstore.json")));
    EXPECT_TRUE(js_v.verified) << js_v.reason;
    EXPECT_EQ(js_v.unverified_material, "") << name;
  }
  // A consistent log entry, as cosign's bundles carry one.
  json logged = bundle_;
  logged["verificationMaterial"]["tlogEntries"] = json::array({Entry(DsseBody())});
  v = Verify(logged);
  EXPECT_TRUE(v.verified) << v.reason;
  EXPECT_EQ(v.unverified_material, "");
}

TEST_F(TrustBundleSchema, ChosenBytesInTheReferrerAreRefused) {
  std::map<std::string, std::pair<json, std::string>> cases;
  json m = manifest_;
  m["annotations"]["org.example.note"] = "chosen bytes";
  cases["a manifest annotation"] = {m, "unexpected member \"org.example.note\""};
  m = manifest_;
  m["x-extra"] = "chosen bytes";
  cases["a top-level member"] = {m, "unexpected member \"x-extra\""};
  m = manifest_;
  m["layers"][0]["annotations"]["org.example.note"] = "chosen bytes";
  cases["a layer annotation"] = {m, "unexpected member \"org.example.note\""};
  m = manifest_;
  m["layers"][0]["annotations"]["org.opencontainers.image.title"] = "chosen bytes";
  cases["a free-text title"] = {m, "org.opencontainers.image.title is not \"sha256-"};
  m = manifest_;
  m["config"]["data"] = "e30=";
  cases["a config member"] = {m, "unexpected member \"data\""};
  m = manifest_;
  m["subject"]["annotations"] = {{"a", "b"}};
  cases["a subject member"] = {m, "the subject has an unexpected member"};
  m = manifest_;
  m["annotations"]["org.opencontainers.image.created"] = "chosen bytes";
  cases["a free-text created"] = {m, "is not an RFC 3339 time"};
  m = manifest_;
  m["annotations"]["dev.sigstore.bundle.content"] = "message-signature";
  cases["another content"] = {m, "is not \"dsse-envelope\""};
  m = manifest_;
  m["annotations"]["dev.sigstore.bundle.predicateType"] = std::string(300, 'p');
  cases["a long predicate type"] = {m, "predicateType is not a string of 1 to 256"};
  for (const auto& [name, c] : cases) {
    auto r = ReadBundleLayers(c.first);
    ASSERT_FALSE(r) << name;
    EXPECT_EQ(r.error().code, ErrorCode::kManifestInvalid) << name;
    EXPECT_NE(r.error().message.find(c.second), std::string::npos) << name << ": " << r.error().message;
  }
  // A predicate type annotation that is not the statement's.
  json other = manifest_;
  other["annotations"]["dev.sigstore.bundle.predicateType"] = "https://slsa.dev/provenance/v1";
  BundleVerdict v = Verify(bundle_, ReadBundleLayers(other).value());
  EXPECT_FALSE(v.verified);
  EXPECT_NE(v.reason.find("is not the statement's predicate type"), std::string::npos) << v.reason;
}

TEST_F(TrustBundleSchema, ChosenBytesInTheBundleAreRefused) {
  std::map<std::string, std::pair<json, std::string>> cases;
  json b = bundle_;
  b["note"] = "chosen bytes";
  cases["a top-level member"] = {b, "the bundle has an unexpected member \"note\""};
  b = bundle_;
  b["verificationMaterial"]["publicKey"]["rawBytes"] = EncodeBase64("chosen");
  cases["a publicKey member"] = {b, "publicKey has an unexpected member \"rawBytes\""};
  b = bundle_;
  b["verificationMaterial"]["note"] = "chosen";
  cases["a verificationMaterial member"] = {b, "verificationMaterial has an unexpected member"};
  b = bundle_;
  b["dsseEnvelope"]["note"] = "chosen";
  cases["an envelope member"] = {b, "the envelope has an unexpected member \"note\""};
  b = bundle_;
  b["dsseEnvelope"]["signatures"][0]["note"] = "chosen";
  cases["a signature member"] = {b, "an envelope signature has an unexpected member"};
  b = bundle_;
  b["verificationMaterial"]["publicKey"]["hint"] = std::string(200, 'h');
  cases["a long hint"] = {b, "hint is not a string of at most 128"};
  b = bundle_;
  b["verificationMaterial"]["timestampVerificationData"] = {{"note", "chosen"}};
  cases["a timestamp data member"] = {b, "timestampVerificationData has an unexpected member"};
  b = bundle_;
  b["verificationMaterial"]["tlogEntries"] = json::array({Entry(DsseBody())});
  b["verificationMaterial"]["tlogEntries"][0]["note"] = "chosen";
  cases["a tlog entry member"] = {b, "a tlogEntries member has an unexpected member \"note\""};
  b = bundle_;
  json body = DsseBody();
  body["spec"]["note"] = "chosen";
  b["verificationMaterial"]["tlogEntries"] = json::array({Entry(body)});
  cases["a log body member"] = {b, "spec has an unexpected member \"note\""};
  b = bundle_;
  b["verificationMaterial"]["tlogEntries"] =
      json::array({Entry(DsseBody(), "rekor.test - " + std::string(150, 'o'))});
  cases["a checkpoint with a long origin"] = {b, "origin line is not 1 to 128"};
  b = bundle_;
  b["verificationMaterial"]["tlogEntries"] = json::array({Entry(DsseBody())});
  b["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]["hashes"][0] =
      EncodeBase64(std::string(32, 'c'));
  cases["a chosen proof hash"] = {b, "does not lead from the entry's body to its rootHash"};
  b = bundle_;
  b["verificationMaterial"]["tlogEntries"] = json::array({Entry(DsseBody())});
  b["verificationMaterial"]["tlogEntries"][0]["kindVersion"]["version"] = "0.0.2";
  cases["another kindVersion"] = {b, "kindVersion is not dsse 0.0.1"};
  // A repeated member: readers would disagree on the value.
  std::string text = bundle_.dump();
  text.insert(text.size() - 1, R"(,"mediaType":"chosen")");
  for (const auto& [name, c] : cases) {
    BundleVerdict v = Verify(c.first);
    EXPECT_FALSE(v.verified) << name;
    EXPECT_NE(v.reason.find(c.second), std::string::npos) << name << ": " << v.reason;
  }
  PayloadFetcher fetch = [&](const Digest&) -> Result<std::string> { return text; };
  auto v = VerifyBundles({BundleLayer{Sha256Of(text), static_cast<std::int64_t>(text.size()), {}}},
                         fetch, Target(), "acme/app", {key_->public_key()});
  EXPECT_FALSE(v.at(0).verified);
  EXPECT_NE(v.at(0).reason.find("repeats a member name \"mediaType\""), std::string::npos)
      << v.at(0).reason;
}

TEST_F(TrustBundleSchema, ALogEntryOfAnotherSignatureIsRefused) {
  std::map<std::string, std::pair<json, std::string>> cases;
  json body = DsseBody();
  body["spec"]["signatures"][0]["signature"] =
      EncodeBase64(Sign(ParsePrivateKey(Data("ecdsa.key"), "").value(),
                        DssePae(kInTotoPayloadType, statement_))
                       .value());
  cases["another signature"] = {body, "logs a signature the envelope does not hold"};
  body = DsseBody();
  body["spec"]["payloadHash"]["value"] = Sha256Of("another statement").hex();
  cases["another payload"] = {body, "logs another payload"};
  body = DsseBody();
  body["spec"]["signatures"][0]["verifier"] = EncodeBase64(Data("ecdsa.pub"));
  cases["another key"] = {body, "logs a verifier that did not make the envelope's signature"};
  body = DsseBody();
  body["spec"]["signatures"].push_back(body["spec"]["signatures"][0]);
  cases["a signature more"] = {body, "logs 2 signatures, but the envelope holds 1"};
  for (const auto& [name, c] : cases) {
    json b = bundle_;
    b["verificationMaterial"]["tlogEntries"] = json::array({Entry(c.first)});
    BundleVerdict v = Verify(b);
    EXPECT_FALSE(v.verified) << name;
    EXPECT_TRUE(v.key_ids.empty()) << name;
    EXPECT_NE(v.reason.find(c.second), std::string::npos) << name << ": " << v.reason;
  }
}

TEST_F(TrustBundleSchema, UncheckableMaterialVerifiesButIsReported) {
  json b = bundle_;
  b["verificationMaterial"]["timestampVerificationData"] = {
      {"rfc3161Timestamps", json::array({{{"signedTimestamp", EncodeBase64("token")}}})}};
  BundleVerdict v = Verify(b);
  EXPECT_TRUE(v.verified) << v.reason;
  EXPECT_NE(v.unverified_material.find("1 RFC 3161 timestamp"), std::string::npos)
      << v.unverified_material;

  b = bundle_;
  b["verificationMaterial"]["publicKey"]["hint"] = "chosen bytes";
  v = Verify(b);
  EXPECT_TRUE(v.verified) << v.reason;
  EXPECT_NE(v.unverified_material.find("publicKey.hint"), std::string::npos) << v.unverified_material;

  b = bundle_;
  b["dsseEnvelope"]["signatures"][0]["keyid"] = "chosen bytes";
  v = Verify(b);
  EXPECT_TRUE(v.verified) << v.reason;
  EXPECT_NE(v.unverified_material.find("keyid"), std::string::npos) << v.unverified_material;

  // A second "signature" that no trusted key made is chosen bytes too.
  b = bundle_;
  b["dsseEnvelope"]["signatures"].push_back({{"sig", EncodeBase64("chosen bytes")}, {"keyid", ""}});
  v = Verify(b);
  EXPECT_TRUE(v.verified) << v.reason;
  EXPECT_NE(v.unverified_material.find("1 envelope signature(s) that no trusted key"),
            std::string::npos)
      << v.unverified_material;
}

TEST(TrustBundleTlog, InclusionProofsOfEveryLeaf) {
  for (std::size_t size = 1; size <= 12; ++size) {
    std::vector<std::string> leaves;
    for (std::size_t i = 0; i < size; ++i) leaves.push_back("leaf " + std::to_string(i));
    const std::string root = Root(leaves, 0, size);
    for (std::size_t m = 0; m < size; ++m) {
      auto path = Path(leaves, m, 0, size);
      EXPECT_TRUE(VerifyInclusion(leaves[m], m, size, path, root)) << m << " of " << size;
      EXPECT_FALSE(VerifyInclusion("other", m, size, path, root)) << m << " of " << size;
      if (size > 1) {
        EXPECT_FALSE(VerifyInclusion(leaves[m], (m + 1) % size, size, path, root));
      }
      path.push_back(root);
      EXPECT_FALSE(VerifyInclusion(leaves[m], m, size, path, root)) << "a hash too many";
    }
  }
  EXPECT_FALSE(VerifyInclusion("x", 0, 0, {}, ""));
  EXPECT_FALSE(VerifyInclusion("x", 1, 1, {}, LeafHash("x")));
}

TEST(TrustBundleTlog, CheckpointsAreSignedNotesAndNothingElse) {
  const std::string root(32, '\x42');
  auto good = ParseCheckpoint(Checkpoint("rekor.sigstore.dev - 1193050959916656506", 7, root));
  ASSERT_TRUE(good) << good.error().message;
  EXPECT_EQ(good->origin, "rekor.sigstore.dev - 1193050959916656506");
  EXPECT_EQ(good->tree_size, 7);
  EXPECT_EQ(good->root_hash, root);
  // Rekor v1's one extension line, for a while.
  std::string stamped = Checkpoint("o", 7, root);
  stamped.insert(stamped.find("\n\n") + 1, "Timestamp: 1689177396617352539\n");
  EXPECT_TRUE(ParseCheckpoint(stamped)) << stamped;

  std::map<std::string, std::string> bad;
  bad["a long origin"] = Checkpoint(std::string(129, 'o'), 7, root);
  bad["an unprintable origin"] = Checkpoint("o\x01", 7, root);
  std::string extension = Checkpoint("o", 7, root);
  extension.insert(extension.find("\n\n") + 1, "chosen bytes\n");
  bad["an extension line"] = extension;
  bad["free text after"] = Checkpoint("o", 7, root) + "chosen bytes\n";
  bad["no final newline"] = Checkpoint("o", 7, root).substr(0, Checkpoint("o", 7, root).size() - 1);
  bad["no signature"] = "o\n7\n" + EncodeBase64(root) + "\n\n";
  bad["a short root"] = Checkpoint("o", 7, std::string(20, 'r'));
  bad["a free size"] = "o\nseven\n" + EncodeBase64(root) + "\n\n";
  for (const auto& [name, note] : bad) EXPECT_FALSE(ParseCheckpoint(note)) << name;
}

}  // namespace
}  // namespace keep
