// storage/blob_store.h — content-addressed blob storage behind a driver
// interface, and upload sessions' data.
//
// A blob becomes visible under its digest only after its bytes were hashed
// while written, the digest matched, the data was flushed to stable storage
// and renamed into place: no reader ever sees a half-written blob. Blobs are
// stored once, whatever number of repositories link them (linking is the
// metadata's business, not the driver's).
//
// Thread-safe: a BlobDriver may be used from any thread. A BlobReader or
// BlobWriter is used by one thread at a time. An upload session's writer is
// exclusive: while one is open, ResumeUpload for the same id fails.
#pragma once

#include "core/digest.h"
#include "core/error.h"
#include "storage/s3_client.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace keep {

class BlobReader {
 public:
  virtual ~BlobReader() = default;
  virtual std::uint64_t size() const = 0;
  // Reads up to n bytes at offset; returns the count (0 only at the end).
  [[nodiscard]] virtual Result<std::size_t> ReadAt(void* buf, std::size_t n,
                                                   std::uint64_t offset) = 0;
  // A file descriptor the kernel may copy the bytes from (sendfile(2)),
  // valid while the reader lives; -1 when the bytes are not in a local file.
  virtual int file_descriptor() const { return -1; }
};

class BlobWriter {
 public:
  virtual ~BlobWriter() = default;
  // Appends and hashes. kInsufficientStorage when the disk is full.
  [[nodiscard]] virtual Result<void> Write(const void* data, std::size_t n) = 0;
  virtual std::uint64_t size() const = 0;
  // How many of the bytes written a reader of an upload session finds there
  // now (BlobDriver::OpenUpload): the filesystem gathers up to a MiB before
  // it writes; all of them after Close() or Commit().
  virtual std::uint64_t stored() const { return size(); }
  // Verifies the content against `expected` and publishes it under that
  // digest. On a mismatch returns kDigestInvalid and publishes nothing.
  [[nodiscard]] virtual Result<void> Commit(const Digest& expected) = 0;
  // An upload session's writer at the end of a request: what was written is
  // stored where the next request finds it (each driver writes what it
  // still holds). Nothing is written after it.
  [[nodiscard]] virtual Result<void> Close() { return {}; }
};

// A file in the blob tree, as garbage collection and the integrity check see it.
struct BlobFile {
  std::optional<Digest> digest;  // nullopt: a file whose name or place is no digest
  std::string path;              // where it is, for reports
  std::uint64_t size = 0;
  std::int64_t published_at = 0;  // unix seconds: when it was last committed
};

class BlobDriver {
 public:
  virtual ~BlobDriver() = default;

  // The size of a stored blob, or nullopt.
  [[nodiscard]] virtual Result<std::optional<std::uint64_t>> Stat(const Digest& d) = 0;
  // kBlobUnknown when absent.
  [[nodiscard]] virtual Result<std::unique_ptr<BlobReader>> Open(const Digest& d) = 0;
  // A writer for a new blob, streamed to a temporary place; dropped unless committed.
  [[nodiscard]] virtual Result<std::unique_ptr<BlobWriter>> Create() = 0;
  // Small content held in memory (manifests): verified and published.
  [[nodiscard]] virtual Result<void> PutSmall(const Digest& d, std::string_view bytes) = 0;
  // Reads a whole blob of at most max bytes.
  [[nodiscard]] virtual Result<std::string> ReadSmall(const Digest& d, std::size_t max) = 0;
  [[nodiscard]] virtual Result<void> Delete(const Digest& d) = 0;

  // Garbage collection and integrity (storage/gc.h, storage/fsck.h).
  // Calls fn for every file in the blob tree, one directory at a time; fn
  // may remove the file it is given. Stops at fn's first error.
  [[nodiscard]] virtual Result<void> ForEachBlob(
      const std::function<Result<void>(const BlobFile&)>& fn) = 0;
  // When the blob was last committed (unix seconds), or nullopt when absent.
  [[nodiscard]] virtual Result<std::optional<std::int64_t>> PublishedAt(const Digest& d) = 0;
  // Moves the blob's file out of the tree into the quarantine folder (kept
  // for a person to look at); returns where it went. kBlobUnknown when absent.
  [[nodiscard]] virtual Result<std::string> Quarantine(const Digest& d) = 0;
  // Removes temporary files of writes that never committed; returns how many.
  // REQUIRES: no BlobWriter open (at start, before serving).
  [[nodiscard]] virtual Result<int> RemoveTemporaryFiles() = 0;

  // Upload sessions: data that grows over several requests and survives a
  // restart. The id must be the hex id made by the server.
  [[nodiscard]] virtual Result<void> CreateUpload(const std::string& id) = 0;
  [[nodiscard]] virtual Result<std::uint64_t> UploadSize(const std::string& id) = 0;
  // An exclusive appending writer; Commit publishes the upload as a blob.
  [[nodiscard]] virtual Result<std::unique_ptr<BlobWriter>> ResumeUpload(const std::string& id) = 0;
  [[nodiscard]] virtual Result<void> DeleteUpload(const std::string& id) = 0;
  // A reader of an upload session's data as written so far, for a reader
  // that follows a write in progress (the curated mirror streams a layer to
  // a client while it arrives): size() is the size when opened, and ReadAt
  // reads what was appended since too. It keeps reading the same data after
  // the session is committed or deleted. kBlobUploadUnknown when absent.
  [[nodiscard]] virtual Result<std::unique_ptr<BlobReader>> OpenUpload(const std::string& id) = 0;
  // The ids of all upload sessions that have data.
  [[nodiscard]] virtual Result<std::vector<std::string>> ListUploads() = 0;

  // Readiness (GET /readyz): new blobs and uploads can be written. Cheap:
  // an empty file made and removed where every blob write starts, and the
  // folders blobs and uploads land in checked to be writable folders. The
  // error says what failed and where, for the log.
  [[nodiscard]] virtual Result<void> CheckWritable() = 0;

  // A URL a client may GET the blob's bytes from directly, for a short time
  // (a presigned URL of the store), when the driver is configured to hand
  // them out; nullopt otherwise. Asked only after the request was authorised
  // and the blob found servable.
  // True when reads wait on the network (the server reads such blobs off
  // its I/O threads).
  virtual bool remote() const { return false; }

  virtual std::optional<std::string> DirectUrl(const Digest& d) {
    (void)d;
    return std::nullopt;
  }
};

// Whether the filesystem driver writes large bodies under dir around the
// page cache (O_DIRECT): on the local disk file systems that take it (ext4,
// XFS, btrfs, F2FS); not on a network one (NFS would make each MiB a round
// trip of its own), tmpfs (whose files are the cache) or an overlay.
bool WritesAroundPageCache(const std::string& dir);

// The filesystem driver rooted at dir (created if needed).
[[nodiscard]] Result<std::unique_ptr<BlobDriver>> OpenFsDriver(const std::string& dir);

struct S3DriverOptions {
  S3Options s3;
  std::uint64_t part_size = std::uint64_t{8} << 20;  // at least 5 MiB
  int redirect_seconds = 0;  // above 0: blob GETs are sent to presigned URLs valid this long
};

// The driver over an S3 bucket (storage/s3_driver.cc has the layout). The
// bucket must exist; opening checks that objects can be written there.
[[nodiscard]] Result<std::unique_ptr<BlobDriver>> OpenS3Driver(const S3DriverOptions& options);

}  // namespace keep
