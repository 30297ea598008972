#include "storage/fsck.h"

#include <algorithm>
#include <memory>
#include <unordered_map>

namespace keep {
namespace {

constexpr std::size_t kChunk = 1 << 20;
constexpr int kPage = 1000;

// The digest of a stored blob's bytes, read in chunks; nullopt when the
// file is gone.
Result<std::optional<Digest>> Rehash(BlobDriver& blobs, const Digest& d, std::uint64_t& bytes) {
  auto reader = blobs.Open(d);
  if (!reader) {
    if (reader.error().code == ErrorCode::kBlobUnknown) return std::optional<Digest>();
    return reader.error();
  }
  Hasher hasher(d.algorithm());
  std::unique_ptr<char[]> buf(new char[kChunk]);
  std::uint64_t offset = 0;
  while (true) {
    auto n = (*reader)->ReadAt(buf.get(), kChunk, offset);
    if (!n) return n.error();
    if (*n == 0) break;
    hasher.Update(buf.get(), *n);
    offset += *n;
  }
  bytes += offset;
  return std::optional<Digest>(hasher.Finish());
}

Result<bool> FileStored(BlobDriver& blobs, const std::string& digest) {
  auto d = Digest::Parse(digest);
  if (!d) return false;
  auto size = blobs.Stat(*d);
  if (!size) return size.error();
  return size->has_value();
}

// 1. Every blob file, re-hashed.
Result<void> CheckFile(BlobDriver& blobs, BlobLocks& locks, FsckReport& report, const BlobFile& f) {
  if (!f.digest) {
    report.stray_files.Add(f.path);
    return {};
  }
  ++report.blobs_checked;
  auto actual = Rehash(blobs, *f.digest, report.bytes_checked);
  if (!actual) return actual.error();
  if (!*actual || **actual == *f.digest) return {};
  const std::string digest = f.digest->str();
  report.corrupt.Add(digest + " (its bytes hash to " + (*actual)->str() + ")");
  if (!report.repair) return {};
  // A push may have stored good bytes meanwhile: look again under the
  // lock that pushes of this digest take (storage/links.h).
  auto held = locks.Lock(digest);
  if (!held) return held.error();
  std::uint64_t ignored = 0;
  auto again = Rehash(blobs, *f.digest, ignored);
  if (!again) return again.error();
  if (!*again || **again == *f.digest) return {};
  auto to = blobs.Quarantine(*f.digest);
  if (!to) return to.error();
  report.quarantined.Add(*to);
  return {};
}

Result<void> CheckFiles(BlobDriver& blobs, BlobLocks& locks, FsckReport& report,
                        const ProgressFn& progress) {
  MaintenanceProgress p{"blob files"};
  if (progress) {  // counted first, so that a person sees how far it has come
    KEEP_TRY(blobs.ForEachBlob([&](const BlobFile&) -> Result<void> {
      ++p.total;
      return {};
    }));
    progress(p);
  }
  return blobs.ForEachBlob([&](const BlobFile& f) -> Result<void> {
    auto checked = CheckFile(blobs, locks, report, f);
    if (progress) {
      ++p.done;
      p.total = std::max(p.total, p.done);  // files made meanwhile
      p.bytes = report.bytes_checked;
      progress(p);
    }
    return checked;
  });
}

// 2. Every blob link, against its file (after quarantining, in a repair).
Result<void> CheckLinks(BlobDriver& blobs, Metadata& metadata, BlobLocks& locks, FsckReport& report,
                        const ProgressFn& progress) {
  MaintenanceProgress p{"links"};
  std::vector<std::string> missing;
  std::string last;  // links come in digest order: one stat per blob
  bool last_missing = false;
  BlobLink after;
  for (bool more = true; more;) {
    auto page = metadata.ListLinks(after, kPage);
    if (!page) return page.error();
    for (const auto& link : *page) {
      if (link.digest != last) {
        auto stored = FileStored(blobs, link.digest);
        if (!stored) return stored.error();
        last = link.digest;
        last_missing = !*stored;
        if (last_missing) missing.push_back(last);
      }
      if (last_missing) report.missing_blobs.Add(link.repo + "@" + link.digest);
    }
    p.done += page->size();
    if (progress) progress(p);
    more = page->size() == static_cast<std::size_t>(kPage);
    if (more) after = page->back();
  }
  if (!report.repair) return {};
  for (const auto& digest : missing) {
    auto held = locks.Lock(digest);
    if (!held) return held.error();
    auto stored = FileStored(blobs, digest);  // pushed again meanwhile?
    if (!stored) return stored.error();
    if (*stored) continue;
    auto repos = metadata.DropLinks(digest);
    if (!repos) return repos.error();
    for (const auto& repo : *repos) report.links_dropped.Add(repo + "@" + digest);
  }
  return {};
}

// 3. Every manifest's references.
Result<void> CheckManifests(BlobDriver& blobs, Metadata& metadata, FsckReport& report,
                            const ProgressFn& progress) {
  MaintenanceProgress p{"manifests"};
  for (std::string after;;) {
    auto repos = metadata.ListRepos(after, kPage);
    if (!repos) return repos.error();
    for (const auto& repo : *repos) {
      auto refs = metadata.ManifestRefs(repo);
      if (!refs) return refs.error();
      std::unordered_map<std::string, bool> stored;  // digest → file present
      for (const auto& ref : *refs) {
        bool ok = ref.present;
        if (ok && ref.kind != ManifestRef::Kind::kChild) {
          auto it = stored.find(ref.target);
          if (it == stored.end()) {
            auto s = FileStored(blobs, ref.target);
            if (!s) return s.error();
            it = stored.emplace(ref.target, *s).first;
          }
          ok = it->second;
        }
        if (ok) continue;
        const char* what = ref.kind == ManifestRef::Kind::kSelf    ? "its own bytes"
                           : ref.kind == ManifestRef::Kind::kChild ? "child manifest"
                                                                   : "blob";
        std::string where = !ref.present ? "not in the repository" : "its file is gone";
        report.broken_manifests.Add(repo + "@" + ref.manifest + ": " + what +
                                    (ref.kind == ManifestRef::Kind::kSelf ? "" : " " + ref.target) +
                                    " " + where);
      }
      ++p.done;
      if (progress) progress(p);
    }
    if (repos->size() < static_cast<std::size_t>(kPage)) break;
    after = repos->back();
  }
  return {};
}

}  // namespace

Result<FsckReport> RunFsck(BlobDriver& blobs, Metadata& metadata, BlobLocks& locks, bool repair,
                           const ProgressFn& progress) {
  const auto started = std::chrono::steady_clock::now();
  FsckReport report;
  report.repair = repair;
  KEEP_TRY(CheckFiles(blobs, locks, report, progress));
  KEEP_TRY(CheckLinks(blobs, metadata, locks, report, progress));
  KEEP_TRY(CheckManifests(blobs, metadata, report, progress));
  report.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return report;
}

}  // namespace keep
