// RFC 3161 timestamps as signing times (trust/timestamp.h, through
// VerifySigned), against the private sigstore's timestamp authority
// (tests/support/keyless_fixture.h): one happy path per form, then each
// check failing alone.
#include "trust/timestamp.h"

#include "tests/support/keyless_fixture.h"
#include "trust/keyless.h"

#include <gtest/gtest.h>

namespace keep {
namespace {

using keyless_test::kIssuer;
using keyless_test::kSignedAt;
using keyless_test::kSubject;
using keyless_test::Leaf;
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

SignedVerdict Verify(const json& bundle, const Sigstore& s, std::int64_t now = kNow) {
  auto material = ReadSignedMaterial(bundle.dump());
  if (!material) return SignedVerdict{false, "", material.error().message, {}, {}, {}};
  return VerifySigned(*material, {Sha256Of(kArtifact), kArtifact}, {RootOf(s)}, {{Release()}, {}},
                      now);
}

void ExpectRefused(const SignedVerdict& v, const std::string& check) {
  EXPECT_FALSE(v.verified);
  EXPECT_NE(v.reason.find(check), std::string::npos) << v.reason;
}

// A message bundle whose log entry has a proof and checkpoint but no SET:
// only a timestamp can say when it was signed.
json Untimed(const Sigstore& s, const Leaf& leaf) {
  Sigstore::EntryOptions o;
  o.set = false;
  return s.MessageBundle(kArtifact, leaf, o);
}

TEST(TrustTimestamp, AResponseTimesABundleWithoutASet) {
  Sigstore s;
  json bundle = Untimed(s, s.IssueLeaf());
  ExpectRefused(Verify(bundle, s), "log: no signed time");
  s.AddTimestamp(bundle);
  SignedVerdict v = Verify(bundle, s);
  ASSERT_TRUE(v.verified) << v.reason;
  EXPECT_EQ(v.signer, "acme-release");
  EXPECT_EQ(v.signing_times, std::vector<std::int64_t>{kSignedAt});
}

TEST(TrustTimestamp, ATokenAloneOrWithoutItsCertificateVerifies) {
  Sigstore s;
  json bundle = Untimed(s, s.IssueLeaf());
  s.AddTimestamp(bundle, {.response = false});
  EXPECT_TRUE(Verify(bundle, s).verified) << Verify(bundle, s).reason;
  // The trust root's chain holds the TSA certificate: the token need not.
  bundle = Untimed(s, s.IssueLeaf());
  s.AddTimestamp(bundle, {.embed_certs = false});
  EXPECT_TRUE(Verify(bundle, s).verified) << Verify(bundle, s).reason;
  // It holds only the TSA root: the token must carry its certificate.
  s.tsa_chain_has_leaf = false;
  EXPECT_FALSE(Verify(bundle, s).verified);
  ExpectRefused(Verify(bundle, s), "timestamp: its signer's certificate is neither in the token");
  bundle = Untimed(s, s.IssueLeaf());
  s.AddTimestamp(bundle);
  EXPECT_TRUE(Verify(bundle, s).verified) << Verify(bundle, s).reason;
}

TEST(TrustTimestamp, ADsseEnvelopeIsTimedByItsSignature) {
  Sigstore s;
  Sigstore::EntryOptions o;
  o.set = false;
  json bundle = s.DsseBundle(Sha256Of(kArtifact).hex(), s.IssueLeaf(), o);
  s.AddTimestamp(bundle);
  SignedVerdict v = Verify(bundle, s);
  ASSERT_TRUE(v.verified) << v.reason;
  EXPECT_EQ(v.signing_times, std::vector<std::int64_t>{kSignedAt});
}

TEST(TrustTimestamp, BothASetAndATimestampAreSigningTimes) {
  Sigstore s;
  json bundle = s.MessageBundle(kArtifact, s.IssueLeaf(), {});
  s.AddTimestamp(bundle, {.gen_time = kSignedAt + 30});
  SignedVerdict v = Verify(bundle, s);
  ASSERT_TRUE(v.verified) << v.reason;
  EXPECT_EQ(v.signing_times, (std::vector<std::int64_t>{kSignedAt, kSignedAt + 30}));
}

TEST(TrustTimestamp, ATimeOutsideTheCertificatesValidityIsRefused) {
  Sigstore s;
  json bundle = Untimed(s, s.IssueLeaf());  // valid kSignedAt - 60 .. kSignedAt + 540
  s.AddTimestamp(bundle, {.gen_time = kSignedAt + 600});
  ExpectRefused(Verify(bundle, s), "certificate: ");
  // A SET time inside does not excuse it: every signing time must be.
  bundle = s.MessageBundle(kArtifact, s.IssueLeaf(), {});
  s.AddTimestamp(bundle, {.gen_time = kSignedAt - 120});
  ExpectRefused(Verify(bundle, s), "certificate: ");
}

TEST(TrustTimestamp, AnImprintOfAnotherSignatureIsRefused) {
  Sigstore s;
  Leaf leaf = s.IssueLeaf();
  json bundle = Untimed(s, leaf);
  json other = Untimed(s, leaf);  // ECDSA: another signature of the same bytes
  ASSERT_NE(Sigstore::SignatureOf(bundle), Sigstore::SignatureOf(other));
  s.AddTimestamp(bundle, {}, Sigstore::SignatureOf(other));
  ExpectRefused(Verify(bundle, s),
                "timestamp: its message imprint is not the hash of this signature");
}

TEST(TrustTimestamp, AnUntrustedAuthorityIsRefused) {
  Sigstore s;
  json bundle = Untimed(s, s.IssueLeaf());
  s.AddTimestamp(bundle, {.untrusted = true});
  ExpectRefused(Verify(bundle, s), "timestamp: its signature or its signer's chain");
  // Without its certificate, nothing names its signer.
  bundle = Untimed(s, s.IssueLeaf());
  s.AddTimestamp(bundle, {.embed_certs = false, .untrusted = true});
  ExpectRefused(Verify(bundle, s), "timestamp: its signer's certificate is neither");
}

TEST(TrustTimestamp, ACertificateWithoutTheTimeStampingUsageIsRefused) {
  Sigstore s;
  s.tsa_chain_has_leaf = false;
  json bundle = Untimed(s, s.IssueLeaf());
  s.AddTimestamp(bundle, {.without_eku = true});
  ExpectRefused(Verify(bundle, s),
                "timestamp: its signer's certificate does not allow time stamping");
}

TEST(TrustTimestamp, AnAuthorityOutsideItsValidityWindowIsRefused) {
  Sigstore s;
  json bundle = Untimed(s, s.IssueLeaf());
  s.AddTimestamp(bundle);
  s.tsa_end = kSignedAt - 1;
  ExpectRefused(Verify(bundle, s),
                "timestamp: no timestamp authority of the trusted root is valid at its genTime");
  s.tsa_end.reset();
  s.tsa_start = kSignedAt + 1;
  ExpectRefused(Verify(bundle, s), "timestamp: no timestamp authority");
}

TEST(TrustTimestamp, ATimeInTheFutureIsRefused) {
  Sigstore s;
  Sigstore::EntryOptions o;
  o.set = false;
  o.integrated_time = kSignedAt - 7200;  // unsigned, and not in the future
  json bundle = s.MessageBundle(kArtifact, s.IssueLeaf(), o);
  s.AddTimestamp(bundle);
  ExpectRefused(Verify(bundle, s, kSignedAt - 3600), "timestamp: its genTime");
}

TEST(TrustTimestamp, EveryTimestampCarriedMustVerify) {
  Sigstore s;
  json bundle = s.MessageBundle(kArtifact, s.IssueLeaf(), {});  // a SET time
  s.AddTimestamp(bundle, {.untrusted = true});
  ExpectRefused(Verify(bundle, s), "timestamp: ");
  bundle = s.MessageBundle(kArtifact, s.IssueLeaf(), {});
  bundle["verificationMaterial"]["timestampVerificationData"] = {
      {"rfc3161Timestamps", json::array({{{"signedTimestamp", "dG9rZW4="}}})}};
  ExpectRefused(Verify(bundle, s), "timestamp: it is not one DER TimeStampResp or TimeStampToken");
}

TEST(TrustTimestamp, VerifyTimestampSaysWhoVouched) {
  Sigstore s;
  TrustedRoot root = RootOf(s);
  auto stamp = VerifyTimestamp(s.Timestamp("sig"), "sig", root, kNow);
  ASSERT_TRUE(stamp) << stamp.error().message;
  EXPECT_EQ(stamp->time, kSignedAt);
  ASSERT_NE(stamp->authority, nullptr);
  EXPECT_EQ(stamp->authority->uri, "https://tsa.keep.test");
  EXPECT_FALSE(VerifyTimestamp(s.Timestamp("sig"), "sig", TrustedRoot{}, kNow));
  EXPECT_FALSE(VerifyTimestamp("", "sig", root, kNow));
  EXPECT_FALSE(VerifyTimestamp(std::string(kMaxTimestampBytes + 1, '0'), "sig", root, kNow));
}

TEST(TrustTimestamp, TruncatedOrExtendedDerIsRefused) {
  Sigstore s;
  TrustedRoot root = RootOf(s);
  for (bool response : {true, false}) {
    const std::string der = s.Timestamp("sig", {.response = response});
    ASSERT_TRUE(VerifyTimestamp(der, "sig", root, kNow));
    for (std::size_t size = 0; size < der.size(); size += 7) {
      EXPECT_FALSE(VerifyTimestamp(der.substr(0, size), "sig", root, kNow)) << size;
    }
    EXPECT_FALSE(VerifyTimestamp(der + '\0', "sig", root, kNow));
    // Another genTime (the hour's last digit), or another signature byte.
    std::string flipped = der;
    const std::size_t at = der.find("2023111422");
    ASSERT_NE(at, std::string::npos);
    flipped[at + 9] = '3';
    EXPECT_FALSE(VerifyTimestamp(flipped, "sig", root, kNow));
    flipped = der;
    flipped.back() = static_cast<char>(flipped.back() ^ 1);
    EXPECT_FALSE(VerifyTimestamp(flipped, "sig", root, kNow));
  }
}

}  // namespace
}  // namespace keep
