// keepctl's image references (cli/image_ref.h): docker's grammar, read for
// the one server keepctl is logged in to.
#include "cli/image_ref.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace keep::cli {
namespace {

const std::string kDigest = "sha256:" + std::string(64, 'a');
const std::vector<std::string> kOwn = {"keep.example:5000", "keep.example:5000"};
const std::vector<std::string> kOwnOn443 = {"keep.example", "keep.example:443"};
const std::vector<std::string> kOwnIpv6 = {"[::1]:5000", "[::1]:5000"};

struct Case {
  std::string text;
  std::string repository, tag, digest;
};

TEST(ImageRef, ReadsWhatDockerWrites) {
  const Case cases[] = {
      {"acme/app:v1", "acme/app", "v1", ""},
      {"acme/app@" + kDigest, "acme/app", "", kDigest},
      {"acme/app:v1@" + kDigest, "acme/app", "v1", kDigest},
      {"keep.example:5000/acme/app:v1", "acme/app", "v1", ""},
      {"keep.example:5000/acme/app@" + kDigest, "acme/app", "", kDigest},
      {"docker://keep.example:5000/acme/app:v1", "acme/app", "v1", ""},
      {"docker://acme/app:v1@" + kDigest, "acme/app", "v1", kDigest},
      {"KEEP.example:5000/acme/team/app:1.0_rc-2", "acme/team/app", "1.0_rc-2", ""},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.text);
    auto ref = ParseImageRef(c.text, kOwn, "keepctl verify");
    ASSERT_TRUE(ref) << ref.error().message;
    EXPECT_EQ(ref->repository, c.repository);
    EXPECT_EQ(ref->tag, c.tag);
    EXPECT_EQ(ref->digest, c.digest);
    // The digest is what is fetched when both are given.
    EXPECT_EQ(ref->reference(), c.digest.empty() ? c.tag : c.digest);
  }
  EXPECT_EQ(ParseImageRef("acme/app:v1@" + kDigest, kOwn, "x")->ToString(),
            "acme/app:v1@" + kDigest);
  // Port 443 may be left out or written; an IPv6 server in brackets.
  EXPECT_TRUE(ParseImageRef("keep.example/acme/app:v1", kOwnOn443, "x"));
  EXPECT_TRUE(ParseImageRef("keep.example:443/acme/app:v1", kOwnOn443, "x"));
  EXPECT_FALSE(ParseImageRef("keep.example:5000/acme/app:v1", kOwnOn443, "x"));
  EXPECT_EQ(ParseImageRef("[::1]:5000/acme/app:v1", kOwnIpv6, "x")->repository, "acme/app");
}

TEST(ImageRef, AnotherRegistryIsRefusedSayingWhich) {
  auto other = ParseImageRef("other.example:5000/acme/app:v1", kOwn, "x");
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().exit, Exit::kFailed);
  EXPECT_EQ(other.error().message,
            "\"other.example:5000/acme/app:v1\" names the registry other.example:5000, not "
            "keep.example:5000 where keepctl is logged in");
  EXPECT_FALSE(ParseImageRef("localhost/acme/app:v1", kOwn, "x"));

  // Docker Hub by name, with or without the library/ docker adds.
  for (const std::string& text : std::vector<std::string>{
           "docker.io/library/alpine:3", "docker://docker.io/acme/app:v1",
           "index.docker.io/acme/app@" + kDigest, "registry-1.docker.io/acme/app:v1"}) {
    SCOPED_TRACE(text);
    auto hub = ParseImageRef(text, kOwn, "x");
    ASSERT_FALSE(hub);
    EXPECT_NE(hub.error().message.find("names Docker Hub; keepctl talks to one Keep server, "
                                       "keep.example:5000"),
              std::string::npos)
        << hub.error().message;
  }

  // A namespace with a '.' reads as a host, as docker reads it: the hint
  // says how to name it.
  auto dotted = ParseImageRef("my.org/app:v1", kOwn, "x");
  ASSERT_FALSE(dotted);
  EXPECT_EQ(dotted.error().hint,
            "if my.org is a namespace, lead with the registry: keep.example:5000/my.org/app:v1");
  auto led = ParseImageRef("keep.example:5000/my.org/app:v1", kOwn, "x");
  ASSERT_TRUE(led);
  EXPECT_EQ(led->repository, "my.org/app");
}

TEST(ImageRef, BadReferencesAreUsageErrors) {
  const std::pair<std::string, std::string> cases[] = {
      {"acme/app", "names no tag or digest"},
      {"keep.example:5000/acme/app", "names no tag or digest"},
      {"", "no image reference given"},
      {"docker://", "no image reference given"},
      {"acme/app@sha256:abc", "bad digest \"sha256:abc\""},
      {"acme/app:-v1", "bad tag \"-v1\""},
      {"acme/app:v1:v2", "bad repository name \"acme/app:v1\""},
      {"Acme/app:v1", "names the registry Acme"},  // upper case: a host, as docker reads it
      {"acme//app:v1", "bad repository name"},
      {"acme/App:v1", "bad repository name"},
  };
  for (const auto& [text, expected] : cases) {
    SCOPED_TRACE(text);
    auto ref = ParseImageRef(text, kOwn, "keepctl image show");
    ASSERT_FALSE(ref);
    EXPECT_NE(ref.error().message.find(expected), std::string::npos) << ref.error().message;
    if (expected.rfind("names the registry", 0) != 0) {
      EXPECT_EQ(ref.error().exit, Exit::kUsage);
      EXPECT_EQ(ref.error().hint, "run `keepctl image show --help` for usage");
    }
  }
}

TEST(ImageRef, ARepositoryAloneHasNoTagOrDigest) {
  EXPECT_EQ(*ParseRepositoryRef("acme/app", kOwn, "x"), "acme/app");
  EXPECT_EQ(*ParseRepositoryRef("docker://keep.example:5000/acme/app", kOwn, "x"), "acme/app");
  auto tagged = ParseRepositoryRef("acme/app:v1", kOwn, "keepctl tag list");
  ASSERT_FALSE(tagged);
  EXPECT_EQ(tagged.error().exit, Exit::kUsage);
  EXPECT_NE(tagged.error().message.find("give the repository alone"), std::string::npos);
  EXPECT_FALSE(ParseRepositoryRef("acme/app@" + kDigest, kOwn, "x"));
  EXPECT_FALSE(ParseRepositoryRef("docker.io/library/alpine", kOwn, "x"));
}

}  // namespace
}  // namespace keep::cli
