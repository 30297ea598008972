// Keyless verification against a private sigstore made by the test
// (tests/support/keyless_fixture.h): one happy path per bundle kind, then each check
// failing alone.
#include "trust/keyless.h"

#include "core/base64.h"
#include "tests/support/keyless_fixture.h"
#include "trust/sigstore_bundle.h"

#include <gtest/gtest.h>

#include <openssl/x509.h>

#include <chrono>

namespace keep {
namespace {

using keyless_test::kIssuer;
using keyless_test::kSignedAt;
using keyless_test::kSubject;
using keyless_test::Leaf;
using keyless_test::LeafOptions;
using keyless_test::Sigstore;
using nlohmann::json;

constexpr std::int64_t kNow = kSignedAt + 3600;
const std::string kArtifact = "the artifact's bytes\n";

KeylessIdentity Release() {
  KeylessIdentity id;
  id.name = "acme-release";
  id.issuer = kIssuer;
  id.subject = kSubject;
  return id;
}

TrustedRoot RootOf(const Sigstore& s) { return ParseTrustedRoot(s.TrustedRoot().dump()).value(); }

SignedArtifact ArtifactOf(const std::string& bytes) { return {Sha256Of(bytes), bytes}; }

SignedVerdict Verify(const json& bundle, const Sigstore& s,
                     const std::vector<KeylessIdentity>& ids = {Release()},
                     const std::string& artifact = kArtifact, std::int64_t now = kNow) {
  auto material = ReadSignedMaterial(bundle.dump());
  if (!material) return SignedVerdict{false, "", material.error().message, {}, {}, {}};
  return VerifySigned(*material, ArtifactOf(artifact), {RootOf(s)}, {ids, {}}, now);
}

// The reason, expected to name `check`.
void ExpectRefused(const SignedVerdict& v, const std::string& check) {
  EXPECT_FALSE(v.verified);
  EXPECT_NE(v.reason.find(check), std::string::npos) << v.reason;
}

TEST(TrustKeyless, MessageBundleV03WithProofAndSetVerifies) {
  Sigstore s;
  Leaf leaf = s.IssueLeaf();
  SignedVerdict v = Verify(s.MessageBundle(kArtifact, leaf, {}), s);
  ASSERT_TRUE(v.verified) << v.reason;
  EXPECT_EQ(v.signer, "acme-release");
  EXPECT_EQ(v.certificate.subject, kSubject);
  EXPECT_EQ(v.certificate.issuer, kIssuer);
  EXPECT_EQ(v.signing_times, std::vector<std::int64_t>{kSignedAt});
  // The root that vouched, by the digest of its text: what the record names.
  EXPECT_EQ(v.trust_root, Sha256Of(s.TrustedRoot().dump()).str());
}

TEST(TrustKeyless, MessageBundleV01WithOnlyASetVerifies) {
  Sigstore s;
  Leaf leaf = s.IssueLeaf();
  Sigstore::EntryOptions o;
  o.proof = false;
  SignedVerdict v = Verify(
      s.MessageBundle(kArtifact, leaf, o, "application/vnd.dev.sigstore.bundle+json;version=0.1"),
      s);
  EXPECT_TRUE(v.verified) << v.reason;
}

TEST(TrustKeyless, ABundleFromV02OnNeedsAnInclusionProof) {
  Sigstore s;
  Leaf leaf = s.IssueLeaf();
  Sigstore::EntryOptions o;
  o.proof = false;
  ExpectRefused(Verify(s.MessageBundle(kArtifact, leaf, o,
                                       "application/vnd.dev.sigstore.bundle+json;version=0.2"),
                       s),
                "no inclusionProof");
}

// An inclusion proof and its checkpoint show that the log holds the body;
// they do not sign integratedTime, which the bundle could then choose.
TEST(TrustKeyless, ProofAndCheckpointWithoutSetGiveNoSigningTime) {
  Sigstore s;
  Leaf leaf = s.IssueLeaf();
  Sigstore::EntryOptions o;
  o.set = false;
  ExpectRefused(Verify(s.MessageBundle(kArtifact, leaf, o), s), "log: no signed time");
}

TEST(TrustKeyless, AnUnsignedIntegratedTimeCannotRescueAnExpiredLeaf) {
  Sigstore s;
  Leaf expired = s.IssueLeaf({.not_before = kSignedAt - 1200, .not_after = kSignedAt - 600});
  // No SET, and integratedTime moved inside the leaf's window.
  Sigstore::EntryOptions o;
  o.set = false;
  o.integrated_time = kSignedAt - 900;
  ExpectRefused(Verify(s.MessageBundle(kArtifact, expired, o), s), "log: no signed time");
}

// A bundle signed with a key depends on no certificate's validity, so a
// proof and checkpoint without a SET are enough; it reports no signing time.
TEST(TrustKeyless, AKeySignedBundleWithAProofAndNoSetVerifies) {
  Sigstore s;
  keyless_test::KeyPtr key = keyless_test::NewP256();
  const std::string sig = keyless_test::SignP256(key.get(), kArtifact);
  const std::string pem = keyless_test::SpkiPem(key.get());
  json bundle = {
      {"mediaType", "application/vnd.dev.sigstore.bundle.v0.3+json"},
      {"verificationMaterial",
       {{"publicKey", {{"hint", "k"}}},
        {"tlogEntries",
         json::array({s.Entry(Sigstore::HashedRekordBody(Sha256Of(kArtifact).hex(), sig, pem),
                              {.set = false})})}}},
      {"messageSignature", {{"signature", EncodeBase64(sig)}}}};
  auto material = ReadSignedMaterial(bundle.dump());
  ASSERT_TRUE(material) << material.error().message;
  SignedVerdict v = VerifySigned(*material, ArtifactOf(kArtifact), {RootOf(s)},
                                 {{}, {ParsePublicKey(pem).value()}}, kNow);
  EXPECT_TRUE(v.verified) << v.reason;
  EXPECT_TRUE(v.signing_times.empty());
}

// VerifyLogEntry recomputes the proof from the body it is given, whoever
// read the entry.
TEST(TrustKeyless, AProofForAnotherBodyIsRefused) {
  Sigstore s;
  auto entry = ReadLogEntry(s.Entry("body A", {.set = false}));
  ASSERT_TRUE(entry) << entry.error().message;
  ASSERT_TRUE(VerifyLogEntry(*entry, RootOf(s), kNow));
  entry->body = "body B";
  auto proof = VerifyLogEntry(*entry, RootOf(s), kNow);
  ASSERT_FALSE(proof);
  EXPECT_NE(proof.error().message.find("does not lead from the entry's body"), std::string::npos)
      << proof.error().message;
}

TEST(TrustKeyless, AV01ProofWithoutCheckpointLeavesTheSetAlone) {
  Sigstore s;
  Leaf leaf = s.IssueLeaf();
  const std::string v01 = "application/vnd.dev.sigstore.bundle+json;version=0.1";
  json bundle = s.MessageBundle(kArtifact, leaf, {}, v01);
  bundle["verificationMaterial"]["tlogEntries"][0]["inclusionProof"].erase("checkpoint");
  SignedVerdict v = Verify(bundle, s);
  EXPECT_TRUE(v.verified) << v.reason;
  // Not from v0.2 on, and never without a SET.
  json v03 = s.MessageBundle(kArtifact, leaf, {});
  v03["verificationMaterial"]["tlogEntries"][0]["inclusionProof"].erase("checkpoint");
  ExpectRefused(Verify(v03, s), "checkpoint");
  json no_set = s.MessageBundle(kArtifact, leaf, {.set = false}, v01);
  no_set["verificationMaterial"]["tlogEntries"][0]["inclusionProof"].erase("checkpoint");
  EXPECT_FALSE(Verify(no_set, s).verified);
}

TEST(TrustKeyless, DsseBundleVerifies) {
  Sigstore s;
  Leaf leaf = s.IssueLeaf();
  SignedVerdict v = Verify(s.DsseBundle(Sha256Of(kArtifact).hex(), leaf, {}), s);
  EXPECT_TRUE(v.verified) << v.reason;
}

// A DSSE bundle by `leaf` whose envelope holds `envelope` and whose log
// entry logs `logged`, each signature under the leaf's certificate.
json DsseWith(const Sigstore& s, const Leaf& leaf, const std::vector<std::string>& envelope,
              const std::vector<std::string>& logged) {
  json bundle = s.DsseBundle(Sha256Of(kArtifact).hex(), leaf, {});
  const std::string pem = keyless_test::CertPem(leaf.cert.get());
  const std::string statement =
      DecodeBase64(bundle["dsseEnvelope"]["payload"].get<std::string>()).value();
  json body = json::parse(Sigstore::DsseBody(statement, "x", pem));
  body["spec"]["signatures"] = json::array();
  for (const std::string& sig : logged) {
    body["spec"]["signatures"].push_back(
        {{"signature", EncodeBase64(sig)}, {"verifier", EncodeBase64(pem)}});
  }
  bundle["dsseEnvelope"]["signatures"] = json::array();
  for (const std::string& sig : envelope) {
    bundle["dsseEnvelope"]["signatures"].push_back({{"sig", EncodeBase64(sig)}, {"keyid", ""}});
  }
  bundle["verificationMaterial"]["tlogEntries"] =
      json::array({s.Entry(body.dump(), {.kind = "dsse"})});
  return bundle;
}

std::string DssePaeOf(const json& bundle) {
  return DssePae(bundle["dsseEnvelope"]["payloadType"].get<std::string>(),
                 DecodeBase64(bundle["dsseEnvelope"]["payload"].get<std::string>()).value());
}

TEST(TrustKeyless, DsseSignaturesAreBoundOneToOne) {
  Sigstore s;
  Leaf leaf = s.IssueLeaf();
  const std::string pae = DssePaeOf(s.DsseBundle(Sha256Of(kArtifact).hex(), leaf, {}));
  // Two valid signatures by the leaf (ECDSA differs each time).
  const std::string s1 = keyless_test::SignP256(leaf.key.get(), pae);
  const std::string s2 = keyless_test::SignP256(leaf.key.get(), pae);
  EXPECT_TRUE(Verify(DsseWith(s, leaf, {s1, s2}, {s2, s1}), s).verified);
  // The log holds s2 twice; the envelope's s1 is logged nowhere.
  ExpectRefused(Verify(DsseWith(s, leaf, {s1, s2}, {s2, s2}), s),
                "binding: the log entry logs a signature the envelope does not hold");
}

TEST(TrustKeyless, EveryEnvelopeSignatureMustVerify) {
  Sigstore s;
  Leaf leaf = s.IssueLeaf();
  keyless_test::KeyPtr other = keyless_test::NewP256();
  const std::string pae = DssePaeOf(s.DsseBundle(Sha256Of(kArtifact).hex(), leaf, {}));
  const std::string good = keyless_test::SignP256(leaf.key.get(), pae);
  const std::string stranger = keyless_test::SignP256(other.get(), pae);
  ExpectRefused(Verify(DsseWith(s, leaf, {good, stranger}, {good, stranger}), s),
                "content: an envelope signature does not verify with the signer's key");
}

TEST(TrustKeyless, DsseStatementForAnotherArtifactIsRefused) {
  Sigstore s;
  Leaf leaf = s.IssueLeaf();
  ExpectRefused(Verify(s.DsseBundle(Sha256Of("other").hex(), leaf, {}), s),
                "content: the in-toto statement does not name the artifact");
}

TEST(TrustKeyless, CosignAnnotationsVerify) {
  Sigstore s;
  Leaf leaf = s.IssueLeaf();
  const std::string payload = "{\"critical\":{}}";
  const std::string sig = keyless_test::SignP256(leaf.key.get(), payload);
  const std::string body = Sigstore::HashedRekordBody(Sha256Of(payload).hex(), sig,
                                                      keyless_test::CertPem(leaf.cert.get()));
  json entry = s.Entry(body, {.proof = false});
  json annotation = {
      {"SignedEntryTimestamp", entry["inclusionPromise"]["signedEntryTimestamp"]},
      {"Payload",
       {{"body", EncodeBase64(body)},
        {"integratedTime", kSignedAt},
        {"logIndex", 1005},
        {"logID",
         keyless_test::Hex(keyless_test::Sha256Raw(keyless_test::SpkiDer(s.rekor_key())))}}}};
  auto rekor = ReadRekorSet(annotation.dump());
  ASSERT_TRUE(rekor) << rekor.error().message;
  auto material =
      CosignKeylessMaterial(payload, sig, keyless_test::CertPem(leaf.cert.get()), "", &*rekor);
  ASSERT_TRUE(material) << material.error().message;
  SignedVerdict v =
      VerifySigned(*material, ArtifactOf(payload), {RootOf(s)}, {{Release()}, {}}, kNow);
  EXPECT_TRUE(v.verified) << v.reason;

  // The same annotation beside another payload: the entry is for something else.
  const std::string other = "{\"critical\":{\"x\":1}}";
  auto forged = CosignKeylessMaterial(other, keyless_test::SignP256(leaf.key.get(), other),
                                      keyless_test::CertPem(leaf.cert.get()), "", &*rekor);
  ASSERT_TRUE(forged);
  ExpectRefused(VerifySigned(*forged, ArtifactOf(other), {RootOf(s)}, {{Release()}, {}}, kNow),
                "binding");
}

TEST(TrustKeyless, ABundleSignedWithAKeyVerifiesOnlyWithThatKey) {
  Sigstore s;
  keyless_test::KeyPtr key = keyless_test::NewP256();
  const std::string sig = keyless_test::SignP256(key.get(), kArtifact);
  const std::string pem = keyless_test::SpkiPem(key.get());
  json bundle = {{"mediaType", "application/vnd.dev.sigstore.bundle.v0.3+json"},
                 {"verificationMaterial",
                  {{"publicKey", {{"hint", "k"}}},
                   {"tlogEntries",
                    json::array({s.Entry(
                        Sigstore::HashedRekordBody(Sha256Of(kArtifact).hex(), sig, pem), {})})}}},
                 {"messageSignature", {{"signature", EncodeBase64(sig)}}}};
  auto material = ReadSignedMaterial(bundle.dump());
  ASSERT_TRUE(material) << material.error().message;
  auto trusted = ParsePublicKey(pem).value();
  SignedVerdict v =
      VerifySigned(*material, ArtifactOf(kArtifact), {RootOf(s)}, {{}, {trusted}}, kNow);
  EXPECT_TRUE(v.verified) << v.reason;
  EXPECT_EQ(v.signer, trusted.key_id());
  ExpectRefused(
      VerifySigned(*material, ArtifactOf(kArtifact), {RootOf(s)}, {{Release()}, {}}, kNow),
      "no key is trusted");
}

TEST(TrustKeyless, SigningTimeOutsideTheCertificateIsRefused) {
  Sigstore s;
  Leaf expired = s.IssueLeaf({.not_before = kSignedAt - 1200, .not_after = kSignedAt - 600});
  ExpectRefused(Verify(s.MessageBundle(kArtifact, expired, {}), s),
                "certificate: the signing time");
  Leaf early = s.IssueLeaf({.not_before = kSignedAt + 10, .not_after = kSignedAt + 600});
  ExpectRefused(Verify(s.MessageBundle(kArtifact, early, {}), s),
                "outside the certificate's validity");
}

TEST(TrustKeyless, WrongIssuerIsRefused) {
  Sigstore s;
  Leaf leaf = s.IssueLeaf({.issuer = "https://accounts.google.com"});
  ExpectRefused(Verify(s.MessageBundle(kArtifact, leaf, {}), s),
                "identity: the certificate's issuer");
}

TEST(TrustKeyless, LegacyIssuerExtensionIsRead) {
  Sigstore s;
  Leaf leaf = s.IssueLeaf({.legacy_issuer = true});
  EXPECT_TRUE(Verify(s.MessageBundle(kArtifact, leaf, {}), s).verified);
}

TEST(TrustKeyless, SubjectMustMatchExactlyOrByAWholeMatch) {
  Sigstore s;
  Leaf leaf = s.IssueLeaf(
      {.subject_uri = "https://github.com/evil/app/.github/workflows/x.yml@refs/heads/main"});
  json bundle = s.MessageBundle(kArtifact, leaf, {});
  ExpectRefused(Verify(bundle, s), "identity: the certificate's subject");

  KeylessIdentity regex = Release();
  regex.subject.clear();
  regex.subject_regex = "https://github\\.com/acme/.*";
  // The subject and the expression are shown whole, backslashes escaped.
  ExpectRefused(Verify(bundle, s, {regex}),
                "identity: the certificate's subject "
                "\"https://github.com/evil/app/.github/workflows/x.yml@refs/heads/main\" does not "
                "match the expression https://github\\\\.com/acme/.*");
  regex.subject_regex = "https://github\\.com/(acme|evil)/app/.*";
  EXPECT_TRUE(Verify(bundle, s, {regex}).verified);
  // Anchored at both ends: a pattern matching only a part does not match.
  regex.subject_regex = "evil";
  EXPECT_FALSE(Verify(bundle, s, {regex}).verified);
}

TEST(TrustKeyless, RequiredExtensionsMustHaveTheirValue) {
  Sigstore s;
  Leaf leaf = s.IssueLeaf();
  json bundle = s.MessageBundle(kArtifact, leaf, {});
  KeylessIdentity id = Release();
  id.extensions = {{"source-repository-uri", "https://github.com/acme/app"},
                   {"1.3.6.1.4.1.57264.1.14", "refs/tags/v1.2.0"}};
  EXPECT_TRUE(Verify(bundle, s, {id}).verified);
  id.extensions["source-repository-ref"] = "refs/heads/main";
  ExpectRefused(Verify(bundle, s, {id}), "extension source-repository-ref");
  id.extensions = {{"build-config-uri", "x"}};
  ExpectRefused(Verify(bundle, s, {id}), "missing");
}

TEST(TrustKeyless, TheFirstMatchingIdentityIsNamed) {
  Sigstore s;
  Leaf leaf = s.IssueLeaf();
  KeylessIdentity other = Release();
  other.name = "other";
  other.issuer = "https://accounts.google.com";
  SignedVerdict v = Verify(s.MessageBundle(kArtifact, leaf, {}), s, {other, Release()});
  EXPECT_TRUE(v.verified) << v.reason;
  EXPECT_EQ(v.signer, "acme-release");
}

TEST(TrustKeyless, EntryForAnotherArtifactIsRefused) {
  Sigstore s;
  Leaf leaf = s.IssueLeaf();
  // A valid bundle for another artifact, its signature replaced by one over
  // this artifact: the log entry still logs the other one.
  json bundle = s.MessageBundle("another artifact", leaf, {});
  const std::string sig = keyless_test::SignP256(leaf.key.get(), kArtifact);
  bundle["messageSignature"]["signature"] = EncodeBase64(sig);
  bundle["messageSignature"].erase("messageDigest");
  ExpectRefused(Verify(bundle, s), "binding: the log entry is for another artifact");
}

TEST(TrustKeyless, EntryForAnotherCertificateIsRefused) {
  Sigstore s;
  Leaf leaf = s.IssueLeaf();
  Leaf other = s.IssueLeaf();
  json bundle = s.MessageBundle(kArtifact, leaf, {});
  const std::string sig = keyless_test::SignP256(leaf.key.get(), kArtifact);
  const std::string body = Sigstore::HashedRekordBody(Sha256Of(kArtifact).hex(), sig,
                                                      keyless_test::CertPem(other.cert.get()));
  bundle["messageSignature"]["signature"] = EncodeBase64(sig);
  bundle["verificationMaterial"]["tlogEntries"] = json::array({s.Entry(body, {})});
  ExpectRefused(Verify(bundle, s), "binding: the log entry logs another certificate");
}

TEST(TrustKeyless, CorruptedProofIsRefused) {
  Sigstore s;
  Leaf leaf = s.IssueLeaf();
  json bundle = s.MessageBundle(kArtifact, leaf, {});
  std::string hash =
      DecodeBase64(bundle["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]["hashes"][1]
                       .get<std::string>())
          .value();
  hash[0] = static_cast<char>(hash[0] ^ 1);
  bundle["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]["hashes"][1] =
      EncodeBase64(hash);
  ExpectRefused(Verify(bundle, s), "does not lead from the entry's body to its rootHash");
}

TEST(TrustKeyless, ForgedCheckpointIsRefused) {
  Sigstore s;
  Leaf leaf = s.IssueLeaf();
  keyless_test::KeyPtr forger = keyless_test::NewP256();
  Sigstore::EntryOptions o;
  o.set = false;
  o.checkpoint_key = forger.get();  // the log's key hint, another key's signature
  ExpectRefused(Verify(s.MessageBundle(kArtifact, leaf, o), s), "a forged checkpoint");
}

TEST(TrustKeyless, SetByAnotherKeyIsRefused) {
  Sigstore s;
  Leaf leaf = s.IssueLeaf();
  keyless_test::KeyPtr forger = keyless_test::NewP256();
  const std::string v01 = "application/vnd.dev.sigstore.bundle+json;version=0.1";
  json bundle = s.MessageBundle(kArtifact, leaf, {.proof = false}, v01);
  json forged = s.MessageBundle(kArtifact, leaf, {.proof = false, .log_key = forger.get()}, v01);
  // The forger's SET under the real log's id.
  bundle["verificationMaterial"]["tlogEntries"][0]["inclusionPromise"] =
      forged["verificationMaterial"]["tlogEntries"][0]["inclusionPromise"];
  bundle["messageSignature"] = forged["messageSignature"];
  bundle["verificationMaterial"]["tlogEntries"][0]["canonicalizedBody"] =
      forged["verificationMaterial"]["tlogEntries"][0]["canonicalizedBody"];
  ExpectRefused(Verify(bundle, s), "signed entry timestamp does not verify");
}

TEST(TrustKeyless, EntryOfAnUnknownLogIsRefused) {
  Sigstore s;
  Leaf leaf = s.IssueLeaf();
  keyless_test::KeyPtr other = keyless_test::NewP256();
  ExpectRefused(Verify(s.MessageBundle(kArtifact, leaf, {.log_key = other.get()}), s),
                "from no transparency log of the trusted root");
}

TEST(TrustKeyless, SctFromAnUnknownLogIsRefused) {
  Sigstore s;
  keyless_test::KeyPtr other = keyless_test::NewP256();
  Leaf leaf = s.IssueLeaf({.sct_key = other.get()});
  ExpectRefused(Verify(s.MessageBundle(kArtifact, leaf, {}), s),
                "sct: the certificate's SCTs are from no CT log");
  Leaf bare = s.IssueLeaf({.sct = false});
  ExpectRefused(Verify(s.MessageBundle(kArtifact, bare, {}), s), "has no embedded SCT");
}

TEST(TrustKeyless, ATrustRootWithoutCtLogsIsRefused) {
  Sigstore s;
  Leaf leaf = s.IssueLeaf();
  json root = s.TrustedRoot();
  root["ctlogs"] = json::array();
  auto material = ReadSignedMaterial(s.MessageBundle(kArtifact, leaf, {}).dump());
  ASSERT_TRUE(material) << material.error().message;
  ExpectRefused(VerifySigned(*material, ArtifactOf(kArtifact),
                             {ParseTrustedRoot(root.dump()).value()}, {{Release()}, {}}, kNow),
                "sct: the trust root names no CT log to check the certificate's SCT");
}

TEST(TrustKeyless, ATamperedSctIsRefused) {
  Sigstore s;
  Leaf leaf = s.IssueLeaf();
  // Another issuance of the same leaf data: the SCT signed another TBS.
  Leaf second = s.IssueLeaf();
  X509_EXTENSION* sct = X509_get_ext(
      second.cert.get(), X509_get_ext_by_NID(second.cert.get(), NID_ct_precert_scts, -1));
  int at = X509_get_ext_by_NID(leaf.cert.get(), NID_ct_precert_scts, -1);
  X509_EXTENSION_free(X509_delete_ext(leaf.cert.get(), at));
  ASSERT_EQ(X509_add_ext(leaf.cert.get(), sct, -1), 1);
  // Re-sign by the CA is not possible here; the chain check would fail
  // first. So check the SCT alone.
  auto root = RootOf(s);
  auto chain = VerifyCertificateChain(second.cert.get(), root, kSignedAt);
  ASSERT_TRUE(chain) << chain.error().message;
  auto checked = VerifyEmbeddedSct(leaf.cert.get(), chain->issuer.get(), root);
  ASSERT_FALSE(checked);
  EXPECT_NE(checked.error().message.find("does not verify"), std::string::npos);
  EXPECT_TRUE(VerifyEmbeddedSct(second.cert.get(), chain->issuer.get(), root));
}

TEST(TrustKeyless, UntrustedCaIsRefused) {
  Sigstore s;
  Leaf leaf = s.IssueUntrustedLeaf();
  ExpectRefused(Verify(s.MessageBundle(kArtifact, leaf, {}), s),
                "certificate: the certificate does not chain");
}

// A bundle's chain is the leaf and at most intermediates (as a v0.1 or v0.2
// bundle's x509CertificateChain carries them).
json WithChain(json bundle, const std::vector<std::string>& more) {
  json& material = bundle["verificationMaterial"];
  json& certs = material["x509CertificateChain"]["certificates"];
  for (const std::string& der : more) certs.push_back({{"rawBytes", EncodeBase64(der)}});
  return bundle;
}

TEST(TrustKeyless, ABundleChainHoldingARootIsRefused) {
  Sigstore s;
  Leaf leaf = s.IssueLeaf();
  const std::string v02 = "application/vnd.dev.sigstore.bundle+json;version=0.2";
  json bundle = s.MessageBundle(kArtifact, leaf, {}, v02);
  const std::vector<std::string> chain = RootOf(s).certificate_authorities.at(0).chain_der;
  EXPECT_TRUE(Verify(WithChain(bundle, {chain.at(0)}), s).verified);
  const std::string want = "certificate: the bundle's chain holds a root certificate";
  ExpectRefused(Verify(WithChain(bundle, {chain.at(0), chain.at(1)}), s), want);
  ExpectRefused(Verify(WithChain(bundle, {s.OtherRootDer()}), s), want);
}

TEST(TrustKeyless, CaOutsideItsValidityWindowIsRefused) {
  Sigstore s;
  s.ca_end = kSignedAt - 1;
  Leaf leaf = s.IssueLeaf();
  ExpectRefused(Verify(s.MessageBundle(kArtifact, leaf, {}), s),
                "no certificate authority of the trusted root is valid at the signing time");
}

TEST(TrustKeyless, CertificateWithoutCodeSigningIsRefused) {
  Sigstore s;
  Leaf leaf = s.IssueLeaf({.code_signing = false});
  ExpectRefused(Verify(s.MessageBundle(kArtifact, leaf, {}), s), "code signing");
}

TEST(TrustKeyless, ALeafThatIsACaIsRefused) {
  Sigstore s;
  Leaf leaf = s.IssueLeaf({.key_usage = "critical,digitalSignature,keyCertSign", .ca = true});
  ExpectRefused(Verify(s.MessageBundle(kArtifact, leaf, {}), s),
                "certificate: the signing certificate is a certificate authority");
  // basicConstraints CA:TRUE alone, its key usage without keyCertSign (which
  // OpenSSL's X509_check_ca does not count as a CA): refused as well.
  Leaf ca_only = s.IssueLeaf({.ca = true});
  ExpectRefused(Verify(s.MessageBundle(kArtifact, ca_only, {}), s),
                "certificate: the signing certificate is a certificate authority");
}

TEST(TrustKeyless, ALeafWithoutDigitalSignatureIsRefused) {
  Sigstore s;
  Leaf leaf = s.IssueLeaf({.key_usage = "critical,keyEncipherment"});
  ExpectRefused(Verify(s.MessageBundle(kArtifact, leaf, {}), s), "digitalSignature");
}

TEST(TrustKeyless, IntegratedTimeInTheFutureIsRefused) {
  Sigstore s;
  Leaf leaf = s.IssueLeaf();
  json bundle = s.MessageBundle(kArtifact, leaf, {});
  ExpectRefused(Verify(bundle, s, {Release()}, kArtifact, kSignedAt - 3600), "in the future");
}

TEST(TrustKeyless, BadSignatureIsRefused) {
  Sigstore s;
  Leaf leaf = s.IssueLeaf();
  ExpectRefused(Verify(s.MessageBundle(kArtifact, leaf, {}), s, {Release()}, "other bytes"),
                "content:");
}

TEST(TrustKeyless, ABundleWithoutLogEntryIsRefused) {
  Sigstore s;
  Leaf leaf = s.IssueLeaf();
  json bundle = s.MessageBundle(kArtifact, leaf, {});
  bundle["verificationMaterial"].erase("tlogEntries");
  ExpectRefused(Verify(bundle, s),
                "log: a certificate-signed bundle with no transparency-log entry");
}

TEST(TrustKeylessRoot, ReadsItsOwnRoot) {
  Sigstore s;
  TrustedRoot root = RootOf(s);
  ASSERT_EQ(root.tlogs.size(), 1u);
  ASSERT_EQ(root.ctlogs.size(), 1u);
  ASSERT_EQ(root.certificate_authorities.size(), 1u);
  EXPECT_EQ(root.certificate_authorities[0].chain_der.size(), 2u);
  EXPECT_EQ(root.tlogs[0].log_id.size(), 32u);
  EXPECT_EQ(root.tlogs[0].valid_for.start, kSignedAt - 86400);
  EXPECT_FALSE(root.tlogs[0].valid_for.end);
}

TEST(TrustKeylessRoot, RefusesWhatItDoesNotKnowNamingTheMember) {
  Sigstore s;
  std::vector<std::pair<json, std::string>> cases;
  json r = s.TrustedRoot();
  r["extra"] = 1;
  cases.emplace_back(r, "the top level has an unexpected member \"extra\"");
  r = s.TrustedRoot();
  r["mediaType"] = "application/json";
  cases.emplace_back(r, "mediaType");
  r = s.TrustedRoot();
  r["tlogs"][0]["publicKey"]["rawBytes"] = EncodeBase64("not a key");
  cases.emplace_back(r, "tlogs[0].publicKey.rawBytes");
  r = s.TrustedRoot();
  r["tlogs"][0]["publicKey"]["keyDetails"] = "PKIX_ED25519";
  cases.emplace_back(r, "tlogs[0].publicKey.keyDetails");
  r = s.TrustedRoot();
  r["ctlogs"][0]["publicKey"]["validFor"]["start"] = "yesterday";
  cases.emplace_back(r, "ctlogs[0].publicKey.validFor.start");
  r = s.TrustedRoot();
  r["certificateAuthorities"][0]["certChain"]["certificates"][1]["rawBytes"] = EncodeBase64("x");
  cases.emplace_back(r, "certificateAuthorities[0].certChain.certificates[1].rawBytes");
  r = s.TrustedRoot();
  r["certificateAuthorities"][0]["validFor"]["end"] = "2000-01-01T00:00:00Z";
  cases.emplace_back(r, "ends before it starts");
  for (const auto& [root, want] : cases) {
    auto parsed = ParseTrustedRoot(root.dump());
    ASSERT_FALSE(parsed) << want;
    EXPECT_NE(parsed.error().message.find(want), std::string::npos) << parsed.error().message;
  }
}

TEST(TrustKeylessRoot, NullMeansAbsentAndTimesAreClosedIntervals) {
  Sigstore s;
  json r = s.TrustedRoot();
  r["tlogs"][0]["operator"] = nullptr;
  r["tlogs"][0]["publicKey"]["validFor"]["end"] = "2023-11-14T22:13:20.999Z";
  auto root = ParseTrustedRoot(r.dump());
  ASSERT_TRUE(root) << root.error().message;
  EXPECT_TRUE(root->tlogs[0].valid_for.Contains(kSignedAt));
  EXPECT_FALSE(root->tlogs[0].valid_for.Contains(kSignedAt + 1));
  EXPECT_EQ(Rfc3339Seconds("2023-11-14T23:13:20+01:00"), kSignedAt);
  EXPECT_EQ(Rfc3339Seconds("1970-01-01T00:00:00Z"), 0);
  EXPECT_FALSE(Rfc3339Seconds("2023-13-01T00:00:00Z"));
}

TEST(TrustKeylessIdentity, ChecksItsShape) {
  KeylessIdentity id = Release();
  EXPECT_TRUE(CheckIdentity(id));
  id.subject_regex = ".*";
  EXPECT_FALSE(CheckIdentity(id));  // both
  id.subject.clear();
  id.subject_regex = "(";
  EXPECT_FALSE(CheckIdentity(id));
  id = Release();
  id.extensions["not-an-extension"] = "x";
  EXPECT_FALSE(CheckIdentity(id));
  id = Release();
  id.issuer.clear();
  EXPECT_FALSE(CheckIdentity(id));
}

TEST(TrustKeylessIdentity, AVeryLongSubjectIsRefusedQuickly) {
  KeylessIdentity id = Release();
  id.subject.clear();
  id.subject_regex = "https://github\\.com/a*";
  ASSERT_TRUE(CheckIdentity(id));
  CertificateIdentity cert{kIssuer, "https://github.com/aaa", {}};
  EXPECT_TRUE(MatchIdentity(id, cert));
  cert.subject = "https://github.com/" + std::string(16 << 10, 'a');
  const auto start = std::chrono::steady_clock::now();
  auto match = MatchIdentity(id, cert);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(100));
  ASSERT_FALSE(match);
  EXPECT_NE(match.error().message.find("identity: the certificate's subject is longer than"),
            std::string::npos)
      << match.error().message;
}

}  // namespace
}  // namespace keep
