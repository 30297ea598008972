#include "core/names.h"

#include <gtest/gtest.h>

namespace keep {
namespace {

TEST(RepoName, AcceptsSpecGrammar) {
  for (const char* ok : {"a", "library/alpine", "acme/web/api", "a.b_c__d-e--f/x0",
                         "0/1/2", "my-org/my.app"}) {
    EXPECT_TRUE(ValidateRepoName(ok)) << ok;
  }
}

TEST(RepoName, RefusesEverythingElse) {
  std::string too_long(256, 'a');
  for (std::string bad : {std::string(""), std::string(".."), std::string("a/../b"),
                          std::string("a//b"), std::string("/a"), std::string("a/"),
                          std::string("Upper"), std::string("a___b"), std::string("a..b"),
                          std::string("-a"), std::string("a-"), std::string("a b"),
                          std::string("a/./b"), std::string("a%2f"), too_long}) {
    auto r = ValidateRepoName(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, ErrorCode::kNameInvalid) << bad;
  }
  EXPECT_TRUE(ValidateRepoName(std::string(255, 'a')));
}

TEST(Tag, Grammar) {
  EXPECT_TRUE(IsValidTag("latest"));
  EXPECT_TRUE(IsValidTag("v1.2.3-rc_1"));
  EXPECT_TRUE(IsValidTag("_x"));
  EXPECT_TRUE(IsValidTag(std::string(128, 'a')));
  EXPECT_FALSE(IsValidTag(std::string(129, 'a')));
  EXPECT_FALSE(IsValidTag(""));
  EXPECT_FALSE(IsValidTag(".hidden"));
  EXPECT_FALSE(IsValidTag("-x"));
  EXPECT_FALSE(IsValidTag("a/b"));
}

TEST(Reference, TagOrDigest) {
  auto t = Reference::Parse("v1");
  ASSERT_TRUE(t);
  EXPECT_FALSE(t->is_digest());
  auto d = Reference::Parse(
      "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  ASSERT_TRUE(d);
  EXPECT_TRUE(d->is_digest());
  EXPECT_EQ(Reference::Parse("sha256:zz").error().code, ErrorCode::kDigestInvalid);
  EXPECT_EQ(Reference::Parse("bad/tag").error().code, ErrorCode::kManifestInvalid);
  EXPECT_EQ(NamespaceOf("acme/web/api"), "acme");
  EXPECT_EQ(NamespaceOf("solo"), "solo");
}

}  // namespace
}  // namespace keep
