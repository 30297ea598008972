// storage/maintenance.h — housekeeping that keeps the blob store and the
// metadata in agreement: expired upload sessions, and upload data or records
// left without their other half by a crash.
//
// Thread-safe as its parts are; may run while requests are served.
#pragma once

#include "storage/blob_store.h"
#include "storage/metadata.h"

#include <chrono>

namespace keep {

struct PurgeReport {
  int expired = 0;          // sessions older than the TTL
  int orphaned_files = 0;   // data with no session record
};

// Removes upload sessions created more than `ttl` ago, and upload data that
// no session record names. A record whose data is gone is removed as expired.
[[nodiscard]] Result<PurgeReport> PurgeUploads(BlobDriver& blobs, Metadata& metadata,
                                               std::chrono::seconds ttl);

}  // namespace keep
