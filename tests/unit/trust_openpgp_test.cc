#include "trust/trust.h"

#include "trust_testdata.h"

#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace keep {
namespace {

using trust_test::Flipped;
using trust_test::Trimmed;

std::string Pgp(const std::string& name) { return trust_test::Data("openpgp/" + name); }
std::string Fpr(const std::string& name) { return Trimmed(Pgp(name + ".fpr")); }

OpenPgpKey Key(const std::string& name) {
  auto key = ParseOpenPgpPublicKey(Pgp(name + ".pub.asc"));
  if (!key) throw std::runtime_error(name + ": " + key.error().message);
  return *key;
}

void ExpectInvalid(const Result<OpenPgpKey>& r, std::string_view needle) {
  ASSERT_FALSE(r) << "accepted; wanted an error containing: " << needle;
  EXPECT_EQ(r.error().code, ErrorCode::kInvalid);
  EXPECT_NE(r.error().message.find(needle), std::string::npos) << r.error().message;
}

void ExpectDenied(const Result<OpenPgpVerdict>& r, std::string_view needle) {
  ASSERT_FALSE(r) << "verified; wanted an error containing: " << needle;
  EXPECT_EQ(r.error().code, ErrorCode::kDenied);
  EXPECT_NE(r.error().message.find(needle), std::string::npos) << r.error().message;
}

// The primary key fingerprints `gpg --with-colons --fingerprint` printed: the
// "fpr" line after each "pub" line.
std::vector<std::string> GpgPrimaryFingerprints() {
  std::vector<std::string> out;
  std::string text = Pgp("gpg-fingerprints.txt");
  bool after_pub = false;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    std::string line = text.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
    pos = end == std::string::npos ? text.size() : end + 1;
    if (line.starts_with("pub:")) {
      after_pub = true;
    } else if (line.starts_with("fpr:") && after_pub) {
      // Field 10 of the colon-separated line.
      std::size_t at = 0;
      for (int field = 1; field < 10; ++field) at = line.find(':', at) + 1;
      out.push_back(line.substr(at, line.find(':', at) - at));
      after_pub = false;
    }
  }
  return out;
}

TEST(TrustOpenPgp, ParsesEd25519Key) {
  auto key = ParseOpenPgpPublicKey(Pgp("ed25519.pub.asc"));
  ASSERT_TRUE(key) << key.error().message;
  EXPECT_EQ(key->fingerprint, Fpr("ed25519"));
  EXPECT_EQ(key->fingerprint.size(), 40u);
  EXPECT_EQ(key->algorithm, "ed25519");
  EXPECT_EQ(key->user_ids, std::vector<std::string>{"Keep Test Ed25519 <ed25519@keep.invalid>"});
  EXPECT_TRUE(key->armored.starts_with("-----BEGIN PGP PUBLIC KEY BLOCK-----\n"));
  EXPECT_TRUE(key->armored.ends_with("-----END PGP PUBLIC KEY BLOCK-----\n"));
  EXPECT_EQ(key->armored.find('\r'), std::string::npos);
}

TEST(TrustOpenPgp, ParsesRsaKeyWithSigningSubkey) {
  auto key = ParseOpenPgpPublicKey(Pgp("rsa.pub.asc"));
  ASSERT_TRUE(key) << key.error().message;
  EXPECT_EQ(key->fingerprint, Fpr("rsa"));
  EXPECT_EQ(key->algorithm, "rsa3072");
  EXPECT_EQ(key->user_ids, std::vector<std::string>{"Keep Test RSA <rsa@keep.invalid>"});
}

