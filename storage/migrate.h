// storage/migrate.h — moving a single-machine Keep (blobs under its data
// directory, metadata in SQLite) into the store and the database that
// replicas share (S3 and PostgreSQL), so that a registry grows without
// anything pushed again. `keepd --migrate-from DIR` runs it.
//
// The database must be empty, or hold what an earlier run from the same
// source wrote (a mark in its secrets table says which). Then, in order, so
// that whatever the database names is already in the store, with no garbage
// collection running on any replica (the maintenance lock is held):
//   0. The secrets of the data directory (token key, curator key, mirror
//      credentials key) are offered to the database, so tokens, signatures
//      and sealed upstream passwords stay good.
//   1. Every blob file is copied into the store through a BlobWriter, which
//      hashes the bytes on their way and publishes them only when their
//      digest matches the file's name. A blob the store holds already, at
//      the same size, is left (it was checked when it was published).
//   2. Every table is copied, in the order PostgreSQL's schema made them
//      (a row's references come before it), rows the database holds already
//      left as they are, and the identity counters are moved past the ids
//      copied: all in one transaction under the database's write lock, so
//      replicas see all of it or nothing.
// A run cut short is taken up by running it again: no blob is copied twice,
// nothing is lost. Anything else in the database (a replica's first admin)
// is refused before anything is written.
//
// The source keepd must be stopped: its database is opened as SQLite opens
// it for keepd, by one process at a time.
#pragma once

#include "storage/blob_store.h"
#include "storage/metadata.h"

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace keep {

struct MigrateReport {
  std::int64_t blobs_copied = 0;
  std::int64_t blobs_present = 0;  // in the store already
  std::uint64_t bytes_copied = 0;
  std::int64_t rows_read = 0;
  std::int64_t rows_written = 0;                             // the others were there already
  std::vector<std::pair<std::string, std::int64_t>> tables;  // rows read, per table
  std::vector<std::string> secrets;                          // offered to the database
  std::vector<std::string> warnings;  // a secret the database held another of
};

// Copies the Keep whose data directory is `from_dir` (its blobs in `from`,
// its metadata in from_dir/metadata.db) into `to` and the PostgreSQL
// database of `to_db`, whose tables must exist (OpenPostgresMetadata made
// them). `canonical` upgrades an old source's keys as keepd does
// (OpenSqliteMetadata). `say` is told of progress, a line at a time; may be
// empty.
[[nodiscard]] Result<MigrateReport> MigrateToShared(
    BlobDriver& from, const std::string& from_dir, BlobDriver& to, const PostgresOptions& to_db,
    const KeyCanonicalizer& canonical, const std::function<void(const std::string&)>& say);

}  // namespace keep
