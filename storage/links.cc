#include "storage/links.h"

namespace keep {

Result<void> CommitAndLink(BlobLocks& locks, Metadata& metadata, BlobWriter& writer,
                           const Digest& d, const std::string& repo) {
  auto held = locks.Lock(d.str());
  KEEP_TRY(writer.Commit(d));
  return metadata.LinkBlob(repo, d.str(), static_cast<std::int64_t>(writer.size()));
}

Result<bool> MountBlob(BlobLocks& locks, BlobDriver& blobs, Metadata& metadata,
                       const std::string& from, const std::string& to, const Digest& d) {
  auto held = locks.Lock(d.str());
  auto size = metadata.LinkedBlobSize(from, d.str());
  if (!size) return size.error();
  if (!*size) return false;
  auto stored = blobs.Stat(d);
  if (!stored) return stored.error();
  if (!*stored) return false;
  KEEP_TRY(metadata.LinkBlob(to, d.str(), **size));
  return true;
}

Result<void> StoreManifest(BlobLocks& locks, BlobDriver& blobs, Metadata& metadata,
                           const Digest& d, std::string_view bytes, const ManifestWrite& write) {
  auto held = locks.Lock(d.str());
  // Bytes first (PutSmall keeps a file that is there), then the index that makes them reachable.
  KEEP_TRY(blobs.PutSmall(d, bytes));
  return metadata.PutManifest(write);
}

}  // namespace keep
