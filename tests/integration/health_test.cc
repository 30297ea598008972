// /healthz and /readyz: open to anyone, GET and HEAD only, telling nothing
// but ok or which check fails; /readyz turns 503 while the metadata database
// or the blob storage cannot be used, and 200 again once they can, without
// a restart.
//
// The tests run as root, whom file modes do not stop: storage is made
// unusable by putting a plain file where a folder must be, the database by
// moving its file away or (where chattr works, as in CI) making it immutable.
#include "tests/support/keepd_test.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace keep::testkit {
namespace {

namespace fs = std::filesystem;

using HealthTest = KeepdTest;

// The readiness answer when only `failing` ("database" or "storage") fails.
nlohmann::json NotReady(const std::string& failing) {
  nlohmann::json checks = {{"database", "ok"}, {"storage", "ok"}};
  checks[failing] = "failing";
  return {{"status", "unavailable"}, {"checks", checks}};
}

const nlohmann::json kReady = {{"status", "ok"},
                               {"checks", {{"database", "ok"}, {"storage", "ok"}}}};

// Moves a file or folder aside for its lifetime, and puts `replacement`
// (a plain file, when true) where it was.
class Moved {
 public:
  Moved(fs::path path, bool replace_with_file) : path_(std::move(path)), aside_(path_) {
    aside_ += ".aside";
    fs::rename(path_, aside_);
    if (replace_with_file) std::ofstream(path_) << "not a folder\n";
  }
  ~Moved() {
    std::error_code ec;
    fs::remove(path_, ec);
    fs::rename(aside_, path_, ec);
  }
  Moved(const Moved&) = delete;
  Moved& operator=(const Moved&) = delete;

