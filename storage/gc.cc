#include "storage/gc.h"

#include "core/clock.h"
#include "core/metrics.h"

#include <unordered_map>

namespace keep {
namespace {

constexpr int kReposPerPage = 500;

Result<GcReport> Collect(BlobDriver& blobs, Metadata& metadata, BlobLocks& locks,
                         const GcOptions& options) {
  const auto started = std::chrono::steady_clock::now();
  GcReport report;
  report.dry_run = options.dry_run;
  const std::int64_t now = UnixNow();
  report.cutoff = now - options.grace.count();
  const SweepPolicy policy{report.cutoff, options.delete_untagged, now};

  // 1. Each repository: its unreachable manifests and its unreferenced old links.
  std::unordered_map<std::string, std::int64_t> planned_unlinks;  // dry run: per digest
  MaintenanceProgress progress{"repositories"};
  auto tell = [&] {
    if (options.progress) options.progress(progress);
  };
  for (std::string after;;) {
    auto repos = metadata.ListRepos(after, kReposPerPage);
    if (!repos) return repos.error();
    for (const auto& repo : *repos) {
      auto sweep = metadata.SweepRepository(repo, policy, options.dry_run);
      if (!sweep) return sweep.error();
      for (const auto& m : sweep->manifests) report.manifests.Add(repo + "@" + m);
      for (const auto& link : sweep->links) {
        report.blob_links.Add(repo + "@" + link.digest);
        if (options.dry_run) ++planned_unlinks[link.digest];
      }
      ++progress.done;
      tell();
    }
    if (repos->size() < static_cast<std::size_t>(kReposPerPage)) break;
    after = repos->back();
  }

  // 2. Blob files that no repository links (any more) and that are old.
  progress = MaintenanceProgress{"blob files"};
  KEEP_TRY(blobs.ForEachBlob([&](const BlobFile& f) -> Result<void> {
    ++progress.done;
    progress.bytes += f.size;
    tell();
    if (!f.digest || f.published_at >= report.cutoff) return {};
    const std::string digest = f.digest->str();
    auto links = metadata.CountLinks(digest);
    if (!links) return links.error();
    if (options.dry_run) {
      auto it = planned_unlinks.find(digest);
      if (*links > (it == planned_unlinks.end() ? 0 : it->second)) return {};
    } else {
      if (*links > 0) return {};
      // Decided again under the blob's lock, which every linker holds while
      // it makes sure of the file and links it (storage/links.h).
      auto held = locks.Lock(digest);
      if (!held) return held.error();
      links = metadata.CountLinks(digest);
      if (!links) return links.error();
      if (*links > 0) return {};
      auto published = blobs.PublishedAt(*f.digest);
      if (!published) return published.error();
      if (!*published || **published >= report.cutoff) return {};  // gone, or committed again
      KEEP_TRY(blobs.Delete(*f.digest));
    }
    report.blob_files.Add(digest);
    report.bytes_freed += f.size;
    return {};
  }));

  // 3. Upload sessions past their time.
  if (options.upload_ttl.count() > 0) {
    if (options.dry_run) {
      auto expired = metadata.ExpiredUploads(now - options.upload_ttl.count());
      if (!expired) return expired.error();
      report.expired_uploads = static_cast<int>(expired->size());
    } else {
      auto purged = PurgeUploads(blobs, metadata, options.upload_ttl);
      if (!purged) return purged.error();
      report.expired_uploads = purged->expired;
    }
  }
  report.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return report;
}

}  // namespace

Result<GcReport> RunGc(BlobDriver& blobs, Metadata& metadata, BlobLocks& locks,
                       const GcOptions& options) {
  auto report = Collect(blobs, metadata, locks, options);
  // A dry run changes nothing: it is no run for the metrics.
  if (!options.dry_run)
    metrics::CountGcRun(static_cast<bool>(report), report ? report->bytes_freed : 0);
  return report;
}

}  // namespace keep
