// Blob uploads: POST (session, monolithic, mount), PATCH, PUT, GET, DELETE
// under /v2/<name>/blobs/uploads/.
#include "server/handlers/handlers.h"
#include "server/handlers/trust_gate.h"
#include "server/limits.h"

#include "core/clock.h"
#include "core/metrics.h"

namespace keep::server::handlers {
namespace {

std::string BlobPath(const std::string& name, const Digest& d) {
  return "/v2/" + name + "/blobs/" + d.str();
}
std::string UploadPath(const std::string& name, const std::string& id) {
  return "/v2/" + name + "/blobs/uploads/" + id;
}

std::string NewUploadId() { return RandomHex(16); }

// "0-<last byte>" as clients expect it ("0-0" when empty).
std::string RangeOf(std::uint64_t size) {
  return "0-" + std::to_string(size == 0 ? 0 : size - 1);
}

Reply Accepted(const std::string& name, const std::string& id, std::uint64_t size,
               http::status status = http::status::accepted) {
  Reply r = Reply::Empty(status);
  r.headers.set(http::field::location, UploadPath(name, id));
  r.headers.set(http::field::range, RangeOf(size));
  r.headers.set("Docker-Upload-UUID", id);
  return r;
}

Reply Created(const std::string& name, const Digest& d) {
  Reply r = Reply::Empty(http::status::created);
  r.headers.set(http::field::location, BlobPath(name, d));
  r.headers.set("Docker-Content-Digest", d.str());
  return r;
}

// The session must belong to this repository and to the caller: an id is
// no key to another's upload. (Sessions from before owners were recorded
// have none, and stay anyone's who may push there.)
Result<void> CheckSession(Exchange& ex) {
  auto rec = ex.services().metadata.GetUpload(ex.params.reference);
  if (!rec) return rec.error();
  if (!*rec || (*rec)->repo != ex.params.name ||
      (!(*rec)->owner.empty() && (*rec)->owner != ex.who.user)) {
    return Fail(ErrorCode::kBlobUploadUnknown,
                "upload session not found in repository " + ex.params.name +
                    "; start a new upload with POST /v2/" + ex.params.name + "/blobs/uploads/");
  }
  return {};
}

Result<void> CheckContentRange(Exchange& ex, std::uint64_t size) {
  auto cr = ex.header(http::field::content_range);
  if (cr.empty()) return {};
  auto range = ParseContentRange(cr);
  if (!range) return range.error();
  if (range->first != size) {
    return Fail(ErrorCode::kRangeInvalid,
                "chunk starts at byte " + std::to_string(range->first) + " but the upload has " +
                    std::to_string(size) + " bytes; send the chunk that starts there");
  }
  auto cl = ex.header(http::field::content_length);
  if (!cl.empty() && cl != std::to_string(range->length())) {
    return Fail(ErrorCode::kBlobUploadInvalid, "Content-Length does not match Content-Range");
  }
  return {};
}

// The error, with the session's current state so the client can resume.
Reply RangeRefused(Exchange& ex, const Error& e, std::uint64_t size) {
  Reply r = ErrorReply(e);
  r.headers.set(http::field::location, UploadPath(ex.params.name, ex.params.reference));
  r.headers.set(http::field::range, RangeOf(size));
  r.headers.set("Docker-Upload-UUID", ex.params.reference);
  return r;
}

// Publishes what `writer` holds as blob d and links it into repo, safely
// against GC (storage/links.h). Blocks (fsync, a durable commit): run it
// with Offload.
Result<void> CommitAndLink(const Services& svc, BlobWriter& writer, const Digest& d,
                           const std::string& repo) {
  return keep::CommitAndLink(svc.blob_locks, svc.metadata, writer, d, repo);
}

// Seconds until the oldest of a user's sessions (created at `oldest`,
// unix seconds) expires and frees its share: the Retry-After of a refusal
// by the session and byte limits.
int UntilExpiry(const Services& svc, std::int64_t oldest) {
  std::int64_t left = oldest + std::int64_t{svc.config.upload_ttl_hours} * 3600 - UnixNow();
  return static_cast<int>(std::clamp<std::int64_t>(left, 1, 7 * 24 * 3600));
}

std::string Bytes(std::uint64_t n) {
  if (n >= (std::uint64_t{1} << 30) && n % (std::uint64_t{1} << 30) == 0) {
    return std::to_string(n >> 30) + " GiB";
  }
  if (n >= (std::uint64_t{1} << 20) && n % (std::uint64_t{1} << 20) == 0) {
    return std::to_string(n >> 20) + " MiB";
  }
  return std::to_string(n) + " bytes";
}

// What more the caller's unfinished sessions may take
// (limits.upload_bytes_per_user less what they hold), and the refusal to
// give when a body would pass it. Reads the sessions' sizes: run it with
// Offload.
struct Allowance {
  std::uint64_t bytes = 0;
  Error refusal;
};
Result<Allowance> UploadAllowance(const Services& svc, const std::string& user) {
  auto sessions = svc.metadata.UploadsOf(user);
  if (!sessions) return sessions.error();
  std::uint64_t held = 0;
  for (const UploadRecord& u : *sessions) {
    auto size = svc.blobs.UploadSize(u.id);
    if (size) held += *size;  // a session just removed holds nothing
  }
  const std::uint64_t limit = svc.config.upload_bytes_per_user;
  Allowance a;
  a.bytes = held >= limit ? 0 : limit - held;
  a.refusal = TooManyRequests(
      "user " + user + " would hold more than " + Bytes(limit) +
          " in unfinished uploads, the most limits.upload_bytes_per_user allows (" +
          std::to_string(sessions->size()) + " sessions hold " + std::to_string(held) +
          " bytes now); finish or cancel some, or wait for the oldest to expire",
      sessions->empty() ? 1 : UntilExpiry(svc, sessions->front().created_at));
  return a;
}

// Streams the request body into a session's writer within the caller's
// allowance; a body past it gets the allowance's refusal.
Awaitable<Result<std::uint64_t>> StreamWithinAllowance(Exchange& ex, BlobWriter& writer) {
  const auto& svc = ex.services();
  if (!ex.has_body()) co_return co_await ex.StreamBody(writer);
  auto allowance = co_await Offload(svc, [&] { return UploadAllowance(svc, ex.who.user); });
  if (!allowance) co_return allowance.error();
  auto n = co_await ex.StreamBody(writer, allowance->bytes);
  if (!n && n.error().code == ErrorCode::kTooLarge && n.error().message.empty()) {
    metrics::CountLimited(metrics::Limit::kUploadBytes);
    co_return allowance->refusal;
  }
  co_return n;
}

// One request at a time writes to a session, on whichever replica it
// arrives: the claim holds until the request ends.
Result<std::unique_ptr<ReplicaLock>> ClaimSession(const Services& svc, const std::string& id) {
  auto claim = svc.metadata.LockAcrossReplicas(LockKind::kUpload, id, false);
  if (!claim) return claim.error();
  if (!*claim) {
    return Fail(ErrorCode::kBlobUploadInvalid,
                "another request is writing to this upload session; retry when it ends");
  }
  return claim;
}

// Removes a session's data and record.
void DropSession(const Services& svc, const std::string& id) {
  (void)svc.blobs.DeleteUpload(id);
  (void)svc.metadata.DeleteUpload(id);
}

}  // namespace

Awaitable<Result<Reply>> StartUpload(Exchange& ex) {
  const auto& svc = ex.services();
  const std::string& name = ex.params.name;

  if (auto mount = ex.query("mount")) {
    auto d = Digest::Parse(*mount);
    if (!d) co_return d.error();
    auto from = ex.query("from");
    // Mounting reads the source: the caller must be allowed to pull it, and
    // be served that blob there (a quarantined blob is no one's to copy).
    if (from && ValidateRepoName(*from) &&
        Authorize(svc.metadata, ex.who, Access{Action::kPull, *from}) &&
        CheckBlobServable(svc, ex.who, *from, d->str())) {
      auto mounted = co_await Offload(svc, [&] {
        return MountBlob(svc.blob_locks, svc.blobs, svc.metadata, *from, name, *d);
      });
      if (!mounted) co_return mounted.error();
      if (*mounted) co_return Created(name, *d);
    }
    // Not mountable: fall back to an ordinary upload session, as the spec says.
  }

  if (auto digest_param = ex.query("digest")) {
    auto d = Digest::Parse(*digest_param);
    if (!d) co_return d.error();
    auto slot = svc.limits.EnterUpload(ex.who.user);
    if (!slot) co_return slot.error();
    auto writer = svc.blobs.Create();
    if (!writer) co_return writer.error();
    auto n = co_await ex.StreamBody(**writer);
    if (!n) co_return n.error();
    KEEP_CO_TRY(co_await Offload(svc, [&] { return CommitAndLink(svc, **writer, *d, name); }));
    co_return Created(name, *d);
  }

  if (!co_await ex.DiscardBody(svc.config.max_body_bytes)) {
    co_return Fail(ErrorCode::kBlobUploadInvalid,
                   "POST without ?digest= starts a session and takes no body");
  }
  // The record first: housekeeping removes upload data that no record names.
  std::string id = NewUploadId();
  auto recorded =
      svc.metadata.CreateUpload(id, name, ex.who.user, svc.config.upload_sessions_per_user);
  if (!recorded) co_return recorded.error();
  if (!*recorded) {
    metrics::CountLimited(metrics::Limit::kUploadSessions);
    auto open = svc.metadata.UploadsOf(ex.who.user);
    if (!open) co_return open.error();
    co_return TooManyRequests(
        "user " + ex.who.user + " has " + std::to_string(open->size()) +
            " unfinished upload sessions, the most limits.upload_sessions_per_user allows; "
            "finish or cancel some (DELETE their Location), or wait for the oldest to expire",
        open->empty() ? 1 : UntilExpiry(svc, open->front().created_at));
  }
  auto created = co_await AskStore(svc, [&] { return svc.blobs.CreateUpload(id); });
  if (!created) {
    (void)svc.metadata.DeleteUpload(id);
    co_return created.error();
  }
  Reply r = Accepted(name, id, 0);
  r.headers.set("OCI-Chunk-Min-Length", "0");
  co_return r;
}

Awaitable<Result<Reply>> UploadStatus(Exchange& ex) {
  KEEP_CO_TRY(CheckSession(ex));
  const auto& svc = ex.services();
  auto size = co_await AskStore(svc, [&] { return svc.blobs.UploadSize(ex.params.reference); });
  if (!size) co_return size.error();
  co_return Accepted(ex.params.name, ex.params.reference, *size, http::status::no_content);
}

Awaitable<Result<Reply>> PatchUpload(Exchange& ex) {
  const auto& svc = ex.services();
  KEEP_CO_TRY(CheckSession(ex));
  auto claim = ClaimSession(svc, ex.params.reference);
  if (!claim) co_return claim.error();
  auto writer = co_await AskStore(svc, [&] { return svc.blobs.ResumeUpload(ex.params.reference); });
  if (!writer) co_return writer.error();
  if (auto ok = CheckContentRange(ex, (*writer)->size()); !ok) {
    co_return RangeRefused(ex, ok.error(), (*writer)->size());
  }
  auto slot = svc.limits.EnterUpload(ex.who.user);
  if (!slot) co_return slot.error();
  auto n = co_await StreamWithinAllowance(ex, **writer);
  if (!n) co_return n.error();
  // The bytes are where the next request, on any replica, finds them before
  // the client is told they are there.
  KEEP_CO_TRY(co_await WriteStore(svc, [&] { return (*writer)->Close(); }));
  co_return Accepted(ex.params.name, ex.params.reference, (*writer)->size());
}

Awaitable<Result<Reply>> FinishUpload(Exchange& ex) {
  const auto& svc = ex.services();
  const std::string& id = ex.params.reference;
  auto digest_param = ex.query("digest");
  if (!digest_param) {
    co_return Fail(ErrorCode::kDigestInvalid,
                   "finishing an upload needs ?digest=<digest of the whole blob>");
  }
  auto d = Digest::Parse(*digest_param);
  if (!d) co_return d.error();
  KEEP_CO_TRY(CheckSession(ex));
  auto claim = ClaimSession(svc, id);
  if (!claim) co_return claim.error();
  auto writer = co_await AskStore(svc, [&] { return svc.blobs.ResumeUpload(id); });
  if (!writer) co_return writer.error();
  if (auto ok = CheckContentRange(ex, (*writer)->size()); !ok) {
    co_return RangeRefused(ex, ok.error(), (*writer)->size());
  }
  Limits::UploadSlot slot;
  if (ex.has_body()) {
    auto entered = svc.limits.EnterUpload(ex.who.user);
    if (!entered) co_return entered.error();
    slot = std::move(*entered);
  }
  auto n = co_await StreamWithinAllowance(ex, **writer);
  if (!n) co_return n.error();
  auto done = co_await Offload(svc, [&]() -> Result<void> {
    auto r = CommitAndLink(svc, **writer, *d, ex.params.name);
    writer->reset();  // ends the writer's hold on the session
    // A wrong digest ends the session too: nothing of it is kept.
    if (r || r.error().code == ErrorCode::kDigestInvalid) DropSession(svc, id);
    return r;
  });
  if (!done) co_return done.error();
  co_return Created(ex.params.name, *d);
}

Awaitable<Result<Reply>> CancelUpload(Exchange& ex) {
  KEEP_CO_TRY(CheckSession(ex));
  const auto& svc = ex.services();
  co_await AskStore(svc, [&] {
    DropSession(svc, ex.params.reference);
    return true;
  });
  co_return Reply::Empty(http::status::no_content);
}

}  // namespace keep::server::handlers
