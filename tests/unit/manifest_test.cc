#include "core/manifest.h"

#include <gtest/gtest.h>

namespace keep {
namespace {

const std::string kD1 = "sha256:" + std::string(64, 'a');
const std::string kD2 = "sha256:" + std::string(64, 'b');

std::string ImageManifest(const std::string& mt = std::string(media::kOciManifest)) {
  return R"({"schemaVersion":2,"mediaType":")" + mt +
         R"(","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":")" +
         kD1 + R"(","size":10},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":")" +
         kD2 + R"(","size":20}]})";
}

TEST(Manifest, ParsesOciImage) {
  auto m = ParseManifest(ImageManifest(), media::kOciManifest);
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_EQ(m->media_type, media::kOciManifest);
  ASSERT_TRUE(m->config);
  EXPECT_EQ(m->config->digest.str(), kD1);
  ASSERT_EQ(m->layers.size(), 1u);
  EXPECT_EQ(m->layers[0].size, 20);
  EXPECT_EQ(m->artifact_type, "application/vnd.oci.image.config.v1+json");
}

TEST(Manifest, ParsesIndexAndSubject) {
  std::string idx = R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json",
    "manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":")" + kD1 +
                    R"(","size":5,"platform":{"os":"linux","architecture":"amd64"}}],
    "subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":")" + kD2 +
                    R"(","size":7},"artifactType":"application/x-sbom","annotations":{"a":"b"}})";
  auto m = ParseManifest(idx, "");
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_EQ(m->manifests.size(), 1u);
  ASSERT_TRUE(m->subject);
  EXPECT_EQ(m->subject->digest.str(), kD2);
  EXPECT_EQ(m->artifact_type, "application/x-sbom");
  EXPECT_EQ(m->annotations_json, R"({"a":"b"})");
}

TEST(Manifest, ContentTypeMustMatchBody) {
  auto m = ParseManifest(ImageManifest(), media::kOciIndex);
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().code, ErrorCode::kManifestInvalid);
  // A body without mediaType takes the declared one, and must fit it.
  std::string no_mt = ImageManifest();
  no_mt.erase(no_mt.find(R"("mediaType":"application/vnd.oci.image.manifest.v1+json",)"),
              std::string(R"("mediaType":"application/vnd.oci.image.manifest.v1+json",)").size());
  EXPECT_FALSE(ParseManifest(no_mt, media::kDockerManifestList));
  auto docker = ParseManifest(no_mt, media::kDockerManifest);
  ASSERT_TRUE(docker);
  EXPECT_EQ(docker->media_type, media::kDockerManifest);
}

TEST(Manifest, DeclaredMediaTypeIsCaseInsensitive) {
  std::string list = R"({"schemaVersion":2,"manifests":[]})";
  auto m = ParseManifest(list, "Application/Vnd.Docker.Distribution.Manifest.List.V2+Json");
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_EQ(m->media_type, media::kDockerManifestList);
  EXPECT_FALSE(ParseManifest(ImageManifest(), "APPLICATION/VND.OCI.IMAGE.INDEX.V1+JSON"));
}

TEST(Manifest, RefusesMalformed) {
  for (std::string bad : {std::string("not json"), std::string("[]"),
                          std::string(R"({"schemaVersion":1})"),
                          std::string(R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"})"),
                          std::string(R"({"schemaVersion":2,"mediaType":"text/plain","layers":[]})"),
                          std::string(R"({"schemaVersion":2,"config":{"mediaType":"x","digest":"sha256:12","size":1},"layers":[]})"),
                          std::string(R"({"schemaVersion":2,"config":{"mediaType":"x","digest":")" + kD1 + R"(","size":-1},"layers":[]})")}) {
    auto m = ParseManifest(bad, "");
    ASSERT_FALSE(m) << bad;
    EXPECT_EQ(m.error().code, ErrorCode::kManifestInvalid) << bad;
  }
  EXPECT_FALSE(ParseManifest(ImageManifest(), media::kDockerSchema1Signed));
}

TEST(Manifest, ForeignLayersAreMarked) {
  std::string m = R"({"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",
   "config":{"mediaType":"application/vnd.docker.container.image.v1+json","digest":")" + kD1 +
                  R"(","size":1},"layers":[{"mediaType":"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip","digest":")" +
                  kD2 + R"(","size":2,"urls":["https://example.invalid/x"]}]})";
  auto p = ParseManifest(m, "");
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_TRUE(p->layers[0].foreign);
}

}  // namespace
}  // namespace keep
