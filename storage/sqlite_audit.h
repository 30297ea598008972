// storage/sqlite_audit.h — the audit table of the SQLite metadata database
// (new in schema 8). Internal to storage/: SqliteMetadata forwards the
// Metadata calls here.
//
// Thread-safe, as the Database it uses.
#pragma once

#include "storage/metadata.h"
#include "storage/sql.h"

namespace keep::sql {

class AuditTables {
 public:
  explicit AuditTables(Database& db) : db_(db) {}

  // Creates the table and its indexes. REQUIRES: inside the schema
  // transaction on db.writer().
  static void Migrate(Connection& c);

  Result<void> Append(const std::vector<AuditEntry>& entries, std::int64_t coalesce_since_ms);
  Result<std::vector<AuditEntry>> Query(const AuditQuery& q);
  Result<std::int64_t> Prune(std::int64_t before_ms, std::int64_t keep_at_most);

 private:
  Database& db_;
};

}  // namespace keep::sql
