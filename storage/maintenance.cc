#include "storage/maintenance.h"

#include "core/clock.h"
#include "storage/paths.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>

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

namespace {

Error BackupError(const std::string& what, int err) {
  if (err == ENOSPC || err == EDQUOT) {
    return Fail(ErrorCode::kInsufficientStorage,
                "the registry's disk has no room for a backup; ask its operator to free space");
  }
  return Fail(ErrorCode::kInternal, "backup: " + what + ": " + std::strerror(err));
}

Result<void> SyncPath(const std::string& path, int flags) {
  int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) return BackupError("open " + path, errno);
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) return BackupError("sync " + path, err);
  return {};
}

}  // namespace

Result<BackupReport> BackupMetadata(Metadata& metadata, const std::string& data_dir) {
  const std::string dir = paths::BackupsDir(data_dir);
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return BackupError("mkdir " + dir, errno);
  BackupReport report;
  report.taken_at = UnixNow();
  std::time_t t = report.taken_at;
  std::tm utc{};
  gmtime_r(&t, &utc);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &utc);
  // Claims a name: its .partial file is created empty and exclusively (VACUUM
  // INTO writes into an empty file), so two backups in one second, even at
  // once, get -2, -3, ...; the final name is taken by link(), which never
  // replaces a file, so an earlier copy is never overwritten.
  std::string path, partial;
  auto name = [&](int n) {
    return dir + "/metadata-" + stamp + (n == 1 ? "" : "-" + std::to_string(n)) + ".db";
  };
  int n = 1;
  for (;; ++n) {
    path = name(n);
    partial = path + ".partial";
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0 && errno == ENOENT) {
      int fd = ::open(partial.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
      if (fd >= 0) {
        ::close(fd);
        break;
      }
      if (errno != EEXIST) return BackupError("create " + partial, errno);
    }
    if (n == 100) return BackupError("no free name for " + path, EEXIST);
  }
  auto written = metadata.Snapshot(partial);
  if (!written) {
    ::unlink(partial.c_str());
    return written.error();
  }
  auto done = [&]() -> Result<void> {
    if (::chmod(partial.c_str(), 0600) != 0) return BackupError("chmod " + partial, errno);
    KEEP_TRY(SyncPath(partial, O_RDONLY));
    // Another backup may have taken this name between the claim and now (it
    // saw neither file while this one's .partial did not exist yet, or no
    // longer did): the next free name, never a replaced file.
    while (::link(partial.c_str(), path.c_str()) != 0) {
      if (errno != EEXIST || n >= 100) return BackupError("link " + path, errno);
      path = name(++n);
    }
    ::unlink(partial.c_str());
    return SyncPath(dir, O_RDONLY | O_DIRECTORY);
  }();
  if (!done) {
    ::unlink(partial.c_str());
    return done.error();
  }
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) report.bytes = static_cast<std::uint64_t>(st.st_size);
  report.path = path;
  return report;
}

}  // namespace keep
