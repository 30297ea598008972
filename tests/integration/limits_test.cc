// Limits on what one client address or one user may ask of keepd
// (server/limits.h): requests per second per address and per user, upload
// bodies at once per user, and the upload sessions a user keeps open and
// the bytes they hold. Each refusal is 429 TOOMANYREQUESTS with a
// Retry-After; whatever was stored stays as it was, and other clients and
// users go on being served.
#include "tests/integration/exposition.h"
#include "tests/support/keepd_test.h"

#include <thread>

namespace keep::testkit {
namespace {

using nlohmann::json;

// The seconds of a Retry-After header; -1 when absent or not a number.
int RetryAfter(const Response& r) {
  std::string v = r.Header("Retry-After");
  if (v.empty() || v.find_first_not_of("0123456789") != std::string::npos) return -1;
  return std::stoi(v);
}

std::string MessageOf(const Response& r) {
  json j = r.Json();
  if (!j.is_object() || !j.contains("errors") || j["errors"].empty()) return r.body;
  return j["errors"][0].value("message", "");
}

// Sends GET /v2/ until one is refused, at most `most` times; the number
// that were served before it.
int ServedBeforeRefusal(HttpsClient& c, int most, Response& refused) {
  for (int i = 0; i < most; ++i) {
    Response r = c.Get("/v2/");
    if (r.status != 200) {
      refused = r;
      return i;
    }
  }
  return most;
}

class AddressRateTest : public KeepdTest {
 protected:
  AddressRateTest()
      : KeepdTest(json{{"limits",
                        {{"address_requests_per_second", 2},
                         {"request_burst", 10},
                         {"user_requests_per_second", 0}}}}) {}
};

// An address gets its burst, then 429 with the wait until its next
// request; probes and other addresses are served meanwhile, and the
// address is served again once the wait is over.
TEST_F(AddressRateTest, AnAddressPastItsBurstWaitsWhileOthersAreServed) {
  Response refused;
  int served = ServedBeforeRefusal(client_, 30, refused);
  // The fixture's own start-up requests came from this address too.
  EXPECT_LE(served, 10);
  ASSERT_TRUE(IsError(refused, 429, "TOOMANYREQUESTS")) << refused.status << " " << refused.body;
  EXPECT_NE(MessageOf(refused).find("too many requests from this address"), std::string::npos)
      << MessageOf(refused);
  int wait = RetryAfter(refused);
  EXPECT_GE(wait, 1);
  EXPECT_LE(wait, 1);  // two a second: the next token is at most half a second away

  // Liveness and readiness probes are never held back; /metrics is.
  EXPECT_EQ(keepd_.AnonymousClient().Get("/healthz").status, 200);
  EXPECT_EQ(keepd_.AnonymousClient().Get("/readyz").status, 200);
  EXPECT_EQ(client_.Get("/metrics").status, 429);

  // Another address is served, even as the same user.
  HttpsClient other = keepd_.AdminClient();
  other.SetSourceAddress("127.0.0.2");
  EXPECT_EQ(other.Get("/v2/").status, 200);

  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  EXPECT_EQ(client_.Get("/v2/").status, 200);

  // The refusals are counted.
  Response scraped = other.Get("/metrics");
  ASSERT_EQ(scraped.status, 200) << scraped.body;
  Exposition parsed;
  ASSERT_TRUE(Parse(scraped.body, parsed));
  EXPECT_GE(parsed.Count("keep_limited_requests_total", {{"limit", "address_rate"}}), 1.0);
}

// The token service counts against the address too: a client cannot turn
// to /token for the password checks /v2/ no longer makes for it.
TEST_F(AddressRateTest, TheTokenServiceIsLimitedToo) {
  Response refused;
  ServedBeforeRefusal(client_, 30, refused);
  ASSERT_EQ(refused.status, 429);
  Response token = client_.Get("/token?service=keep&scope=repository:acme/app:pull");
  EXPECT_TRUE(IsError(token, 429, "TOOMANYREQUESTS")) << token.status << " " << token.body;
  EXPECT_GE(RetryAfter(token), 1);
}

class UserRateTest : public KeepdTest {
 protected:
  UserRateTest()
      : KeepdTest(json{{"limits",
                        {{"address_requests_per_second", 0},
                         {"user_requests_per_second", 2},
                         {"request_burst", 10}}}}) {}
};

// A user past their rate is refused from every address; another user from
// the same address is served.
TEST_F(UserRateTest, AUserPastTheirBurstIsRefusedFromEveryAddress) {
  ASSERT_EQ(
      client_.Post("/admin/v1/users", R"({"name":"bob","password":"password-of-bob"})").status,
      201);
  Response refused;
  ServedBeforeRefusal(client_, 30, refused);
  ASSERT_TRUE(IsError(refused, 429, "TOOMANYREQUESTS")) << refused.status << " " << refused.body;
  EXPECT_NE(MessageOf(refused).find("by user admin"), std::string::npos) << MessageOf(refused);
  EXPECT_GE(RetryAfter(refused), 1);

  HttpsClient elsewhere = keepd_.AdminClient();
  elsewhere.SetSourceAddress("127.0.0.3");
  EXPECT_TRUE(IsError(elsewhere.Get("/v2/"), 429, "TOOMANYREQUESTS"));

  HttpsClient bob = keepd_.AnonymousClient();
  bob.SetBasicAuth("bob", "password-of-bob");
  EXPECT_EQ(bob.Get("/v2/").status, 200);
  // Anonymous callers are counted by address alone (and here not at all).
  EXPECT_EQ(keepd_.AnonymousClient().Get("/v2/").status, 401);
}

class UploadLimitsTest : public KeepdTest {
 protected:
  static constexpr std::uint64_t kMiB = 1 << 20;
  UploadLimitsTest()
      : KeepdTest(json{{"limits",
                        {{"uploads_per_user", 1},
                         {"upload_sessions_per_user", 3},
                         {"upload_bytes_per_user", kMiB}}}}) {}

