#include "server/session.h"

#include "mirror/service.h"

#include "core/metrics.h"
#include "core/names.h"
#include "server/errors.h"
#include "server/limits.h"
#include "server/router.h"
#include "server/tls.h"

#include <sodium.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/url/parse.hpp>
#include <nlohmann/json.hpp>

#include <sys/sendfile.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>
#include <vector>

namespace keep::server {
namespace {

constexpr std::size_t kBlobChunk = 256 * 1024;
constexpr std::uint64_t kDiscardLimit = 64 * 1024;
// A connection's read buffer holds at most a request header and this much:
// enough for any honest chunk header or trailer, and the bound on what a
// chunk extension or trailer that never ends can make keepd hold (Beast
// limits headers and bodies, not those).
constexpr std::size_t kFramingSlack = 64 * 1024;

struct Sent {
  std::uint64_t bytes = 0;
  bool ok = true;
};

// Headers every answer carries, whatever made it (a handler, an error, the
// refusal of a malformed request); and none that names the server or its
// version (Beast adds no Server field; none may come from elsewhere).
void Harden(http::fields& h, const Config& cfg) {
  // Browsers must not take an error's JSON or a blob's bytes for a page or
  // a script, whatever they look like.
  h.set("X-Content-Type-Options", "nosniff");
  if (cfg.hsts_max_age_seconds > 0) {
    h.set("Strict-Transport-Security", "max-age=" + std::to_string(cfg.hsts_max_age_seconds));
  }
  // Keep serves no HTML; were anything ever to answer with it, the page
  // could run and load nothing.
  if (std::string_view type = h[http::field::content_type];
      beast::iequals(type.substr(0, 9), "text/html")) {
    h.set("Content-Security-Policy", "default-src 'none'");
  }
  h.erase(http::field::server);
}

// Answers that hold credentials or state of the moment (tokens, the admin
// API's accounts and settings, health) are never to be kept by a cache,
// errors included. Blob and manifest answers keep their own caching.
bool NeverStored(std::string_view path) {
  return path == "/token" || path.substr(0, 7) == "/admin/" || path == "/healthz" ||
         path == "/readyz" || path == "/metrics";
}

template <class Body>
void Prepare(http::response<Body>& res, Reply& reply, bool keep_alive, const Config& cfg) {
  static_cast<http::fields&>(res) = std::move(reply.headers);
  Harden(res, cfg);
  res.result(reply.status);
  res.version(11);
  res.set("Docker-Distribution-API-Version", "registry/2.0");
  // skopeo and podman read it from the first answer to GET /v2/, a 401.
  res.set("X-Registry-Supports-Signatures", "1");
  res.keep_alive(keep_alive);
}

// Sends `length` bytes of the file `fd` from `offset` with sendfile(2) on a
// plain connection: the kernel copies them from the page cache to the
// socket, and keepd touches none of them. Each wait for room in the socket
// is bounded by `timeout`.
Awaitable<Sent> SendFile(beast::tcp_stream& tcp, int fd, std::uint64_t offset, std::uint64_t length,
                         int timeout) {
  auto& socket = tcp.socket();
  boost::system::error_code ec;
  socket.native_non_blocking(true, ec);
  if (ec) co_return Sent{0, false};
  Sent sent;
  while (sent.bytes < length) {
    auto at = static_cast<off_t>(offset + sent.bytes);
    auto want = static_cast<std::size_t>(std::min<std::uint64_t>(length - sent.bytes, 1 << 30));
    ssize_t n = ::sendfile(socket.native_handle(), fd, &at, want);
    if (n > 0) {
      sent.bytes += static_cast<std::uint64_t>(n);
      continue;
    }
    if (n == 0) {  // the file is shorter than its record says
      std::fprintf(stderr, "keepd: a blob's file ended early; closing the connection\n");
      co_return Sent{sent.bytes, false};
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN) co_return Sent{sent.bytes, false};
    // The socket is full: wait until it has room, or the deadline passes
    // (then the wait is cancelled). `waiting` tells a deadline that fired
    // as the wait ended from one that should cancel it.
    auto waiting = std::make_shared<bool>(true);
    asio::steady_timer deadline(socket.get_executor(), std::chrono::seconds(timeout));
    deadline.async_wait([&socket, waiting](boost::system::error_code tec) {
      if (tec || !*waiting) return;
      boost::system::error_code ignored;
      socket.cancel(ignored);
    });
    auto [wec] = co_await socket.async_wait(asio::ip::tcp::socket::wait_write, kAwait);
    *waiting = false;
    deadline.cancel();
    if (wec) co_return Sent{sent.bytes, false};
  }
  co_return sent;
}

// The body of a blob in a store across the network: each chunk is read on
// the store's threads while the one before is written, so that the wait on
// the store and the wait on the client overlap.
Awaitable<Sent> StreamRemoteBody(Stream& stream, Reply& reply, std::optional<BodySealer>& sealer,
                                 int timeout) {
  using namespace asio::experimental::awaitable_operators;
  BlobReader& reader = *reply.blob;
  asio::thread_pool& pool = *reply.read_pool;
  auto& tcp = beast::get_lowest_layer(stream);
  std::unique_ptr<char[]> bufs[2] = {std::unique_ptr<char[]>(new char[kBlobChunk]),
                                     std::unique_ptr<char[]>(new char[kBlobChunk])};
  auto read = [&reader](char* buf, std::uint64_t at, std::uint64_t left) {
    std::size_t want = std::min<std::uint64_t>(kBlobChunk, left);
    return [&reader, buf, at, want] { return reader.ReadAt(buf, want, at); };
  };
  std::uint64_t offset = reply.offset, remaining = reply.length;
  Sent sent;
  int cur = 0;
  Result<std::size_t> n = co_await OffloadTo(pool, read(bufs[0].get(), offset, remaining));
  while (remaining > 0) {
    if (!n || *n == 0) {
      std::fprintf(stderr, "keepd: reading a blob failed mid-response; closing the connection\n");
      co_return Sent{sent.bytes, false};
    }
    char* data = bufs[cur].get();
    asio::const_buffer out(data, *n);
    if (sealer) {
      if (!sealer->Seal(data, *n)) {
        std::fprintf(stderr,
                     "keepd: sealing a blob's TLS records failed; closing the connection\n");
        co_return Sent{sent.bytes, false};
      }
      out = asio::buffer(sealer->pending().data(), sealer->pending().size());
    }
    std::uint64_t next = offset + *n, left = remaining - *n;
    tcp.expires_after(std::chrono::seconds(timeout));
    boost::system::error_code ec;
    Result<std::size_t> ahead = std::size_t{0};
    if (left > 0) {
      auto [wec, w, read_ahead] = co_await (asio::async_write(tcp, out, kAwait) &&
                                            OffloadTo(pool, read(bufs[1 - cur].get(), next, left)));
      ec = wec;
      ahead = std::move(read_ahead);
    } else {
      auto [wec, w] = co_await asio::async_write(tcp, out, kAwait);
      ec = wec;
    }
    if (ec) co_return Sent{sent.bytes, false};
    if (sealer) sealer->Sent();
    sent.bytes += *n;
    offset = next;
    remaining = left;
    n = std::move(ahead);
    cur = 1 - cur;
  }
  co_return sent;
}

Awaitable<Sent> StreamBlob(Stream& stream, Reply& reply, bool keep_alive, int timeout,
                           const Config& cfg) {
  http::response<http::buffer_body> res;
  BlobReader& reader = *reply.blob;
  std::uint64_t offset = reply.offset, remaining = reply.length;
  Prepare(res, reply, keep_alive, cfg);
  res.content_length(remaining);
  res.body().data = nullptr;
  res.body().more = remaining > 0;
  http::response_serializer<http::buffer_body> sr{res};
  auto& tcp = beast::get_lowest_layer(stream);
  tcp.expires_after(std::chrono::seconds(timeout));
  auto [hec, hn] = co_await http::async_write_header(stream, sr, kAwait);
  if (hec) co_return Sent{0, false};
  // Without TLS, a blob in a local file goes from the page cache to the
  // socket without passing through keepd.
  if (!stream.tls() && !reply.growing && reader.file_descriptor() >= 0) {
    co_return co_await SendFile(tcp, reader.file_descriptor(), offset, remaining, timeout);
  }
  std::unique_ptr<char[]> buf(new char[kBlobChunk]);
  Sent sent;
  // With TLS, the body goes out a chunk of records at a time, in one write
  // each; without, as it is read.
  std::optional<BodySealer> sealer;
  if (stream.tls()) sealer.emplace(stream.native_handle(), kBlobChunk);
  if (reply.read_pool && !reply.growing) {
    co_return co_await StreamRemoteBody(stream, reply, sealer, timeout);
  }
  // A blob still arriving (a pull-through's layer) is followed: what may be
  // read of it is sent as it comes; a fetch that failed cuts the body short.
  std::optional<asio::steady_timer> wait;
  auto last_progress = std::chrono::steady_clock::now();
  while (remaining > 0) {
    std::uint64_t want = std::min<std::uint64_t>(kBlobChunk, remaining);
    if (reply.growing) {
      using State = mirror::GrowingBlob::State;
      std::uint64_t readable = reply.growing->readable();
      if (offset >= readable) {
        if (reply.growing->state() == State::kFailed ||
            std::chrono::steady_clock::now() - last_progress > std::chrono::seconds(timeout)) {
          std::fprintf(stderr,
                       "keepd: a pull-through's blob did not arrive whole; closing the "
                       "connection\n");
          co_return Sent{sent.bytes, false};
        }
        if (!wait) wait.emplace(co_await asio::this_coro::executor);
        wait->expires_after(std::chrono::milliseconds(10));
        co_await wait->async_wait(kAwait);
        continue;
      }
      last_progress = std::chrono::steady_clock::now();
      want = std::min<std::uint64_t>(want, readable - offset);
    }
    auto read = [&] { return reader.ReadAt(buf.get(), want, offset); };
    Result<std::size_t> n = std::size_t{0};
    if (reply.read_pool) {
      n = co_await OffloadTo(*reply.read_pool, read);  // a store across the network
    } else {
      n = read();
    }
    if (!n || *n == 0) {
      std::fprintf(stderr, "keepd: reading a blob failed mid-response; closing the connection\n");
      co_return Sent{sent.bytes, false};
    }
    asio::const_buffer out(buf.get(), *n);
    if (sealer) {
      if (!sealer->Seal(buf.get(), *n)) {
        std::fprintf(stderr,
                     "keepd: sealing a blob's TLS records failed; closing the connection\n");
        co_return Sent{sent.bytes, false};
      }
      out = asio::buffer(sealer->pending().data(), sealer->pending().size());
    }
    tcp.expires_after(std::chrono::seconds(timeout));
    auto [ec, w] = co_await asio::async_write(tcp, out, kAwait);
    if (ec) co_return Sent{sent.bytes, false};
    if (sealer) sealer->Sent();
    offset += *n;
    remaining -= *n;
    sent.bytes += *n;
  }
  co_return sent;
}

// A request refused before it reached the router: not even its framing held.
Reply Malformed(http::status status, std::string_view message) {
  nlohmann::json j = {
      {"errors",
       {{{"code", "UNKNOWN"}, {"message", message}, {"detail", nlohmann::json::object()}}}}};
  return Reply::Json(status, j.dump());
}

// RFC 9112 §6.3: the body of a request with Transfer-Encoding is framed by
// chunked, which must come last, once. Keep decodes no other coding, so the
// field must say "chunked" and nothing else. With chunked last after codings
// HTTP registers (gzip, deflate, compress), the body is framed but keepd
// cannot decode it: 501, as §6.1 asks. With anything else the body's length
// is unknown, and reading on would take the body for the next request: 400.
// Either way the connection is closed.
enum class Framing { kSound, kUnknownLength, kCodingNotImplemented };

bool RegisteredCoding(std::string_view c) {
  for (std::string_view known : {"gzip", "x-gzip", "deflate", "compress", "x-compress"}) {
    if (beast::iequals(c, known)) return true;
  }
  return false;
}

Framing FramingOf(const http::request_header<>& req) {
  std::vector<std::string_view> codings;
  for (const auto& field : req) {
    if (field.name() != http::field::transfer_encoding) continue;
    std::string_view value = field.value();
    std::size_t before = codings.size();
    std::size_t start = 0;
    while (start <= value.size()) {
      auto comma = value.find(',', start);
      std::string_view item = value.substr(start, comma == value.npos ? value.npos : comma - start);
      while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
      while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
      if (!item.empty()) codings.push_back(item);
      if (comma == value.npos) break;
      start = comma + 1;
    }
    if (codings.size() == before) return Framing::kUnknownLength;  // an empty Transfer-Encoding
  }
  if (codings.empty() || (codings.size() == 1 && beast::iequals(codings[0], "chunked"))) {
    return Framing::kSound;
  }
  if (!beast::iequals(codings.back(), "chunked")) return Framing::kUnknownLength;
  for (std::size_t i = 0; i + 1 < codings.size(); ++i) {
    if (!RegisteredCoding(codings[i])) return Framing::kUnknownLength;
  }
  return Framing::kCodingNotImplemented;
}

Awaitable<Sent> WriteReply(Stream& stream, Reply& reply, bool head, bool keep_alive, int timeout,
                           const Config& cfg) {
  beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(timeout));
  if (head) {
    http::response<http::empty_body> res;
    std::uint64_t length = reply.blob || reply.length_only ? reply.length : reply.body.size();
    Prepare(res, reply, keep_alive, cfg);
    if (res.result() != http::status::no_content) res.content_length(length);
    auto [ec, n] = co_await http::async_write(stream, res, kAwait);
    co_return Sent{0, !ec};
  }
  if (reply.blob) co_return co_await StreamBlob(stream, reply, keep_alive, timeout, cfg);
  http::response<http::string_body> res;
  std::string body = std::move(reply.body);
  Prepare(res, reply, keep_alive, cfg);
  res.body() = std::move(body);
  res.prepare_payload();
  auto [ec, n] = co_await http::async_write(stream, res, kAwait);
  co_return Sent{res.body().size(), !ec};
}

void LogRequest(const http::request_header<>& req, std::string_view path, int status,
                std::uint64_t in, std::uint64_t out, double ms, const std::string& user,
                const std::string& remote) {
  nlohmann::json j = {
      {"time", std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::system_clock::now().time_since_epoch())
                   .count() / 1000.0},
      {"remote", remote},
      {"method", std::string(req.method_string())},
      {"path", std::string(path)},
      {"status", status},
      {"bytes_in", in},
      {"bytes_out", out},
      {"ms", static_cast<double>(static_cast<long>(ms * 1000)) / 1000},
      {"user", user}};
  std::string line = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  line += '\n';
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fflush(stdout);
}

