#include "storage/maintenance.h"

namespace keep {

Result<PurgeReport> PurgeUploads(BlobDriver& blobs, Metadata& metadata, std::chrono::seconds ttl) {
  PurgeReport report;
  auto now = std::chrono::duration_cast<std::chrono::seconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  auto expired = metadata.ExpiredUploads(now - ttl.count());
  if (!expired) return expired.error();
  for (const auto& id : *expired) {
    KEEP_TRY(blobs.DeleteUpload(id));
    KEEP_TRY(metadata.DeleteUpload(id));
    ++report.expired;
  }
  auto files = blobs.ListUploads();
  if (!files) return files.error();
  for (const auto& id : *files) {
    auto rec = metadata.GetUpload(id);
    if (!rec) return rec.error();
    if (!*rec) {
      KEEP_TRY(blobs.DeleteUpload(id));
      ++report.orphaned_files;
    }
  }
  return report;
}

}  // namespace keep