// The armor of `armored` written another way: CRLF line ends, armor
// headers, 40-column base64. The same packets.
std::string Rearmored(const std::string& armored) {
  std::string base64, checksum;
  std::size_t pos = armored.find("\n\n") + 2;
  while (pos < armored.size()) {
    std::size_t end = armored.find('\n', pos);
    std::string line = armored.substr(pos, end - pos);
    pos = end + 1;
    if (line.starts_with("-----END")) break;
    if (line.starts_with("=")) {
      checksum = line;
    } else {
      base64 += line;
    }
  }
  std::string out = "-----BEGIN PGP PUBLIC KEY BLOCK-----\r\nComment: re-armored by a test\r\n"
                    "Version: not gpg\r\n\r\n";
  for (std::size_t i = 0; i < base64.size(); i += 40) out += base64.substr(i, 40) + "\r\n";
  return out + checksum + "\r\n-----END PGP PUBLIC KEY BLOCK-----\r\n";
}

// An OpenPGP key is named by its primary key's fingerprint, which covers the
// primary key's material and creation time only: re-armoring it, or adding
// user ids and subkeys, gives the same name, so Keep's admin API sees the
// same key (and refuses to add it twice).
TEST(TrustOpenPgp, TheSameKeyReArmoredOrExtendedKeepsItsFingerprint) {
  OpenPgpKey plain = Key("ed25519");
  std::string rearmored = Rearmored(Pgp("ed25519.pub.asc"));
  ASSERT_NE(rearmored, Pgp("ed25519.pub.asc"));
  auto again = ParseOpenPgpPublicKey(rearmored);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(again->fingerprint, plain.fingerprint);
  EXPECT_EQ(again->armored, plain.armored);  // librnp's re-export is the stored form

  auto extended = ParseOpenPgpPublicKey(Pgp("ed25519-extended.pub.asc"));
  ASSERT_TRUE(extended) << extended.error().message;
  EXPECT_EQ(extended->fingerprint, plain.fingerprint);
  EXPECT_EQ(extended->user_ids.size(), 2u);
  EXPECT_NE(extended->armored, plain.armored);  // more packets, one key
}

TEST(TrustOpenPgp, FingerprintsMatchGpg) {
  std::vector<std::string> gpg = GpgPrimaryFingerprints();
  ASSERT_EQ(gpg.size(), 4u);
  EXPECT_EQ(Key("ed25519").fingerprint, gpg[0]);
  EXPECT_EQ(Key("rsa").fingerprint, gpg[1]);
  EXPECT_EQ(Key("expired").fingerprint, gpg[2]);
  EXPECT_EQ(Key("revoked").fingerprint, gpg[3]);
}

TEST(TrustOpenPgp, NormalisesTheArmor) {
  OpenPgpKey key = Key("rsa");
  // The normalised text parses to itself.
  auto again = ParseOpenPgpPublicKey(key.armored);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(again->armored, key.armored);
  EXPECT_EQ(again->fingerprint, key.fingerprint);
  // CRLF line ends and surrounding whitespace give the same key and text.
  std::string crlf;
  for (char c : Pgp("rsa.pub.asc")) {
    if (c == '\n') crlf += '\r';
    crlf += c;
  }
  auto from_crlf = ParseOpenPgpPublicKey("\n  " + crlf + "\n\n");
  ASSERT_TRUE(from_crlf) << from_crlf.error().message;
  EXPECT_EQ(from_crlf->armored, key.armored);
}

TEST(TrustOpenPgp, ParsesExpiredAndRevokedKeys) {
  // They parse; VerifyOpenPgpSignature refuses what they signed.
  EXPECT_EQ(Key("expired").fingerprint, Fpr("expired"));
  EXPECT_EQ(Key("revoked").fingerprint, Fpr("revoked"));
}

TEST(TrustOpenPgp, RefusesSecretKeys) {
  ExpectInvalid(ParseOpenPgpPublicKey(Pgp("ed25519.sec.asc")), "secret key");
  // Relabelled as public, the secret key packets are still found.
  std::string relabelled = Pgp("ed25519.sec.asc");
  for (std::string_view from : {"PRIVATE KEY BLOCK"}) {
    for (std::size_t at; (at = relabelled.find(from)) != std::string::npos;) {
      relabelled.replace(at, from.size(), "PUBLIC KEY BLOCK");
    }
  }
  ExpectInvalid(ParseOpenPgpPublicKey(relabelled), "secret key");
}

