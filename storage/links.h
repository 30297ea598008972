// storage/links.h — the ways a stored blob becomes linked to a repository,
// made safe against garbage collection running at the same time.
//
// The race: GC finds blob file D linked by no repository and deletes it,
// while a push is about to link D (an upload that just committed, a
// cross-repository mount, a manifest PUT whose bytes are already stored).
// Were the link written after the deletion, the repository would name a
// blob that is gone. The rule that closes it: the file's existence and the
// metadata's links to it change only under a per-digest lock (BlobLocks).
//   - A linker holds lock(D) while it makes sure the file is there (commits
//     it, or stats it) and commits the link.
//   - GC holds lock(D) while it counts D's links (a fresh read, which sees
//     every committed link) and, when there are none, deletes the file.
// So either the link is committed first, and GC sees it and keeps the file;
// or the file is deleted first, and the linker finds it missing and does not
// link (a mount falls back to an upload; a manifest PUT stores its bytes
// again). The lock is per digest and never held with another digest's, so
// it cannot deadlock, and it is not the database's writer lock: GC never
// holds that while it touches files.
//
// Links between a repository's manifests and its blobs are the other half:
// Metadata::SweepRepository decides and deletes in one write transaction,
// and Metadata::PutManifest re-checks its references inside its own, so a
// manifest never references a blob link or a child that GC just removed.
//
// These locks are in-process: keepd replicas sharing one store would need
// the same rule through the database (a "being deleted" mark), not this.
//
// Thread-safe. The functions block (fsync, database writes): call them off
// the I/O threads.
#pragma once

#include "storage/blob_store.h"
#include "storage/metadata.h"

#include <condition_variable>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_set>

namespace keep {

// Exclusive locks by digest.
class BlobLocks {
 public:
  class [[nodiscard]] Guard {
   public:
    Guard(BlobLocks* locks, std::string digest) : locks_(locks), digest_(std::move(digest)) {}
    ~Guard() {
      if (locks_) locks_->Unlock(digest_);
    }
    Guard(Guard&& o) noexcept : locks_(o.locks_), digest_(std::move(o.digest_)) {
      o.locks_ = nullptr;
    }
    Guard(const Guard&) = delete;
    Guard& operator=(const Guard&) = delete;
    Guard& operator=(Guard&&) = delete;

   private:
    BlobLocks* locks_;
    std::string digest_;
  };

  // Waits until no one holds `digest`, then holds it until the Guard goes.
  Guard Lock(const std::string& digest) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return held_.count(digest) == 0; });
    held_.insert(digest);
    return Guard(this, digest);
  }

 private:
  void Unlock(const std::string& digest) {
    {
      std::lock_guard lock(mu_);
      held_.erase(digest);
    }
    cv_.notify_all();
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::unordered_set<std::string> held_;  // GUARDED_BY(mu_)
};

// Publishes what `writer` holds as blob d and links it into repo.
[[nodiscard]] Result<void> CommitAndLink(BlobLocks& locks, Metadata& metadata, BlobWriter& writer,
                                         const Digest& d, const std::string& repo);

// Links blob d, linked by `from`, into `to` when `from` links it and its
// file is stored; false (nothing done) when it is not mountable.
[[nodiscard]] Result<bool> MountBlob(BlobLocks& locks, BlobDriver& blobs, Metadata& metadata,
                                     const std::string& from, const std::string& to,
                                     const Digest& d);

// Links blob d into repo when its file is stored (from any repository, or
// none: a mirror that fetched it before); false (nothing done) when it is not.
[[nodiscard]] Result<bool> LinkStoredBlob(BlobLocks& locks, BlobDriver& blobs, Metadata& metadata,
                                          const Digest& d, const std::string& repo);
// Stores small bytes (a signature's payload or config) as blob d and links it into repo.
[[nodiscard]] Result<void> StoreSmallBlob(BlobLocks& locks, BlobDriver& blobs, Metadata& metadata,
                                          const Digest& d, std::string_view bytes,
                                          const std::string& repo);
// Stores a manifest's bytes (digest d) and writes its metadata.
[[nodiscard]] Result<void> StoreManifest(BlobLocks& locks, BlobDriver& blobs, Metadata& metadata,
                                         const Digest& d, std::string_view bytes,
                                         const ManifestWrite& write);

}  // namespace keep
