// Rekor v2 entries (hashedrekord and dsse 0.0.2: an inclusion proof and
// checkpoint, no integrated time, no SET) timed by RFC 3161 timestamps,
// against the private sigstore (tests/support/keyless_fixture.h).
#include "core/base64.h"
#include "core/clock.h"
#include "tests/support/keyless_fixture.h"
#include "trust/keyless.h"
#include "trust/tlog.h"

#include <gtest/gtest.h>

namespace keep {
namespace {

using keyless_test::CertDer;
using keyless_test::kIssuer;
using keyless_test::kSignedAt;
using keyless_test::kSubject;
using keyless_test::Leaf;
using keyless_test::Sha256Raw;
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

SignedVerdict Verify(const json& bundle, const Sigstore& s) {
  auto material = ReadSignedMaterial(bundle.dump());
  if (!material) return SignedVerdict{false, "", material.error().message, {}, {}, {}};
  TrustedRoot root = ParseTrustedRoot(s.TrustedRoot().dump()).value();
  return VerifySigned(*material, {Sha256Of(kArtifact), kArtifact}, {root}, {{Release()}, {}}, kNow);
}

void ExpectRefused(const SignedVerdict& v, const std::string& check) {
  EXPECT_FALSE(v.verified);
  EXPECT_NE(v.reason.find(check), std::string::npos) << v.reason;
}

Sigstore::EntryOptions V2() {
  Sigstore::EntryOptions o;
  o.rekor_v2 = true;
  return o;
}

json& EntryOf(json& bundle) { return bundle["verificationMaterial"]["tlogEntries"][0]; }

TEST(TrustRekorV2, AHashedRekordEntryWithATimestampVerifies) {
  Sigstore s;
  json bundle = s.MessageBundle(kArtifact, s.IssueLeaf(), V2());
  EXPECT_FALSE(EntryOf(bundle).contains("integratedTime"));
  EXPECT_FALSE(EntryOf(bundle).contains("inclusionPromise"));
  s.AddTimestamp(bundle);
  SignedVerdict v = Verify(bundle, s);
  ASSERT_TRUE(v.verified) << v.reason;
  EXPECT_EQ(v.signer, "acme-release");
  EXPECT_EQ(v.signing_times, std::vector<std::int64_t>{kSignedAt});
}

TEST(TrustRekorV2, ADsseEnvelopeVerifiesAsADsseOrAHashedRekordEntry) {
  Sigstore s;
  json bundle = s.DsseBundle(Sha256Of(kArtifact).hex(), s.IssueLeaf(), V2());
  EXPECT_EQ(EntryOf(bundle)["kindVersion"]["kind"], "dsse");
  s.AddTimestamp(bundle);
  SignedVerdict v = Verify(bundle, s);
  EXPECT_TRUE(v.verified) << v.reason;

  Sigstore::EntryOptions o = V2();
  o.dsse_as_hashedrekord = true;
  bundle = s.DsseBundle(Sha256Of(kArtifact).hex(), s.IssueLeaf(), o);
  EXPECT_EQ(EntryOf(bundle)["kindVersion"]["kind"], "hashedrekord");
  s.AddTimestamp(bundle);
  v = Verify(bundle, s);
  EXPECT_TRUE(v.verified) << v.reason;
}

TEST(TrustRekorV2, WithoutATimestampItIsRefused) {
  Sigstore s;
  ExpectRefused(Verify(s.MessageBundle(kArtifact, s.IssueLeaf(), V2()), s), "log: no signed time");
  ExpectRefused(Verify(s.DsseBundle(Sha256Of(kArtifact).hex(), s.IssueLeaf(), V2()), s),
                "log: no signed time");
}

TEST(TrustRekorV2, AnEntryForAnotherArtifactIsRefused) {
  Sigstore s;
  Leaf leaf = s.IssueLeaf();
  json bundle = s.MessageBundle(kArtifact, leaf, V2());
  const std::string sig = Sigstore::SignatureOf(bundle);
  const std::string body =
      Sigstore::HashedRekordV2Body(Sha256Raw("another artifact"), sig, CertDer(leaf.cert.get()));
  bundle["verificationMaterial"]["tlogEntries"] = json::array({s.Entry(body, V2())});
  s.AddTimestamp(bundle);
  ExpectRefused(Verify(bundle, s), "binding: the log entry is for another artifact");
  // Another signature under the same certificate.
  json other = s.MessageBundle(kArtifact, leaf, V2());
  EntryOf(bundle) = EntryOf(other);
  ExpectRefused(Verify(bundle, s), "binding: the log entry logs another signature");
  // A DSSE envelope logged as a hashedrekord of another envelope.
  Sigstore::EntryOptions o = V2();
  o.dsse_as_hashedrekord = true;
  json envelope = s.DsseBundle(Sha256Of(kArtifact).hex(), leaf, o);
  json another = s.DsseBundle(Sha256Of("another").hex(), leaf, o);
  EntryOf(envelope) = EntryOf(another);
  s.AddTimestamp(envelope);
  ExpectRefused(Verify(envelope, s), "binding: the log entry is for another envelope");
}

TEST(TrustRekorV2, ACorruptedProofOrCheckpointIsRefused) {
  Sigstore s;
  json bundle = s.MessageBundle(kArtifact, s.IssueLeaf(), V2());
  s.AddTimestamp(bundle);
  json corrupted = bundle;
  EntryOf(corrupted)["inclusionProof"]["hashes"][0] = EncodeBase64(Sha256Raw("not a node"));
  ExpectRefused(Verify(corrupted, s), "does not lead from the entry's body to its rootHash");
  // A checkpoint by another key.
  keyless_test::KeyPtr stranger = keyless_test::NewP256();
  Sigstore::EntryOptions o = V2();
  o.checkpoint_key = stranger.get();
  corrupted = s.MessageBundle(kArtifact, s.IssueLeaf(), o);
  s.AddTimestamp(corrupted);
  ExpectRefused(Verify(corrupted, s), "log: the log entry's inclusion proof: the checkpoint");
  // No proof at all: a v0.3 bundle needs one, and a Rekor v2 entry has no other.
  corrupted = bundle;
  EntryOf(corrupted).erase("inclusionProof");
  ExpectRefused(Verify(corrupted, s), "no inclusionProof");
}

TEST(TrustRekorV2, AnEntryOfALogOutsideTheTrustRootIsRefused) {
  Sigstore s;
  keyless_test::KeyPtr stranger = keyless_test::NewP256();
  Sigstore::EntryOptions o = V2();
  o.log_key = stranger.get();
  json bundle = s.MessageBundle(kArtifact, s.IssueLeaf(), o);
  s.AddTimestamp(bundle);
  ExpectRefused(Verify(bundle, s), "log: the log entry is from no transparency log");
}

TEST(TrustRekorV2, ItsLogMustBeValidAtTheTimestampsTime) {
  Sigstore s;
  json bundle = s.MessageBundle(kArtifact, s.IssueLeaf(), V2());
  s.AddTimestamp(bundle);
  json trusted = s.TrustedRoot();
  trusted["tlogs"][0]["publicKey"]["validFor"]["end"] = Rfc3339Utc(kSignedAt - 1);
  TrustedRoot root = ParseTrustedRoot(trusted.dump()).value();
  auto material = ReadSignedMaterial(bundle.dump()).value();
  SignedVerdict v =
      VerifySigned(material, {Sha256Of(kArtifact), kArtifact}, {root}, {{Release()}, {}}, kNow);
  ExpectRefused(v, "log: the Rekor v2 entry's log is not valid at the signing time");
  trusted["tlogs"][0]["publicKey"]["validFor"]["end"] = Rfc3339Utc(kSignedAt);
  root = ParseTrustedRoot(trusted.dump()).value();
  v = VerifySigned(material, {Sha256Of(kArtifact), kArtifact}, {root}, {{Release()}, {}}, kNow);
  EXPECT_TRUE(v.verified) << v.reason;
}

TEST(TrustRekorV2, ATimeOrASetOfItsOwnIsRefused) {
  Sigstore s;
  json bundle = s.MessageBundle(kArtifact, s.IssueLeaf(), V2());
  s.AddTimestamp(bundle);
  json timed = bundle;
  EntryOf(timed)["integratedTime"] = std::to_string(kSignedAt);
  ExpectRefused(Verify(timed, s), "log: the Rekor v2 entry has an integratedTime");
  // protobuf's JSON may write the absent time as 0.
  timed = bundle;
  EntryOf(timed)["integratedTime"] = "0";
  EXPECT_TRUE(Verify(timed, s).verified) << Verify(timed, s).reason;
  json promised = bundle;
  EntryOf(promised)["inclusionPromise"] = {{"signedEntryTimestamp", EncodeBase64("set")}};
  ExpectRefused(Verify(promised, s), "log: the Rekor v2 entry has a signed entry timestamp");
}

TEST(TrustRekorV2, TheBodiesAreReadAgainstTheirClosedSchemas) {
  LogEntry entry;
  entry.kind = "hashedrekord";
  entry.version = "0.0.2";
  EXPECT_TRUE(IsRekorV2(entry));
  json body = json::parse(Sigstore::HashedRekordV2Body(Sha256Raw("a"), "sig", "cert"));
  entry.body = body.dump();
  auto read = ReadLoggedContent(entry);
  ASSERT_TRUE(read) << read.error().message;
  EXPECT_EQ(read->sha256, Sha256Of("a").hex());
  EXPECT_EQ(read->signatures.at(0).sig, "sig");
  EXPECT_NE(read->signatures.at(0).verifier_pem.find("BEGIN CERTIFICATE"), std::string::npos);

  json extra = body;
  extra["spec"]["hashedRekordV002"]["note"] = "chosen";
  entry.body = extra.dump();
  EXPECT_FALSE(ReadLoggedContent(entry));
  json sha384 = body;
  sha384["spec"]["hashedRekordV002"]["data"]["algorithm"] = "SHA2_384";
  entry.body = sha384.dump();
  EXPECT_FALSE(ReadLoggedContent(entry));
  json both = body;
  both["spec"]["hashedRekordV002"]["signature"]["verifier"]["publicKey"] = {
      {"rawBytes", EncodeBase64("key")}};
  entry.body = both.dump();
  EXPECT_FALSE(ReadLoggedContent(entry));

  entry.kind = "dsse";
  entry.body = Sigstore::DsseV2Body("payload", "sig", "cert");
  read = ReadLoggedContent(entry);
  ASSERT_TRUE(read) << read.error().message;
  EXPECT_EQ(read->sha256, Sha256Of("payload").hex());
  entry.kind = "intoto";
  EXPECT_FALSE(IsRekorV2(entry));
}

}  // namespace
}  // namespace keep
