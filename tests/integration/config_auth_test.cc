// The auth.* settings (README.md's configuration table) and the login
// lockout. Each test sets a value other than the default and fails if
// keepd went on with the default.
//
// Failed logins are counted per client address and per user; the tests
// connect from other loopback addresses (127.0.0.2, ...) to be other hosts.
#include "core/base64.h"
#include "tests/support/keepd_test.h"

#include <chrono>
#include <thread>

namespace keep::testkit {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

// The claims of a JWT, unverified.
json Claims(const std::string& token) {
  auto first = token.find('.'), second = token.find('.', first + 1);
  if (first == std::string::npos || second == std::string::npos) return json();
  auto payload = DecodeBase64(std::string_view(token).substr(first + 1, second - first - 1),
                              Base64Alphabet::kUrlNoPadding);
  return payload ? json::parse(*payload, nullptr, false) : json();
}

HttpsClient ClientFrom(const KeepdProcess& keepd, const std::string& address,
                       const std::string& user, const std::string& password) {
  HttpsClient c = keepd.AnonymousClient();
  c.SetSourceAddress(address);
  c.SetBasicAuth(user, password);
  return c;
}

// --- auth.service, auth.token_realm, auth.realm, auth.token_seconds ---------

constexpr const char* kService = "registry.example.test";
constexpr const char* kTokenRealm = "https://auth.example.test/v1/token";
constexpr const char* kRealm = "Example registry";
constexpr int kTokenSeconds = 45;

class TokenSettingsTest : public KeepdTest {
 protected:
  TokenSettingsTest()
      : KeepdTest({{"auth",
                    {{"service", kService},
                     {"token_realm", kTokenRealm},
                     {"realm", kRealm},
                     {"token_seconds", kTokenSeconds}}}}) {}
};

TEST_F(TokenSettingsTest, ChallengeNamesTheConfiguredRealmAndService) {
  HttpsClient anonymous = keepd_.AnonymousClient();
  Response r = anonymous.Get(TagsPath("acme/app"));
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.Header("WWW-Authenticate"),
            std::string("Bearer realm=\"") + kTokenRealm + "\",service=\"" + kService +
                "\",scope=\"repository:acme/app:pull\"");
}

TEST_F(TokenSettingsTest, TokenServiceAnswersForTheConfiguredServiceOnly) {
  Response ours = client_.Get(std::string("/token?service=") + kService + "&scope=registry:catalog:*");
  ASSERT_EQ(ours.status, 200) << ours.body;
  EXPECT_EQ(ours.Json().value("expires_in", 0), kTokenSeconds);
  json claims = Claims(ours.Json().value("token", ""));
  ASSERT_TRUE(claims.is_object()) << ours.body;
  EXPECT_EQ(claims["aud"], kService) << claims.dump();
  EXPECT_EQ(claims.value("exp", 0LL) - claims.value("iat", 0LL), kTokenSeconds) << claims.dump();

  Response posted = keepd_.AnonymousClient().Post(
      "/token",
      std::string("grant_type=password&service=") + kService + "&username=" + kAdminUser +
          "&password=" + kAdminPassword,
      {{"Content-Type", "application/x-www-form-urlencoded"}});
  ASSERT_EQ(posted.status, 200) << posted.body;
  EXPECT_EQ(posted.Json().value("expires_in", 0), kTokenSeconds);

  // The default name is not this service's.
  EXPECT_TRUE(IsError(client_.Get("/token?service=keep"), 403, "DENIED"));
}

TEST_F(TokenSettingsTest, TokenServiceBasicChallengeNamesTheConfiguredRealm) {
  HttpsClient wrong = keepd_.AnonymousClient();
  wrong.SetBasicAuth(kAdminUser, "not the password");
  Response r = wrong.Get(std::string("/token?service=") + kService);
  EXPECT_TRUE(IsError(r, 401, "UNAUTHORIZED"));
  EXPECT_EQ(r.Header("WWW-Authenticate"),
            std::string("Basic realm=\"") + kRealm + "\", charset=\"UTF-8\"");
}

