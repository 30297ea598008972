#include "storage/links.h"

#ifdef KEEP_TEST_HOOKS
#include <chrono>
#include <cstdlib>
#include <thread>
#endif

namespace keep {
namespace {

#ifdef KEEP_TEST_HOOKS
// Fault injection for tests/crash/gc_race_test.cc: a pause between making
// sure of a blob and committing its link, the window the locks close, so
// that the test would see a collected blob linked were they missing. Set by
// KEEPD_TEST_LINK_PAUSE_MS. Compiled only into keepd-test (KEEP_TEST_HOOKS,
// tests/crash/CMakeLists.txt), never into keepd.
void PauseBeforeLinking() {
  static const int ms = [] {
    const char* v = std::getenv("KEEPD_TEST_LINK_PAUSE_MS");
    return v ? std::atoi(v) : 0;
  }();
  if (ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(ms));
}
#else
void PauseBeforeLinking() {}
#endif

}  // namespace

Result<void> CommitAndLink(BlobLocks& locks, Metadata& metadata, BlobWriter& writer,
                           const Digest& d, const std::string& repo) {
  auto held = locks.Lock(d.str());
  if (!held) return held.error();
  KEEP_TRY(writer.Commit(d));
  PauseBeforeLinking();
  return metadata.LinkBlob(repo, d.str(), static_cast<std::int64_t>(writer.size()));
}

Result<bool> MountBlob(BlobLocks& locks, BlobDriver& blobs, Metadata& metadata,
                       const std::string& from, const std::string& to, const Digest& d) {
  auto held = locks.Lock(d.str());
  if (!held) return held.error();
  auto size = metadata.LinkedBlobSize(from, d.str());
  if (!size) return size.error();
  if (!*size) return false;
  auto stored = blobs.Stat(d);
  if (!stored) return stored.error();
  if (!*stored) return false;
  PauseBeforeLinking();
  KEEP_TRY(metadata.LinkBlob(to, d.str(), **size));
  return true;
}

Result<bool> LinkStoredBlob(BlobLocks& locks, BlobDriver& blobs, Metadata& metadata,
                            const Digest& d, const std::string& repo) {
  auto held = locks.Lock(d.str());
  if (!held) return held.error();
  auto stored = blobs.Stat(d);
  if (!stored) return stored.error();
  if (!*stored) return false;
  PauseBeforeLinking();
  KEEP_TRY(metadata.LinkBlob(repo, d.str(), static_cast<std::int64_t>(**stored)));
  return true;
}

Result<void> StoreSmallBlob(BlobLocks& locks, BlobDriver& blobs, Metadata& metadata,
                            const Digest& d, std::string_view bytes, const std::string& repo) {
  auto held = locks.Lock(d.str());
  if (!held) return held.error();
  KEEP_TRY(blobs.PutSmall(d, bytes));
  PauseBeforeLinking();
  return metadata.LinkBlob(repo, d.str(), static_cast<std::int64_t>(bytes.size()));
}

Result<void> StoreManifest(BlobLocks& locks, BlobDriver& blobs, Metadata& metadata,
                           const Digest& d, std::string_view bytes, const ManifestWrite& write) {
  auto held = locks.Lock(d.str());
  if (!held) return held.error();
  // Bytes first (PutSmall keeps a file that is there), then the index that makes them reachable.
  KEEP_TRY(blobs.PutSmall(d, bytes));
  PauseBeforeLinking();
  return metadata.PutManifest(write);
}

}  // namespace keep