// A host name as clients sent it, when it is plainly one (letters, digits,
// '.', '-', ':' and IPv6 brackets); anything else is not echoed back.
std::string_view SafeHost(std::string_view host) {
  if (host.empty() || host.size() > 255) return "localhost";
  for (char c : host) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-' && c != ':' &&
        c != '[' && c != ']') {
      return "localhost";
    }
  }
  return host;
}

// The scopes a client should ask the token service for: the route's, and
// for a cross-repository mount pull on its source too (StartUpload checks
// it, and without it the mount becomes an upload), space-separated as the
// token flow reads them. Only a valid repository name is echoed.
std::string ChallengeScopes(const Exchange& ex, const Route& route, const Access& access) {
  std::string scope = ChallengeScope(access);
  if (route.area != Area::kUploads || !ex.query("mount")) return scope;
  auto from = ex.query("from");
  if (!from || *from == access.target || !ValidateRepoName(*from)) return scope;
  return scope + " repository:" + *from + ":pull";
}

// The Bearer challenge of the Docker token flow for these scopes. Without
// auth.token_realm, the realm is this registry's /token as the client
// reached it (through a trusted proxy: as the proxy says it did).
std::string Challenge(const Config& cfg, const Origin& origin, const std::string& scope,
                      bool insufficient_scope) {
  std::string realm = cfg.token_realm.empty()
                          ? origin.scheme + "://" + std::string(SafeHost(origin.host)) + "/token"
                          : cfg.token_realm;
  std::string c = "Bearer realm=\"" + realm + "\",service=\"" + cfg.service + "\"";
  if (!scope.empty()) c += ",scope=\"" + scope + "\"";
  if (insufficient_scope) c += ",error=\"insufficient_scope\"";
  return c;
}

