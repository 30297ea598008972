#include "trust/trust.h"

#include "trust_testdata.h"

#include <gtest/gtest.h>

#include <set>

namespace keep {
namespace {

using trust_test::Data;
using trust_test::DerOf;
using trust_test::Flipped;
using trust_test::PublicPemAs;
using trust_test::Trimmed;

void ExpectInvalid(const Result<PublicKey>& r, std::string_view needle) {
  ASSERT_FALSE(r) << "accepted; wanted an error containing: " << needle;
  EXPECT_EQ(r.error().code, ErrorCode::kInvalid);
  EXPECT_NE(r.error().message.find(needle), std::string::npos) << r.error().message;
}

TEST(TrustKeys, ParsesEcdsaP256PublicKey) {
  auto key = ParsePublicKey(Data("ecdsa.pub"));
  ASSERT_TRUE(key) << key.error().message;
  EXPECT_EQ(key->algorithm(), "ecdsa-p256");
  // `openssl pkey -pubin -outform DER | sha256sum`
  EXPECT_EQ(key->key_id(), Trimmed(Data("ecdsa.keyid")));
  EXPECT_EQ(key->pem(), Data("ecdsa.pub"));
  ASSERT_NE(key->evp(), nullptr);
}

TEST(TrustKeys, ParsesEd25519PublicKey) {
  auto key = ParsePublicKey(Data("ed25519.pub"));
  ASSERT_TRUE(key) << key.error().message;
  EXPECT_EQ(key->algorithm(), "ed25519");
  EXPECT_EQ(key->key_id(), Trimmed(Data("ed25519.keyid")));
  EXPECT_EQ(key->pem(), Data("ed25519.pub"));
}

TEST(TrustKeys, NormalisesThePem) {
  // Surrounding whitespace, CRLF line ends and one long base64 line are fine.
  std::string der = Data("ecdsa.pub.der");
  std::string crlf = "-----BEGIN PUBLIC KEY-----\r\n" + EncodeBase64(der) +
                     "\r\n-----END PUBLIC KEY-----\r\n";
  auto key = ParsePublicKey("\n  " + crlf + "\n\n");
  ASSERT_TRUE(key) << key.error().message;
  EXPECT_EQ(key->pem(), Data("ecdsa.pub"));
  EXPECT_EQ(key->key_id(), Trimmed(Data("ecdsa.keyid")));
}

// One key under several names was the attack: each encoding got its own id,
// so one signature counted once per id towards a threshold.
TEST(TrustKeys, OneP256KeyHasOneIdWhateverItsEncoding) {
  auto pair = GenerateKeyPair(kAlgorithmEcdsaP256, "");
  ASSERT_TRUE(pair) << pair.error().message;
  auto private_key = ParsePrivateKey(pair->private_pem, "");
  ASSERT_TRUE(private_key);
  auto signature = Sign(*private_key, "payload");
  ASSERT_TRUE(signature);
  std::set<std::string> encodings;
  for (auto [form, encoding] : trust_test::kP256Encodings) {
    std::string pem = PublicPemAs(private_key->evp(), form, encoding);
    ASSERT_FALSE(pem.empty()) << form << " " << encoding;
    encodings.insert(DerOf(pem));
    auto key = ParsePublicKey(pem);
    ASSERT_TRUE(key) << form << " " << encoding << ": " << key.error().message;
    EXPECT_EQ(key->key_id(), pair->key_id) << form << " " << encoding;
    // What is stored and shown is the canonical form, and it verifies.
    EXPECT_EQ(key->pem(), pair->public_pem) << form << " " << encoding;
    EXPECT_TRUE(VerifySignature(*key, "payload", *signature)) << form << " " << encoding;
  }
  EXPECT_EQ(encodings.size(), 6u);  // six different SubjectPublicKeyInfos, one key
  // The canonical form is the named curve with the uncompressed point, the
  // id the SHA-256 of its DER.
  EXPECT_EQ(pair->public_pem, PublicPemAs(private_key->evp(), "uncompressed", "named_curve"));
  EXPECT_EQ(pair->key_id, Sha256Of(DerOf(pair->public_pem)).hex());
}

// BER re-encodings of a key that OpenSSL's decoder tolerates: a long-form
// length, padding bits in the key's BIT STRING (which OpenSSL clears, so the
// key read may differ from the key sent), NULL parameters. Only DER is
// taken, so none is a second name for the key, or a key nobody holds.
TEST(TrustKeys, RefusesKeysNotInDer) {
  for (std::string_view algorithm : {kAlgorithmEd25519, kAlgorithmEcdsaP256}) {
    auto pair = GenerateKeyPair(algorithm, "");
    ASSERT_TRUE(pair);
    std::string der = DerOf(pair->public_pem);
    ASSERT_TRUE(ParsePublicKey(trust_test::Pem("PUBLIC KEY", der)));
    // Outer SEQUENCE length in long form (0x30 0x81 L ...).
    ExpectInvalid(ParsePublicKey(trust_test::Pem("PUBLIC KEY", std::string("\x30\x81", 2) + der.substr(1))),
                  "not in DER form");
    // The BIT STRING's unused-bits octet set to 1 (the key is its last bytes).
    std::size_t key_len = algorithm == kAlgorithmEd25519 ? 32 : 65;
    std::string padded = der;
    padded[der.size() - key_len - 1] = 1;
    // (Read as P-256, the cleared bit may put the point off the curve.)
    ExpectInvalid(ParsePublicKey(trust_test::Pem("PUBLIC KEY", padded)), "public key");
    if (algorithm == kAlgorithmEd25519) {
      // AlgorithmIdentifier with NULL parameters (RFC 8410: they are absent).
      std::string with_null = std::string("\x30\x2c\x30\x07\x06\x03\x2b\x65\x70\x05\x00", 11) +
                              der.substr(der.size() - 35);
      EXPECT_FALSE(ParsePublicKey(trust_test::Pem("PUBLIC KEY", with_null)));
    }
  }
}

TEST(TrustKeys, RefusesExplicitParametersThatAreNotP256s) {
  auto pair = GenerateKeyPair(kAlgorithmEcdsaP256, "");
  ASSERT_TRUE(pair);
  auto private_key = ParsePrivateKey(pair->private_pem, "");
  ASSERT_TRUE(private_key);
  std::string der = DerOf(PublicPemAs(private_key->evp(), "uncompressed", "explicit"));
  // P-256's seed (X9.62), and the cofactor 1 just before the key's BIT STRING.
  const std::string seed("\xc4\x9d\x36\x08\x86\xe7\x04\x93\x6a\x66\x78\xe1\x13\x9d\x26\xb7\x81\x9f\x7e\x90", 20);
  const std::string cofactor("\x02\x01\x01\x03\x42\x00\x04", 7);
  ASSERT_NE(der.find(seed), std::string::npos);
  ASSERT_NE(der.find(cofactor), std::string::npos);
  std::string other_seed = der;
  other_seed[der.find(seed) + 19] ^= 1;
  ExpectInvalid(ParsePublicKey(trust_test::Pem("PUBLIC KEY", other_seed)), "not exactly P-256's");
  std::string other_cofactor = der;
  other_cofactor[der.find(cofactor) + 2] = 4;
  ExpectInvalid(ParsePublicKey(trust_test::Pem("PUBLIC KEY", other_cofactor)), "not exactly P-256's");
  // Another curve b: not P-256 at all.
  const std::string b("\x5a\xc6\x35\xd8", 4);
  std::string other_curve = der;
  other_curve[der.find(b)] ^= 1;
  EXPECT_FALSE(ParsePublicKey(trust_test::Pem("PUBLIC KEY", other_curve)));
  // P-384 stays refused however it is written.
  std::string p384 = Data("p384.pub");
  ExpectInvalid(ParsePublicKey(p384), "curve secp384r1");
}

TEST(TrustKeys, RefusesOtherKeyTypes) {
  ExpectInvalid(ParsePublicKey(Data("p384.pub")), "curve secp384r1");
  ExpectInvalid(ParsePublicKey(Data("p384.pub")), "ECDSA P-256 and Ed25519");
  ExpectInvalid(ParsePublicKey(Data("rsa.pub")), "RSA key");
  ExpectInvalid(ParsePublicKey(Data("ed448.pub")), "Ed448");
}

TEST(TrustKeys, RefusesPrivateKeysAndOtherPem) {
  ExpectInvalid(ParsePublicKey(Data("ecdsa.key")), "is a private key");
  ExpectInvalid(ParsePublicKey(Data("ecdsa-sec1.key")), "is a private key");
  ExpectInvalid(ParsePublicKey(Data("ecdsa-encrypted.key")), "is a private key");
  ExpectInvalid(ParsePublicKey(trust_test::Pem("CERTIFICATE", "x")), "certificate");
  ExpectInvalid(ParsePublicKey(trust_test::Pem("RSA PUBLIC KEY", "x")), "RSA");
  ExpectInvalid(ParsePublicKey(trust_test::Pem("SOMETHING", "x")), "expected \"PUBLIC KEY\"");
}

TEST(TrustKeys, RefusesGarbageAndTrailingJunk) {
  std::string pem = Data("ecdsa.pub");
  ExpectInvalid(ParsePublicKey(""), "is empty");
  ExpectInvalid(ParsePublicKey(" \n"), "is empty");
  ExpectInvalid(ParsePublicKey("hello world"), "not PEM");
  ExpectInvalid(ParsePublicKey("junk\n" + pem), "not PEM");
  ExpectInvalid(ParsePublicKey(pem + "junk"), "exactly one PEM block");
  ExpectInvalid(ParsePublicKey(pem + Data("ed25519.pub")), "exactly one PEM block");
  ExpectInvalid(ParsePublicKey(pem.substr(0, pem.size() - 10)), "not valid PEM");
  ExpectInvalid(ParsePublicKey(trust_test::Pem("PUBLIC KEY", "not der")),
                "valid SubjectPublicKeyInfo");
  ExpectInvalid(ParsePublicKey(trust_test::Pem("PUBLIC KEY", Data("ecdsa.pub.der") + "x")),
                "extra bytes");
  std::string bad_base64 = pem;
  bad_base64[40] = '*';
  ExpectInvalid(ParsePublicKey(bad_base64), "not valid PEM");
}

TEST(TrustKeys, SavedSignaturesVerify) {
  auto ecdsa = ParsePublicKey(Data("ecdsa.pub"));
  auto ed25519 = ParsePublicKey(Data("ed25519.pub"));
  ASSERT_TRUE(ecdsa && ed25519);
  std::string payload = Data("payload.json");
  std::string ecdsa_sig = Data("payload.json.ecdsa.sig");
  std::string ed_sig = Data("payload.json.ed25519.sig");
  EXPECT_TRUE(VerifySignature(*ecdsa, payload, ecdsa_sig));
  EXPECT_TRUE(VerifySignature(*ed25519, payload, ed_sig));
  // Each signature belongs to its own key only.
  EXPECT_FALSE(VerifySignature(*ecdsa, payload, ed_sig));
  EXPECT_FALSE(VerifySignature(*ed25519, payload, ecdsa_sig));
}

TEST(TrustKeys, TamperedPayloadOrSignatureFails) {
  auto ecdsa = ParsePublicKey(Data("ecdsa.pub"));
  auto ed25519 = ParsePublicKey(Data("ed25519.pub"));
  ASSERT_TRUE(ecdsa && ed25519);
  std::string payload = Data("payload.json");
  std::string ecdsa_sig = Data("payload.json.ecdsa.sig");
  std::string ed_sig = Data("payload.json.ed25519.sig");
  for (std::size_t i : {std::size_t{0}, payload.size() / 2, payload.size() - 1}) {
    EXPECT_FALSE(VerifySignature(*ecdsa, Flipped(payload, i), ecdsa_sig)) << i;
    EXPECT_FALSE(VerifySignature(*ed25519, Flipped(payload, i), ed_sig)) << i;
  }
  for (std::size_t i = 0; i < ecdsa_sig.size(); ++i) {
    EXPECT_FALSE(VerifySignature(*ecdsa, payload, Flipped(ecdsa_sig, i))) << i;
  }
  for (std::size_t i = 0; i < ed_sig.size(); ++i) {
    EXPECT_FALSE(VerifySignature(*ed25519, payload, Flipped(ed_sig, i))) << i;
  }
  EXPECT_FALSE(VerifySignature(*ecdsa, payload, ""));
  EXPECT_FALSE(VerifySignature(*ecdsa, payload, ecdsa_sig + '\0'));  // not canonical DER
  EXPECT_FALSE(VerifySignature(*ed25519, payload, ed_sig.substr(0, 63)));
  EXPECT_FALSE(VerifySignature(*ed25519, payload, ed_sig + "x"));
}

TEST(TrustKeys, TamperedKeyFails) {
  std::string payload = Data("payload.json");
  struct Case {
    const char* der;
    const char* sig;
  };
  for (Case c : {Case{"ecdsa.pub.der", "payload.json.ecdsa.sig"},
                 Case{"ed25519.pub.der", "payload.json.ed25519.sig"}}) {
    std::string der = Data(c.der);
    // The last bytes are key material (the point's coordinates).
    for (std::size_t back : {1, 2, 20}) {
      auto key = ParsePublicKey(trust_test::Pem("PUBLIC KEY", Flipped(der, der.size() - back)));
      // A flipped P-256 coordinate is almost surely off the curve, and refused.
      if (key) {
        EXPECT_FALSE(VerifySignature(*key, payload, Data(c.sig))) << c.der << " " << back;
      } else {
        EXPECT_EQ(key.error().code, ErrorCode::kInvalid);
      }
    }
  }
}

TEST(TrustKeys, SignThenVerifyRoundTrip) {
  for (std::string_view algorithm : {kAlgorithmEcdsaP256, kAlgorithmEd25519}) {
    auto pair = GenerateKeyPair(algorithm, "");
    ASSERT_TRUE(pair) << pair.error().message;
    EXPECT_TRUE(pair->private_pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
    auto private_key = ParsePrivateKey(pair->private_pem, "");
    ASSERT_TRUE(private_key) << private_key.error().message;
    auto public_key = ParsePublicKey(pair->public_pem);
    ASSERT_TRUE(public_key) << public_key.error().message;
    EXPECT_EQ(public_key->algorithm(), algorithm);
    EXPECT_EQ(private_key->algorithm(), algorithm);
    EXPECT_EQ(public_key->key_id(), pair->key_id);
    EXPECT_EQ(private_key->public_key().key_id(), pair->key_id);

    auto signature = Sign(*private_key, "hello");
    ASSERT_TRUE(signature) << signature.error().message;
    if (algorithm == kAlgorithmEd25519) {
      EXPECT_EQ(signature->size(), 64u);
    } else {
      EXPECT_EQ((*signature)[0], '\x30');  // a DER SEQUENCE
    }
    EXPECT_TRUE(VerifySignature(*public_key, "hello", *signature));
    EXPECT_FALSE(VerifySignature(*public_key, "hellO", *signature));

    // Another key does not verify it.
    auto other = GenerateKeyPair(algorithm, "");
    ASSERT_TRUE(other);
    auto other_public = ParsePublicKey(other->public_pem);
    ASSERT_TRUE(other_public);
    EXPECT_NE(other_public->key_id(), public_key->key_id());
    EXPECT_FALSE(VerifySignature(*other_public, "hello", *signature));
  }
}

TEST(TrustKeys, CommittedPrivateKeysSignForTheirPublicKeys) {
  for (std::string name : {"ecdsa", "ed25519"}) {
    auto private_key = ParsePrivateKey(Data(name + ".key"), "");
    ASSERT_TRUE(private_key) << name << ": " << private_key.error().message;
    EXPECT_EQ(private_key->public_key().key_id(), Trimmed(Data(name + ".keyid")));
    auto public_key = ParsePublicKey(Data(name + ".pub"));
    ASSERT_TRUE(public_key);
    auto signature = Sign(*private_key, Data("payload.json"));
    ASSERT_TRUE(signature);
    EXPECT_TRUE(VerifySignature(*public_key, Data("payload.json"), *signature)) << name;
  }
}

TEST(TrustKeys, EncryptedPrivateKeyNeedsTheRightPassphrase) {
  // ecdsa-encrypted.key uses scrypt, ed25519-encrypted.key PBKDF2.
  for (std::string name : {"ecdsa", "ed25519"}) {
    std::string pem = Data(name + "-encrypted.key");
    auto key = ParsePrivateKey(pem, "correct-horse");
    ASSERT_TRUE(key) << name << ": " << key.error().message;
    EXPECT_EQ(key->public_key().key_id(), Trimmed(Data(name + ".keyid")));

    auto wrong = ParsePrivateKey(pem, "battery-staple");
    ASSERT_FALSE(wrong);
    EXPECT_EQ(wrong.error().code, ErrorCode::kInvalid);
    EXPECT_NE(wrong.error().message.find("wrong passphrase"), std::string::npos);
    auto none = ParsePrivateKey(pem, "");
    ASSERT_FALSE(none);
    EXPECT_NE(none.error().message.find("passphrase is needed"), std::string::npos);
  }
}

TEST(TrustKeys, GeneratedKeyIsEncryptedWithThePassphrase) {
  for (std::string_view algorithm : {kAlgorithmEcdsaP256, kAlgorithmEd25519}) {
    auto pair = GenerateKeyPair(algorithm, "s3cret");
    ASSERT_TRUE(pair) << pair.error().message;
    EXPECT_TRUE(pair->private_pem.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----\n"));
    EXPECT_FALSE(ParsePrivateKey(pair->private_pem, "s3creT"));
    EXPECT_FALSE(ParsePrivateKey(pair->private_pem, ""));
    auto key = ParsePrivateKey(pair->private_pem, "s3cret");
    ASSERT_TRUE(key) << key.error().message;
    EXPECT_EQ(key->public_key().key_id(), pair->key_id);
    EXPECT_EQ(key->public_key().pem(), pair->public_pem);
  }
}

TEST(TrustKeys, RefusesBadPrivateKeys) {
  auto expect = [](const Result<PrivateKey>& r, std::string_view needle) {
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, ErrorCode::kInvalid);
    EXPECT_NE(r.error().message.find(needle), std::string::npos) << r.error().message;
  };
  expect(ParsePrivateKey(Data("ecdsa-sec1.key"), ""), "openssl pkcs8 -topk8");
  expect(ParsePrivateKey(Data("ecdsa.pub"), ""), "is a public key");
  expect(ParsePrivateKey(trust_test::Pem("ENCRYPTED SIGSTORE PRIVATE KEY", "x"), "pw"),
         "cosign's own encrypted format");
  expect(ParsePrivateKey(trust_test::Pem("PRIVATE KEY", "garbage"), ""), "PrivateKeyInfo");
  expect(ParsePrivateKey(Data("ecdsa.key") + "more", ""), "exactly one PEM block");
  expect(ParsePrivateKey("nope", ""), "not PEM");
  auto bad_algorithm = GenerateKeyPair("rsa", "");
  ASSERT_FALSE(bad_algorithm);
  EXPECT_NE(bad_algorithm.error().message.find("\"ecdsa-p256\" or \"ed25519\""), std::string::npos);
}

TEST(TrustKeys, CopiesShareTheKey) {
  auto key = ParsePublicKey(Data("ed25519.pub"));
  ASSERT_TRUE(key);
  PublicKey copy = *key;
  EXPECT_EQ(copy.evp(), key->evp());
  PublicKey moved = std::move(copy);
  EXPECT_EQ(moved.evp(), key->evp());
  EXPECT_EQ(copy.evp(), nullptr);  // NOLINT(bugprone-use-after-move): moved-from is empty
  EXPECT_FALSE(VerifySignature(copy, "x", std::string(64, 'a')));
  EXPECT_TRUE(VerifySignature(moved, Data("payload.json"), Data("payload.json.ed25519.sig")));
}

}  // namespace
}  // namespace keep
