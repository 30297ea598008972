// The verified-credentials cache: a changed password takes effect on the
// very next request. (What the cache saves is measured by bench/run.sh.)
#include "tests/support/keepd_test.h"

#include <chrono>
#include <thread>

namespace keep::testkit {
namespace {

using AuthCacheTest = KeepdTest;

// Changes the admin's password through the admin API, on a connection of its
// own (keepd holds its database exclusively, so no other process may write
// it). The handler does not touch the credentials cache: what drops the
// cached credentials is the re-check against the current hash.
void SetAdminPassword(const KeepdProcess& keepd, const std::string& password) {
  HttpsClient admin = keepd.AdminClient();
  Response r = admin.Put("/admin/v1/users/admin/password",
                         nlohmann::json{{"password", password}}.dump(),
                         {{"Content-Type", "application/json"}});
  ASSERT_EQ(r.status, 200) << r.body;
}

TEST_F(AuthCacheTest, ChangedPasswordDropsCachedCredentialsAtOnce) {
  ASSERT_EQ(client_.Get("/v2/").status, 200);
  ASSERT_EQ(client_.Get("/v2/").status, 200);  // now served from the cache
  SetAdminPassword(keepd_, "a-new-password");

  EXPECT_TRUE(IsError(client_.Get("/v2/"), 401, "UNAUTHORIZED"));
  HttpsClient fresh = keepd_.AnonymousClient();
  fresh.SetBasicAuth(kAdminUser, "a-new-password");
  EXPECT_EQ(fresh.Get("/v2/").status, 200);
}

TEST_F(AuthCacheTest, RepeatedFailuresGetTooManyRequests) {
  HttpsClient guesser = keepd_.AnonymousClient();
  guesser.SetBasicAuth(kAdminUser, "guess");
  for (int i = 0; i < 6; ++i) EXPECT_TRUE(IsError(guesser.Get("/v2/"), 401, "UNAUTHORIZED")) << i;
  Response locked = guesser.Get("/v2/");
  EXPECT_TRUE(IsError(locked, 429, "TOOMANYREQUESTS"));
  // The user is locked too, whatever the password, until the lock passes.
  HttpsClient right = keepd_.AnonymousClient();
  right.SetBasicAuth(kAdminUser, kAdminPassword);
  EXPECT_TRUE(IsError(right.Get("/v2/"), 429, "TOOMANYREQUESTS"));
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));
  EXPECT_EQ(right.Get("/v2/").status, 200);
}

}  // namespace
}  // namespace keep::testkit
