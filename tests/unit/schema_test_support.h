// tests/unit/schema_test_support.h — making metadata databases as earlier
// schemas made them (tests/unit/schemas/v<N>.sql), for the upgrade tests.
#pragma once

#include "storage/metadata.h"
#include "trust/keys.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <unistd.h>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>

namespace keep::schema_test {

// An empty directory of the test's own.
inline std::filesystem::path FreshDir(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() /
             ("keep-migration-" + name + "-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

// Runs `sql` on the database at `path` with SQLite alone, as an earlier
// keepd (or a person with the sqlite3 shell) would.
inline void Sql(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  char* error = nullptr;
  EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error), SQLITE_OK) << error;
  sqlite3_free(error);
  sqlite3_close(db);
}

// The text of tests/unit/schemas/v<version>.sql: that schema's tables and
// content as it stored them.
inline std::string Fixture(int version) {
  std::string name = std::string(KEEP_SCHEMAS) + "/v" + std::to_string(version) + ".sql";
  std::ifstream in(name, std::ios::binary);
  if (!in) throw std::runtime_error("missing schema fixture " + name);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// As keepd renames keys in the schema 4 upgrade (server/server.cc):
// by trust/keys.h's canonical form; OpenPGP keys keep their fingerprint.
inline std::optional<CanonicalKeyForm> Canonical(const std::string& algorithm,
                                                 const std::string& pem) {
  if (algorithm.starts_with("openpgp-")) return std::nullopt;
  auto key = ParsePublicKey(pem);
  if (!key) return std::nullopt;
  return CanonicalKeyForm{key->key_id(), key->pem()};
}

}  // namespace keep::schema_test
