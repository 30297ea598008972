// The admin API's garbage collection, integrity check and database backup
// (docs/admin-api.md). GC and the check run on the blocking pool, one at a
// time: a second call while one runs gets 409 CONFLICT. A backup runs beside
// either (it only reads). GET /admin/v1/maintenance tells how far the one
// running has come.
#include "server/handlers/admin_json.h"

#include <chrono>

namespace keep::server::handlers {
namespace {

using namespace admin;

json ListingJson(const Listing& l) { return {{"count", l.count}, {"items", l.items}}; }

json GcJson(const GcReport& r) {
  return {{"dry_run", r.dry_run},
          {"cutoff", r.cutoff},
          {"manifests", ListingJson(r.manifests)},
          {"blob_links", ListingJson(r.blob_links)},
          {"blob_files", ListingJson(r.blob_files)},
          {"bytes_freed", r.bytes_freed},
          {"expired_uploads", r.expired_uploads},
          {"seconds", r.seconds}};
}

json FsckJson(const FsckReport& r) {
  return {{"repair", r.repair},
          {"blobs_checked", r.blobs_checked},
          {"bytes_checked", r.bytes_checked},
          {"corrupt", ListingJson(r.corrupt)},
          {"stray_files", ListingJson(r.stray_files)},
          {"missing_blobs", ListingJson(r.missing_blobs)},
          {"broken_manifests", ListingJson(r.broken_manifests)},
          {"quarantined", ListingJson(r.quarantined)},
          {"links_dropped", ListingJson(r.links_dropped)},
          {"seconds", r.seconds}};
}

Error Busy() {
  return Fail(ErrorCode::kConflict,
              "a garbage collection or integrity check is running (on this keepd or another "
              "replica); wait for it to finish");
}

}  // namespace

Result<std::optional<MaintenanceTurn>> TakeMaintenanceTurn(const Services& svc) {
  MaintenanceTurn turn{std::unique_lock(svc.maintenance, std::try_to_lock), nullptr};
  if (!turn.here) return std::optional<MaintenanceTurn>();
  auto everywhere = svc.metadata.LockAcrossReplicas(LockKind::kMaintenance, "gc/fsck", false);
  if (!everywhere) return everywhere.error();
  if (!*everywhere) return std::optional<MaintenanceTurn>();
  turn.everywhere = std::move(*everywhere);
  return std::optional<MaintenanceTurn>(std::move(turn));
}

// The options of a scheduled run, from the config (server.cc uses it too).
GcOptions ConfiguredGc(const Config& config) {
  GcOptions o;
  o.grace = std::chrono::hours(config.gc_untagged_grace_hours);
  o.delete_untagged = config.gc_delete_untagged;
  o.upload_ttl = std::chrono::hours(config.upload_ttl_hours);
  return o;
}

Awaitable<Result<Reply>> CollectGarbage(Exchange& ex) {
  const auto& svc = ex.services();
  static constexpr std::string_view kFields[] = {"dry_run", "grace_seconds", "delete_untagged"};
  auto body = co_await ReadObject(ex, kFields);
  if (!body) co_return body.error();
  auto dry_run = BoolField(*body, "dry_run");
  if (!dry_run) co_return dry_run.error();
  auto grace = IntField(*body, "grace_seconds");
  if (!grace) co_return grace.error();
  auto untagged = BoolField(*body, "delete_untagged");
  if (!untagged) co_return untagged.error();
  GcOptions options = ConfiguredGc(svc.config);
  options.dry_run = dry_run->value_or(false);
  if (*grace) {
    if (**grace < 0) co_return Fail(ErrorCode::kInvalid, "field \"grace_seconds\" must be 0 or more");
    options.grace = std::chrono::seconds(**grace);
  }
  if (*untagged) options.delete_untagged = **untagged;
  options.progress = svc.maintenance_status.Reporter();
  auto report = co_await Offload(svc, [&]() -> Result<GcReport> {
    auto turn = TakeMaintenanceTurn(svc);
    if (!turn) return turn.error();
    if (!*turn) return Busy();
    svc.maintenance_status.Start("gc");
    auto r = RunGc(svc.blobs, svc.metadata, svc.blob_locks, options);
    svc.maintenance_status.Finish(static_cast<bool>(r));
    return r;
  });
  if (!report) co_return report.error();
  AuditEvent event = AuditBy(ex, "gc.run", "", "");
  event.details = {{"event", "garbage collection"},
                   {"dry_run", options.dry_run},
                   {"manifests", report->manifests.count},
                   {"blob_files", report->blob_files.count},
                   {"bytes_freed", report->bytes_freed}};
  Audit(std::move(event));
  co_return JsonReply(http::status::ok, GcJson(*report));
}

Awaitable<Result<Reply>> CheckIntegrity(Exchange& ex) {
  const auto& svc = ex.services();
  static constexpr std::string_view kFields[] = {"repair"};
  auto body = co_await ReadObject(ex, kFields);
  if (!body) co_return body.error();
  auto repair = BoolField(*body, "repair");
  if (!repair) co_return repair.error();
  bool fix = repair->value_or(false);
  auto report = co_await Offload(svc, [&]() -> Result<FsckReport> {
    auto turn = TakeMaintenanceTurn(svc);
    if (!turn) return turn.error();
    if (!*turn) return Busy();
    svc.maintenance_status.Start("fsck");
    auto r =
        RunFsck(svc.blobs, svc.metadata, svc.blob_locks, fix, svc.maintenance_status.Reporter());
    svc.maintenance_status.Finish(static_cast<bool>(r));
    return r;
  });
  if (!report) co_return report.error();
  AuditEvent event = AuditBy(ex, "fsck.run", "", "");
  event.details = {{"event", "integrity check"}, {"repair", fix}};
  Audit(std::move(event));
  co_return JsonReply(http::status::ok, FsckJson(*report));
}

Awaitable<Result<Reply>> MaintenanceState(Exchange& ex) {
  co_return JsonReply(http::status::ok, ex.services().maintenance_status.ToJson());
}

Awaitable<Result<Reply>> BackupDatabase(Exchange& ex) {
  const auto& svc = ex.services();
  auto body = co_await ReadObject(ex, {});
  if (!body) co_return body.error();
  auto report = co_await Offload(svc, [&]() -> Result<BackupReport> {
    return BackupMetadata(svc.metadata, svc.config.data_dir);
  });
  if (!report) co_return report.error();
  AuditEvent event = AuditBy(ex, "backup.create", "", report->path);
  event.details = {{"event", "database backup"}, {"bytes", report->bytes}};
  Audit(std::move(event));
  co_return JsonReply(
      http::status::created,
      {{"path", report->path}, {"bytes", report->bytes}, {"taken_at", report->taken_at}});
}

}  // namespace keep::server::handlers
