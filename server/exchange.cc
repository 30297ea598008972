#include "server/exchange.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/url/parse_query.hpp>

#include <algorithm>
#include <chrono>
#include <vector>

namespace keep::server {
namespace {

constexpr std::size_t kStreamBuffer = 256 * 1024;
constexpr std::size_t kBodyReadRoom = 64 * 1024;

// Why reading a body failed, in words for the client.
std::string BodyFailure(const boost::system::error_code& ec, std::size_t buffer_limit) {
  if (ec == http::error::buffer_overflow) {
    return "a chunk header (with its extensions) or the trailer of the chunked request body is "
           "longer than the " + std::to_string(buffer_limit) + " bytes allowed";
  }
  return ec.message();
}

// One piece of a request body going into the store on a pool thread while
// the connection reads the next: the I/O thread never waits on the disk
// (a direct write, or a cached one the kernel holds back for writeback,
// would stall every connection of that thread). One write at a time, in order.
class PieceWriter {
 public:
  PieceWriter(const asio::any_io_executor& io, asio::thread_pool& pool, BlobWriter& writer)
      : io_(io), pool_(pool), writer_(writer), done_(io) {}

  // Starts writing `n` bytes of `data`, which must stay put until Wait()
  // returns. The write before must have been waited for.
  void Start(const char* data, std::size_t n) {
    busy_ = true;
    asio::post(pool_, [this, data, n] {
      Result<void> r = writer_.Write(data, n);
      // Back on the connection's loop (one thread), where Wait() reads it.
      asio::post(io_, [this, r = std::move(r)]() mutable {
        result_ = std::move(r);
        busy_ = false;
        done_.cancel();
      });
    });
  }

