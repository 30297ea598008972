// Blobs: GET/HEAD (with Range) and DELETE /v2/<name>/blobs/<digest>.
#include "server/handlers/handlers.h"
#include "server/handlers/trust_gate.h"

namespace keep::server::handlers {

Awaitable<Result<Reply>> GetBlob(Exchange& ex) {
  const auto& svc = ex.services();
  auto digest = Digest::Parse(ex.params.reference);
  if (!digest) co_return digest.error();
  auto linked = svc.metadata.LinkedBlobSize(ex.params.name, digest->str());
  if (!linked) co_return linked.error();
  if (!*linked) {
    co_return Fail(ErrorCode::kBlobUnknown,
                   "blob " + digest->str() + " is not in repository " + ex.params.name);
  }
  KEEP_CO_TRY(CheckBlobServable(svc, ex.who, ex.params.name, digest->str()));
  auto reader = svc.blobs.Open(*digest);
  if (!reader) {
    if (reader.error().code == ErrorCode::kBlobUnknown) {
      co_return Fail(ErrorCode::kInternal, "blob " + digest->str() +
                                               " is recorded but its data is missing; the "
                                               "registry's operator should run an integrity check");
    }
    co_return reader.error();
  }
  // A sample of reads is re-hashed whole before a byte is sent: a blob
  // damaged on disk is quarantined and refused, never served.
  if (SampleRead(svc)) {
    auto intact = co_await Offload(svc, [&] { return HashesTo(**reader, *digest); });
    if (!intact) co_return intact.error();
    if (!*intact) co_return Damaged(svc, *digest, "blob");
  }
  Reply r;
  std::uint64_t size = (*reader)->size();
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
  r.blob = std::move(*reader);
  co_return r;
}

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
