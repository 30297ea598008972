// storage/sqlite_gc.h — what garbage collection and the integrity check ask
// of the SQLite metadata database: reachability sweeps of a repository, and
// listings of blob links and manifest references. Internal to storage/:
// SqliteMetadata forwards the Metadata calls here.
//
// Thread-safe, as the Database it uses.
#pragma once

#include "storage/metadata.h"
#include "storage/sql.h"

namespace keep::sql {

class GcTables {
 public:
  explicit GcTables(Database& db) : db_(db) {}

  // Creates the index these queries need.
  // REQUIRES: inside the schema transaction on db.writer().
  static void Migrate(Connection& c);

  Result<RepoSweep> SweepRepository(const std::string& repo, const SweepPolicy& policy,
                                    bool dry_run);
  Result<std::int64_t> CountLinks(const std::string& digest);
  Result<std::vector<BlobLink>> ListLinks(const BlobLink& after, int limit);
  Result<std::vector<std::string>> DropLinks(const std::string& digest);
  Result<std::vector<ManifestRef>> ManifestRefs(const std::string& repo);

 private:
  Database& db_;
};

}  // namespace keep::sql
