// core/clock.h's ParseMoment: the times `keepctl audit --since` and
// `GET /admin/v1/audit?since=` take.
#include "core/clock.h"

#include <gtest/gtest.h>

namespace keep {
namespace {

constexpr std::int64_t kNow = 1'800'000'000;

TEST(MomentTest, ATimeAgoCountsBackFromNow) {
  EXPECT_EQ(*ParseMoment("90s", kNow), kNow - 90);
  EXPECT_EQ(*ParseMoment("30m", kNow), kNow - 1800);
  EXPECT_EQ(*ParseMoment("1h", kNow), kNow - 3600);
  EXPECT_EQ(*ParseMoment("2d", kNow), kNow - 2 * 86400);
  EXPECT_EQ(*ParseMoment("0s", kNow), kNow);
}

TEST(MomentTest, Rfc3339IsReadWithItsOffset) {
  EXPECT_EQ(*ParseMoment("2026-12-02T06:00:00Z", kNow), 1796191200);
  EXPECT_EQ(*ParseMoment("2026-12-02T08:00:00+02:00", kNow), 1796191200);
  EXPECT_EQ(*ParseMoment("2026-12-02T01:30:00-04:30", kNow), 1796191200);
  EXPECT_EQ(*ParseMoment("2026-12-02T06:00:00.123Z", kNow), 1796191200);
}

TEST(MomentTest, AnythingElseIsRefusedSayingWhatIsAccepted) {
  for (const char* bad : {"", "h", "1", "1y", "-1h", "1.5h", "1h30m", "99999999999d", "yesterday",
                          "2026-12-02", "2026-12-02T06:00:00", "2026-13-01T00:00:00Z",
                          "2026-02-30T00:00:00Z", "2026-12-02T24:00:00Z", "2026-12-02T06:00:00+2",
                          "2026-12-02T06:00:00.Z", "2026-12-02T06:00:00Zjunk"}) {
    auto r = ParseMoment(bad, kNow);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalid) << bad;
    EXPECT_NE(r.error().message.find("RFC 3339"), std::string::npos) << bad;
  }
}

}  // namespace
}  // namespace keep
