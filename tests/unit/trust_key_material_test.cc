// trust/key_material.h and OpenPgpKeyMaterialOf (trust/openpgp.h): one key
// has one material id, as a PEM key and inside any OpenPGP certificate. The
// certificates and PEM keys are gpg's own exports of the same keys
// (testdata/trust/openpgp/README.md), so Keep is checked against an
// independent implementation, not against itself.
#include "trust/trust.h"

#include "core/digest.h"
#include "trust_testdata.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace keep {
namespace {

using trust_test::Trimmed;

std::string Pgp(const std::string& name) { return trust_test::Data("openpgp/" + name); }
std::string Fpr(const std::string& name) { return Trimmed(Pgp(name + ".fpr")); }

std::vector<OpenPgpKeyMaterial> Material(const std::string& name) {
  auto material = OpenPgpKeyMaterialOf(Pgp(name + ".pub.asc"));
  EXPECT_TRUE(material) << name << ": " << material.error().message;
  return material ? *material : std::vector<OpenPgpKeyMaterial>();
}

// The id of a PEM key as keys.h documents it for a key as OpenSSL (and
// ssh-keygen) writes it: `openssl pkey -pubin -outform DER | sha256sum`.
std::string DocumentedPemId(const std::string& pem_file) {
  return Sha256Of(trust_test::DerOf(Pgp(pem_file))).hex();
}

// The keygrip gpg printed (`--with-keygrip`) for the key with this fingerprint.
std::string GpgKeygrip(const std::string& listing, const std::string& fingerprint) {
  std::size_t at = listing.find(":" + fingerprint + ":");
  if (at == std::string::npos) return {};
  at = listing.find("\ngrp:", at);
  if (at == std::string::npos) return {};
  std::size_t end = listing.find(":\n", at);
  std::size_t start = listing.rfind(':', end - 1) + 1;
  return listing.substr(start, end - start);
}

TEST(TrustKeyMaterial, AP256CertificateHasItsPemKeysId) {
  auto pem = ParsePublicKey(Pgp("p256.pub.pem"));
  ASSERT_TRUE(pem) << pem.error().message;
  ASSERT_EQ(pem->key_id(), DocumentedPemId("p256.pub.pem"));
  auto material = Material("p256");
  ASSERT_EQ(material.size(), 1u);
  EXPECT_TRUE(material[0].primary);
  EXPECT_EQ(material[0].fingerprint, Fpr("p256"));
  EXPECT_EQ(material[0].algorithm, "ecdsa-p256");
  EXPECT_EQ(material[0].material_id, pem->key_id());

  // As the admin API asks it of stored keys, in either format.
  auto from_cert = KeyMaterialIds("openpgp-ecdsa-p256", Pgp("p256.pub.asc"));
  auto from_pem = KeyMaterialIds("ecdsa-p256", Pgp("p256.pub.pem"));
  ASSERT_TRUE(from_cert) << from_cert.error().message;
  ASSERT_TRUE(from_pem) << from_pem.error().message;
  EXPECT_EQ(*from_cert, std::vector<std::string>{pem->key_id()});
  EXPECT_EQ(*from_pem, *from_cert);
}

TEST(TrustKeyMaterial, AnEd25519CertificateHasItsPemKeysId) {
  auto pem = ParsePublicKey(Pgp("ed25519.pub.pem"));
  ASSERT_TRUE(pem) << pem.error().message;
  ASSERT_EQ(pem->key_id(), DocumentedPemId("ed25519.pub.pem"));
  auto material = Material("ed25519");
  ASSERT_EQ(material.size(), 1u);
  EXPECT_EQ(material[0].fingerprint, Fpr("ed25519"));
  EXPECT_EQ(material[0].algorithm, "ed25519");
  EXPECT_EQ(material[0].material_id, pem->key_id());

  // The same key grown a signing and an encryption subkey: the primary key's
  // material is the same; each subkey has an id of its own.
  auto extended = Material("ed25519-extended");
  ASSERT_EQ(extended.size(), 3u);
  EXPECT_TRUE(extended[0].primary);
  EXPECT_EQ(extended[0].material_id, pem->key_id());
  EXPECT_EQ(extended[1].algorithm, "ed25519");
  EXPECT_NE(extended[1].material_id, pem->key_id());
  EXPECT_EQ(extended[1].material_id.size(), 64u);  // a PEM key's id: Keep takes Ed25519
  EXPECT_EQ(extended[2].algorithm, "ecdh-curve25519");
  EXPECT_TRUE(extended[2].material_id.starts_with("openpgp-keygrip:")) << extended[2].material_id;
}

// B and C are new certificates that gpg gave subkeys of A (its "existing
// key"): the same key material under new fingerprints.
TEST(TrustKeyMaterial, ASubkeySharedByTwoCertificatesHasOneId) {
  auto a = Material("shared-a");
  auto b = Material("shared-b");
  auto c = Material("shared-c");
  ASSERT_EQ(a.size(), 3u);
  ASSERT_EQ(b.size(), 2u);
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(a[0].fingerprint, Fpr("shared-a"));
  EXPECT_EQ(b[0].fingerprint, Fpr("shared-b"));
  EXPECT_NE(a[0].material_id, b[0].material_id);  // their own primary keys

  // The Ed25519 signing subkey: as gpg exports it in PEM, and in B.
  auto pem = ParsePublicKey(Pgp("shared-subkey.pub.pem"));
  ASSERT_TRUE(pem) << pem.error().message;
  EXPECT_EQ(a[1].algorithm, "ed25519");
  EXPECT_EQ(a[1].material_id, pem->key_id());
  EXPECT_EQ(b[1].material_id, pem->key_id());
  EXPECT_NE(b[1].fingerprint, a[1].fingerprint);

  // The RSA signing subkey has no PEM form Keep takes: named by the keygrip,
  // which is gpg's too; the fingerprints differ (another creation time).
  const std::string listing = Pgp("shared-keygrips.txt");
  EXPECT_EQ(a[2].algorithm, "rsa2048");
  EXPECT_EQ(a[2].material_id, "openpgp-keygrip:" + GpgKeygrip(listing, a[2].fingerprint));
  EXPECT_EQ(c[1].material_id, a[2].material_id);
  EXPECT_EQ(c[1].material_id, "openpgp-keygrip:" + GpgKeygrip(listing, c[1].fingerprint));
  EXPECT_NE(c[1].fingerprint, a[2].fingerprint);
}

TEST(TrustKeyMaterial, RsaKeysAreNamedByKeygrip) {
  auto material = Material("rsa");
  ASSERT_EQ(material.size(), 2u);
  for (const auto& m : material) {
    EXPECT_EQ(m.algorithm, "rsa3072");
    EXPECT_TRUE(m.material_id.starts_with("openpgp-keygrip:")) << m.material_id;
  }
  EXPECT_NE(material[0].material_id, material[1].material_id);
}

// RFC 9580's Ed25519 key (algorithm 27, the raw 32 bytes), in a v4
// certificate. The librnp Keep builds with (0.16) reads no such key, so the
// certificate cannot be added at all; a librnp that reads it must give it
// its PEM form's id, as for the legacy EdDSA form.
TEST(TrustKeyMaterial, AnRfc9580Ed25519KeyIsRefusedOrHasItsPemKeysId) {
  auto pem = ParsePublicKey(Pgp("ed25519-rfc9580.pub.pem"));
  ASSERT_TRUE(pem) << pem.error().message;
  auto key = ParseOpenPgpPublicKey(Pgp("ed25519-rfc9580.pub.asc"));
  if (!key) {
    EXPECT_EQ(key.error().code, ErrorCode::kInvalid);
    return;
  }
  auto material = OpenPgpKeyMaterialOf(key->armored);
  ASSERT_TRUE(material) << material.error().message;
  ASSERT_EQ(material->size(), 1u);
  EXPECT_EQ((*material)[0].material_id, pem->key_id());
}

TEST(TrustKeyMaterial, WhatDoesNotParseHasNoMaterial) {
  EXPECT_FALSE(KeyMaterialIds("openpgp-ed25519", "not a key"));
  EXPECT_FALSE(KeyMaterialIds("ed25519", Pgp("ed25519.pub.asc")));
  EXPECT_FALSE(OpenPgpKeyMaterialOf(Pgp("two-keys.pub.asc")));
}

}  // namespace
}  // namespace keep
