// The filesystem BlobDriver (storage/blob_store.h); layout in storage/paths.h.
#include "storage/blob_store.h"
#include "storage/paths.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <unordered_set>

namespace keep {
namespace {

namespace fs = std::filesystem;

Error IoError(const std::string& what, int err) {
  if (err == ENOSPC || err == EDQUOT) {
    return Fail(ErrorCode::kInsufficientStorage,
                "the registry's disk is full; ask its operator to free space, then retry");
  }
  return OperatorFault(ErrorCode::kInternal, what + ": " + std::strerror(err));
}

// Writes all n bytes at the file's offset, or at `at` when it is given.
Result<void> WriteAll(int fd, const void* data, std::size_t n, const std::string& path,
                      off_t at = -1) {
  auto p = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t w = at < 0 ? ::write(fd, p, n) : ::pwrite(fd, p, n, at);
    if (w < 0) {
      if (errno == EINTR) continue;
      return IoError("write " + path, errno);
    }
    p += w;
    n -= static_cast<std::size_t>(w);
    if (at >= 0) at += w;
  }
  return {};
}

Result<void> SyncDir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return IoError("open " + dir, errno);
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) return IoError("fsync " + dir, err);
  return {};
}

Result<void> MakeDirs(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return IoError("create a storage directory", ec.value());
  return {};
}

// Hashes a file's bytes from the start (used when a hash state is lost).
Result<Hasher> HashFile(const std::string& path, DigestAlgorithm alg) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return IoError("open " + path, errno);
  Hasher h(alg);
  std::unique_ptr<char[]> buf(new char[1 << 20]);
  while (true) {
    ssize_t n = ::read(fd, buf.get(), 1 << 20);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      return IoError("read " + path, err);
    }
    if (n == 0) break;
    h.Update(buf.get(), static_cast<std::size_t>(n));
  }
  ::close(fd);
  return h;
}

class FsReader final : public BlobReader {
 public:
  FsReader(int fd, std::uint64_t size) : fd_(fd), size_(size) {}
  ~FsReader() override { ::close(fd_); }
  std::uint64_t size() const override { return size_; }
  Result<std::size_t> ReadAt(void* buf, std::size_t n, std::uint64_t offset) override {
    while (true) {
      ssize_t r = ::pread(fd_, buf, n, static_cast<off_t>(offset));
      if (r >= 0) return static_cast<std::size_t>(r);
      if (errno != EINTR) return IoError("read blob", errno);
    }
  }
  int file_descriptor() const override { return fd_; }

 private:
  int fd_;
  std::uint64_t size_;
};

class FsDriver;

// Writes to a file at `path`, hashing as it goes; Commit renames it into
// the blob tree. Used for new blobs (a temporary file) and upload sessions.
//
// Large bodies go around the page cache (O_DIRECT): they are gathered in an
// aligned buffer and written a MiB at a time straight to the disk, so a
// push costs no copy into the cache and no writeback of it afterwards.
// Whatever is left at the end of a request that is not a whole block, and
// a body of less than a MiB, is written through the cache. A file system
// that refuses O_DIRECT, or a session resumed at an offset that is not a
// whole block, is written through the cache throughout.
class FsWriter final : public BlobWriter {
 public:
  FsWriter(FsDriver* driver, std::string path, int fd, std::uint64_t size,
           std::optional<Hasher> hasher, std::string upload_id, bool direct)
      : driver_(driver), path_(std::move(path)), fd_(fd), size_(size), on_disk_(size),
        hasher_(std::move(hasher)), upload_id_(std::move(upload_id)),
        direct_refused_(!direct || size % kBlock != 0) {}
  ~FsWriter() override;

  Result<void> Write(const void* data, std::size_t n) override {
    if (!stage_ && !direct_refused_) {
      // Gathered from the first byte: the whole blocks of a full buffer go
      // straight to the disk.
      stage_.reset(static_cast<char*>(std::aligned_alloc(kBlock, kStage)));
    }
    if (!stage_) {
      auto r = WriteAll(fd_, data, n, path_);
      if (!r) {
        // Keep the file consistent with what was hashed: cut back a partial write.
        if (::ftruncate(fd_, static_cast<off_t>(size_)) != 0) hasher_.reset();
        return r;
      }
      if (hasher_) hasher_->Update(data, n);
      size_ += n;
      on_disk_ = size_;
      return {};
    }
    if (hasher_) hasher_->Update(data, n);
    size_ += n;
    auto p = static_cast<const char*>(data);
    while (n > 0) {
      std::size_t c = std::min(n, kStage - staged_);
      std::memcpy(stage_.get() + staged_, p, c);
      staged_ += c;
      p += c;
      n -= c;
      if (staged_ == kStage) KEEP_TRY(Flush(false));
    }
    return {};
  }
  std::uint64_t size() const override { return size_; }
  std::uint64_t stored() const override { return on_disk_; }
  Result<void> Commit(const Digest& expected) override;
  Result<void> Close() override { return Flush(true); }

