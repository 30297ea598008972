// A metadata database made by the first release (schema 1) opens in this
// one: its users keep their passwords and roles, and the account tables of
// schema 2 appear.
#include "storage/metadata.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>
#include <unistd.h>

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

}  // namespace
}  // namespace keep
