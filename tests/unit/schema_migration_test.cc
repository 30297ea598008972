// A metadata database made by the first release (schema 1) opens in this
// one: its users keep their passwords and roles, and the account tables of
// schema 2 appear. One made by schema 3 has its publisher keys renamed by
// their canonical form.
#include "core/clock.h"
#include "storage/metadata.h"
#include "trust/keys.h"

#include "schema_test_support.h"
#include "trust_testdata.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <unistd.h>
#include <filesystem>
#include <thread>

namespace keep {
namespace {

TEST(SchemaMigrationTest, SchemaOneUsersSurviveTheUpgrade) {
  auto dir = std::filesystem::temp_directory_path() /
             ("keep-migration-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::string path = (dir / "metadata.db").string();
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    // The users table as schema 1 made it.
    const char* v1 =
        "CREATE TABLE users(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, "
        "password_hash TEXT NOT NULL, admin INTEGER NOT NULL, "
        "disabled INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL);"
        "INSERT INTO users(name, password_hash, admin, created_at) "
        "VALUES('admin', '$argon2id$old', 1, 1700000000);"
        "PRAGMA user_version=1;";
    ASSERT_EQ(sqlite3_exec(db, v1, nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(db);
  }
  auto md = OpenSqliteMetadata(path);
  ASSERT_TRUE(md) << md.error().message;
  auto admin = (*md)->GetUser("admin");
  ASSERT_TRUE(admin && *admin);
  EXPECT_EQ((*admin)->password_hash, "$argon2id$old");
  EXPECT_TRUE((*admin)->admin);
  EXPECT_FALSE((*admin)->robot);
  EXPECT_EQ((*admin)->expires_at, 0);
  // The new tables work.
  NamespaceRecord ns;
  ns.name = "acme";
  ns.created_by = "admin";
  ASSERT_TRUE((*md)->CreateNamespace(ns));
  ASSERT_TRUE((*md)->SetMember("acme", (*admin)->id, "maintainer"));
  auto access = (*md)->AccessIn("acme", (*admin)->id);
  ASSERT_TRUE(access);
  EXPECT_EQ(access->role, "maintainer");
  md->reset();
  // And it opens again without migrating twice.
  auto again = OpenSqliteMetadata(path);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ((*again)->ListNamespaces(std::nullopt)->size(), 1u);
  std::filesystem::remove_all(dir);
}

using schema_test::Canonical;
using schema_test::FreshDir;
using schema_test::Sql;

PublisherKeyRecord KeyRecord(const std::string& ns, const std::string& name,
                             const std::string& algorithm, const std::string& pem) {
  // Schema 3's id: the SHA-256 of the DER as it was sent.
  return PublisherKeyRecord{ns, Sha256Of(trust_test::DerOf(pem)).hex(), name, algorithm, pem,
                            "admin", 0, false};
}

// Schema 3 named a key by the DER it was sent in, so one P-256 key added
// compressed and again with explicit parameters was two keys: one signature
// under each name met threshold 2, and revoking one name left the other.
TEST(SchemaMigrationTest, SchemaThreeKeysAreRenamedByTheirCanonicalForm) {
  auto dir = FreshDir("keys");
  std::string path = (dir / "metadata.db").string();
  auto pair = GenerateKeyPair(kAlgorithmEcdsaP256, "");
  ASSERT_TRUE(pair);
  auto priv = ParsePrivateKey(pair->private_pem, "");
  ASSERT_TRUE(priv);
  const std::string compressed = trust_test::PublicPemAs(priv->evp(), "compressed", "named_curve");
  const std::string spelled_out = trust_test::PublicPemAs(priv->evp(), "uncompressed", "explicit");
  auto ed = GenerateKeyPair(kAlgorithmEd25519, "");
  ASSERT_TRUE(ed);
  const std::string target = Sha256Of("image").str();
  const PublisherKeyRecord a = KeyRecord("acme", "ci", "ecdsa-p256", compressed);
  const PublisherKeyRecord b = KeyRecord("acme", "ci-again", "ecdsa-p256", spelled_out);
  const PublisherKeyRecord c = KeyRecord("beta", "ci", "ecdsa-p256", compressed);
  const PublisherKeyRecord d = KeyRecord("beta", "ci-again", "ecdsa-p256", spelled_out);
  ASSERT_NE(a.key_id, b.key_id);
  {
    // The schema 3 tables are schema 4's; the rows are what schema 3 stored.
    auto md = OpenSqliteMetadata(path);
    ASSERT_TRUE(md) << md.error().message;
    for (const char* ns : {"acme", "beta"}) {
      ASSERT_TRUE((*md)->CreateNamespace(NamespaceRecord{ns, false, 0, "admin", 0, {}, 0}));
    }
    // Known by their key ids alone, as schema 3 knew them.
    const KeyMaterialOf ids_only = [](const PublisherKeyRecord&) {
      return std::vector<std::string>();
    };
    for (const auto& k : {a, b, c, d}) ASSERT_TRUE((*md)->AddKey(k, ids_only));
    ASSERT_TRUE((*md)->AddKey(PublisherKeyRecord{"acme", ed->key_id, "ed", "ed25519",
                                                 ed->public_pem, "admin", 0, false},
                              ids_only));
    ASSERT_TRUE(*(*md)->RevokeKey("acme", b.key_id));  // one name of the acme key revoked
  }
  Sql(path,
      "INSERT INTO repositories(id, name, created_at) VALUES(1, 'acme/app', 1), (2, 'beta/app', 1);"
      // The signature manifests the records came from (records follow them).
      "INSERT INTO manifests VALUES(1, 'sha256:s1', 'm', 1, '', NULL, '{}', 1),"
      "(2, 'sha256:s1', 'm', 1, '', NULL, '{}', 1), (2, 'sha256:s2', 'm', 1, '', NULL, '{}', 1);"
      "INSERT INTO signatures(repo_id, target, key_id, format, signature, verified_at) VALUES"
      "(1, '" +
          target + "', '" + a.key_id +
          "', 'cosign', 'sha256:s1', 1),"
          "(1, '" +
          target + "', '" + b.key_id +
          "', 'cosign', 'sha256:s1', 1),"
          "(2, '" +
          target + "', '" + c.key_id +
          "', 'cosign', 'sha256:s1', 1),"
          "(2, '" +
          target + "', '" + d.key_id +
          "', 'cosign', 'sha256:s2', 1);"
          "UPDATE publisher_keys SET added_at=1000 WHERE name='ci';"
          "UPDATE publisher_keys SET added_at=2000 WHERE name='ci-again';");
  {
    // What schema 3 decided: one key met threshold 2, and the acme key stayed trusted.
    auto md = OpenSqliteMetadata(path);
    ASSERT_TRUE(md);
    EXPECT_TRUE(*(*md)->IsTrusted("beta/app", target, 2));
    EXPECT_TRUE(*(*md)->IsTrusted("acme/app", target, 1));
  }
  Sql(path, "PRAGMA user_version=3");
  // Without a way to canonicalise keys the upgrade is refused, and nothing changes.
  auto refused = OpenSqliteMetadata(path);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("start keepd on it"), std::string::npos)
      << refused.error().message;

  auto md = OpenSqliteMetadata(path, Canonical);
  ASSERT_TRUE(md) << md.error().message;
  auto acme = (*md)->ListKeys("acme");
  ASSERT_TRUE(acme);
  ASSERT_EQ(acme->size(), 2u);
  auto key = (*md)->GetKey("acme", pair->key_id);
  ASSERT_TRUE(key && *key);
  EXPECT_EQ((*key)->name, "ci");  // the first added
  EXPECT_EQ((*key)->pem, pair->public_pem);
  EXPECT_TRUE((*key)->revoked);  // revoking one name revoked the key
  EXPECT_FALSE(*(*md)->GetKey("acme", a.key_id));
  EXPECT_FALSE(*(*md)->GetKey("acme", b.key_id));
  EXPECT_EQ((*(*md)->GetKey("acme", ed->key_id))->pem, ed->public_pem);  // canonical already
  auto beta = (*md)->ListKeys("beta");
  ASSERT_TRUE(beta);
  ASSERT_EQ(beta->size(), 1u);
  EXPECT_EQ(beta->front().key_id, pair->key_id);
  EXPECT_FALSE(beta->front().revoked);
  // Signatures follow: one record per signature, under the one id.
  auto acme_sigs = (*md)->SignaturesOf("acme/app", target);
  ASSERT_TRUE(acme_sigs);
  ASSERT_EQ(acme_sigs->size(), 1u);
  EXPECT_EQ(acme_sigs->front().key_id, pair->key_id);
  auto beta_sigs = (*md)->SignaturesOf("beta/app", target);
  ASSERT_TRUE(beta_sigs);
  ASSERT_EQ(beta_sigs->size(), 2u);
  for (const auto& s : *beta_sigs) EXPECT_EQ(s.key_id, pair->key_id);
  // So one key is one signer, and a revoked key is revoked.
  EXPECT_FALSE(*(*md)->IsTrusted("beta/app", target, 2));
  EXPECT_TRUE(*(*md)->IsTrusted("beta/app", target, 1));
  EXPECT_FALSE(*(*md)->IsTrusted("acme/app", target, 1));
  md->reset();
  // Schema 4 opens without the canonicaliser, and nothing is renamed twice.
  auto again = OpenSqliteMetadata(path);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ((*again)->ListKeys("acme")->size(), 2u);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace keep

namespace keep {
namespace {

// Schema 3 counted a quarantine TTL from each push alone; an upgrade starts
// every namespace's clock at the upgrade, so nothing goes at the next GC.
TEST(SchemaMigrationTest, SchemaThreeNamespacesCountTheirTtlFromTheUpgrade) {
  auto dir = FreshDir("policy-since");
  std::string path = (dir / "metadata.db").string();
  {
    auto md = OpenSqliteMetadata(path);
    ASSERT_TRUE(md) << md.error().message;
    ASSERT_TRUE((*md)->CreateNamespace(NamespaceRecord{"acme", false, 0, "admin", 0, {}, 0}));
  }
  // A record whose signature manifest schema 3 deleted without it.
  Sql(path,
      "INSERT INTO repositories(id, name, created_at) VALUES(1, 'acme/app', 1);"
      "INSERT INTO signatures(repo_id, target, key_id, format, signature, verified_at) VALUES(1, "
      "'sha256:t', 'k', 'cosign', 'sha256:gone', 1);"
      "ALTER TABLE namespaces DROP COLUMN policy_since; PRAGMA user_version=3");
  auto before = UnixNow();
  auto md = OpenSqliteMetadata(path);
  ASSERT_TRUE(md) << md.error().message;
  auto ns = (*md)->GetNamespace("acme");
  ASSERT_TRUE(ns && *ns);
  EXPECT_GE((*ns)->policy_since, before);
  EXPECT_LE((*ns)->policy_since, UnixNow());
  // The orphaned record is gone with the upgrade.
  auto records = (*md)->SignaturesOf("acme/app", "sha256:t");
  ASSERT_TRUE(records);
  EXPECT_TRUE(records->empty());
}

// A database moved or deleted under a running keepd is not replaced by an
// empty one: a thread that reads for the first time after that fails to
// open it instead of creating a new file at the path (where the next
// restart would find an empty registry).
TEST(SchemaMigrationTest, AReaderNeverCreatesTheDatabase) {
  auto dir =
      std::filesystem::temp_directory_path() / ("keep-vanished-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "metadata.db").string();
  auto md = OpenSqliteMetadata(path);
  ASSERT_TRUE(md) << md.error().message;
  ASSERT_TRUE((*md)->GetUser("admin"));  // this thread's reader opens now
  for (const char* suffix : {"", "-wal", "-shm"}) {
    std::error_code ec;
    std::filesystem::rename(path + suffix, (dir / "moved").string() + suffix, ec);
  }
  Result<std::optional<UserRecord>> read = std::optional<UserRecord>{};
  std::thread([&] { read = (*md)->GetUser("admin"); }).join();  // a new reader
  EXPECT_FALSE(read);
  EXPECT_FALSE(std::filesystem::exists(path)) << "an empty database was made at " << path;
  md->reset();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace keep