// The reads a mirror rule may serve: manifests, blobs, tags and referrers.
bool IsMirrorable(const Route& route) {
  return (route.verb == http::verb::get || route.verb == http::verb::head) &&
         (route.area == Area::kManifest || route.area == Area::kBlob || route.area == Area::kTags ||
          route.area == Area::kReferrers);
}

// Whether the Authorization field carries the scraper's credential
// (metrics.token_file). Both sides are hashed first, so that the compare
// takes the same time whatever the length and content of what was sent.
bool IsScraper(const Services& svc, std::string_view authorization) {
  const std::string& token = svc.metrics_token;
  if (token.empty() || authorization.size() < 7 ||
      !beast::iequals(authorization.substr(0, 7), "Bearer ")) {
    return false;
  }
  std::string_view presented = authorization.substr(7);
  unsigned char want[crypto_generichash_BYTES];
  unsigned char got[crypto_generichash_BYTES];
  crypto_generichash(want, sizeof want, reinterpret_cast<const unsigned char*>(token.data()),
                     token.size(), nullptr, 0);
  crypto_generichash(got, sizeof got, reinterpret_cast<const unsigned char*>(presented.data()),
                     presented.size(), nullptr, 0);
  return sodium_memcmp(want, got, sizeof want) == 0;
}

