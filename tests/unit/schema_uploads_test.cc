// Schema 9: an upload session records who started it. A schema 8 database
// keeps its sessions (owned by no one, so still anyone's who may push to
// the repository), and a user's sessions are counted and bounded in the
// same step that records a new one.
#include "storage/metadata.h"

#include "schema_test_support.h"

#include <gtest/gtest.h>

namespace keep {
namespace {

using schema_test::FreshDir;
using schema_test::Sql;

TEST(SchemaUploadsTest, ASchemaEightSessionSurvivesWithNoOwner) {
  auto dir = FreshDir("uploads-owner");
  std::string path = (dir / "metadata.db").string();
  {
    auto md = OpenSqliteMetadata(path);
    ASSERT_TRUE(md) << md.error().message;
  }
  Sql(path,
      "DROP INDEX uploads_by_owner; ALTER TABLE uploads DROP COLUMN owner;"
      "INSERT INTO uploads(id, repo, created_at) VALUES('old', 'acme/app', 5);"
      "PRAGMA user_version=8");
  auto md = OpenSqliteMetadata(path);
  ASSERT_TRUE(md) << md.error().message;
  auto old = (*md)->GetUpload("old");
  ASSERT_TRUE(old && *old);
  EXPECT_EQ((*old)->repo, "acme/app");
  EXPECT_EQ((*old)->owner, "");
  auto expired = (*md)->ExpiredUploads(6);
  ASSERT_TRUE(expired);
  EXPECT_EQ(*expired, std::vector<std::string>{"old"});
  std::filesystem::remove_all(dir);
}

TEST(SchemaUploadsTest, AnOwnersSessionsAreCountedAndBounded) {
  auto dir = FreshDir("uploads-bounded");
  auto md = OpenSqliteMetadata((dir / "metadata.db").string());
  ASSERT_TRUE(md) << md.error().message;
  for (const char* id : {"a1", "a2"}) {
    auto created = (*md)->CreateUpload(id, "acme/app", "alice", 2);
    ASSERT_TRUE(created && *created) << id;
  }
  auto third = (*md)->CreateUpload("a3", "acme/app", "alice", 2);
  ASSERT_TRUE(third);
  EXPECT_FALSE(*third);
  auto missing = (*md)->GetUpload("a3");
  ASSERT_TRUE(missing);
  EXPECT_FALSE(*missing);  // a refused session leaves no record
  // Another owner, and keepd's own sessions (no limit), go on.
  auto bobs = (*md)->CreateUpload("b1", "acme/app", "bob", 2);
  EXPECT_TRUE(bobs && *bobs);
  auto keepds = (*md)->CreateUpload("k1", "acme/app", "", 0);
  EXPECT_TRUE(keepds && *keepds);

  auto alices = (*md)->UploadsOf("alice");
  ASSERT_TRUE(alices);
  ASSERT_EQ(alices->size(), 2u);
  EXPECT_EQ((*alices)[0].owner, "alice");
  ASSERT_TRUE((*md)->DeleteUpload("a1"));
  auto again = (*md)->CreateUpload("a3", "acme/app", "alice", 2);
  EXPECT_TRUE(again && *again);
  md->reset();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace keep
