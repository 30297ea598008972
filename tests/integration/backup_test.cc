// POST /admin/v1/backup (keepctl backup): keepd holds metadata.db exclusively
// while it runs, so this call is how its database is copied then. The copy
// must be whole and consistent, private to keepd's user, never overwrite an
// earlier one, and restore by the documented steps.
#include "tests/support/keepd_test.h"

#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>
#include <vector>

namespace keep::testkit {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// The digest the tag names in the database file at `path`, or "" when none.
std::string TaggedDigest(const fs::path& path, const std::string& repo, const std::string& tag) {
  sqlite3* db = nullptr;
  std::string digest;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(db,
                           "SELECT t.digest FROM tags t JOIN repositories r ON r.id = t.repo_id "
                           "WHERE r.name = ?1 AND t.name = ?2",
                           -1, &s, nullptr) == SQLITE_OK) {
      sqlite3_bind_text(s, 1, repo.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_text(s, 2, tag.c_str(), -1, SQLITE_TRANSIENT);
      if (sqlite3_step(s) == SQLITE_ROW) {
        digest = reinterpret_cast<const char*>(sqlite3_column_text(s, 0));
      }
    }
    sqlite3_finalize(s);
  }
  sqlite3_close(db);
  return digest;
}

std::string IntegrityOf(const fs::path& path) {
  sqlite3* db = nullptr;
  std::string result = "cannot open";
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &s, nullptr) == SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW) {
      result = reinterpret_cast<const char*>(sqlite3_column_text(s, 0));
    } else {
      result = sqlite3_errmsg(db);
    }
    sqlite3_finalize(s);
  }
  sqlite3_close(db);
  return result;
}

using BackupTest = KeepdTest;