bool IsProbe(Area area) { return area == Area::kHealth || area == Area::kReady; }

// Routes, authenticates and authorises the request, then runs its handler.
// `counted_as` is set to the route template the metrics count it under.
Awaitable<Reply> Dispatch(Exchange& ex, http::verb verb, metrics::Route& counted_as) {
  const Services& svc = ex.services();
  auto match = MatchRoute(verb, ex.path());
  if (!match) {
    Reply refused = ErrorReply(match.error());
    // RFC 9110 §15.5.6: a 405 lists the methods the resource has.
    if (match.error().code == ErrorCode::kMethodNotAllowed) {
      refused.headers.set(http::field::allow, AllowedMethods(ex.path()));
    }
    co_return refused;
  }
  ex.params = std::move(match->params);
  counted_as = MetricsRouteOf(match->route->area);
  // Liveness and readiness probes are never held back: they cost little
  // and must tell the truth under load. Everything else counts against its
  // address before anything is looked up for it (/metrics too: a scraper
  // asks a few times a minute, and it takes credentials to check).
  const bool limited = !IsProbe(match->route->area);
  if (limited) {
    if (auto taken = svc.limits.TakeAddress(ex.remote()); !taken) {
      co_return ErrorReply(taken.error());
    }
  }
  // A name a mirror rule serves is read from where the rule keeps it: the
  // access and trust decisions below are those of the local repository.
  if (IsMirrorable(*match->route)) {
    if (auto mapped = svc.mirrors.Resolve(ex.params.name, ex.query("ns"))) {
      // A Docker Hub name never hides a local namespace of the same name:
      // its own repositories, members and policy come first.
      bool hidden = false;
      if (mapped->by_docker_hub_name) {
        auto local = svc.metadata.AccessIn(std::string(NamespaceOf(ex.params.name)), 0);
        if (!local) co_return ErrorReply(local.error());
        hidden = local->exists;
      }
      if (!hidden) {
        ex.params.name = mapped->local_repo;
        ex.mirror = std::move(*mapped);
      }
    }
  }
  Access access{match->route->action, ex.params.name};
  // The scraper's credential opens /metrics, and nothing else.
  if (match->route->area == Area::kMetrics &&
      IsScraper(svc, ex.header(http::field::authorization))) {
    access.action = Action::kNone;
  }
  // Open routes (the token service) authenticate for themselves.
  Result<Identity> who = Identity{};
  if (access.action != Action::kNone) {
    who = co_await Authenticate(ex, ex.header(http::field::authorization));
  }
  if (who) ex.who = *who;  // the request log names who was refused, too
  if (who && limited) {
    if (auto taken = svc.limits.TakeUser(*who); !taken) co_return ErrorReply(taken.error());
  }
  auto allowed = who ? AuthorizeRequest(svc.metadata, ex.who, access) : Result<void>(who.error());
  if (!allowed) {
    bool had_token = who && who->grants.has_value();
    co_return ErrorReply(
        allowed.error(),
        Challenge(svc.config, ex.origin(), ChallengeScopes(ex, *match->route, access), had_token));
  }
  try {
    auto r = co_await match->route->handler(ex);
    Reply reply = r ? std::move(*r) : ErrorReply(r.error());
    // The spec's proxying section: the upstream namespace ?ns= selected.
    if (ex.mirror && !ex.mirror->ns.empty()) reply.headers.set("OCI-Namespace", ex.mirror->ns);
    co_return reply;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "keepd: handler for %s %s failed: %s\n",
                 std::string(ex.request().method_string()).c_str(), ex.path().c_str(), e.what());
    co_return ErrorReply(Fail(ErrorCode::kInternal, "internal error; see the registry's log"));
  }
}

