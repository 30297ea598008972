// server/exchange.h — one request/response exchange as handlers see it.
//
// The session reads the request header, routes it and authenticates the
// caller, then hands an Exchange to the handler. The handler reads the body
// through it (bounded into memory, or streamed into a BlobWriter), and
// returns a Reply: a small body, or a blob to stream. The session writes the
// Reply, so handlers never touch the socket. An Exchange belongs to the one
// coroutine serving its connection.
#pragma once

#include "auth/auth.h"
#include "config/config.h"
#include "core/audit.h"
#include "core/core.h"
#include "mirror/rule.h"
#include "server/forwarded.h"
#include "server/maintenance_status.h"
#include "server/stream.h"
#include "storage/storage.h"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/url/params_view.hpp>

#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

namespace keep::mirror {
class GrowingBlob;
class Service;
}  // namespace keep::mirror

namespace keep::server {

class AuditWriter;
class Limits;
class ManifestCache;

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

template <class T>
using Awaitable = asio::awaitable<T>;

// What every handler may use. Owned by the server; outlives all sessions.
struct Services {
  const Config& config;
  BlobDriver& blobs;
  Metadata& metadata;
  Authenticator& authenticator;
  const TokenIssuer& tokens;
  // Threads for work that blocks: fsync, durable commits, password hashing.
  asio::thread_pool& blocking;
  // Held while a blob is linked or its file deleted (storage/links.h).
  BlobLocks& blob_locks;
  // Held by the one garbage collection or integrity check running; taken
  // and released on the same blocking-pool thread.
  std::mutex& maintenance;
  // The curated mirror: rules, sync jobs, the curator key (mirror/service.h).
  mirror::Service& mirrors;
  // Threads for pull-throughs, which wait on upstreams for as long as a
  // layer takes: apart from `blocking`, so that they never hold up logins,
  // pushes or anything else that blocks.
  asio::thread_pool& pull_through;
  // What the running (or last) garbage collection or integrity check did.
  MaintenanceStatus& maintenance_status;
  // The Prometheus scraper's bearer credential (metrics.token_file, read at
  // start); empty: /metrics answers admins only.
  const std::string& metrics_token;
  // Keeps the audit log in the database (server/audit_writer.h).
  AuditWriter& audit;
  // Requests per second per address and user, uploads at once per user
  // (server/limits.h).
  Limits& limits;
  // The proxies whose forwarded headers are believed (proxies.trusted).
  const AddressSet& trusted_proxies;
  // Threads that wait on a blob store across the network (the s3 driver):
  // opening a blob and reading its body, so that the I/O threads serve on.
  asio::thread_pool& store_reads;
  // Threads that write request bodies to the blob store, one piece while
  // the connection reads the next: across the network (the s3 driver) or
  // straight to the disk (the filesystem's direct writes); apart from
  // `blocking`, so that pushes never hold up logins and commits.
  asio::thread_pool& store_writes;
  // Manifests' bytes once read and checked (server/manifest_cache.h).
  ManifestCache& manifest_cache;
};

// An audit event (core/audit.h) naming the caller of this exchange as its
// actor and their address as its source.
class Exchange;
AuditEvent AuditBy(const Exchange& ex, std::string action, std::string ns, std::string target);

// Runs fn on the blocking pool and resumes the caller with its result, so
// that an fsync or an Argon2id check never stalls the I/O threads.
template <class F>
Awaitable<std::invoke_result_t<F&>> OffloadTo(asio::thread_pool& pool, F fn) {
  std::optional<std::invoke_result_t<F&>> result;
  co_await asio::async_initiate<const asio::use_awaitable_t<>, void()>(
      [&](auto handler) {
        asio::post(pool, [&, handler = std::move(handler)]() mutable {
          result.emplace(fn());
          // Resume the caller on its own executor.
          asio::post(std::move(handler));
        });
      },
      asio::use_awaitable);
  co_return std::move(*result);
}
template <class F>
Awaitable<std::invoke_result_t<F&>> Offload(const Services& svc, F fn) {
  co_return co_await OffloadTo(svc.blocking, std::move(fn));
}

// Runs fn, which asks the blob store, off the I/O threads when the store is
// across the network (the s3 driver), and in place otherwise.
template <class F>
Awaitable<std::invoke_result_t<F&>> AskStore(const Services& svc, F fn) {
  if (!svc.blobs.remote()) co_return fn();
  co_return co_await OffloadTo(svc.store_reads, std::move(fn));
}

// Runs fn, which writes to the blob store, on the store's writing threads,
// never on an I/O thread.
template <class F>
Awaitable<std::invoke_result_t<F&>> WriteStore(const Services& svc, F fn) {
  co_return co_await OffloadTo(svc.store_writes, std::move(fn));
}

// Parses a query string or an x-www-form-urlencoded body, percent-decoding.
// '+' means a space in a form body; in a query it stays '+' (RFC 3986), so
// that ?artifactType=application/spdx+json works as people type it.
std::vector<std::pair<std::string, std::string>> ParseForm(std::string_view text,
                                                           bool plus_is_space);

// Who sent this Authorization header (Basic or Bearer). Without one, the
// robot account the connection's client certificate names, or else
// anonymous. Cached credentials answer at once; an Argon2id check runs on
// the blocking pool.
Awaitable<Result<Identity>> Authenticate(const Exchange& ex, std::string_view authorization);

struct Reply {
  http::status status = http::status::ok;
  http::fields headers;
  std::string body;
  // When set, the body is streamed from this blob: `length` bytes from `offset`.
  std::unique_ptr<BlobReader> blob;
  std::uint64_t offset = 0;
  std::uint64_t length = 0;
  // When set, `blob` is still being written (a pull-through's layer): the
  // body follows it, never past what it may read, and is cut short if it
  // fails (mirror/pending.h).
  std::shared_ptr<const mirror::GrowingBlob> growing;
  // The answer to a HEAD of a blob: Content-Length is `length`, no reader.
  bool length_only = false;
  // When set, `blob` is read on these threads (a store across the network).
  asio::thread_pool* read_pool = nullptr;