TEST(TrustOpenPgp, RefusesSeveralPrimaryKeys) {
  auto r = ParseOpenPgpPublicKey(Pgp("two-keys.pub.asc"));
  ExpectInvalid(r, "2 primary keys");
  ExpectInvalid(r, Fpr("ed25519"));
  ExpectInvalid(r, Fpr("rsa"));
  // Two armor blocks one after the other.
  ExpectInvalid(ParseOpenPgpPublicKey(Pgp("ed25519.pub.asc") + Pgp("rsa.pub.asc")), "primary keys");
}

TEST(TrustOpenPgp, RefusesGarbage) {
  ExpectInvalid(ParseOpenPgpPublicKey(""), "ASCII-armored");
  ExpectInvalid(ParseOpenPgpPublicKey("hello"), "ASCII-armored");
  ExpectInvalid(ParseOpenPgpPublicKey(Pgp("payload.json.ed25519.gpg")), "ASCII-armored");
  ExpectInvalid(ParseOpenPgpPublicKey(trust_test::Data("ed25519.pub")), "ASCII-armored");
  ExpectInvalid(ParseOpenPgpPublicKey("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nAAAA\n"
                                      "-----END PGP PUBLIC KEY BLOCK-----\n"),
                "not a valid");
  // A corrupted armor body (its CRC-24 no longer matches).
  std::string key = Pgp("ed25519.pub.asc");
  ExpectInvalid(ParseOpenPgpPublicKey(Flipped(key, key.size() / 2)), "OpenPGP public key");
  // A signature is not a key.
  ExpectInvalid(ParseOpenPgpPublicKey(Pgp("payload.json.clearsigned.asc")), "ASCII-armored");
}

TEST(TrustOpenPgp, VerifiesEd25519Signature) {
  OpenPgpKey key = Key("ed25519");
  auto v = VerifyOpenPgpSignature(Pgp("payload.json.ed25519.gpg"), {key});
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_EQ(v->payload, Pgp("payload.json"));
  EXPECT_EQ(v->fingerprint, Fpr("ed25519"));
  EXPECT_EQ(v->signing_key_fingerprint, Fpr("ed25519"));
  EXPECT_GT(v->signed_at, 1577836800);

  // The payload is what CheckPayload expects from podman and skopeo.
  auto payload = ParseSimpleSigning(v->payload);
  ASSERT_TRUE(payload) << payload.error().message;
  EXPECT_EQ(payload->type, kAtomicSignatureType);
  auto target = Digest::Parse(trust_test::kTarget);
  ASSERT_TRUE(target);
  EXPECT_TRUE(CheckPayload(*payload, *target, "acme/app"));
}

TEST(TrustOpenPgp, VerifiesRsaSubkeySignatureAsItsPrimary) {
  auto v = VerifyOpenPgpSignature(Pgp("payload.json.rsa.gpg"), {Key("ed25519"), Key("rsa")});
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_EQ(v->payload, Pgp("payload.json"));
  EXPECT_EQ(v->fingerprint, Fpr("rsa"));
  EXPECT_NE(v->signing_key_fingerprint, Fpr("rsa"));  // the signing subkey
  EXPECT_NE(Pgp("gpg-fingerprints.txt").find(v->signing_key_fingerprint), std::string::npos);
}

TEST(TrustOpenPgp, VerifiesSkopeoSignature) {
  // `skopeo copy --sign-by` into a dir: destination: what clients push.
  auto v = VerifyOpenPgpSignature(Pgp("skopeo-signature-1"), {Key("rsa"), Key("ed25519")});
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_EQ(v->fingerprint, Fpr("ed25519"));
  auto payload = ParseSimpleSigning(v->payload);
  ASSERT_TRUE(payload) << payload.error().message;
  EXPECT_EQ(payload->type, kAtomicSignatureType);
  EXPECT_EQ(payload->docker_reference, "registry.example:5000/acme/app:v1");
  Digest manifest = Sha256Of(Pgp("skopeo-manifest.json"));
  EXPECT_EQ(payload->manifest_digest, manifest);
  EXPECT_TRUE(CheckPayload(*payload, manifest, "acme/app"));
}

