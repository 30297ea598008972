#include "server/manifest_cache.h"

#include <gtest/gtest.h>

namespace keep::server {
namespace {

Digest Of(const std::string& bytes) {
  Hasher h(DigestAlgorithm::kSha256);
  h.Update(bytes);
  return h.Finish();
}

TEST(ManifestCache, KeepsWhatItWasGivenAndNothingElse) {
  ManifestCache cache(1024, 512);
  std::string a(100, 'a');
  EXPECT_FALSE(cache.Find(Of(a)));
  cache.Keep(Of(a), a);
  auto found = cache.Find(Of(a));
  ASSERT_TRUE(found);
  EXPECT_EQ(*found, a);
  EXPECT_FALSE(cache.Find(Of("other")));
  EXPECT_EQ(cache.bytes(), 100u);
  cache.Keep(Of(a), a);  // kept once
  EXPECT_EQ(cache.entries(), 1u);
  EXPECT_EQ(cache.bytes(), 100u);
}

TEST(ManifestCache, GivesUpTheLeastRecentlyServedFirst) {
  ManifestCache cache(300, 300);
  std::string a(100, 'a'), b(100, 'b'), c(100, 'c'), d(100, 'd');
  cache.Keep(Of(a), a);
  cache.Keep(Of(b), b);
  cache.Keep(Of(c), c);
  ASSERT_TRUE(cache.Find(Of(a)));  // a is now the most recently served
  cache.Keep(Of(d), d);            // over capacity: b goes
  EXPECT_TRUE(cache.Find(Of(a)));
  EXPECT_FALSE(cache.Find(Of(b)));
  EXPECT_TRUE(cache.Find(Of(c)));
  EXPECT_TRUE(cache.Find(Of(d)));
  EXPECT_EQ(cache.bytes(), 300u);
  EXPECT_EQ(cache.entries(), 3u);
}

TEST(ManifestCache, NeverKeepsWhatIsLargerThanAnEntryMayBe) {
  ManifestCache cache(1000, 200);
  std::string small(200, 's'), big(201, 'b');
  cache.Keep(Of(big), big);
  EXPECT_FALSE(cache.Find(Of(big)));
  EXPECT_EQ(cache.bytes(), 0u);
  cache.Keep(Of(small), small);
  EXPECT_TRUE(cache.Find(Of(small)));
  // One entry larger than the rest together empties it to make room.
  ManifestCache tight(250, 250);
  std::string x(100, 'x'), y(100, 'y'), z(250, 'z');
  tight.Keep(Of(x), x);
  tight.Keep(Of(y), y);
  tight.Keep(Of(z), z);
  EXPECT_EQ(tight.entries(), 1u);
  EXPECT_EQ(tight.bytes(), 250u);
  EXPECT_TRUE(tight.Find(Of(z)));
}

}  // namespace
}  // namespace keep::server