TEST_F(BackupTest, ACopyIsWholePrivateAndTakenWhileKeepdServes) {
  Manifest v1 = PushImage(client_, "acme/app", "v1", {.layer = "in the backup"});
  Response r = client_.Post("/admin/v1/backup");
  ASSERT_EQ(r.status, 201) << r.body;
  json report = r.Json();
  fs::path copy = report["path"].get<std::string>();
  EXPECT_EQ(fs::canonical(copy.parent_path()), fs::canonical(keepd_.data_dir() / "backups"))
      << copy;
  EXPECT_EQ(copy.filename().string().rfind("metadata-", 0), 0u) << copy;
  EXPECT_EQ(copy.extension(), ".db");
  ASSERT_TRUE(fs::exists(copy));
  EXPECT_EQ(report["bytes"].get<std::uintmax_t>(), fs::file_size(copy));
  EXPECT_GT(report["taken_at"].get<std::int64_t>(), 0);
  struct stat st {};
  ASSERT_EQ(::stat(copy.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat(copy.parent_path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  for (const auto& entry : fs::directory_iterator(copy.parent_path())) {
    EXPECT_NE(entry.path().extension(), ".partial") << entry.path();
  }
  // Readable by any SQLite program while keepd runs; the live file is not.
  EXPECT_EQ(IntegrityOf(copy), "ok");
  EXPECT_EQ(TaggedDigest(copy, "acme/app", "v1"), v1.digest());
  EXPECT_EQ(TaggedDigest(keepd_.data_dir() / "metadata.db", "acme/app", "v1"), "")
      << "another process read the database keepd holds";
  // keepd went on serving.
  EXPECT_EQ(client_.Get(ManifestPath("acme/app", "v1"), {{"Accept", v1.media_type}}).status, 200);
}

TEST_F(BackupTest, NothingIsOverwritten) {
  std::set<std::string> paths;
  for (int i = 0; i < 3; ++i) {
    Response r = client_.Post("/admin/v1/backup", "{}");
    ASSERT_EQ(r.status, 201) << r.body;
    paths.insert(r.Json()["path"].get<std::string>());
  }
  EXPECT_EQ(paths.size(), 3u);
  for (const auto& p : paths) EXPECT_EQ(IntegrityOf(p), "ok") << p;
}

TEST_F(BackupTest, BackupsAtOnceEachGetANameOfTheirOwn) {
  constexpr int kAtOnce = 4;
  std::vector<Response> answers(kAtOnce);
  std::vector<std::thread> threads;
  threads.reserve(kAtOnce);
  for (int i = 0; i < kAtOnce; ++i) {
    threads.emplace_back([&, i] {
      HttpsClient c = keepd_.AdminClient();
      answers[i] = c.Post("/admin/v1/backup");
    });
  }
  for (auto& t : threads) t.join();
  std::set<std::string> paths;
  for (const Response& r : answers) {
    ASSERT_EQ(r.status, 201) << r.body;
    paths.insert(r.Json()["path"].get<std::string>());
  }
  EXPECT_EQ(paths.size(), static_cast<std::size_t>(kAtOnce));
  for (const auto& p : paths) EXPECT_EQ(IntegrityOf(p), "ok") << p;
  for (const auto& entry : fs::directory_iterator(keepd_.data_dir() / "backups")) {
    EXPECT_NE(entry.path().extension(), ".partial") << entry.path();
  }
}

TEST_F(BackupTest, TheDocumentedRestoreBringsBackThatMoment) {
  Manifest v1 = PushImage(client_, "acme/app", "v1", {.layer = "before"});
  Response r = client_.Post("/admin/v1/backup");
  ASSERT_EQ(r.status, 201) << r.body;
  fs::path copy = r.Json()["path"].get<std::string>();
  Manifest v2 = PushImage(client_, "acme/app", "v2", {.layer = "after"});
  // Stop keepd, put the copy in place, remove the write-ahead log, start.
  keepd_.Restart(KeepdProcess::Stop::kGraceful, [&] {
    fs::path live = keepd_.data_dir() / "metadata.db";
    fs::copy_file(copy, live, fs::copy_options::overwrite_existing);
    fs::remove(fs::path(live.string() + "-wal"));
  });
  client_.Disconnect();
  EXPECT_EQ(TagsOf(client_, "acme/app"), std::vector<std::string>{"v1"});
  EXPECT_EQ(client_.Get(ManifestPath("acme/app", "v1"), {{"Accept", v1.media_type}}).status, 200);
  EXPECT_EQ(StatusAndCode(client_.Get(ManifestPath("acme/app", "v2"), {{"Accept", v2.media_type}})),
            "404 MANIFEST_UNKNOWN");
}

// The other side of holding the database: a second keepd on the same data
// directory must refuse to start, saying why, and the first serve on.
TEST_F(BackupTest, ASecondKeepdOnTheSameDataDirectoryRefusesToStart) {
  PushImage(client_, "acme/app", "v1");
  fs::path config = keepd_.data_dir().parent_path() / "second.json";
  std::ofstream(config) << json{{"listen", "127.0.0.1:0"}, {"data_dir", keepd_.data_dir()}}.dump();
  std::string command = "'" + KeepdBinary() + "' --config '" + config.string() + "'" +
                        (::geteuid() == 0 ? " --allow-root" : "") + " 2>&1 </dev/null";
  std::string out;
  FILE* p = ::popen(command.c_str(), "r");
  ASSERT_NE(p, nullptr);
  char buf[4096];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
  int status = ::pclose(p);
  ASSERT_TRUE(WIFEXITED(status)) << out;
  EXPECT_NE(WEXITSTATUS(status), 0) << out;
  EXPECT_NE(out.find("held by another process"), std::string::npos) << out;
  EXPECT_TRUE(keepd_.running());
  EXPECT_EQ(TagsOf(client_, "acme/app"), std::vector<std::string>{"v1"});
}

TEST_F(BackupTest, OnlyAdminsMayAndTheCallTakesNoFields) {
  ASSERT_EQ(
      client_.Post("/admin/v1/users", R"({"name":"erin","password":"password-of-erin"})").status,
      201);
  HttpsClient erin = keepd_.AnonymousClient();
  erin.SetBasicAuth("erin", "password-of-erin");
  EXPECT_EQ(StatusAndCode(erin.Post("/admin/v1/backup")), "403 DENIED");
  EXPECT_EQ(StatusAndCode(keepd_.AnonymousClient().Post("/admin/v1/backup")), "401 UNAUTHORIZED");
  Response bad = client_.Post("/admin/v1/backup", R"({"path":"/tmp/x"})");
  EXPECT_EQ(StatusAndCode(bad), "400 INVALID") << bad.body;
  EXPECT_FALSE(fs::exists(keepd_.data_dir() / "backups")) << "a refused call wrote a backup";
}

}  // namespace
}  // namespace keep::testkit
