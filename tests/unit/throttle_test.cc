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

}  // namespace
}  // namespace keep