 private:
  static constexpr std::size_t kBlock = 4096;  // a multiple of any disk's logical block
  static constexpr std::size_t kStage = 1 << 20;
  struct Free {
    void operator()(char* p) const { std::free(p); }
  };

  // Writes the gathered whole blocks straight to the disk and, when `all`,
  // the rest through the cache. The file is opened for that when the buffer
  // first fills: a body of less than a MiB goes through the cache whole.
  // On an error the file is cut back to what was written before, and the
  // hash state dropped (Commit hashes the file).
  Result<void> Flush(bool all) {
    if (!all && direct_fd_ < 0 && !direct_refused_) OpenDirect();
    if (direct_fd_ < 0) return WriteStaged();
    std::size_t whole = staged_ / kBlock * kBlock;
    std::size_t done = 0;
    while (done < whole) {
      ssize_t w = ::pwrite(direct_fd_, stage_.get() + done, whole - done,
                           static_cast<off_t>(on_disk_ + done));
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0 || w % kBlock != 0) {
        int err = w < 0 ? errno : EIO;
        if (err == EINVAL && !wrote_direct_) {
          // The file system takes O_DIRECT at open but not these writes:
          // through the cache from here on.
          ::close(direct_fd_);
          direct_fd_ = -1;
          direct_refused_ = true;
          return WriteStaged();
        }
        return Failed(IoError("write " + path_, err));
      }
      done += static_cast<std::size_t>(w);
      wrote_direct_ = true;
    }
    on_disk_ += whole;
    staged_ -= whole;
    std::memmove(stage_.get(), stage_.get() + whole, staged_);
    if (all && staged_ > 0) return WriteStaged();
    return {};
  }

  // The file once more, with O_DIRECT; not when the name now names another
  // file (the session was removed and begun again under it).
  void OpenDirect() {
    direct_fd_ = ::open(path_.c_str(), O_WRONLY | O_DIRECT | O_CLOEXEC);
    struct stat mine, theirs;
    if (direct_fd_ >= 0 && (::fstat(fd_, &mine) != 0 || ::fstat(direct_fd_, &theirs) != 0 ||
                            mine.st_dev != theirs.st_dev || mine.st_ino != theirs.st_ino)) {
      ::close(direct_fd_);
      direct_fd_ = -1;
    }
    direct_refused_ = direct_fd_ < 0;
  }

  // The gathered bytes, through the cache, at on_disk_: the end of the file
  // (a session's fd appends wherever the offset says, and the direct
  // writes do not move fd_'s offset).
  Result<void> WriteStaged() {
    auto r = WriteAll(fd_, stage_.get(), staged_, path_, static_cast<off_t>(on_disk_));
    if (!r) return Failed(r.error());
    on_disk_ += staged_;
    staged_ = 0;
    return {};
  }

  Error Failed(Error e) {
    struct stat st;
    if (::ftruncate(fd_, static_cast<off_t>(on_disk_)) != 0 && ::fstat(fd_, &st) == 0) {
      on_disk_ = static_cast<std::uint64_t>(st.st_size);  // what is there, hashed again at commit
    }
    hasher_.reset();
    size_ = on_disk_;
    staged_ = 0;
    return e;
  }

  FsDriver* driver_;
  std::string path_;
  int fd_;
  std::uint64_t size_;            // bytes written, gathered ones included
  std::uint64_t on_disk_;         // bytes in the file
  std::optional<Hasher> hasher_;  // nullopt: state lost, rehash on commit
  std::string upload_id_;         // empty for a temporary (non-session) writer
  bool committed_ = false;
  int direct_fd_ = -1;
  bool wrote_direct_ = false;
  // No direct writes: the file system takes no O_DIRECT or is not one to use
  // it on, or the writer began off a block boundary.
  bool direct_refused_;
  std::unique_ptr<char[], Free> stage_;
  std::size_t staged_ = 0;
};

class FsDriver final : public BlobDriver {
 public:
  explicit FsDriver(std::string root) : root_(std::move(root)) {}

  Result<void> Init() {
    direct_ = WritesAroundPageCache(root_);
    KEEP_TRY(MakeDirs(paths::BlobsDir(root_)));
    KEEP_TRY(MakeDirs(paths::UploadsDir(root_)));
    KEEP_TRY(MakeDirs(paths::TmpDir(root_)));
    return {};
  }