// A connection's first byte tells TLS from plain HTTP: a TLS client starts
// with a handshake record (0x16), an HTTP/1 client with the capital letter
// of a method.
bool StartsPlainHttp(char first) { return first >= 'A' && first <= 'Z'; }

// Answers a client that spoke plain HTTP to the TLS port with a plain 400
// saying to use https://, then closes. The deadline already running (the
// handshake's) bounds it all.
Awaitable<void> RefusePlainHttp(beast::tcp_stream& tcp) {
  http::response<http::string_body> res{http::status::bad_request, 11};
  res.set(http::field::content_type, "text/plain; charset=utf-8");
  res.set("X-Content-Type-Options", "nosniff");
  res.keep_alive(false);
  res.body() =
      "This is a Keep registry's HTTPS port; it does not speak plain HTTP. "
      "Use https:// instead of http:// in the registry's URL.\n";
  res.prepare_payload();
  auto [ec, n] = co_await http::async_write(tcp, res, kAwait);
  if (ec) co_return;
  // Closing with unread bytes in the socket would reset the connection,
  // and the client could lose the answer: say we are done, and read what is
  // left of the request (a bounded amount) until the client closes too.
  boost::system::error_code ignored;
  tcp.socket().shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
  char sink[1024];
  for (std::size_t drained = 0; drained < kDiscardLimit;) {
    auto [rec, got] = co_await tcp.async_read_some(asio::buffer(sink), kAwait);
    if (rec) break;
    drained += got;
  }
}