// The shortest lifetime the config allows is 30 s: the token is used until
// keepd refuses it, which must happen, and only as expired.
TEST(ConfigAuthTest, TokenIsRefusedOnceTokenSecondsHavePassed) {
  KeepdProcess keepd(json{{"auth", {{"token_seconds", 30}}}});
  HttpsClient admin = keepd.AdminClient();
  Response issued = admin.Get("/token?service=keep&scope=registry:catalog:*");
  ASSERT_EQ(issued.status, 200) << issued.body;
  const std::string token = issued.Json().value("token", "");
  HttpsClient bearer = keepd.AnonymousClient();
  const Headers with_token = {{"Authorization", "Bearer " + token}};
  ASSERT_EQ(bearer.Get("/v2/_catalog", with_token).status, 200);

  // 80 s of polling at most: the default lifetime is five minutes.
  std::optional<Response> refused;
  int accepted = 1;
  for (int i = 0; i < 160 && !refused; ++i) {
    std::this_thread::sleep_for(500ms);
    Response r = bearer.Get("/v2/_catalog", with_token);
    if (r.status == 200) {
      ++accepted;
    } else {
      refused = r;
    }
  }
  ASSERT_TRUE(refused) << "the token was still accepted " << accepted << " polls later";
  EXPECT_TRUE(IsError(*refused, 401, "UNAUTHORIZED")) << refused->body;
  EXPECT_NE(ErrorMessage(*refused).find("expired"), std::string::npos) << refused->body;
  // A new token works again.
  Response again = admin.Get("/token?service=keep&scope=registry:catalog:*");
  EXPECT_EQ(bearer.Get("/v2/_catalog", {{"Authorization",
                                         "Bearer " + again.Json().value("token", "")}})
                .status,
            200);
}

// --- auth.credential_cache_seconds ------------------------------------------
//
// A changed password ends a cached credential at once (auth_cache_test.cc).
// What the cache time decides is how long verified credentials are answered
// without checking the password again, and so without consulting the login
// lockout: a user locked out by someone else's guesses keeps the clients
// that signed in before, for as long as the cache lasts.

// Six wrong passwords for the admin from 127.0.0.2: the admin user is locked.
void LockTheAdminOut(const KeepdProcess& keepd) {
  HttpsClient guesser = ClientFrom(keepd, "127.0.0.2", kAdminUser, "a wrong guess");
  for (int i = 0; i < 6; ++i) {
    EXPECT_TRUE(IsError(guesser.Get("/v2/"), 401, "UNAUTHORIZED")) << i;
  }
  Response locked = guesser.Get("/v2/");
  EXPECT_TRUE(IsError(locked, 429, "TOOMANYREQUESTS"));
  // The lock's time left, as the message says it.
  EXPECT_EQ(locked.Header("Retry-After"), "1") << locked.body;
}

TEST(ConfigAuthTest, CachedCredentialsAreAnsweredWithoutTheirPasswordCheck) {
  KeepdProcess keepd(json{{"auth", {{"credential_cache_seconds", 3600}}}});
  HttpsClient admin = keepd.AdminClient();
  ASSERT_EQ(admin.Get("/v2/").status, 200);  // verified, and cached
  LockTheAdminOut(keepd);
  EXPECT_EQ(admin.Get("/v2/").status, 200) << "the cached credentials were checked again";
  // The cache holds credentials, not connections: the same ones from elsewhere too.
  HttpsClient same = ClientFrom(keepd, "127.0.0.3", kAdminUser, kAdminPassword);
  EXPECT_EQ(same.Get("/v2/").status, 200);
}

TEST(ConfigAuthTest, ZeroCacheSecondsChecksEveryRequest) {
  KeepdProcess keepd(json{{"auth", {{"credential_cache_seconds", 0}}}});
  HttpsClient admin = keepd.AdminClient();
  ASSERT_EQ(admin.Get("/v2/").status, 200);
  LockTheAdminOut(keepd);
  EXPECT_TRUE(IsError(admin.Get("/v2/"), 429, "TOOMANYREQUESTS"))
      << "credentials verified before were not checked again";
}

// Makes `guesser` fail until it has failed `failures` times in all, waiting
// out each lock (a locked user's attempts are refused uncounted).
void FailUntil(HttpsClient& guesser, int& failures, int target) {
  for (int polls = 0; failures < target && polls < 1000; ++polls) {
    Response r = guesser.Get("/v2/");
    if (r.status == 401) {
      ++failures;
    } else {
      ASSERT_TRUE(IsError(r, 429, "TOOMANYREQUESTS")) << r.status << " " << r.body;
      std::this_thread::sleep_for(100ms);
    }
  }
  ASSERT_EQ(failures, target);
}

