// storage/sqlite_mirrors.h — the mirror tables of the SQLite metadata
// database: mirror rules and the state of each tag they sync. Internal to
// storage/: SqliteMetadata forwards the Metadata calls here.
//
// Thread-safe, as the Database it uses.
#pragma once

#include "storage/metadata.h"
#include "storage/sql.h"

namespace keep::sql {

class MirrorTables {
 public:
  explicit MirrorTables(Database& db) : db_(db) {}

  // Creates the tables (new in schema 5). REQUIRES: inside the schema
  // transaction on db.writer().
  static void Migrate(Connection& c);

  Result<void> Create(const MirrorRecord& rule);
  Result<bool> Update(const MirrorRecord& rule);
  Result<std::optional<MirrorRecord>> Get(const std::string& name);
  Result<std::vector<MirrorRecord>> List();
  Result<bool> Delete(const std::string& name);
  Result<void> PutTag(const MirrorTagRecord& tag);
  Result<std::optional<MirrorTagRecord>> GetTag(const std::string& rule,
                                                const std::string& repository,
                                                const std::string& tag);
  Result<std::vector<MirrorTagRecord>> Tags(const std::string& rule);

 private:
  Database& db_;
};

}  // namespace keep::sql
