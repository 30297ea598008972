// Keep's cosign verification against signatures that cosign itself (and, for
// one, containers/image's own signer) made, not Keep: the published fixtures of the
// containers/image library, which Debian ships in golang-github-containers-image-dev (keep.sh
// fetches that package and unpacks the fixtures into tests/published/containers-image). Each
// fixture holds cosign's simple-signing payload and its signature (the
// `dev.cosignproject.cosign/signature` annotation) for a real image manifest, and cosign.pub the
// key that signed them.
//
// What is independent here is what cosign produced: the payload bytes, the
// signature over them, the annotation's name and encoding, and the key's
// PEM. The signature manifest around them is Keep's (BuildCosignManifest):
// no program that writes cosign's tag layout runs on this machine (Debian
// builds skopeo and podman with their sigstore signing disabled).
#include "trust/trust.h"

#include "core/base64.h"
#include "core/digest.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

namespace keep {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const fs::path kFixtures = fs::path(KEEP_PUBLISHED) / "containers-image";

std::string Read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// One signature as containers/image stores it beside an image: a magic line,
// then JSON with the payload (base64) and the layer's annotations.
struct Published {
  std::string payload;
  std::string signature;  // raw bytes
  json annotations;
};

Published ReadSignature(const fs::path& p) {
  const std::string magic = std::string("\0sigstore-json\n", 15);
  std::string text = Read(p);
  EXPECT_EQ(text.rfind(magic, 0), 0u) << p;
  json j = json::parse(text.substr(magic.size()));
  EXPECT_EQ(j["mimeType"], "application/vnd.dev.cosign.simplesigning.v1+json") << p;
  Published out;
  out.payload = DecodeBase64(j["payload"].get<std::string>()).value();
  out.annotations = j["annotations"];
  out.signature =
      DecodeBase64(j["annotations"]["dev.cosignproject.cosign/signature"].get<std::string>())
          .value();
  return out;
}

class PublishedCosignSignatures : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fs::exists(kFixtures / "cosign.pub"))
        << kFixtures << " is missing: ./keep.sh test fetches it (fetch_published_fixtures)";
    auto key = ParsePublicKey(Read(kFixtures / "cosign.pub"));
    ASSERT_TRUE(key) << key.error().message;
    key_ = *key;
    manifest_ = Read(kFixtures / "dir-img-cosign-valid" / "manifest.json");
  }

  // Keep's verdict on one published signature of `manifest`'s digest, for
  // `repository`, with cosign.pub trusted.
  std::optional<CosignVerdict> Verify(const Published& sig, const std::string& manifest,
                                      const std::string& repository) {
    CosignManifest built = BuildCosignManifest(sig.payload, sig.signature);
    auto parsed = ParseSignatureManifest(built.manifest);
    EXPECT_TRUE(parsed) << parsed.error().message;
    auto layers = ReadCosignSignatures(*parsed);
    EXPECT_TRUE(layers) << layers.error().message;
    if (!layers || layers->size() != 1) return std::nullopt;
    PayloadFetcher fetch = [&](const Digest& d) -> Result<std::string> {
      if (d == built.payload_digest) return sig.payload;
      return Fail(ErrorCode::kBlobUnknown, "blob unknown to registry");
    };
    auto verdicts = VerifyCosign(*layers, fetch, Sha256Of(manifest), repository, {*key_});
    EXPECT_EQ(verdicts.size(), 1u);
    if (verdicts.empty()) return std::nullopt;
    return verdicts[0];
  }

  std::optional<PublicKey> key_;
  std::string manifest_;
};

TEST_F(PublishedCosignSignatures, KeepBuildsThePayloadCosignSignedByteForByte) {
  Published sig = ReadSignature(kFixtures / "dir-img-cosign-valid" / "signature-1");
  auto payload = ParseSimpleSigning(sig.payload);
  ASSERT_TRUE(payload) << payload.error().message;
  EXPECT_EQ(payload->docker_reference, "192.168.64.2:5000/cosign-signed-single-sample");
  EXPECT_EQ(payload->manifest_digest, Sha256Of(manifest_));
  EXPECT_EQ(MakeSimpleSigning(payload->docker_reference, Sha256Of(manifest_)), sig.payload);
}

TEST_F(PublishedCosignSignatures, CosignsSignaturesVerify) {
  for (const char* file :
       {"dir-img-cosign-valid/signature-1", "dir-img-cosign-valid-2/signature-2"}) {
    SCOPED_TRACE(file);
    auto v = Verify(ReadSignature(kFixtures / file), manifest_, "cosign-signed-single-sample");
    ASSERT_TRUE(v);
    EXPECT_TRUE(v->verified) << v->reason;
    EXPECT_EQ(v->key_id, key_->key_id());
    EXPECT_EQ(v->unverified_material, "");
  }
  // This one containers/image's own signer made (skopeo, with the same key):
  // its payload names the image with a tag, and fills "optional" with its
  // creator and a timestamp. It signs for its own repository only.
  Published tagged = ReadSignature(kFixtures / "dir-img-cosign-valid-with-tag" / "signature-1");
  auto payload = ParseSimpleSigning(tagged.payload);
  ASSERT_TRUE(payload) << payload.error().message;
  EXPECT_EQ(payload->docker_reference, "192.168.64.2:5000/skopeo-signed:tag");
  EXPECT_TRUE(payload->optional.is_object()) << payload->optional;
  const std::string manifest = Read(kFixtures / "dir-img-cosign-valid-with-tag" / "manifest.json");
  auto other_repo = Verify(tagged, manifest, "cosign-signed-single-sample");
  ASSERT_TRUE(other_repo);
  EXPECT_FALSE(other_repo->verified);
  auto v = Verify(tagged, manifest, "skopeo-signed");
  ASSERT_TRUE(v);
  EXPECT_TRUE(v->verified) << v->reason;
}

TEST_F(PublishedCosignSignatures, WhatCosignSignedForOthersDoesNotVerify) {
  Published valid = ReadSignature(kFixtures / "dir-img-cosign-valid" / "signature-1");
  // Another key's signature: well formed, not verified.
  auto other = Verify(ReadSignature(kFixtures / "unknown-cosign-key.signature"), manifest_,
                      "cosign-signed-single-sample");
  ASSERT_TRUE(other);
  EXPECT_FALSE(other->verified);
  EXPECT_TRUE(other->well_formed) << other->reason;
  // The same signature for a modified manifest: it signs another digest.
  std::string modified = Read(kFixtures / "dir-img-cosign-modified-manifest" / "manifest.json");
  ASSERT_NE(Sha256Of(modified), Sha256Of(manifest_));
  auto moved = Verify(valid, modified, "cosign-signed-single-sample");
  ASSERT_TRUE(moved);
  EXPECT_FALSE(moved->verified);
  EXPECT_NE(moved->reason, "");
  // The same signature presented for another repository.
  auto elsewhere = Verify(valid, manifest_, "acme/app");
  ASSERT_TRUE(elsewhere);
  EXPECT_FALSE(elsewhere->verified);
  EXPECT_NE(elsewhere->reason, "");
  // One flipped bit of cosign's signature.
  Published flipped = valid;
  flipped.signature[flipped.signature.size() / 2] ^= 0x01;
  auto bad = Verify(flipped, manifest_, "cosign-signed-single-sample");
  ASSERT_TRUE(bad);
  EXPECT_FALSE(bad->verified);
}

}  // namespace
}  // namespace keep