// What a connection does after a request: wait for another, close (a
// clean end: TLS close_notify), or drop (an answer cut short).
enum class Next { kAnother, kClose, kDrop };

// Reads the request whose first bytes are in `buffer`, answers it and logs
// it. A coroutine of its own, so that what a request needs (the parser,
// the exchange, the answer) is held only while one is served, not while
// the connection waits for the next.
Awaitable<Next> ServeRequest(Stream& stream, beast::flat_buffer& buffer, const Services& svc,
                             const std::string& peer, const std::string& certificate_account) {
  const Config& cfg = svc.config;
  auto& tcp = beast::get_lowest_layer(stream);
  tcp.expires_after(std::chrono::seconds(cfg.header_timeout_seconds));
  http::request_parser<http::empty_body> parser;
  parser.header_limit(static_cast<std::uint32_t>(cfg.max_header_bytes));
  parser.body_limit(boost::none);
  auto [ec, n] = co_await http::async_read_header(stream, buffer, parser, kAwait);
  if (ec) {
    if (ec == http::error::header_limit || ec == http::error::bad_target ||
        ec == http::error::bad_method || ec == http::error::bad_field ||
        ec == http::error::bad_transfer_encoding || ec == http::error::bad_content_length) {
      Reply r =
          Malformed(ec == http::error::header_limit ? http::status::request_header_fields_too_large
                                                    : http::status::bad_request,
                    "malformed or oversized request header");
      Sent sent = co_await WriteReply(stream, r, false, false, cfg.header_timeout_seconds, cfg);
      metrics::CountRequest(metrics::Route::kOther, metrics::Method::kOther,
                            static_cast<int>(r.status), 0, sent.bytes, 0);
    }
    co_return Next::kClose;
  }
  if (Framing framing = FramingOf(parser.get()); framing != Framing::kSound) {
    Reply r = framing == Framing::kCodingNotImplemented
                  ? Malformed(http::status::not_implemented,
                              "keepd decodes no transfer coding but chunked: send the body "
                              "with Transfer-Encoding: chunked alone, or with Content-Length")
                  : Malformed(http::status::bad_request,
                              "Transfer-Encoding must be \"chunked\" alone: with any other "
                              "coding the length of the request body cannot be told");
    Sent sent = co_await WriteReply(stream, r, false, false, cfg.header_timeout_seconds, cfg);
    metrics::CountRequest(metrics::Route::kOther, metrics::MethodOf(parser.get().method_string()),
                          static_cast<int>(r.status), 0, sent.bytes, 0);
    co_return Next::kClose;
  }

  auto start = std::chrono::steady_clock::now();
  bool keep_alive = parser.keep_alive();
  const auto& req = parser.get();
  http::verb verb = req.method();
  bool head = verb == http::verb::head;

  auto target = boost::urls::parse_origin_form(req.target());
  std::string path = target ? std::string(target->path()) : std::string();
  Exchange ex(stream, buffer, parser, svc, path,
              OriginOf(req, peer, stream.tls() != nullptr, svc.trusted_proxies));
  ex.set_certificate_account(certificate_account);
  metrics::Route counted_as = metrics::Route::kOther;
  Reply reply;
  if (target) {
    reply = co_await Dispatch(ex, verb, counted_as);  // (no co_await inside ?: with GCC 12)
  } else {
    reply = ErrorReply(Fail(ErrorCode::kNotFound, "malformed request target"));
  }
  if (ex.broken()) keep_alive = false;
  if (keep_alive && !ex.body_consumed()) {
    auto discarded = co_await ex.DiscardBody(kDiscardLimit);
    if (!discarded) {
      keep_alive = false;
      // A body too large to bother with leaves the answer as it is; one
      // that is malformed (an endless chunk extension, say) makes the
      // request a bad one.
      if (discarded.error().code != ErrorCode::kTooLarge) {
        reply = Malformed(http::status::bad_request, discarded.error().message);
      }
    }
  }
  if (NeverStored(path) && reply.headers.find(http::field::cache_control) == reply.headers.end()) {
    reply.headers.set(http::field::cache_control, "no-store");
  }
  if (Draining()) keep_alive = false;  // the client goes elsewhere for its next request
  int status = static_cast<int>(reply.status);
  Sent sent = co_await WriteReply(stream, reply, head, keep_alive, cfg.body_timeout_seconds, cfg);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  metrics::CountRequest(counted_as, metrics::MethodOf(ex.request().method_string()), status,
                        ex.bytes_in(), sent.bytes, seconds);
  if (cfg.log_requests) {
    LogRequest(ex.request(), path, status, ex.bytes_in(), sent.bytes, seconds * 1000, ex.who.user,
               std::string(ex.remote()));
  }
  // An answer cut short ends the connection without a TLS close_notify:
  // records may have been sealed and never sent, and the client is to
  // see a connection that broke, not one that ended.
  if (!sent.ok) co_return Next::kDrop;
  co_return keep_alive ? Next::kAnother : Next::kClose;
}

