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
// Replicas sharing one store and one PostgreSQL database hold these locks
// across processes (storage/replica_locks.h).
//
// Thread-safe. The functions block (fsync, database writes): call them off
// the I/O threads.
#pragma once

#include "storage/blob_store.h"
#include "storage/metadata.h"

#include <memory>
#include <string>
#include <string_view>

namespace keep {

// Exclusive locks by digest, which every replica on the database sees
// (Metadata::LockAcrossReplicas).
class BlobLocks {
 public:
  using Guard = std::unique_ptr<ReplicaLock>;
  explicit BlobLocks(Metadata& metadata) : metadata_(metadata) {}

  // Waits until no one holds `digest`, then holds it until the Guard goes.
  // Fails only when the database cannot be asked.
  [[nodiscard]] Result<Guard> Lock(const std::string& digest) {
    return metadata_.LockAcrossReplicas(LockKind::kBlob, digest, true);
  }

 private:
  Metadata& metadata_;
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