  void SetUp() override {
    ASSERT_EQ(client_.Post("/admin/v1/namespaces", json{{"name", "acme"}}.dump()).status, 201);
  }

  void AddPublisher(const std::string& user) {
    ASSERT_EQ(client_
                  .Post("/admin/v1/users",
                        json{{"name", user}, {"password", "password-of-" + user}}.dump())
                  .status,
              201);
    Response r = client_.Put("/admin/v1/namespaces/acme/members/" + user,
                             json{{"role", "publisher"}}.dump());
    ASSERT_EQ(r.status, 200) << r.body;
  }
  HttpsClient As(const std::string& user) {
    HttpsClient c = keepd_.AnonymousClient();
    c.SetBasicAuth(user, "password-of-" + user);
    return c;
  }
  // The bytes an upload session holds, from its status.
  std::uint64_t Held(HttpsClient& c, const std::string& location) {
    Response r = c.Get(location);
    EXPECT_EQ(r.status, 204) << r.body;
    std::string range = r.Header("Range");  // "0-<last>"
    std::uint64_t last = std::stoull(range.substr(range.find('-') + 1));
    return last == 0 ? 0 : last + 1;
  }
};

// A user with as many open sessions as allowed is refused another, told
// until when; cancelling one makes room. Another user is not affected.
TEST_F(UploadLimitsTest, OpenSessionsPerUserAreBounded) {
  PushImage(client_, "acme/app", "v1");
  AddPublisher("bob");
  std::vector<std::string> sessions(3);
  for (auto& session : sessions) session = StartUpload(client_, "acme/app");

  Response refused = client_.Post(UploadsPath("acme/app"));
  ASSERT_TRUE(IsError(refused, 429, "TOOMANYREQUESTS")) << refused.status << " " << refused.body;
  EXPECT_NE(MessageOf(refused).find("3 unfinished upload sessions"), std::string::npos)
      << MessageOf(refused);
  // The oldest expires after uploads.ttl_hours (24).
  EXPECT_GT(RetryAfter(refused), 23 * 3600);
  EXPECT_LE(RetryAfter(refused), 24 * 3600);

  HttpsClient bob = As("bob");
  EXPECT_EQ(bob.Post(UploadsPath("acme/app")).status, 202);

  ASSERT_EQ(client_.Delete(sessions[0]).status, 204);
  EXPECT_EQ(client_.Post(UploadsPath("acme/app")).status, 202);
  // A monolithic push holds no session and is not counted.
  PushBlob(client_, "acme/app", "one request");
}

// A session is its owner's: another user who may push to the repository
// cannot read, extend or cancel it.
TEST_F(UploadLimitsTest, ASessionIsItsOwnersAlone) {
  PushImage(client_, "acme/app", "v1");
  AddPublisher("bob");
  std::string mine = StartUpload(client_, "acme/app");
  HttpsClient bob = As("bob");
  EXPECT_TRUE(IsError(bob.Get(mine), 404, "BLOB_UPLOAD_UNKNOWN"));
  EXPECT_TRUE(IsError(bob.Patch(mine, "bob's bytes"), 404, "BLOB_UPLOAD_UNKNOWN"));
  EXPECT_TRUE(IsError(bob.Delete(mine), 404, "BLOB_UPLOAD_UNKNOWN"));
  EXPECT_EQ(Held(client_, mine), 0u);
}

// The bytes a user's unfinished sessions hold are bounded, whether the
// body says its length or comes chunked; a refused body stores nothing
// past the bound, and finishing a session makes room again.
TEST_F(UploadLimitsTest, BytesHeldInSessionsPerUserAreBounded) {
  PushImage(client_, "acme/app", "v1");
  const std::string first(600 * 1024, 'a');
  const std::string second(600 * 1024, 'b');
  std::string a = StartUpload(client_, "acme/app");
  std::string b = StartUpload(client_, "acme/app");
  ASSERT_EQ(client_.Patch(a, first).status, 202);

  std::optional<Response> refused = client_.TrySend({http::verb::patch, b, {}, second});
  ASSERT_TRUE(refused) << client_.last_error();
  EXPECT_TRUE(IsError(*refused, 429, "TOOMANYREQUESTS")) << refused->status << " " << refused->body;
  EXPECT_NE(MessageOf(*refused).find("limits.upload_bytes_per_user"), std::string::npos)
      << MessageOf(*refused);
  EXPECT_GT(RetryAfter(*refused), 23 * 3600);

  HttpsClient fresh = keepd_.AdminClient();
  std::optional<Response> chunked =
      fresh.TrySend({http::verb::patch, b, {}, second, /*chunked=*/true});
  if (chunked) {  // the answer may be lost to a reset when the body was cut off
    EXPECT_TRUE(IsError(*chunked, 429, "TOOMANYREQUESTS"))
        << chunked->status << " " << chunked->body;
  }
  HttpsClient check = keepd_.AdminClient();
  EXPECT_LE(Held(check, b), kMiB - first.size());
  EXPECT_EQ(Held(check, a), first.size());

  // Finishing the first frees its bytes: the second goes through.
  Response done = check.Put(a + "?digest=" + DigestOf(first));
  ASSERT_EQ(done.status, 201) << done.body;
  ASSERT_EQ(check.Delete(b).status, 204);
  std::string c = StartUpload(check, "acme/app");
  EXPECT_EQ(check.Patch(c, second).status, 202);
  Response finished = check.Put(c + "?digest=" + DigestOf(second));
  EXPECT_EQ(finished.status, 201) << finished.body;
  EXPECT_EQ(check.Get(BlobPath("acme/app", DigestOf(second))).body, second);
}

// While one of a user's bodies is being received, another is refused with
// Retry-After: 1 (uploads_per_user is 1 here); once it is done, the next
// one goes through. Another user uploads meanwhile.
TEST_F(UploadLimitsTest, UploadsAtOncePerUserAreBounded) {
  PushImage(client_, "acme/app", "v1");
  AddPublisher("bob");
  std::string a = StartUpload(client_, "acme/app");
  std::string b = StartUpload(client_, "acme/app");

  // Asking for 100 Continue tells when keepd has begun to take the body.
  HttpsClient slow = keepd_.AdminClient();
  slow.Write({http::verb::patch, a, {{"Content-Length", "20"}, {"Expect", "100-continue"}}, ""});
  auto go_on = slow.ReadResponse();
  ASSERT_TRUE(go_on) << slow.last_error();
  ASSERT_EQ(go_on->status, 100);

  Response refused = client_.Patch(b, "other");
  ASSERT_TRUE(IsError(refused, 429, "TOOMANYREQUESTS")) << refused.status << " " << refused.body;
  EXPECT_EQ(RetryAfter(refused), 1);
  EXPECT_NE(MessageOf(refused).find("limits.uploads_per_user"), std::string::npos);

  HttpsClient bob = As("bob");
  std::string bobs = StartUpload(bob, "acme/app");
  EXPECT_EQ(bob.Patch(bobs, "bob's bytes").status, 202);

  slow.WriteRaw("twenty bytes, slowly");
  auto first = slow.ReadResponse();
  ASSERT_TRUE(first);
  EXPECT_EQ(first->status, 202) << first->body;
  EXPECT_EQ(client_.Patch(b, "other").status, 202);
  EXPECT_EQ(Held(client_, a), 20u);
}

}  // namespace
}  // namespace keep::testkit
