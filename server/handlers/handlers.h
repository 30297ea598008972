// server/handlers/handlers.h — the API handlers, one file per area. Each
// takes an Exchange whose caller is already authenticated and authorised for
// the access its route declares (server/router.cc), and returns a Reply or
// an Error.
#pragma once

#include "server/errors.h"
#include "server/exchange.h"

// KEEP_TRY for coroutines: co_returns the error of a Result<...> expression.
#define KEEP_CO_TRY(expr)                          \
  do {                                             \
    auto keep_co_try_r_ = (expr);                  \
    if (!keep_co_try_r_) co_return keep_co_try_r_.error(); \
  } while (0)

namespace keep::server::handlers {

// The answer when stored bytes do not hash to their digest: the file is
// moved to quarantine and the operator told in the log; the client gets an
// error, never the bad bytes. (integrity.cc)
Error Damaged(const Services& svc, const Digest& digest, std::string_view what);
// Whether this blob read is one of those re-verified (integrity.verify_reads_percent).
bool SampleRead(const Services& svc);
// Re-hashes the whole blob, streaming: does it still match its digest? Blocking.
Result<bool> HashesTo(BlobReader& reader, const Digest& digest);

using Handler = Awaitable<Result<Reply>> (*)(Exchange&);

// base.cc
Awaitable<Result<Reply>> Base(Exchange& ex);
// health.cc
Awaitable<Result<Reply>> Healthz(Exchange& ex);
Awaitable<Result<Reply>> Readyz(Exchange& ex);
// The answers of /healthz and /readyz, for the metrics listener too.
Reply HealthReply();
Awaitable<Reply> ReadyReply(const Services& svc);
// metrics.cc: the Prometheus exposition (core/metrics.h), with the storage
// figures refreshed from the metadata when they are older than a few seconds.
Awaitable<Result<Reply>> Metrics(Exchange& ex);
Awaitable<Reply> MetricsReply(const Services& svc);
// manifests.cc
Awaitable<Result<Reply>> GetManifest(Exchange& ex);
Awaitable<Result<Reply>> PutManifest(Exchange& ex);
Awaitable<Result<Reply>> DeleteManifest(Exchange& ex);
// blobs.cc
Awaitable<Result<Reply>> GetBlob(Exchange& ex);
Awaitable<Result<Reply>> DeleteBlob(Exchange& ex);
// uploads.cc
Awaitable<Result<Reply>> StartUpload(Exchange& ex);
Awaitable<Result<Reply>> UploadStatus(Exchange& ex);
Awaitable<Result<Reply>> PatchUpload(Exchange& ex);
Awaitable<Result<Reply>> FinishUpload(Exchange& ex);
Awaitable<Result<Reply>> CancelUpload(Exchange& ex);
// listing.cc
Awaitable<Result<Reply>> ListTags(Exchange& ex);
Awaitable<Result<Reply>> Catalog(Exchange& ex);
Awaitable<Result<Reply>> Referrers(Exchange& ex);
// token.cc
Awaitable<Result<Reply>> GetToken(Exchange& ex);
Awaitable<Result<Reply>> PostToken(Exchange& ex);
// admin_accounts.cc
Awaitable<Result<Reply>> Whoami(Exchange& ex);
Awaitable<Result<Reply>> ListUsers(Exchange& ex);
Awaitable<Result<Reply>> CreateUser(Exchange& ex);
Awaitable<Result<Reply>> ShowUser(Exchange& ex);
Awaitable<Result<Reply>> UpdateUser(Exchange& ex);
Awaitable<Result<Reply>> SetPassword(Exchange& ex);
Awaitable<Result<Reply>> ListRobots(Exchange& ex);
Awaitable<Result<Reply>> CreateRobot(Exchange& ex);
Awaitable<Result<Reply>> DeleteRobot(Exchange& ex);
// admin_namespaces.cc
Awaitable<Result<Reply>> ListNamespaces(Exchange& ex);
Awaitable<Result<Reply>> CreateNamespace(Exchange& ex);
Awaitable<Result<Reply>> ShowNamespace(Exchange& ex);
Awaitable<Result<Reply>> UpdateNamespace(Exchange& ex);
Awaitable<Result<Reply>> DeleteNamespace(Exchange& ex);
Awaitable<Result<Reply>> ListMembers(Exchange& ex);
Awaitable<Result<Reply>> SetMember(Exchange& ex);
Awaitable<Result<Reply>> RemoveMember(Exchange& ex);
// signatures.cc
Awaitable<Result<Reply>> GetSignatures(Exchange& ex);
Awaitable<Result<Reply>> PutSignature(Exchange& ex);
// admin_trust.cc
Awaitable<Result<Reply>> ListKeys(Exchange& ex);
Awaitable<Result<Reply>> AddKey(Exchange& ex);
Awaitable<Result<Reply>> RevokeKey(Exchange& ex);
Awaitable<Result<Reply>> GetPolicy(Exchange& ex);
Awaitable<Result<Reply>> SetPolicy(Exchange& ex);
Awaitable<Result<Reply>> Verify(Exchange& ex);
Awaitable<Result<Reply>> ListQuarantine(Exchange& ex);
Awaitable<Result<Reply>> DropQuarantined(Exchange& ex);
// admin_keyless.cc
Awaitable<Result<Reply>> ListIdentities(Exchange& ex);
Awaitable<Result<Reply>> AddIdentity(Exchange& ex);
Awaitable<Result<Reply>> ShowIdentity(Exchange& ex);
Awaitable<Result<Reply>> RevokeIdentity(Exchange& ex);
Awaitable<Result<Reply>> ListTrustRoots(Exchange& ex);
Awaitable<Result<Reply>> ShowTrustRoot(Exchange& ex);
Awaitable<Result<Reply>> SetTrustRoot(Exchange& ex);
Awaitable<Result<Reply>> DeleteTrustRoot(Exchange& ex);
// admin_maintenance.cc
// The options of garbage collection as the config sets them.
GcOptions ConfiguredGc(const Config& config);
// One garbage collection or integrity check runs at a time, across every
// replica on the database: held while it runs.
struct MaintenanceTurn {
  std::unique_lock<std::mutex> here;
  std::unique_ptr<ReplicaLock> everywhere;
};
// nullopt when another run holds it, here or on another replica.
[[nodiscard]] Result<std::optional<MaintenanceTurn>> TakeMaintenanceTurn(const Services& svc);
Awaitable<Result<Reply>> CollectGarbage(Exchange& ex);
Awaitable<Result<Reply>> CheckIntegrity(Exchange& ex);
Awaitable<Result<Reply>> BackupDatabase(Exchange& ex);
Awaitable<Result<Reply>> MaintenanceState(Exchange& ex);
// admin_mirrors.cc
Awaitable<Result<Reply>> ListMirrors(Exchange& ex);
Awaitable<Result<Reply>> CreateMirror(Exchange& ex);
Awaitable<Result<Reply>> ShowMirror(Exchange& ex);
Awaitable<Result<Reply>> UpdateMirror(Exchange& ex);
Awaitable<Result<Reply>> DeleteMirror(Exchange& ex);
Awaitable<Result<Reply>> StartMirrorSync(Exchange& ex);
Awaitable<Result<Reply>> MirrorSyncStatus(Exchange& ex);
Awaitable<Result<Reply>> ApproveMirrorChange(Exchange& ex);
Awaitable<Result<Reply>> MirrorKey(Exchange& ex);
// admin_audit.cc
Awaitable<Result<Reply>> ListAudit(Exchange& ex);

}  // namespace keep::server::handlers
