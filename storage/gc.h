// storage/gc.h — online mark-and-sweep garbage collection, run while pushes
// go on.
//
// Per repository, the roots are its tagged manifests, its untagged
// manifests pushed less than `grace` ago (all of them when
// delete_untagged is off), and referrers (manifests with a `subject`) of
// any manifest reached. From each reached manifest, its child manifests and
// blobs are reached. A sweep deletes the manifests not reached, and the
// repository's blob links that no kept manifest references and that are
// older than `grace` (a client uploads layers before the manifest). Then a
// blob file is deleted when no repository links it and it was committed
// more than `grace` ago. How this stays safe while pushes link blobs is
// explained in storage/links.h.
//
// Thread-safe; one run at a time is enough (the server makes sure). Never
// holds the database's writer lock while it walks or deletes files.
#pragma once

#include "storage/blob_store.h"
#include "storage/links.h"
#include "storage/maintenance.h"
#include "storage/metadata.h"

#include <chrono>

namespace keep {

struct GcOptions {
  bool dry_run = false;  // find and list what would go; change nothing
  std::chrono::seconds grace{std::chrono::hours(24)};
  bool delete_untagged = true;
  // Upload sessions older than this are removed too; 0: leave them.
  std::chrono::seconds upload_ttl{0};
  ProgressFn progress;  // told after each repository and each blob file; may be empty
};

struct GcReport {
  bool dry_run = false;
  std::int64_t cutoff = 0;       // unix seconds: younger content was kept
  Listing manifests;             // "repo@digest"
  Listing blob_links;            // "repo@digest"
  Listing blob_files;            // digests
  std::uint64_t bytes_freed = 0; // by the blob files
  int expired_uploads = 0;
  double seconds = 0;
};

// Runs one collection (see above). A dry run lists what a real run started
// at the same moment would delete, were nothing pushed meanwhile.
[[nodiscard]] Result<GcReport> RunGc(BlobDriver& blobs, Metadata& metadata, BlobLocks& locks,
                                     const GcOptions& options);

}  // namespace keep