  static Reply Json(http::status status, std::string body);
  static Reply Empty(http::status status);
};

// The parts of a path the router matched.
struct RouteParams {
  std::string name;       // repository
  std::string reference;  // tag or digest (manifests), digest (blobs, referrers), upload id
};

class Exchange {
 public:
  Exchange(Stream& stream, beast::flat_buffer& buffer,
           http::request_parser<http::empty_body>& parser, const Services& services,
           std::string path, Origin origin);

  const http::request_header<>& request() const { return req_; }
  // The first field named f, or empty.
  std::string_view header(http::field f) const;
  // Every field named f joined with ", ", as HTTP says repeated list fields
  // mean (clients send Accept once per media type).
  std::string header_list(http::field f) const;
  const std::string& path() const { return path_; }
  // The client's address (a trusted proxy's client: server/forwarded.h).
  std::string_view remote() const { return origin_.client; }
  // How the client reached the registry: its address, the scheme and host.
  const Origin& origin() const { return origin_; }
  // The robot account the connection's verified client certificate names
  // (server/tls.h, ClientCertificateAccount); empty: none.
  std::string_view certificate_account() const { return certificate_account_; }
  void set_certificate_account(std::string_view account) { certificate_account_ = account; }
  // Query parameters, percent-decoded. Empty when the target has none.
  std::optional<std::string> query(std::string_view key) const;
  // Every value of a repeated query parameter, in order.
  std::vector<std::string> query_all(std::string_view key) const;
  // Every query parameter, in order.
  const std::vector<std::pair<std::string, std::string>>& query_params() const {
    return query_params_;
  }
  const Services& services() const { return services_; }
  RouteParams params;
  Identity who;
  // Set when a mirror rule serves the repository the client named (its
  // name is then params.name's upstream name; mirror/service.h, Resolve).
  std::optional<mirror::Mapping> mirror;

  bool has_body() const;
  bool body_consumed() const { return body_consumed_; }
  // True when reading the body failed: the connection cannot be reused.
  bool broken() const { return broken_; }
  std::uint64_t bytes_in() const { return bytes_in_; }

  // Reads a whole body of at most `limit` bytes (kTooLarge past it).
  [[nodiscard]] Awaitable<Result<std::string>> ReadBody(std::uint64_t limit);
  // Streams the body into `writer`; returns the number of bytes. A body
  // longer than `limit` is refused with kTooLarge (and an empty message,
  // for the caller to say which limit) before its bytes past the limit are
  // written; the connection cannot be reused then.
  [[nodiscard]] Awaitable<Result<std::uint64_t>> StreamBody(
      BlobWriter& writer, std::uint64_t limit = std::numeric_limits<std::uint64_t>::max());
  // Reads and drops a small unread body so the connection can be reused.
  // An error when it was too large (kTooLarge) or malformed or cut short
  // (the connection must close then).
  [[nodiscard]] Awaitable<Result<void>> DiscardBody(std::uint64_t limit);

 private:
  Awaitable<void> SendContinueIfAsked();

  Stream& stream_;
  beast::flat_buffer& buffer_;
  http::request_parser<http::empty_body>& parser_;
  const Services& services_;
  http::request_header<> req_;
  std::string path_;
  Origin origin_;
  std::string_view certificate_account_;
  std::vector<std::pair<std::string, std::string>> query_params_;
  bool body_consumed_ = false;
  bool broken_ = false;
  std::uint64_t bytes_in_ = 0;
};

}  // namespace keep::server