// OpenPGP signs the literal data and the signature's hashed fields, not every
// byte of the message: the one-pass header, the literal packet's file name and
// date, the MPI bit counts and the unhashed subpackets can change and the
// signature still verifies (with gpg as well). Such a flip may never change
// what is reported, and every flip of the payload or of the signature value
// must be refused.
void ExpectFlipsRefusedOrHarmless(const std::string& sig, const OpenPgpKey& key,
                                  std::size_t* refused) {
  const std::string payload = Pgp("payload.json");
  for (std::size_t i = 0; i < sig.size(); ++i) {
    auto v = VerifyOpenPgpSignature(Flipped(sig, i), {key});
    if (!v) {
      EXPECT_EQ(v.error().code, ErrorCode::kDenied) << "byte " << i << ": " << v.error().message;
      ++*refused;
    } else {
      EXPECT_EQ(v->payload, payload) << "byte " << i << " flipped changed the payload";
      EXPECT_EQ(v->fingerprint, key.fingerprint) << "byte " << i;
    }
  }
}

TEST(TrustOpenPgp, FlippedBytesNeverChangeWhatVerifies) {
  const OpenPgpKey key = Key("ed25519");
  for (const char* name : {"payload.json.ed25519.gpg", "payload.json.ed25519-uncompressed.gpg"}) {
    const std::string sig = Pgp(name);
    std::size_t refused = 0;
    ExpectFlipsRefusedOrHarmless(sig, key, &refused);
    EXPECT_GT(refused, sig.size() * 3 / 4) << name;
  }
}

TEST(TrustOpenPgp, RefusesFlippedPayloadOrSignatureValue) {
  const OpenPgpKey key = Key("ed25519");
  const std::string sig = Pgp("payload.json.ed25519-uncompressed.gpg");
  const std::string payload = Pgp("payload.json");
  const std::size_t at = sig.find(payload);
  ASSERT_NE(at, std::string::npos);
  for (std::size_t i = at; i < at + payload.size(); ++i) {
    ExpectDenied(VerifyOpenPgpSignature(Flipped(sig, i), {key}), "bad signature");
  }
  // The last 32 bytes: the Ed25519 signature's S value.
  for (std::size_t i = sig.size() - 32; i < sig.size(); ++i) {
    ExpectDenied(VerifyOpenPgpSignature(Flipped(sig, i), {key}), "bad signature");
  }
  // And in the usual compressed message, the last bytes (the deflate stream's
  // tail and the signature value).
  const std::string compressed = Pgp("payload.json.ed25519.gpg");
  for (std::size_t i = compressed.size() - 16; i < compressed.size(); ++i) {
    EXPECT_FALSE(VerifyOpenPgpSignature(Flipped(compressed, i), {key})) << "byte " << i;
  }
  const std::string rsa = Pgp("payload.json.rsa.gpg");
  const OpenPgpKey rsa_key = Key("rsa");
  for (std::size_t i = rsa.size() - 16; i < rsa.size(); ++i) {
    EXPECT_FALSE(VerifyOpenPgpSignature(Flipped(rsa, i), {rsa_key})) << "byte " << i;
  }
}

TEST(TrustOpenPgp, RefusesTruncatedSignature) {
  const std::string sig = Pgp("payload.json.ed25519.gpg");
  for (std::size_t n : {std::size_t{1}, std::size_t{20}, sig.size() / 2, sig.size() - 1}) {
    auto v = VerifyOpenPgpSignature(sig.substr(0, n), {Key("ed25519")});
    ASSERT_FALSE(v) << n;
    EXPECT_EQ(v.error().code, ErrorCode::kDenied);
  }
}