 private:
  fs::path path_;
  fs::path aside_;
};

TEST_F(HealthTest, AnswerWithoutCredentials) {
  HttpsClient anonymous = keepd_.AnonymousClient();
  Response alive = anonymous.Get("/healthz");
  EXPECT_EQ(alive.status, 200) << alive.body;
  EXPECT_EQ(alive.Json(), nlohmann::json({{"status", "ok"}})) << alive.body;
  EXPECT_EQ(alive.Header("Content-Type"), "application/json");
  EXPECT_EQ(alive.Header("Cache-Control"), "no-store");
  EXPECT_FALSE(alive.HasHeader("WWW-Authenticate"));

  Response ready = anonymous.Get("/readyz");
  EXPECT_EQ(ready.status, 200) << ready.body;
  EXPECT_EQ(ready.Json(), kReady) << ready.body;
  EXPECT_EQ(ready.Header("Cache-Control"), "no-store");

  for (const char* target : {"/healthz", "/readyz"}) {
    SCOPED_TRACE(target);
    Response head = anonymous.Head(target);
    EXPECT_EQ(head.status, 200);
    EXPECT_TRUE(head.body.empty());
    // Credentials, even wrong ones, change nothing: they are not looked at.
    HttpsClient wrong = keepd_.AnonymousClient();
    wrong.SetBasicAuth(kAdminUser, "not-the-password");
    EXPECT_EQ(wrong.Get(target).status, 200);
  }
  // Nor were they logged as refused logins.
  EXPECT_EQ(keepd_.Messages().find("refused login"), std::string::npos) << keepd_.Messages();
}

TEST_F(HealthTest, OnlyGetAndHead) {
  const http::verb others[] = {http::verb::post, http::verb::put, http::verb::delete_,
                               http::verb::patch, http::verb::options};
  for (const char* target : {"/healthz", "/readyz"}) {
    for (http::verb verb : others) {
      SCOPED_TRACE(std::string(http::to_string(verb)) + " " + target);
      Response r = client_.Send({verb, target});
      EXPECT_TRUE(IsError(r, 405, "UNSUPPORTED")) << r.status << " " << r.body;
      EXPECT_EQ(r.Header("Allow"), "GET, HEAD");
    }
  }
  // Every 405 says what the resource allows.
  EXPECT_EQ(client_.Send({http::verb::delete_, "/v2/"}).Header("Allow"), "GET, HEAD");
  EXPECT_EQ(client_.Send({http::verb::put, "/token"}).Header("Allow"), "GET, POST");
}

TEST_F(HealthTest, AnsweredWhileLoginsAreThrottled) {
  HttpsClient guesser = keepd_.AnonymousClient();
  guesser.SetBasicAuth(kAdminUser, "guess");
  for (int i = 0; i < 6; ++i) ASSERT_TRUE(IsError(guesser.Get("/v2/"), 401, "UNAUTHORIZED")) << i;
  ASSERT_TRUE(IsError(guesser.Get("/v2/"), 429, "TOOMANYREQUESTS"));
  EXPECT_EQ(guesser.Get("/healthz").status, 200);
  EXPECT_EQ(guesser.Get("/readyz").status, 200);
  EXPECT_EQ(keepd_.AnonymousClient().Get("/readyz").status, 200);
}

TEST_F(HealthTest, NotReadyWhileStorageCannotBeWritten) {
  HttpsClient probe = keepd_.AnonymousClient();
  ASSERT_EQ(probe.Get("/readyz").Json(), kReady);
  {
    // Where every blob write starts: a plain file instead of the folder.
    Moved tmp(keepd_.data_dir() / "tmp", /*replace_with_file=*/true);
    Response r = probe.Get("/readyz");
    EXPECT_EQ(r.status, 503) << r.body;
    EXPECT_EQ(r.Json(), NotReady("storage")) << r.body;
    EXPECT_EQ(r.Header("Cache-Control"), "no-store");
    EXPECT_EQ(probe.Head("/readyz").status, 503);
    EXPECT_EQ(probe.Get("/healthz").status, 200) << "alive all the same";
    // The log says why; the answer does not name the data directory.
    EXPECT_EQ(r.body.find(keepd_.data_dir().string()), std::string::npos);
    EXPECT_NE(keepd_.Messages().find("keepd: not ready: the storage check fails"),
              std::string::npos)
        << keepd_.Messages();
    // A push is refused the same way: readiness told the truth.
    EXPECT_EQ(client_.Post(UploadsPath("acme/app") + "?digest=" + DigestOf("x"), "x").status / 100,
              5);
  }
  {
    // The blob tree itself: a plain file instead of the folder.
    Moved blobs(keepd_.data_dir() / "blobs", /*replace_with_file=*/true);
    EXPECT_EQ(probe.Get("/readyz").Json(), NotReady("storage"));
  }
  Response back = probe.Get("/readyz");
  EXPECT_EQ(back.status, 200) << back.body;
  EXPECT_EQ(back.Json(), kReady) << back.body;
  EXPECT_NE(keepd_.Messages().find("keepd: the storage check passes again"), std::string::npos);
  PushImage(client_, "acme/app", "v1");
  // The check leaves nothing behind where blob writes start.
  EXPECT_TRUE(fs::is_empty(keepd_.data_dir() / "tmp"));
}

TEST_F(HealthTest, NotReadyWhileTheDatabaseFileIsGone) {
  HttpsClient probe = keepd_.AnonymousClient();
  ASSERT_EQ(probe.Get("/readyz").Json(), kReady);
  {
    // keepd would go on writing to a file nobody finds again.
    Moved db(keepd_.data_dir() / "metadata.db", /*replace_with_file=*/false);
    Response r = probe.Get("/readyz");
    EXPECT_EQ(r.status, 503) << r.body;
    EXPECT_EQ(r.Json(), NotReady("database")) << r.body;
    EXPECT_EQ(probe.Get("/healthz").status, 200);
    EXPECT_NE(keepd_.Messages().find("keepd: not ready: the database check fails"),
              std::string::npos)
        << keepd_.Messages();
  }
  EXPECT_EQ(probe.Get("/readyz").Json(), kReady);
  PushImage(client_, "acme/app", "v1");
  EXPECT_EQ(TagsOf(client_, "acme/app"), std::vector<std::string>{"v1"});
}

bool Chattr(const std::string& flag, const fs::path& file) {
  return std::system(("chattr " + flag + " '" + file.string() + "' 2>/dev/null").c_str()) == 0;
}

TEST_F(HealthTest, NotReadyWhileTheDatabaseCannotBeWritten) {
  HttpsClient probe = keepd_.AnonymousClient();
  PushImage(client_, "acme/app", "v1");  // the write-ahead log exists
  ASSERT_EQ(probe.Get("/readyz").Json(), kReady);
  const fs::path db = keepd_.data_dir() / "metadata.db";
  if (!Chattr("+i", db)) GTEST_SKIP() << "chattr +i is not possible here (needs root and ext4/xfs)";
  Response r = probe.Get("/readyz");
  Chattr("-i", db);
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_EQ(r.Json(), NotReady("database")) << r.body;
  EXPECT_EQ(probe.Get("/readyz").Json(), kReady);
}

}  // namespace
}  // namespace keep::testkit