std::atomic<bool> g_draining{false};

// A connection waiting for its next request, on the list of its thread's
// (each event loop runs on one thread, and a connection's steps all run on
// its loop's), so that a graceful stop can close it. Linked in place: a
// request costs no allocation for it.
class IdleWait {
 public:
  explicit IdleWait(beast::tcp_stream& tcp) : tcp_(tcp), next_(head_) {
    if (next_ != nullptr) next_->prev_ = this;
    head_ = this;
  }
  ~IdleWait() {
    (prev_ != nullptr ? prev_->next_ : head_) = next_;
    if (next_ != nullptr) next_->prev_ = prev_;
  }
  IdleWait(const IdleWait&) = delete;
  IdleWait& operator=(const IdleWait&) = delete;

  static void CancelAll() {
    for (IdleWait* w = head_; w != nullptr; w = w->next_) w->tcp_.cancel();
  }

 private:
  beast::tcp_stream& tcp_;
  IdleWait* prev_ = nullptr;
  IdleWait* next_;
  static thread_local IdleWait* head_;
};

thread_local IdleWait* IdleWait::head_ = nullptr;

}  // namespace

void StartDraining() { g_draining.store(true); }

bool Draining() { return g_draining.load(std::memory_order_relaxed); }

// Their reads end (operation_aborted) and each closes as it would after an
// idle timeout. A connection that starts to wait after this sees Draining.
void CloseIdleConnections() { IdleWait::CancelAll(); }

