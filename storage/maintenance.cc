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

Result<StartupReport> CheckAtStart(BlobDriver& blobs, Metadata& metadata) {
  StartupReport report;
  auto removed = blobs.RemoveTemporaryFiles();
  if (!removed) return removed.error();
  report.temporary_files = *removed;
  BlobLink after;
  std::string last_digest;
  bool last_present = true;
  while (true) {
    auto page = metadata.ListLinks(after, 1000);
    if (!page) return page.error();
    for (const auto& link : *page) {
      ++report.links_checked;
      if (link.digest != last_digest) {  // one stat per blob, however many repositories link it
        last_digest = link.digest;
        last_present = false;
        if (auto d = Digest::Parse(link.digest)) {
          auto size = blobs.Stat(*d);
          if (!size) return size.error();
          last_present = size->has_value();
        }
      }
      if (!last_present) report.missing.Add(link.repo + "@" + link.digest);
    }
    if (page->size() < 1000) break;
    after = page->back();
  }
  return report;
}

}  // namespace keep