  Result<std::optional<std::uint64_t>> Stat(const Digest& d) override {
    struct stat st;
    if (::stat(paths::Blob(root_, d).c_str(), &st) != 0) {
      if (errno == ENOENT) return std::optional<std::uint64_t>();
      return IoError("stat blob", errno);
    }
    return std::optional<std::uint64_t>(static_cast<std::uint64_t>(st.st_size));
  }

  Result<std::unique_ptr<BlobReader>> Open(const Digest& d) override {
    int fd = ::open(paths::Blob(root_, d).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      if (errno == ENOENT) {
        return Fail(ErrorCode::kBlobUnknown, "blob " + d.str() + " is not stored");
      }
      return IoError("open blob", errno);
    }
    struct stat st;
    if (::fstat(fd, &st) != 0) {
      int err = errno;
      ::close(fd);
      return IoError("stat blob", err);
    }
    return std::unique_ptr<BlobReader>(new FsReader(fd, static_cast<std::uint64_t>(st.st_size)));
  }

  Result<std::unique_ptr<BlobWriter>> Create() override {
    std::string path = paths::TmpDir(root_) + "/" + RandomHex(16);
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) return IoError("create " + path, errno);
    return std::unique_ptr<BlobWriter>(new FsWriter(this, path, fd, 0, Hasher(), "", direct_));
  }

  Result<void> PutSmall(const Digest& d, std::string_view bytes) override {
    auto st = Stat(d);
    if (st && *st) return {};  // already stored: content is identical by digest
    auto w = Create();
    if (!w) return w.error();
    KEEP_TRY((*w)->Write(bytes.data(), bytes.size()));
    return (*w)->Commit(d);
  }

  Result<std::string> ReadSmall(const Digest& d, std::size_t max) override {
    auto r = Open(d);
    if (!r) return r.error();
    auto& reader = *r;
    if (reader->size() > max) return Fail(ErrorCode::kInternal, "stored blob is larger than expected");
    std::string out(reader->size(), '\0');
    std::size_t got = 0;
    while (got < out.size()) {
      auto n = reader->ReadAt(out.data() + got, out.size() - got, got);
      if (!n) return n.error();
      if (*n == 0) break;
      got += *n;
    }
    out.resize(got);
    return out;
  }

  Result<void> Delete(const Digest& d) override {
    if (::unlink(paths::Blob(root_, d).c_str()) != 0 && errno != ENOENT) {
      return IoError("delete blob", errno);
    }
    return {};
  }

  Result<void> ForEachBlob(const std::function<Result<void>(const BlobFile&)>& fn) override {
    auto top = List(paths::BlobsDir(root_));
    if (!top) return top.error();
    for (const auto& alg : *top) {
      if (!alg.is_directory()) {
        KEEP_TRY(Stray(alg, fn));
        continue;
      }
      auto prefixes = List(alg.path().string());
      if (!prefixes) return prefixes.error();
      for (const auto& prefix : *prefixes) {
        if (!prefix.is_directory()) {
          KEEP_TRY(Stray(prefix, fn));
          continue;
        }
        auto files = List(prefix.path().string());
        if (!files) return files.error();
        for (const auto& f : *files) {
          std::string name = f.path().filename().string();
          auto d = Digest::Parse(alg.path().filename().string() + ":" + name);
          if (!d || name.compare(0, 2, prefix.path().filename().string()) != 0 ||
              f.is_directory()) {
            KEEP_TRY(Stray(f, fn));
            continue;
          }
          struct stat st;
          if (::stat(f.path().c_str(), &st) != 0) {
            if (errno == ENOENT) continue;  // replaced or removed meanwhile
            return IoError("stat " + f.path().string(), errno);
          }
          KEEP_TRY(fn(BlobFile{*d, f.path().string(), static_cast<std::uint64_t>(st.st_size),
                               static_cast<std::int64_t>(st.st_mtim.tv_sec)}));
        }
      }
    }
    return {};
  }

  Result<std::optional<std::int64_t>> PublishedAt(const Digest& d) override {
    struct stat st;
    if (::stat(paths::Blob(root_, d).c_str(), &st) != 0) {
      if (errno == ENOENT) return std::optional<std::int64_t>();
      return IoError("stat blob", errno);
    }
    return std::optional<std::int64_t>(static_cast<std::int64_t>(st.st_mtim.tv_sec));
  }

  Result<std::string> Quarantine(const Digest& d) override {
    KEEP_TRY(MakeDirs(paths::QuarantineDir(root_)));
    auto now = std::chrono::duration_cast<std::chrono::seconds>(
                   std::chrono::system_clock::now().time_since_epoch())
                   .count();
    std::string to = paths::Quarantined(root_, d, now);
    if (::rename(paths::Blob(root_, d).c_str(), to.c_str()) != 0) {
      if (errno == ENOENT) return Fail(ErrorCode::kBlobUnknown, "blob " + d.str() + " is not stored");
      return IoError("quarantine blob", errno);
    }
    KEEP_TRY(SyncDir(paths::BlobDir(root_, d)));
    KEEP_TRY(SyncDir(paths::QuarantineDir(root_)));
    return to;
  }

  Result<int> RemoveTemporaryFiles() override {
    auto files = List(paths::TmpDir(root_));
    if (!files) return files.error();
    int removed = 0;
    for (const auto& f : *files) {
      std::error_code ec;
      if (fs::remove_all(f.path(), ec) > 0) ++removed;
      if (ec) return IoError("remove " + f.path().string(), ec.value());
    }
    return removed;
  }

  Result<void> CheckWritable() override {
    for (const std::string& dir : {paths::BlobsDir(root_), paths::UploadsDir(root_)}) {
      struct stat st {};
      if (::stat(dir.c_str(), &st) != 0) return IoError("stat " + dir, errno);
      if (!S_ISDIR(st.st_mode)) return Fail(ErrorCode::kUnavailable, dir + " is not a directory");
      if (::access(dir.c_str(), W_OK | X_OK) != 0) return IoError(dir + " is not writable", errno);
    }
    // A file as Create() makes one: if keepd stops before removing it, the
    // start-up's RemoveTemporaryFiles does.
    std::string path = paths::TmpDir(root_) + "/" + RandomHex(16);
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return IoError("create " + path, errno);
    ::close(fd);
    if (::unlink(path.c_str()) != 0) return IoError("remove " + path, errno);
    return {};
  }

  Result<void> CreateUpload(const std::string& id) override {
    std::string path = paths::Upload(root_, id);
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) return IoError("create upload", errno);
    ::close(fd);
    return {};
  }

  Result<std::uint64_t> UploadSize(const std::string& id) override {
    struct stat st;
    if (::stat(paths::Upload(root_, id).c_str(), &st) != 0) {
      if (errno == ENOENT) return Fail(ErrorCode::kBlobUploadUnknown, "upload session not found");
      return IoError("stat upload", errno);
    }
    return static_cast<std::uint64_t>(st.st_size);
  }

  Result<std::unique_ptr<BlobWriter>> ResumeUpload(const std::string& id) override {
    std::optional<Hasher> hasher;
    std::uint64_t hashed_size = 0;
    {
      std::lock_guard lock(mu_);
      if (!busy_.insert(id).second) {
        return Fail(ErrorCode::kBlobUploadInvalid,
                    "another request is writing to this upload session; wait for it to finish");
      }
      auto it = states_.find(id);
      if (it != states_.end()) {
        hasher = std::move(it->second.hasher);
        hashed_size = it->second.size;
        states_.erase(it);
      }
    }
    std::string path = paths::Upload(root_, id);
    int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
    if (fd < 0) {
      int err = errno;
      Release(id, std::nullopt, 0);
      if (err == ENOENT) return Fail(ErrorCode::kBlobUploadUnknown, "upload session not found");
      return IoError("open upload", err);
    }
    struct stat st;
    ::fstat(fd, &st);
    auto size = static_cast<std::uint64_t>(st.st_size);
    if (hasher && hashed_size != size) hasher.reset();  // file changed under us: rehash later
    if (!hasher && size == 0) hasher.emplace();
    return std::unique_ptr<BlobWriter>(
        new FsWriter(this, path, fd, size, std::move(hasher), id, direct_));
  }

  Result<void> DeleteUpload(const std::string& id) override {
    {
      std::lock_guard lock(mu_);
      states_.erase(id);
    }
    if (::unlink(paths::Upload(root_, id).c_str()) != 0 && errno != ENOENT) {
      return IoError("delete upload", errno);
    }
    return {};
  }

  Result<std::unique_ptr<BlobReader>> OpenUpload(const std::string& id) override {
    int fd = ::open(paths::Upload(root_, id).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      if (errno == ENOENT) return Fail(ErrorCode::kBlobUploadUnknown, "upload session not found");
      return IoError("open upload", errno);
    }
    struct stat st;
    if (::fstat(fd, &st) != 0) {
      int err = errno;
      ::close(fd);
      return IoError("stat upload", err);
    }
    return std::unique_ptr<BlobReader>(new FsReader(fd, static_cast<std::uint64_t>(st.st_size)));
  }

  Result<std::vector<std::string>> ListUploads() override {
    std::vector<std::string> ids;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(paths::UploadsDir(root_), ec)) {
      ids.push_back(e.path().filename().string());
    }
    if (ec) return OperatorFault(ErrorCode::kInternal, "cannot list uploads: " + ec.message());
    return ids;
  }

  // The entries of a directory, listed whole so that the caller may remove them.
  static Result<std::vector<fs::directory_entry>> List(const std::string& dir) {
    std::vector<fs::directory_entry> out;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir, ec)) out.push_back(e);
    if (ec) return IoError("list " + dir, ec.value());
    return out;
  }

  static Result<void> Stray(const fs::directory_entry& e,
                            const std::function<Result<void>(const BlobFile&)>& fn) {
    std::error_code ec;
    auto size = e.is_regular_file() ? e.file_size(ec) : 0;
    return fn(BlobFile{std::nullopt, e.path().string(), ec ? 0 : size, 0});
  }

  // Publishes the file at `from` as blob d. REQUIRES: `from` fsynced.
  Result<void> Publish(const std::string& from, const Digest& d) {
    std::string dir = paths::BlobDir(root_, d);
    KEEP_TRY(MakeDirs(dir));
    if (::rename(from.c_str(), paths::Blob(root_, d).c_str()) != 0) {
      return IoError("publish blob", errno);
    }
    return SyncDir(dir);
  }

  // Called when an upload writer closes: its hash state is kept for the next PATCH.
  void Release(const std::string& id, std::optional<Hasher> hasher, std::uint64_t size) {
    std::lock_guard lock(mu_);
    busy_.erase(id);
    if (hasher) states_.insert_or_assign(id, State{std::move(*hasher), size});
  }

 private:
  struct State {
    Hasher hasher;
    std::uint64_t size;
  };
  std::string root_;
  bool direct_ = false;  // large bodies are written with O_DIRECT
  std::mutex mu_;
  std::unordered_set<std::string> busy_;             // GUARDED_BY(mu_)
  std::unordered_map<std::string, State> states_;    // GUARDED_BY(mu_)
};

