// Refused logins: a wrong password or an unknown user reads as refused
// credentials, the same for both; missing credentials read as
// "authentication required"; both keep the challenge clients need. Each
// refusal is logged with the attempted user name, escaped.
//
// Failed logins from one address are throttled after five (auth/throttle.h),
// and every request here comes from 127.0.0.1: a test makes at most five.
#include "tests/support/keepd_test.h"

#include <sstream>

namespace keep::testkit {
namespace {

using nlohmann::json;

constexpr const char* kRefused = "the user name or password was not accepted";

class RefusedLoginTest : public KeepdTest {
 protected:
  HttpsClient As(const std::string& user, const std::string& password) {
    HttpsClient c = keepd_.AnonymousClient();
    c.SetBasicAuth(user, password);
    return c;
  }

  // The message of the first error in a registry error body.
  static std::string MessageOf(const Response& r) {
    json j = r.Json();
    if (!j.is_object() || !j.contains("errors") || !j["errors"].is_array() || j["errors"].empty()) {
      return "(no error JSON: " + r.body + ")";
    }
    return j["errors"][0].value("message", "");
  }

  // keepd's stderr lines that report a refused login.
  std::vector<std::string> RefusalLines() const {
    std::vector<std::string> found;
    std::istringstream in(keepd_.Messages());
    for (std::string line; std::getline(in, line);) {
      if (line.find("refused login") != std::string::npos) found.push_back(line);
    }
    return found;
  }
};

// A wrong password, a user that does not exist, and a disabled user with a
// wrong password, on the registry API: one and the same answer.
TEST_F(RefusedLoginTest, WrongPasswordAndUnknownUserAreRefusedAlikeOnV2) {
  ASSERT_EQ(client_.Post("/admin/v1/users", R"({"name":"bob","password":"password-of-bob"})").status,
            201);
  ASSERT_EQ(client_.Patch("/admin/v1/users/bob", R"({"disabled":true})").status, 200);

  Response missing = keepd_.AnonymousClient().Get("/v2/");
  ASSERT_TRUE(IsError(missing, 401, "UNAUTHORIZED"));
  EXPECT_NE(MessageOf(missing).find("authentication required"), std::string::npos)
      << MessageOf(missing);
  EXPECT_EQ(MessageOf(missing).find("not accepted"), std::string::npos);

  Response wrong = As(kAdminUser, "not-the-password").Get("/v2/");
  Response unknown = As("nobody", "not-the-password").Get("/v2/");
  Response disabled = As("bob", "not-the-password").Get("/v2/");
  for (const Response* r : {&wrong, &unknown, &disabled}) {
    EXPECT_TRUE(IsError(*r, 401, "UNAUTHORIZED")) << r->status << " " << r->body;
    EXPECT_EQ(MessageOf(*r), kRefused);
    // Clients go on to the token service from this challenge.
    EXPECT_EQ(r->Header("WWW-Authenticate"), missing.Header("WWW-Authenticate"));
  }
  EXPECT_EQ(wrong.Header("WWW-Authenticate").rfind("Bearer realm=", 0), 0u);
  EXPECT_EQ(unknown.body, wrong.body);
  EXPECT_EQ(disabled.body, wrong.body);
}

// Only a caller who knows the password of a disabled account learns that it
// is disabled.
TEST_F(RefusedLoginTest, ADisabledAccountSaysSoOnlyToItsRightPassword) {
  ASSERT_EQ(client_.Post("/admin/v1/users", R"({"name":"bob","password":"password-of-bob"})").status,
            201);
  ASSERT_EQ(client_.Patch("/admin/v1/users/bob", R"({"disabled":true})").status, 200);
  Response right = As("bob", "password-of-bob").Get("/admin/v1/whoami");
  EXPECT_TRUE(IsError(right, 401, "UNAUTHORIZED")) << right.status << " " << right.body;
  EXPECT_EQ(MessageOf(right), "the account \"bob\" is disabled; an admin can enable it");
  EXPECT_TRUE(right.HasHeader("WWW-Authenticate"));
  Response wrong = As("bob", "not-the-password").Get("/admin/v1/whoami");
  EXPECT_EQ(MessageOf(wrong), kRefused);
  auto lines = RefusalLines();
  ASSERT_EQ(lines.size(), 2u) << keepd_.Messages();
  EXPECT_NE(lines[0].find("\"bob\" from 127.0.0.1: account disabled"), std::string::npos)
      << lines[0];
  EXPECT_NE(lines[1].find("\"bob\" from 127.0.0.1: wrong password"), std::string::npos) << lines[1];
}

TEST_F(RefusedLoginTest, AdminApiTellsRefusedFromMissing) {
  Response missing = keepd_.AnonymousClient().Get("/admin/v1/whoami");
  ASSERT_TRUE(IsError(missing, 401, "UNAUTHORIZED"));
  EXPECT_NE(MessageOf(missing).find("authentication required"), std::string::npos)
      << MessageOf(missing);
  Response wrong = As(kAdminUser, "not-the-password").Get("/admin/v1/whoami");
  Response unknown = As("nobody", "not-the-password").Get("/admin/v1/users");
  for (const Response* r : {&wrong, &unknown}) {
    EXPECT_TRUE(IsError(*r, 401, "UNAUTHORIZED")) << r->status << " " << r->body;
    EXPECT_EQ(MessageOf(*r), kRefused);
    EXPECT_TRUE(r->HasHeader("WWW-Authenticate"));
  }
}

// The token service: GET with Basic credentials and POST with the password
// grant. Without credentials GET /token hands out an anonymous token (for
// anonymous pulls); a password grant without a user name is refused as
// missing credentials.
TEST_F(RefusedLoginTest, TokenServiceTellsRefusedFromMissing) {
  const std::string get = "/token?service=keep&scope=repository:acme/app:pull";
  Response anonymous = keepd_.AnonymousClient().Get(get);
  EXPECT_EQ(anonymous.status, 200) << anonymous.body;

  Response wrong = As(kAdminUser, "not-the-password").Get(get);
  Response unknown = As("nobody", "not-the-password").Get(get);
  for (const Response* r : {&wrong, &unknown}) {
    EXPECT_TRUE(IsError(*r, 401, "UNAUTHORIZED")) << r->status << " " << r->body;
    EXPECT_EQ(MessageOf(*r), kRefused);
    EXPECT_EQ(r->Header("WWW-Authenticate").rfind("Basic realm=", 0), 0u)
        << r->Header("WWW-Authenticate");
  }

  const Headers form = {{"Content-Type", "application/x-www-form-urlencoded"}};
  HttpsClient none = keepd_.AnonymousClient();
  Response no_user = none.Post("/token", "grant_type=password&service=keep&password=x", form);
  EXPECT_TRUE(IsError(no_user, 401, "UNAUTHORIZED")) << no_user.status << " " << no_user.body;
  EXPECT_NE(MessageOf(no_user).find("authentication required"), std::string::npos)
      << MessageOf(no_user);
  Response post_wrong = none.Post(
      "/token", "grant_type=password&service=keep&username=admin&password=not-the-password", form);
  Response post_unknown = none.Post(
      "/token", "grant_type=password&service=keep&username=nobody&password=not-the-password", form);
  for (const Response* r : {&post_wrong, &post_unknown}) {
    EXPECT_TRUE(IsError(*r, 401, "UNAUTHORIZED")) << r->status << " " << r->body;
    EXPECT_EQ(MessageOf(*r), kRefused);
    EXPECT_TRUE(r->HasHeader("WWW-Authenticate"));
  }
  EXPECT_EQ(RefusalLines().size(), 4u) << keepd_.Messages();
}

TEST_F(RefusedLoginTest, RefusalsAreLoggedWithTheUserNameAndAddress) {
  ASSERT_EQ(As(kAdminUser, "not-the-password").Get("/v2/").status, 401);
  ASSERT_EQ(As("nobody", "not-the-password").Get("/v2/").status, 401);
  ASSERT_EQ(keepd_.AnonymousClient().Get("/v2/").status, 401);  // no credentials: no login
  ASSERT_EQ(client_.Get("/v2/").status, 200);
  auto lines = RefusalLines();
  ASSERT_EQ(lines.size(), 2u) << keepd_.Messages();
  EXPECT_EQ(lines[0], "keepd: refused login for user \"admin\" from 127.0.0.1: wrong password");
  EXPECT_EQ(lines[1], "keepd: refused login for user \"nobody\" from 127.0.0.1: unknown user");
}

// The user name comes from the client: a newline must not forge a log line,
// a terminal escape must not reach the admin's terminal, and a long name is
// cut short.
TEST_F(RefusedLoginTest, HostileUserNamesAreLoggedEscaped) {
  // (A user name ends at its first ':', so the forgery has none.)
  ASSERT_EQ(As("eve\r\nkeepd stopping", "x").Get("/v2/").status, 401);
  ASSERT_EQ(As("\x1b[2J\x1b[31mmallory", "x").Get("/v2/").status, 401);
  ASSERT_EQ(As(std::string(5000, 'n'), "x").Get("/v2/").status, 401);
  std::string messages = keepd_.Messages();
  EXPECT_EQ(messages.find('\x1b'), std::string::npos) << "a raw escape reached the log";
  std::istringstream in(messages);
  for (std::string line; std::getline(in, line);) {
    EXPECT_NE(line.rfind("keepd stopping", 0), 0u) << "a forged line: " << line;
  }
  auto lines = RefusalLines();
  ASSERT_EQ(lines.size(), 3u) << messages;
  EXPECT_EQ(lines[0],
            "keepd: refused login for user \"eve\\r\\nkeepd stopping\" from 127.0.0.1: "
            "unknown user");
  EXPECT_EQ(lines[1],
            "keepd: refused login for user \"\\x1b[2J\\x1b[31mmallory\" from 127.0.0.1: "
            "unknown user");
  EXPECT_EQ(lines[2], "keepd: refused login for user \"" + std::string(64, 'n') +
                          "...(5000 bytes)\" from 127.0.0.1: unknown user");
}

}  // namespace
}  // namespace keep::testkit
