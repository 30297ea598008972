#include "auth/throttle.h"

#include <gtest/gtest.h>

namespace keep {
namespace {

using Clock = LoginThrottle::Clock;
using std::chrono::seconds;

TEST(LoginThrottle, FreeFailuresThenDoublingLocks) {
  LoginThrottle t;  // 5 free failures, then 1 s, 2 s, 4 s ... up to 300 s
  Clock::time_point now{};
  for (int i = 0; i < 5; ++i) {
    t.Failure("user:admin", now);
    EXPECT_TRUE(t.Check("user:admin", now)) << i;
  }
  t.Failure("user:admin", now);
  auto locked = t.Check("user:admin", now);
  ASSERT_FALSE(locked);
  EXPECT_EQ(locked.error().code, ErrorCode::kTooManyRequests);
  EXPECT_NE(locked.error().message.find("wait 1 s"), std::string::npos) << locked.error().message;
  EXPECT_EQ(locked.error().retry_after_seconds, 1);  // sent as Retry-After
  EXPECT_TRUE(t.Check("user:admin", now + seconds(1)));
  t.Failure("user:admin", now + seconds(1));
  EXPECT_FALSE(t.Check("user:admin", now + seconds(2)));
  EXPECT_TRUE(t.Check("user:admin", now + seconds(3)));
  EXPECT_TRUE(t.Check("user:other", now));  // keys are separate
}

TEST(LoginThrottle, LockIsCappedAndSuccessClears) {
  LoginThrottle t;
  Clock::time_point now{};
  for (int i = 0; i < 40; ++i) t.Failure("address:10.0.0.1", now);
  EXPECT_FALSE(t.Check("address:10.0.0.1", now + seconds(299)));
  EXPECT_TRUE(t.Check("address:10.0.0.1", now + seconds(300)));
  t.Success("address:10.0.0.1");
  t.Failure("address:10.0.0.1", now);
  EXPECT_TRUE(t.Check("address:10.0.0.1", now));
}

RateLimiter::Policy Rate(double per_second, int burst, std::size_t max_keys = 100000) {
  RateLimiter::Policy p;
  p.per_second = per_second;
  p.burst = burst;
  p.max_keys = max_keys;
  return p;
}

TEST(RateLimiter, ABurstThenTheRateAndTheWaitUntilTheNextToken) {
  RateLimiter r(Rate(2, 4));
  Clock::time_point now{};
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(r.Take("a", now)) << i;
  auto refused = r.Take("a", now);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kTooManyRequests);
  EXPECT_EQ(refused.error().retry_after_seconds, 1);  // half a second, rounded up
  EXPECT_TRUE(r.Take("b", now));                      // keys are separate
  // Two a second: half a second brings one back, not two.
  EXPECT_TRUE(r.Take("a", now + std::chrono::milliseconds(500)));
  EXPECT_FALSE(r.Take("a", now + std::chrono::milliseconds(500)));
  // A long pause refills no more than the burst.
  auto later = now + seconds(3600);
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(r.Take("a", later)) << i;
  EXPECT_FALSE(r.Take("a", later));
}

TEST(RateLimiter, ASlowRateWaitsWholeSeconds) {
  RateLimiter r(Rate(0.25, 1));  // one every four seconds
  Clock::time_point now{};
  EXPECT_TRUE(r.Take("a", now));
  auto refused = r.Take("a", now + seconds(1));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().retry_after_seconds, 3);
  EXPECT_TRUE(r.Take("a", now + seconds(4)));
}

TEST(RateLimiter, OffWhenTheRateIsZero) {
  RateLimiter r(Rate(0, 1));
  EXPECT_FALSE(r.enabled());
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(r.Take("a", Clock::time_point{}));
}

// Many keys cannot grow the table without bound, and a key that is being
// held back stays held back while idle keys are dropped.
TEST(RateLimiter, TheTableIsBoundedAndKeepsWhomItHoldsBack) {
  RateLimiter r(Rate(1, 2, /*max_keys=*/100));
  Clock::time_point now{};
  ASSERT_TRUE(r.Take("busy", now));
  ASSERT_TRUE(r.Take("busy", now));
  ASSERT_FALSE(r.Take("busy", now));
  // Idle keys, each refilled by the time the next comes.
  for (int i = 0; i < 1000; ++i) {
    ASSERT_TRUE(r.Take("k" + std::to_string(i), now + seconds(10 + 10 * i)));
    ASSERT_TRUE(r.Take("busy", now + seconds(10 + 10 * i)));  // one a second, taken
    ASSERT_TRUE(r.Take("busy", now + seconds(10 + 10 * i)));
    ASSERT_FALSE(r.Take("busy", now + seconds(10 + 10 * i))) << i;
  }
}

TEST(AddressKey, IPv6ClientsCountByTheirSlash64) {
  EXPECT_EQ(AddressKey("192.0.2.7"), "192.0.2.7");
  EXPECT_EQ(AddressKey("::ffff:192.0.2.7"), "192.0.2.7");
  EXPECT_EQ(AddressKey("2001:db8:1:2:aaaa:bbbb:cccc:dddd"), "2001:db8:1:2::/64");
  EXPECT_EQ(AddressKey("2001:db8:1:2::1"), AddressKey("2001:db8:1:2:ffff::9"));
  EXPECT_NE(AddressKey("2001:db8:1:2::1"), AddressKey("2001:db8:1:3::1"));
  EXPECT_EQ(AddressKey("?"), "?");
}

}  // namespace
}  // namespace keep