Awaitable<void> Serve(Stream stream, const Services& svc, std::string peer) {
  const Config& cfg = svc.config;
  auto& tcp = beast::get_lowest_layer(stream);
  // One deadline for the first bytes and the whole TLS handshake.
  tcp.expires_after(std::chrono::seconds(cfg.header_timeout_seconds));
  if (TlsStream* tls = stream.tls()) {
    // The first bytes are read here, to tell a plain HTTP client, and handed
    // to the TLS handshake, which would have read them anyway.
    constexpr std::size_t kFirstRead = 4096;
    auto first = std::make_unique<char[]>(kFirstRead);
    auto [rec, got] = co_await tcp.async_read_some(asio::buffer(first.get(), kFirstRead), kAwait);
    if (rec) co_return;
    if (StartsPlainHttp(first[0])) {
      co_await RefusePlainHttp(tcp);
      co_return;
    }
    if (auto hs_ec = co_await tls->Handshake(asio::buffer(first.get(), got)); hs_ec) co_return;
  }
  const std::string certificate_account = ClientCertificateAccount(stream.native_handle());

  beast::flat_buffer buffer(static_cast<std::size_t>(cfg.max_header_bytes) + kFramingSlack);
  bool first = true;
  while (true) {
    // Wait for a request to start (idle), then give its header a deadline.
    if (buffer.size() == 0) {
      // A stop under way: no next request. (A new connection still gets
      // its first: it was accepted before the stop.)
      if (!first && Draining()) break;
      // Nothing of the next request is here: what the connection holds
      // for bytes in flight is given back while it waits.
      buffer.shrink_to_fit();
      if (TlsStream* tls = stream.tls()) tls->Release();
      tcp.expires_after(std::chrono::seconds(first ? cfg.header_timeout_seconds
                                                   : cfg.idle_timeout_seconds));
      // Over TLS the first bytes wait in the stream's own few bytes, and
      // the request's are decrypted here once they came: a small start.
      std::optional<IdleWait> idle;
      if (!first) idle.emplace(tcp);
      auto [ec, n] =
          co_await stream.async_read_some(buffer.prepare(stream.tls() ? 512 : 4096), kAwait);
      if (ec) break;
      buffer.commit(n);
    }
    first = false;
    Next next = co_await ServeRequest(stream, buffer, svc, peer, certificate_account);
    if (next == Next::kDrop) co_return;
    if (next == Next::kClose) break;
  }
  if (TlsStream* tls = stream.tls()) {
    tcp.expires_after(std::chrono::seconds(5));
    co_await tls->Shutdown();
  } else {
    boost::system::error_code ignored;
    tcp.socket().shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
  }
}

}  // namespace keep::server
