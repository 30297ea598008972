#include "core/digest.h"

#include <gtest/gtest.h>

namespace keep {
namespace {

TEST(Digest, ParsesCanonicalSha256) {
  auto d = Digest::Parse("sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->algorithm(), DigestAlgorithm::kSha256);
  EXPECT_EQ(d->str(), "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(Digest, RefusesBadForms) {
  for (const char* bad : {"", "sha256", "sha256:", "md5:d41d8cd98f00b204e9800998ecf8427e",
                          "sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
                          "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85",
                          "sha256:../../../../etc/passwd", "sha256:e3b0/c44298"}) {
    auto d = Digest::Parse(bad);
    ASSERT_FALSE(d) << bad;
    EXPECT_EQ(d.error().code, ErrorCode::kDigestInvalid) << bad;
  }
}

TEST(Digest, HashesEmptyAndStreamedInput) {
  EXPECT_EQ(Sha256Of("").str(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  Hasher h;
  h.Update("hello ");
  h.Update("world");
  EXPECT_EQ(h.Finish(), Sha256Of("hello world"));
  EXPECT_EQ(Sha256Of("hello world").hex(),
            "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9");
}

TEST(Digest, Sha512IsAccepted) {
  Hasher h(DigestAlgorithm::kSha512);
  h.Update("abc");
  Digest d = h.Finish();
  EXPECT_EQ(d.hex().size(), 128u);
  EXPECT_EQ(d.hex().substr(0, 16), "ddaf35a193617aba");
  auto parsed = Digest::Parse(d.str());
  ASSERT_TRUE(parsed);
  EXPECT_EQ(*parsed, d);
}

}  // namespace
}  // namespace keep
