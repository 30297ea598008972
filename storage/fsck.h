// storage/fsck.h — the integrity check: re-hashes every blob file and
// compares it with the digest its place names, checks that every blob link
// has its file and that every manifest's references are there, and reports
// what is wrong. With `repair`, a corrupt blob file is moved into
// data_dir/quarantine/ and links to blob files that are gone are dropped,
// so that the registry answers BLOB_UNKNOWN rather than serving bad bytes
// (a client can then push the blob again). Nothing is deleted outright.
//
// Thread-safe; may run while requests are served. Reads every blob once,
// streaming; never holds the database's writer lock while it hashes.
#pragma once

#include "storage/blob_store.h"
#include "storage/links.h"
#include "storage/maintenance.h"
#include "storage/metadata.h"

namespace keep {

struct FsckReport {
  bool repair = false;
  std::int64_t blobs_checked = 0;
  std::uint64_t bytes_checked = 0;
  Listing corrupt;          // digests whose file hashes to something else
  Listing stray_files;      // files in the blob tree whose name or place is no digest
  Listing missing_blobs;    // "repo@digest": a link whose blob file is gone
  Listing broken_manifests; // "repo@manifest: what it references that is missing"
  Listing quarantined;      // repair: where corrupt files went
  Listing links_dropped;    // repair: "repo@digest"
  double seconds = 0;
};

// `progress`, when given, is told after each blob file (with the number of
// files counted first), each page of links and each repository.
[[nodiscard]] Result<FsckReport> RunFsck(BlobDriver& blobs, Metadata& metadata, BlobLocks& locks,
                                         bool repair, const ProgressFn& progress = {});

}  // namespace keep
