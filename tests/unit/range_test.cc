#include "core/range.h"

#include <gtest/gtest.h>

namespace keep {
namespace {

TEST(Range, ParsesForms) {
  auto r = ParseRange("bytes=0-9", 100);
  ASSERT_TRUE(r && *r);
  EXPECT_EQ((*r)->first, 0u);
  EXPECT_EQ((*r)->last, 9u);
  EXPECT_EQ((*r)->length(), 10u);
  r = ParseRange("bytes=90-", 100);
  ASSERT_TRUE(r && *r);
  EXPECT_EQ((*r)->first, 90u);
  EXPECT_EQ((*r)->last, 99u);
  r = ParseRange("bytes=-10", 100);
  ASSERT_TRUE(r && *r);
  EXPECT_EQ((*r)->first, 90u);
  r = ParseRange("bytes=50-1000", 100);  // clamped to the end
  ASSERT_TRUE(r && *r);
  EXPECT_EQ((*r)->last, 99u);
}

TEST(Range, RefusesUnsatisfiableAndMalformed) {
  EXPECT_EQ(ParseRange("bytes=100-", 100).error().code, ErrorCode::kRangeInvalid);
  EXPECT_EQ(ParseRange("bytes=0-0", 0).error().code, ErrorCode::kRangeInvalid);
  EXPECT_EQ(ParseRange("items=0-1", 100).error().code, ErrorCode::kBlobUploadInvalid);
  EXPECT_EQ(ParseRange("bytes=a-b", 100).error().code, ErrorCode::kBlobUploadInvalid);
  EXPECT_EQ(ParseRange("bytes=0-1,3-4", 100).error().code, ErrorCode::kUnsupported);
  EXPECT_EQ(ParseRange("bytes=99999999999999999999-", 100).error().code,
            ErrorCode::kBlobUploadInvalid);
}

// RFC 9110 §14.1.1: a range-spec whose last-pos is less than its first-pos is
// invalid, and a server ignores an invalid Range (§14.2): the whole blob, 200.
TEST(Range, LastBeforeFirstIsIgnored) {
  for (const char* header : {"bytes=5-1", "bytes=500-0", "bytes=1-0"}) {
    auto r = ParseRange(header, 1000);
    ASSERT_TRUE(r) << header << ": " << r.error().message;
    EXPECT_FALSE(*r) << header;
  }
  // Ignored whatever the size, even past the end.
  auto past = ParseRange("bytes=5000-10", 1000);
  ASSERT_TRUE(past);
  EXPECT_FALSE(*past);
}

TEST(ContentRange, UploadForms) {
  auto r = ParseContentRange("0-1023");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->length(), 1024u);
  r = ParseContentRange("bytes 10-19/100");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->first, 10u);
  EXPECT_EQ(r->last, 19u);
  EXPECT_FALSE(ParseContentRange("10"));
  EXPECT_FALSE(ParseContentRange("9-3"));
  EXPECT_FALSE(ParseContentRange("-3"));
}

}  // namespace
}  // namespace keep
