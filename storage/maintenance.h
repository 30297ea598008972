// storage/maintenance.h — housekeeping that keeps the blob store and the
// metadata in agreement: expired upload sessions, upload data or records
// left without their other half by a crash, and the agreement check at
// start. Garbage collection and the integrity check are in gc.h and fsck.h.
//
// Thread-safe as its parts are; may run while requests are served, except
// where a REQUIRES says otherwise.
#pragma once

#include "storage/blob_store.h"
#include "storage/metadata.h"

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace keep {

// A list in a report: every entry counted, the first kMaxListed kept.
struct Listing {
  static constexpr std::size_t kMaxListed = 10000;
  std::int64_t count = 0;
  std::vector<std::string> items;

  void Add(std::string item) {
    ++count;
    if (items.size() < kMaxListed) items.push_back(std::move(item));
  }
};

// How far a garbage collection or an integrity check has come, for a person
// watching it (GET /admin/v1/maintenance, keepctl's progress line).
struct MaintenanceProgress {
  std::string phase;        // "repositories", "blob files", "links", "manifests"
  std::uint64_t done = 0;   // items of the phase done so far
  std::uint64_t total = 0;  // items in the phase, when known before; 0: unknown
  std::uint64_t bytes = 0;  // bytes read so far (the integrity check's hashing)
};
// Called from the thread running the work, after each item; it must be quick.
using ProgressFn = std::function<void(const MaintenanceProgress&)>;

struct PurgeReport {
  int expired = 0;          // sessions older than the TTL
  int orphaned_files = 0;   // data with no session record
};

// Removes upload sessions created more than `ttl` ago, and upload data that
// no session record names. A record whose data is gone is removed as expired.
[[nodiscard]] Result<PurgeReport> PurgeUploads(BlobDriver& blobs, Metadata& metadata,
                                               std::chrono::seconds ttl);

struct StartupReport {
  int temporary_files = 0;   // removed from tmp/
  std::int64_t links_checked = 0;
  Listing missing;           // "repo@digest": a link whose blob file is gone
};

// The quick agreement check at start: removes the temporary files of writes
// a previous process left unfinished, and finds blob links whose file is
// missing (stat only; reported, not changed: the integrity check repairs).
// REQUIRES: before serving (no write in progress).
[[nodiscard]] Result<StartupReport> CheckAtStart(BlobDriver& blobs, Metadata& metadata);

struct BackupReport {
  std::string path;  // the copy's file, under <data_dir>/backups/
  std::uint64_t bytes = 0;
  std::int64_t taken_at = 0;  // unix seconds
};

// Writes a consistent copy of the metadata database, taken while requests go
// on, to <data_dir>/backups/metadata-<UTC time>.db: written under a .partial
// name, synced, then linked to its final name, so a file with the final name
// is always whole and never replaced. Safe to call concurrently.
// It is the way to copy the database while keepd runs (keepd holds the live
// file exclusively). Blob files are not copied: they never change once
// written, so any file copy of blobs/ taken after the backup is consistent
// with it (a blob the copy names may be missing only if GC removed it since).
[[nodiscard]] Result<BackupReport> BackupMetadata(Metadata& metadata, const std::string& data_dir);

}  // namespace keep