  // The result of the write started last, once it is done (ok when none was).
  Awaitable<Result<void>> Wait() {
    while (busy_) {
      done_.expires_at(asio::steady_timer::time_point::max());
      co_await done_.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    co_return std::exchange(result_, Result<void>());
  }

 private:
  asio::any_io_executor io_;
  asio::thread_pool& pool_;
  BlobWriter& writer_;
  asio::steady_timer done_;
  bool busy_ = false;
  Result<void> result_;
};

}  // namespace

Reply Reply::Json(http::status status, std::string body) {
  Reply r;
  r.status = status;
  r.headers.set(http::field::content_type, "application/json");
  r.body = std::move(body);
  return r;
}

Reply Reply::Empty(http::status status) {
  Reply r;
  r.status = status;
  return r;
}

Exchange::Exchange(Stream& stream, beast::flat_buffer& buffer,
                   http::request_parser<http::empty_body>& parser, const Services& services,
                   std::string path, Origin origin)
    : stream_(stream), buffer_(buffer), parser_(parser), services_(services),
      req_(parser.get().base()), path_(std::move(path)), origin_(std::move(origin)) {
  std::string_view target = req_.target();
  auto q = target.find('?');
  if (q != std::string_view::npos) query_params_ = ParseForm(target.substr(q + 1), false);
  if (!has_body()) body_consumed_ = true;
}

std::string_view Exchange::header(http::field f) const {
  auto it = req_.find(f);
  return it == req_.end() ? std::string_view() : std::string_view(it->value());
}

std::string Exchange::header_list(http::field f) const {
  std::string joined;
  for (const auto& field : req_) {
    if (field.name() != f) continue;
    if (!joined.empty()) joined += ", ";
    joined += field.value();
  }
  return joined;
}

std::vector<std::pair<std::string, std::string>> ParseForm(std::string_view text,
                                                           bool plus_is_space) {
  std::vector<std::pair<std::string, std::string>> out;
  if (text.empty()) return out;
  // Boost.URL 1.81 reads past the end of a view that is not the end of its
  // buffer when decoding the last value: parse a copy of its own.
  std::string owned(text);
  auto params = boost::urls::parse_query(owned);
  if (!params) return out;
  boost::urls::encoding_opts opts(plus_is_space);
  for (auto p : *params) {
    out.emplace_back(p.key.decode(opts), p.has_value ? p.value.decode(opts) : std::string());
  }
  return out;
}

std::optional<std::string> Exchange::query(std::string_view key) const {
  for (const auto& [k, v] : query_params_) {
    if (k == key) return v;
  }
  return std::nullopt;
}

std::vector<std::string> Exchange::query_all(std::string_view key) const {
  std::vector<std::string> out;
  for (const auto& [k, v] : query_params_) {
    if (k == key) out.push_back(v);
  }
  return out;
}

Awaitable<Result<Identity>> Authenticate(const Exchange& ex, std::string_view authorization) {
  const Services& svc = ex.services();
  if (authorization.empty() && !ex.certificate_account().empty()) {
    co_return svc.authenticator.FromCertificate(std::string(ex.certificate_account()));
  }
  std::string_view remote = ex.remote();
  if (auto quick = svc.authenticator.AuthenticateCached(authorization)) co_return std::move(*quick);
  co_return co_await Offload(svc, [&] { return svc.authenticator.Authenticate(authorization, remote); });
}

bool Exchange::has_body() const {
  return parser_.chunked() || (parser_.content_length() && *parser_.content_length() > 0);
}

Awaitable<void> Exchange::SendContinueIfAsked() {
  auto expect = header(http::field::expect);
  if (expect.size() == 12 && beast::iequals(expect, "100-continue")) {
    http::response<http::empty_body> cont{http::status::continue_, 11};
    co_await http::async_write(stream_, cont, kAwait);
  }
}

Awaitable<Result<std::string>> Exchange::ReadBody(std::uint64_t limit) {
  if (body_consumed_) co_return std::string();
  body_consumed_ = true;
  if (parser_.content_length() && *parser_.content_length() > limit) {
    broken_ = true;  // the body stays unread: the connection cannot go on
    co_return Fail(ErrorCode::kTooLarge, "request body is larger than the " +
                                             std::to_string(limit) + " bytes allowed");
  }
  co_await SendContinueIfAsked();
  http::request_parser<http::string_body> p{std::move(parser_)};
  p.body_limit(limit);
  beast::get_lowest_layer(stream_).expires_after(
      std::chrono::seconds(services_.config.body_timeout_seconds));
  auto [ec, n] = co_await http::async_read(stream_, buffer_, p, kAwait);
  if (ec) broken_ = true;
  if (ec == http::error::body_limit) {
    co_return Fail(ErrorCode::kTooLarge, "request body is larger than the " +
                                             std::to_string(limit) + " bytes allowed");
  }
  if (ec) {
    co_return Fail(ErrorCode::kBlobUploadInvalid,
                   "reading the request body failed: " + BodyFailure(ec, buffer_.max_size()));
  }
  bytes_in_ += p.get().body().size();
  co_return std::move(p.get().body());
}

Awaitable<Result<std::uint64_t>> Exchange::StreamBody(BlobWriter& writer, std::uint64_t limit) {
  if (body_consumed_) co_return std::uint64_t{0};
  body_consumed_ = true;
  if (parser_.content_length() && *parser_.content_length() > limit) {
    broken_ = true;  // refused before a byte is read: no 100 Continue either
    co_return Fail(ErrorCode::kTooLarge, "");
  }
  co_await SendContinueIfAsked();
  http::request_parser<http::buffer_body> p{std::move(parser_)};
  p.body_limit(boost::none);
  // Two buffers: the connection reads into one while the store takes the other.
  std::unique_ptr<char[]> bufs[2] = {std::make_unique<char[]>(kStreamBuffer),
                                     std::make_unique<char[]>(kStreamBuffer)};
  int reading = 0;
  PieceWriter store(stream_.get_executor(), services_.store_writes, writer);
  // Beast reads as much at once as the connection's buffer has room for:
  // room for 64 KiB makes a body arrive in reads of that size, not of the
  // little a request header needed (the session gives it back after).
  buffer_.reserve(std::min<std::size_t>(kBodyReadRoom, buffer_.max_size()));
  std::uint64_t total = 0;
  std::optional<Error> write_error;
  // Every way out waits for the write in flight: it uses the buffers and the writer.
  auto finish = [&]() -> Awaitable<void> {
    if (auto w = co_await store.Wait(); !w && !write_error) write_error = w.error();
  };
  while (!p.is_done()) {
    char* buf = bufs[reading].get();
    p.get().body().data = buf;
    p.get().body().size = kStreamBuffer;
    beast::get_lowest_layer(stream_).expires_after(
        std::chrono::seconds(services_.config.body_timeout_seconds));
    auto [ec, n] = co_await http::async_read(stream_, buffer_, p, kAwait);
    if (ec == http::error::need_buffer) ec = {};
    std::size_t got = kStreamBuffer - p.get().body().size;
    if (got > limit - total) {
      co_await finish();
      broken_ = true;
      bytes_in_ += total + got;
      co_return Fail(ErrorCode::kTooLarge, "");
    }
    if (got > 0 && !write_error) {
      co_await finish();
      if (!write_error) {  // else keep reading so the client sees the error
        store.Start(buf, got);
        reading ^= 1;
      }
      total += got;
    }
    if (ec) {
      co_await finish();
      broken_ = true;
      bytes_in_ += total;
      co_return Fail(ErrorCode::kBlobUploadInvalid,
                     "the request body ended early: " + BodyFailure(ec, buffer_.max_size()));
    }
  }
  co_await finish();
  bytes_in_ += total;
  if (write_error) co_return *write_error;
  co_return total;
}

Awaitable<Result<void>> Exchange::DiscardBody(std::uint64_t limit) {
  if (body_consumed_) co_return Result<void>();
  auto r = co_await ReadBody(limit);
  if (!r) co_return r.error();
  co_return Result<void>();
}

AuditEvent AuditBy(const Exchange& ex, std::string action, std::string ns, std::string target) {
  AuditEvent e;
  e.action = std::move(action);
  e.actor = AuditActor(ex.who.user);
  e.source = std::string(ex.remote());
  e.ns = std::move(ns);
  e.target = std::move(target);
  return e;
}

}  // namespace keep::server
