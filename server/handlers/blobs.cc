// Blobs: GET/HEAD (with Range) and DELETE /v2/<name>/blobs/<digest>.
#include "server/handlers/handlers.h"
#include "server/handlers/trust_gate.h"

#include "mirror/service.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <cstdio>

namespace keep::server::handlers {
namespace {

// The answer when the blob's file does not hold the bytes its link records
// (truncated, or grown, on disk): never a short or long body.
Error SizeMismatch(const Digest& digest, std::uint64_t on_disk, std::int64_t recorded) {
  std::fprintf(stderr,
               "keepd: blob %s is %llu bytes on disk but was stored with %lld; it was not "
               "served. Run keepctl fsck (with repair to move it to quarantine), then push it "
               "again\n",
               digest.str().c_str(), static_cast<unsigned long long>(on_disk),
               static_cast<long long>(recorded));
  return Fail(ErrorCode::kInternal,
              "blob " + digest.str() + " is damaged on the registry's disk (" +
                  std::to_string(on_disk) + " bytes instead of " + std::to_string(recorded) +
                  ") and was not served; ask the registry's operator to run keepctl fsck, then "
                  "push it again");
}

Awaitable<Result<Reply>> StoredBlobReply(Exchange& ex, const Digest& d, std::int64_t linked);

// A blob a pull-through is fetching now: the body follows its upload
// session while the bytes arrive (the last byte once its digest matched).
// Waits for the fetch to begin, which it does sooner for being asked for.
Awaitable<Result<Reply>> GrowingBlobReply(Exchange& ex, const Digest& digest,
                                          std::shared_ptr<mirror::GrowingBlob> growing) {
  const auto& svc = ex.services();
  const std::string& repo = ex.params.name;
  if (auto ok = CheckPendingServable(svc, ex.who, repo, "blob " + digest.str() + " of " + repo);
      !ok) {
    co_return RefusedPull(ex, repo + "@" + digest.str(), ok.error());
  }
  growing->Want();
  std::unique_ptr<BlobReader> reader;
  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (;;) {
    if (growing->state() == mirror::GrowingBlob::State::kFailed) {
      co_return Fail(ErrorCode::kUnavailable, "blob " + digest.str() + " of " + repo +
                                                  " could not be fetched from the mirror's "
                                                  "upstream; try again");
    }
    auto linked = svc.metadata.LinkedBlobSize(repo, digest.str());
    if (!linked) co_return linked.error();
    if (*linked) co_return co_await StoredBlobReply(ex, digest, **linked);  // stored meanwhile
    if (growing->state() != mirror::GrowingBlob::State::kWaiting) {
      auto opened =
          co_await AskStore(svc, [&] { return svc.blobs.OpenUpload(growing->session()); });
      if (opened) {
        reader = std::move(*opened);
        break;
      }
      if (opened.error().code != ErrorCode::kBlobUploadUnknown) co_return opened.error();
    }
    timer.expires_after(std::chrono::milliseconds(20));
    auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    if (ec) co_return Fail(ErrorCode::kUnavailable, "keepd is stopping");
  }
  Reply r;
  r.headers.set(http::field::content_type, "application/octet-stream");
  r.headers.set("Docker-Content-Digest", digest.str());
  r.headers.set(http::field::etag, "\"" + digest.str() + "\"");
  r.length = growing->size();
  r.blob = std::move(reader);
  r.growing = std::move(growing);
  if (svc.blobs.remote()) r.read_pool = &svc.store_reads;
  co_return r;
}

}  // namespace

Awaitable<Result<Reply>> GetBlob(Exchange& ex) {
  const auto& svc = ex.services();
  auto digest = Digest::Parse(ex.params.reference);
  if (!digest) co_return digest.error();
  // A pull-through's blob, arriving or stored, until its image is signed.
  if (ex.mirror) {
    if (auto growing = svc.mirrors.PendingBlob(ex.params.name, digest->str())) {
      co_return co_await GrowingBlobReply(ex, *digest, std::move(growing));
    }
  }
  auto linked = svc.metadata.LinkedBlobSize(ex.params.name, digest->str());
  if (!linked) co_return linked.error();
  if (!*linked) {
    co_return Fail(ErrorCode::kBlobUnknown,
                   "blob " + digest->str() + " is not in repository " + ex.params.name);
  }
  if (auto ok = CheckBlobServable(svc, ex.who, ex.params.name, digest->str()); !ok) {
    co_return RefusedPull(ex, ex.params.name + "@" + digest->str(), ok.error());
  }
  co_return co_await StoredBlobReply(ex, *digest, **linked);
}

namespace {

Awaitable<Result<Reply>> StoredBlobReply(Exchange& ex, const Digest& d, std::int64_t linked) {
  const auto& svc = ex.services();
  const Digest* digest = &d;
  auto missing = [&] {
    return Fail(ErrorCode::kInternal, "blob " + digest->str() +
                                          " is recorded but its data is missing; the "
                                          "registry's operator should run an integrity check");
  };
  // A HEAD, or a GET the store answers itself (a presigned URL), needs the
  // size only: nothing is opened.
  const bool head = ex.request().method() == http::verb::head;
  std::optional<std::string> direct = head ? std::nullopt : svc.blobs.DirectUrl(*digest);
  std::unique_ptr<BlobReader> reader;
  std::uint64_t size = 0;
  if (head || direct) {
    auto stat = co_await AskStore(svc, [&] { return svc.blobs.Stat(*digest); });
    if (!stat) co_return stat.error();
    if (!*stat) co_return missing();
    size = **stat;
  } else {
    auto opened = co_await AskStore(svc, [&] { return svc.blobs.Open(*digest); });
    if (!opened) {
      if (opened.error().code == ErrorCode::kBlobUnknown) co_return missing();
      co_return opened.error();
    }
    reader = std::move(*opened);
    size = reader->size();
  }
  if (size != static_cast<std::uint64_t>(linked)) co_return SizeMismatch(*digest, size, linked);
  if (direct) {
    Reply r = Reply::Empty(http::status::temporary_redirect);
    r.headers.set(http::field::location, *direct);
    r.headers.set("Docker-Content-Digest", digest->str());
    co_return r;
  }
  // A sample of reads is re-hashed whole before a byte is sent: a blob
  // damaged on disk is quarantined and refused, never served.
  if (reader && SampleRead(svc)) {
    auto intact = co_await Offload(svc, [&] { return HashesTo(*reader, *digest); });
    if (!intact) co_return intact.error();
    if (!*intact) co_return Damaged(svc, *digest, "blob");
  }
  Reply r;
  r.headers.set(http::field::content_type, "application/octet-stream");
  r.headers.set("Docker-Content-Digest", digest->str());
  r.headers.set(http::field::etag, "\"" + digest->str() + "\"");
  r.headers.set(http::field::accept_ranges, "bytes");
  r.headers.set(http::field::cache_control, "max-age=31536000");
  r.length = size;
  if (auto range = ex.header(http::field::range); !range.empty()) {
    auto br = ParseRange(range, size);
    if (!br) {
      if (br.error().code == ErrorCode::kRangeInvalid) {
        Error e = br.error();
        e.message = "range not satisfiable: the blob has " + std::to_string(size) + " bytes";
        co_return e;
      }
      co_return br.error();
    }
    if (*br) {  // else an invalid range (last before first), ignored: the whole blob
      const ByteRange& part = **br;
      r.status = http::status::partial_content;
      r.offset = part.first;
      r.length = part.length();
      r.headers.set(http::field::content_range, "bytes " + std::to_string(part.first) + "-" +
                                                    std::to_string(part.last) + "/" +
                                                    std::to_string(size));
    }
  }
  r.blob = std::move(reader);
  r.length_only = head;
  if (svc.blobs.remote()) r.read_pool = &svc.store_reads;
  co_return r;
}

}  // namespace

Awaitable<Result<Reply>> DeleteBlob(Exchange& ex) {
  const auto& svc = ex.services();
  auto digest = Digest::Parse(ex.params.reference);
  if (!digest) co_return digest.error();
  auto removed = svc.metadata.UnlinkBlob(ex.params.name, digest->str());
  if (!removed) co_return removed.error();
  if (!*removed) {
    co_return Fail(ErrorCode::kBlobUnknown,
                   "blob " + digest->str() + " is not in repository " + ex.params.name);
  }
  co_return Reply::Empty(http::status::accepted);
}

}  // namespace keep::server::handlers