TEST(ConfigAuthTest, CachedCredentialsAreCheckedAgainAfterTheCacheTime) {
  constexpr auto kCache = 5s;
  KeepdProcess keepd(json{{"auth", {{"credential_cache_seconds", kCache.count()}}}});
  HttpsClient admin = keepd.AdminClient();
  auto verified = std::chrono::steady_clock::now();
  ASSERT_EQ(admin.Get("/v2/").status, 200);
  HttpsClient guesser = ClientFrom(keepd, "127.0.0.2", kAdminUser, "a wrong guess");
  int failures = 0;
  FailUntil(guesser, failures, 6);  // the admin is locked for 1 s
  ASSERT_LT(std::chrono::steady_clock::now() - verified, kCache)
      << "six password checks took longer than the cache time; nothing to see";
  EXPECT_EQ(admin.Get("/v2/").status, 200) << "within the cache time";

  // Locks of 2, 4 and then 8 s: the last begins past the cache time (the
  // waits alone take 7 s) and lasts long after it.
  FailUntil(guesser, failures, 9);
  ASSERT_GT(std::chrono::steady_clock::now() - verified, kCache);
  EXPECT_TRUE(IsError(admin.Get("/v2/"), 429, "TOOMANYREQUESTS"))
      << "the credentials were still answered from the cache after it expired";
}

// --- the login lockout: per client address and per user --------------------

TEST(ConfigAuthTest, FailuresForManyUsersFromOneAddressLockThatAddressOut) {
  KeepdProcess keepd;
  for (int i = 0; i < 6; ++i) {
    HttpsClient guess = ClientFrom(keepd, "127.0.0.2", "nobody-" + std::to_string(i), "guess");
    EXPECT_TRUE(IsError(guess.Get("/v2/"), 401, "UNAUTHORIZED")) << i;
  }
  // The address is locked, whoever signs in from it and however rightly.
  HttpsClient right_there = ClientFrom(keepd, "127.0.0.2", kAdminUser, kAdminPassword);
  EXPECT_TRUE(IsError(right_there.Get("/v2/"), 429, "TOOMANYREQUESTS"));
  Response token = right_there.Get("/token?service=keep");
  EXPECT_TRUE(IsError(token, 429, "TOOMANYREQUESTS")) << token.status << " " << token.body;
  // Another address is not, and the failures locked no user it signs in as.
  HttpsClient elsewhere = ClientFrom(keepd, "127.0.0.3", kAdminUser, kAdminPassword);
  EXPECT_EQ(elsewhere.Get("/v2/").status, 200);
  HttpsClient named = ClientFrom(keepd, "127.0.0.3", "nobody-0", "guess");
  EXPECT_TRUE(IsError(named.Get("/v2/"), 401, "UNAUTHORIZED"));
}

TEST(ConfigAuthTest, FailuresForOneUserFromManyAddressesLockThatUserOut) {
  KeepdProcess keepd;
  HttpsClient admin = keepd.AdminClient();
  ASSERT_EQ(admin.Post("/admin/v1/users", R"({"name":"alice","password":"password-of-alice"})")
                .status,
            201);
  // One failure from each of six addresses: no address reaches the free five.
  for (int i = 0; i < 6; ++i) {
    HttpsClient guess =
        ClientFrom(keepd, "127.0.0." + std::to_string(10 + i), "alice", "guess");
    EXPECT_TRUE(IsError(guess.Get("/v2/"), 401, "UNAUTHORIZED")) << i;
  }
  HttpsClient alice = ClientFrom(keepd, "127.0.0.20", "alice", "password-of-alice");
  EXPECT_TRUE(IsError(alice.Get("/v2/"), 429, "TOOMANYREQUESTS"));
  // The addresses the guesses came from still sign others in.
  HttpsClient other = ClientFrom(keepd, "127.0.0.10", kAdminUser, kAdminPassword);
  EXPECT_EQ(other.Get("/v2/").status, 200);
}

// After the five free failures each one locks for twice as long as the last,
// from one second; the refusal says how long.
TEST(ConfigAuthTest, EachFailurePastFiveDoublesTheLock) {
  KeepdProcess keepd;
  HttpsClient guesser = ClientFrom(keepd, "127.0.0.2", "nobody", "guess");
  int failures = 0;
  for (int target = 6, seconds = 1; target <= 8; ++target, seconds *= 2) {
    FailUntil(guesser, failures, target);
    Response locked = guesser.Get("/v2/");
    EXPECT_TRUE(IsError(locked, 429, "TOOMANYREQUESTS")) << target;
    EXPECT_NE(ErrorMessage(locked).find("wait " + std::to_string(seconds) + " s"),
              std::string::npos)
        << "after failure " << target << ": " << ErrorMessage(locked);
  }
}

}  // namespace
}  // namespace keep::testkit
