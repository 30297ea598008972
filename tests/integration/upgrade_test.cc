// An upgrade through a real keepd: a data directory whose metadata.db is
// schema 2 (its tables from tests/unit/schemas/v2.sql, its rows what keepd
// stored for a pushed image) is started by the current keepd. A reader of
// the namespace still pulls the image, and a GC one quarantine TTL after
// the upgrade leaves it (CHANGELOG.md, "Upgrading (from schema 2)").
#include "tests/integration/trust_fixture.h"
#include "tests/unit/schema_test_support.h"

#include <sqlite3.h>

#include <filesystem>
#include <string>

namespace keep::testkit {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

// Rewrites the (stopped) keepd's metadata.db as schema 2 stored it: that
// schema's tables, filled with the rows of the columns it had.
void RewriteAsSchemaTwo(const fs::path& data_dir) {
  const fs::path current = data_dir / "metadata.db";
  const fs::path old = data_dir / "metadata-v2.db";
  std::string v2 = schema_test::Fixture(2);
  const std::string end = "PRAGMA user_version=2;";
  ASSERT_NE(v2.find(end), std::string::npos);
  v2.resize(v2.find(end) + end.size());  // the tables, without the fixture's rows
  schema_test::Sql(old.string(), v2);
  schema_test::Sql(
      old.string(),
      "ATTACH '" + current.string() +
          "' AS cur;"
          "INSERT INTO users SELECT id, name, password_hash, admin, disabled, created_at, robot, "
          "  expires_at, created_by FROM cur.users;"
          "INSERT INTO robot_scopes SELECT * FROM cur.robot_scopes;"
          "INSERT INTO namespaces SELECT id, name, anonymous_pull, created_at, created_by "
          "  FROM cur.namespaces;"
          "INSERT INTO members SELECT * FROM cur.members;"
          "INSERT INTO repositories SELECT * FROM cur.repositories;"
          "INSERT INTO repo_blobs SELECT * FROM cur.repo_blobs;"
          "INSERT INTO manifests SELECT * FROM cur.manifests;"
          "INSERT INTO manifest_refs SELECT * FROM cur.manifest_refs;"
          "INSERT INTO tags SELECT * FROM cur.tags;"
          "INSERT INTO uploads SELECT id, repo, created_at FROM cur.uploads;"
          "DETACH cur;");
  for (const char* suffix : {"-wal", "-shm"}) fs::remove(current.string() + suffix);
  fs::rename(old, current);
}

class UpgradeTest : public TrustTest {};

TEST_F(UpgradeTest, ImagesOfASchemaTwoNamespaceStayServedAfterTheUpgrade) {
  Manifest m = PushImage(client_, "acme/app", "v1", {.layer = "served before the upgrade"});
  keepd_.Restart(KeepdProcess::Stop::kGraceful, [&] { RewriteAsSchemaTwo(keepd_.data_dir()); });
  client_.Disconnect();
  reader_.Disconnect();

  // The namespace keeps serving what schema 2 served: the policy is open.
  Response policy = client_.Get("/admin/v1/namespaces/acme/policy");
  ASSERT_EQ(policy.status, 200) << policy.body;
  EXPECT_EQ(policy.Json()["mode"], "open") << policy.body;
  Response pulled = ReaderGet("acme/app", "v1", m);
  EXPECT_EQ(pulled.status, 200) << pulled.body;
  EXPECT_EQ(pulled.body, m.bytes);
  EXPECT_EQ(reader_.Get(BlobPath("acme/app", DigestOf("served before the upgrade"))).status, 200);

  // A GC long after the upgrade leaves it.
  AgeManifests(keepd_, 30 * 24 * 3600, {&client_, &reader_});
  json report = client_.Post("/admin/v1/gc", R"({"grace_seconds":0})").Json();
  EXPECT_EQ(report["manifests"]["count"], 0) << report;
  EXPECT_EQ(ReaderGet("acme/app", "v1", m).status, 200);

  // A namespace created after the upgrade gets the default policy.
  ASSERT_EQ(client_.Post("/admin/v1/namespaces", R"({"name":"fresh"})").status, 201);
  EXPECT_EQ(client_.Get("/admin/v1/namespaces/fresh/policy").Json()["mode"], "quarantine");
}

}  // namespace
}  // namespace keep::testkit