TEST(TrustOpenPgp, RefusesSignatureByUntrustedKey) {
  auto v = VerifyOpenPgpSignature(Pgp("payload.json.ed25519.gpg"), {Key("rsa")});
  ExpectDenied(v, "unknown key");
  ExpectDenied(v, Fpr("ed25519"));  // the issuer, so the user knows whom to trust
  ExpectDenied(VerifyOpenPgpSignature(Pgp("payload.json.rsa.gpg"), {Key("ed25519")}),
               "unknown key");
  ExpectDenied(VerifyOpenPgpSignature(Pgp("payload.json.ed25519.gpg"), {}), "no trusted");
}

TEST(TrustOpenPgp, TheCallersFingerprintListDecides) {
  // A key whose armor and fingerprint disagree vouches for nobody.
  OpenPgpKey forged = Key("ed25519");
  forged.fingerprint = Fpr("rsa");
  ExpectDenied(VerifyOpenPgpSignature(Pgp("payload.json.ed25519.gpg"), {forged}),
               "not one of the trusted keys");
}

TEST(TrustOpenPgp, RefusesExpiredKey) {
  auto v = VerifyOpenPgpSignature(Pgp("payload.json.expired.gpg"), {Key("expired")});
  ExpectDenied(v, "expired");
  ExpectDenied(v, Fpr("expired"));
}

TEST(TrustOpenPgp, RefusesRevokedKey) {
  auto v = VerifyOpenPgpSignature(Pgp("payload.json.revoked.gpg"), {Key("revoked")});
  ExpectDenied(v, "revoked");
  ExpectDenied(v, Fpr("revoked"));
}

TEST(TrustOpenPgp, RefusesOtherMessageShapes) {
  std::vector<OpenPgpKey> both = {Key("ed25519"), Key("rsa")};
  ExpectDenied(VerifyOpenPgpSignature(Pgp("payload.json.two-signers.gpg"), both), "2 signatures");
  ExpectDenied(VerifyOpenPgpSignature(Pgp("payload.json.clearsigned.asc"), both), "not a binary");
  ExpectDenied(VerifyOpenPgpSignature(Pgp("payload.json.detached.sig"), both), "detached");
  ExpectDenied(VerifyOpenPgpSignature(Pgp("payload.json.symmetric.gpg"), both), "encrypted");
  // 2 MiB of payload, 2 KiB compressed: refused, not inflated without bound.
  ExpectDenied(VerifyOpenPgpSignature(Pgp("big.bin.ed25519.gpg"), both), "1 MiB");
}

TEST(TrustOpenPgp, RefusesGarbageSignatures) {
  std::vector<OpenPgpKey> keys = {Key("ed25519")};
  ExpectDenied(VerifyOpenPgpSignature("", keys), "empty");
  ExpectDenied(VerifyOpenPgpSignature("hello", keys), "not a binary");
  ExpectDenied(VerifyOpenPgpSignature(std::string("\xa3\x01garbage", 9), keys), "OpenPGP");
  ExpectDenied(VerifyOpenPgpSignature(std::string(64, '\xff'), keys), "OpenPGP");
  ExpectDenied(VerifyOpenPgpSignature(Pgp("payload.json"), keys), "not a binary");
  ExpectDenied(VerifyOpenPgpSignature(Pgp("ed25519.pub.asc"), keys), "not a binary");
}

TEST(TrustOpenPgp, VerifiesFromManyThreads) {
  const std::vector<OpenPgpKey> keys = {Key("ed25519"), Key("rsa")};
  const std::string ed = Pgp("payload.json.ed25519.gpg");
  const std::string rsa = Pgp("payload.json.rsa.gpg");
  const std::string bad = Flipped(ed, ed.size() - 10);
  const std::string payload = Pgp("payload.json");
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 15; ++i) {
        auto good = VerifyOpenPgpSignature((t + i) % 2 ? ed : rsa, keys);
        if (!good || good->payload != payload) ++failures;
        if (VerifyOpenPgpSignature(bad, keys)) ++failures;
        if (!ParseOpenPgpPublicKey(keys[1].armored)) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
}

}  // namespace
}  // namespace keep