FsWriter::~FsWriter() {
  // A session's request that ended early keeps what it had received,
  // written through the cache: this may run on an I/O thread.
  if (!upload_id_.empty() && !committed_ && staged_ > 0) (void)WriteStaged();
  if (direct_fd_ >= 0) ::close(direct_fd_);
  ::close(fd_);
  if (upload_id_.empty()) {
    if (!committed_) ::unlink(path_.c_str());
  } else {
    driver_->Release(upload_id_, committed_ ? std::nullopt : std::move(hasher_), size_);
  }
}

Result<void> FsWriter::Commit(const Digest& expected) {
  if (staged_ > 0) KEEP_TRY(Flush(true));
  if (!hasher_ || hasher_->algorithm() != expected.algorithm()) {
    auto h = HashFile(path_, expected.algorithm());
    if (!h) return h.error();
    hasher_ = std::move(*h);
  }
  Digest actual = hasher_->Finish();
  hasher_.reset();
  if (actual != expected) {
    return Fail(ErrorCode::kDigestInvalid, "the uploaded content has digest " + actual.str() +
                                               ", not " + expected.str() + " as the client said");
  }
  // The file's time is its publication: GC's grace for unlinked blobs counts from it.
  if (::futimens(fd_, nullptr) != 0) return IoError("touch " + path_, errno);
  if (::fsync(fd_) != 0) return IoError("fsync " + path_, errno);
  KEEP_TRY(driver_->Publish(path_, expected));
  committed_ = true;
  return {};
}

}  // namespace

bool WritesAroundPageCache(const std::string& dir) {
  struct statfs st;
  if (::statfs(dir.c_str(), &st) != 0) return false;
  switch (static_cast<unsigned long>(st.f_type)) {
    case 0xEF53:      // ext2, ext3, ext4
    case 0x58465342:  // XFS
    case 0x9123683E:  // btrfs
    case 0xF2F52010:  // F2FS
      return true;
    default:  // NFS and other network file systems, tmpfs, overlays, FUSE
      return false;
  }
}

Result<std::unique_ptr<BlobDriver>> OpenFsDriver(const std::string& dir) {
  auto d = std::make_unique<FsDriver>(dir);
  KEEP_TRY(d->Init());
  return std::unique_ptr<BlobDriver>(std::move(d));
}

}  // namespace keep
