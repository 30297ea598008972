// The S3 client (storage/s3_client.h).
#include "storage/s3_client.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <ctime>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

namespace keep {
namespace {

namespace asio = boost::asio;
namespace ssl = asio::ssl;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

constexpr std::size_t kMaxErrorBody = 64 * 1024;
constexpr std::size_t kMaxIdleConnections = 64;

struct Endpoint {
  bool tls = false;
  std::string host;  // without brackets
  std::string port;
  std::string authority;  // host[:port] as the Host header says it
};

Result<Endpoint> ParseEndpoint(std::string_view url) {
  Endpoint e;
  if (url.starts_with("https://")) {
    e.tls = true;
    url.remove_prefix(8);
  } else if (url.starts_with("http://")) {
    url.remove_prefix(7);
  } else {
    return Fail(ErrorCode::kInvalid, "storage.s3.endpoint must start with http:// or https://");
  }
  while (url.ends_with('/')) url.remove_suffix(1);
  if (url.empty() || url.find('/') != std::string_view::npos ||
      url.find('@') != std::string_view::npos) {
    return Fail(
        ErrorCode::kInvalid,
        "storage.s3.endpoint must be a scheme and a host, with an optional port and no path");
  }
  e.authority = std::string(url);
  std::string_view port;
  if (url.front() == '[') {
    auto close = url.find(']');
    if (close == std::string_view::npos)
      return Fail(ErrorCode::kInvalid, "storage.s3.endpoint: bad IPv6 host");
    e.host = std::string(url.substr(1, close - 1));
    if (close + 1 < url.size()) {
      if (url[close + 1] != ':') return Fail(ErrorCode::kInvalid, "storage.s3.endpoint: bad port");
      port = url.substr(close + 2);
    }
  } else if (auto colon = url.rfind(':'); colon != std::string_view::npos) {
    e.host = std::string(url.substr(0, colon));
    port = url.substr(colon + 1);
  } else {
    e.host = std::string(url);
  }
  if (!port.empty()) {
    int p = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
    if (ec != std::errc{} || end != port.data() + port.size() || p < 1 || p > 65535) {
      return Fail(ErrorCode::kInvalid, "storage.s3.endpoint: bad port");
    }
    e.port = std::string(port);
  } else {
    e.port = e.tls ? "443" : "80";
  }
  return e;
}

std::string DecodeEntities(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '&') {
      out += s[i];
      continue;
    }
    static constexpr std::pair<std::string_view, char> kEntities[] = {
        {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
    bool matched = false;
    for (const auto& [name, c] : kEntities) {
      if (s.substr(i).starts_with(name)) {
        out += c;
        i += name.size() - 1;
        matched = true;
        break;
      }
    }
    if (!matched) out += '&';
  }
  return out;
}

struct Connection;

// Ends exchanges with the store that take too long. A blocking read on a
// socket the store stopped answering (a hung gateway, a lost network) would
// wait forever: SO_RCVTIMEO only makes recv give up, and Asio's blocking
// read then polls with no limit. So every connection in use has a
// deadline, and this thread shuts down the socket of one past it, which
// ends its read or write with an error.
class Watchdog {
 public:
  Watchdog() : thread_([this] { Run(); }) {}
  ~Watchdog() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    wake_.notify_all();
    thread_.join();
  }
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  void Arm(Connection* c, int seconds);
  void Disarm(Connection* c) {
    std::lock_guard lock(mu_);
    armed_.erase(c);
  }

 private:
  void Run();

  std::mutex mu_;
  std::condition_variable wake_;
  bool stop_ = false;                                                             // GUARDED_BY(mu_)
  std::unordered_map<Connection*, std::chrono::steady_clock::time_point> armed_;  // GUARDED_BY(mu_)
  std::thread thread_;
};

// One kept-alive connection to the store.
struct Connection {
  Connection(asio::io_context& io, Watchdog& watchdog) : socket(io), watchdog(&watchdog) {}
  // Disarmed before the socket closes: the watchdog never touches a
  // descriptor that was closed (and perhaps reused).
  ~Connection() { watchdog->Disarm(this); }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  tcp::socket socket;                             // plain HTTP
  std::unique_ptr<ssl::stream<tcp::socket>> tls;  // HTTPS: the socket moved in
  beast::flat_buffer buffer;
  Watchdog* watchdog;
  std::atomic<bool> expired{false};  // the watchdog ended an exchange on it

  template <class F>
  auto With(F&& f) {
    QuickAck();
    return tls ? f(*tls) : f(socket);
  }

  tcp::socket& tcp_socket() { return tls ? tls->next_layer() : socket; }

  // Answers are acknowledged at once: a store that writes an answer's head
  // and body apart (with Nagle's algorithm on) would otherwise wait for our
  // delayed ACK, 40 ms per request on a kept-alive connection. The kernel
  // turns this off again by itself, so it is set before every exchange.
  void QuickAck() {
    int one = 1;
    ::setsockopt(tcp_socket().native_handle(), IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
  }
};

void Watchdog::Arm(Connection* c, int seconds) {
  std::lock_guard lock(mu_);
  armed_[c] = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
}

void Watchdog::Run() {
  std::unique_lock lock(mu_);
  while (!stop_) {
    wake_.wait_for(lock, std::chrono::milliseconds(250));
    auto now = std::chrono::steady_clock::now();
    for (auto& [c, deadline] : armed_) {
      if (deadline > now || c->expired) continue;
      c->expired = true;
      ::shutdown(c->tcp_socket().native_handle(), SHUT_RDWR);
    }
  }
}

// Connects within `seconds` (Asio's blocking connect waits as long as the
// kernel does, minutes for a host that does not answer).
beast::error_code ConnectWithin(tcp::socket& socket, const tcp::resolver::results_type& addresses,
                                int seconds) {
  beast::error_code ec = asio::error::host_not_found;
  for (const auto& entry : addresses) {
    beast::error_code ignored;
    socket.close(ignored);
    socket.open(entry.endpoint().protocol(), ec);
    if (ec) continue;
    socket.non_blocking(true, ec);
    if (ec) continue;
    if (::connect(socket.native_handle(), entry.endpoint().data(),
                  static_cast<socklen_t>(entry.endpoint().size())) != 0) {
      if (errno != EINPROGRESS) {
        ec = beast::error_code(errno, boost::system::system_category());
        continue;
      }
      pollfd p{socket.native_handle(), POLLOUT, 0};
      int ready = ::poll(&p, 1, seconds * 1000);
      if (ready <= 0) {
        ec = asio::error::timed_out;
        continue;
      }
      int err = 0;
      socklen_t len = sizeof err;
      ::getsockopt(socket.native_handle(), SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) {
        ec = beast::error_code(err, boost::system::system_category());
        continue;
      }
    }
    socket.non_blocking(false, ec);
    if (!ec) return ec;
  }
  return ec;
}

class Client;

class Download final : public S3Download {
 public:
  Download(Client* client, std::unique_ptr<Connection> conn,
           std::unique_ptr<http::response_parser<http::buffer_body>> parser, std::uint64_t size)
      : client_(client), conn_(std::move(conn)), parser_(std::move(parser)), size_(size) {
    // A body of known length is read straight into the caller's buffer,
    // past the parser (which would take it 512 bytes at a time, copied).
    if (auto length = parser_->content_length(); length && !parser_->chunked()) left_ = *length;
  }
  ~Download() override;
  Result<std::size_t> Read(void* buf, std::size_t n) override;
  std::uint64_t object_size() const override { return size_; }

 private:
  Error ReadFailure(const beast::error_code& ec) const;

  Client* client_;
  std::unique_ptr<Connection> conn_;
  std::unique_ptr<http::response_parser<http::buffer_body>> parser_;
  std::uint64_t size_;
  std::optional<std::uint64_t> left_;  // bytes of the body still to read, when known
};

class Client final : public S3Client {
 public:
  Client(S3Options options, Endpoint endpoint)
      : options_(std::move(options)), endpoint_(std::move(endpoint)),
        tls_(ssl::context::tls_client) {
    key_ = SigV4Key{options_.access_key, options_.secret_key, options_.region, "s3"};
    host_ = options_.path_style ? endpoint_.host : options_.bucket + "." + endpoint_.host;
    authority_ =
        options_.path_style ? endpoint_.authority : options_.bucket + "." + endpoint_.authority;
  }

  Result<void> Init() {
    if (!endpoint_.tls) return {};
    tls_.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                     ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
    tls_.set_verify_mode(ssl::verify_peer);
    beast::error_code ec;
    if (options_.ca_file.empty()) {
      tls_.set_default_verify_paths(ec);
    } else {
      tls_.load_verify_file(options_.ca_file, ec);
    }
    if (ec) {
      return OperatorFault(ErrorCode::kInternal,
                           "storage.s3.ca_file " + options_.ca_file + ": " + ec.message());
    }
    return {};
  }

  Result<S3Response> Call(std::string_view method, std::string_view key, const SigV4Pairs& query,
                          const SigV4Pairs& headers, std::string_view body) override {
    std::string what = std::string(method) + " " + Name(key);
    std::string last_error;
    for (Try t; NextTry(t);) {
      bool reused = false;
      auto conn = Take(reused);
      if (!conn) {
        last_error = conn.error().message;
        continue;
      }
      auto req = Sign(method, key, query, headers, body, Sha256Hex(body));
      beast::error_code ec;
      S3Response response;
      bool reuse = false;
      (*conn)->With([&](auto& stream) {
        http::write(stream, req, ec);
        if (ec) return;
        http::response_parser<http::string_body> parser;
        parser.body_limit(method == "HEAD" ? 0 : 256 * 1024 * 1024);
        if (method == "HEAD") parser.skip(true);
        while (!ec && !parser.is_done()) {
          (*conn)->QuickAck();
          http::read_some(stream, (*conn)->buffer, parser, ec);
        }
        if (ec) return;
        auto& res = parser.get();
        response.status = res.result_int();
        response.body = std::move(res.body());
        response.etag = std::string(res[http::field::etag]);
        response.last_modified = std::string(res[http::field::last_modified]);
        if (auto len = res[http::field::content_length]; !len.empty()) {
          std::uint64_t v = 0;
          if (std::from_chars(len.data(), len.data() + len.size(), v).ec == std::errc{}) {
            response.content_length = v;
          }
        }
        reuse = res.keep_alive();
      });
      if (!ec && reuse) Give(std::move(*conn));
      if (ec) {
        last_error = Broke(t, what, **conn, reused, ec);
        continue;
      }
      if (response.status >= 500 && t.attempt + 1 < options_.attempts) {
        last_error = Describe(what, response);
        continue;
      }
      return response;
    }
    return OperatorFault(ErrorCode::kUnavailable,
                         "the blob store cannot be reached: " + last_error);
  }

  Result<std::unique_ptr<S3Download>> Get(std::string_view key, std::uint64_t offset) override {
    std::string what = "GET " + Name(key);
    std::string last_error;
    for (Try t; NextTry(t);) {
      bool reused = false;
      auto conn = Take(reused);
      if (!conn) {
        last_error = conn.error().message;
        continue;
      }
      SigV4Pairs headers;
      if (offset > 0) headers.emplace_back("range", "bytes=" + std::to_string(offset) + "-");
      auto req = Sign("GET", key, {}, headers, {}, std::string(kEmptyHash));
      beast::error_code ec;
      auto parser = std::make_unique<http::response_parser<http::buffer_body>>();
      parser->body_limit(boost::none);
      (*conn)->With([&](auto& stream) {
        http::write(stream, req, ec);
        if (!ec) http::read_header(stream, (*conn)->buffer, *parser, ec);
      });
      if (ec) {
        last_error = Broke(t, what, **conn, reused, ec);
        continue;
      }
      auto& res = parser->get();
      unsigned status = res.result_int();
      // From an offset, only the range asked for will do: a store that
      // ignored the Range header would send the object from its start.
      if (offset > 0 && status == 200) {
        return OperatorFault(ErrorCode::kInternal,
                             what + ": the store ignored the Range header (200, not 206)");
      }
      if (status == 206 &&
          !res[http::field::content_range].starts_with("bytes " + std::to_string(offset) + "-")) {
        return OperatorFault(ErrorCode::kInternal,
                             what + ": the store answered another range: " +
                                 std::string(res[http::field::content_range]));
      }
      if (status == 200 || status == 206) {
        std::uint64_t size = 0;
        auto range = res[http::field::content_range];
        auto len = res[http::field::content_length];
        if (auto slash = range.rfind('/'); slash != std::string_view::npos) {
          std::from_chars(range.data() + slash + 1, range.data() + range.size(), size);
        } else if (!len.empty()) {
          std::from_chars(len.data(), len.data() + len.size(), size);
        }
        watchdog_.Disarm(conn->get());  // each read arms it again
        return std::unique_ptr<S3Download>(
            new Download(this, std::move(*conn), std::move(parser), size));
      }
      // An error: its small body says why.
      S3Response response;
      response.status = status;
      std::string body;
      char chunk[4096];
      (*conn)->With([&](auto& stream) {
        while (!parser->is_done() && body.size() < kMaxErrorBody) {
          parser->get().body().data = chunk;
          parser->get().body().size = sizeof chunk;
          http::read(stream, (*conn)->buffer, *parser, ec);
          if (ec == http::error::need_buffer) ec = {};
          if (ec) break;
          body.append(chunk, sizeof chunk - parser->get().body().size);
        }
      });
      response.body = std::move(body);
      if (status == 404) return Fail(ErrorCode::kBlobUnknown, "blob unknown to registry");
      if (status == 416 && offset > 0) {
        return Fail(ErrorCode::kRangeInvalid, what + ": the offset is past the object's end");
      }
      last_error = Describe(what, response);
      if (status < 500) break;
    }
    return OperatorFault(ErrorCode::kUnavailable, "the blob store failed: " + last_error);
  }

  std::string PresignedGet(std::string_view key, int seconds) override {
    SigV4Request r{"GET", PathOf(key), {}, {{"host", authority_}}, ""};
    auto now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
    return std::string(endpoint_.tls ? "https://" : "http://") + authority_ +
           SigV4Encode(r.path, true) + "?" + SigV4PresignedQuery(r, key_, AmzDate(now), seconds);
  }

  std::string CopySource(std::string_view key) const override {
    return SigV4Encode("/" + options_.bucket + "/" + options_.prefix + std::string(key), true);
  }

  // Puts a connection back for the next request.
  void Give(std::unique_ptr<Connection> conn) {
    watchdog_.Disarm(conn.get());
    if (conn->expired) return;
    std::lock_guard lock(mu_);
    if (idle_.size() < kMaxIdleConnections) idle_.push_back(std::move(conn));
  }

  int timeout_seconds() const { return options_.timeout_seconds; }

 private:
  static constexpr std::string_view kEmptyHash =
      "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

  std::string Name(std::string_view key) const {
    return "s3://" + options_.bucket + "/" + options_.prefix + std::string(key);
  }

  std::string PathOf(std::string_view key) const {
    std::string path = "/";
    if (options_.path_style) {
      path += options_.bucket;
      if (!key.empty() || !options_.prefix.empty()) path += "/";
    }
    if (!key.empty()) path += options_.prefix + std::string(key);
    return path;
  }

  http::request<http::string_body> Sign(std::string_view method, std::string_view key,
                                        const SigV4Pairs& query, const SigV4Pairs& headers,
                                        std::string_view body, const std::string& payload_hash) {
    auto now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
    std::string date = AmzDate(now);
    SigV4Request r{std::string(method), PathOf(key), query, headers, payload_hash};
    r.headers.emplace_back("host", authority_);
    r.headers.emplace_back("x-amz-date", date);
    r.headers.emplace_back("x-amz-content-sha256", payload_hash);
    std::string target = SigV4Encode(r.path, true);
    if (!query.empty()) target += "?" + SigV4CanonicalQuery(query);
    http::request<http::string_body> req;
    req.method_string(std::string(method));
    req.target(target);
    req.version(11);
    for (const auto& [name, value] : r.headers) req.set(name, value);
    req.set(http::field::authorization, SigV4Authorization(r, key_, date));
    req.body() = std::string(body);
    if (!body.empty() || method == "PUT" || method == "POST") req.prepare_payload();
    req.keep_alive(true);
    return req;
  }

  // The tries of one request, with a back-off before each after the
  // first; a kept-alive connection the store had closed is retried at once
  // and does not use up a try.
  struct Try {
    int attempt = -1;
    bool again = false;
  };
  bool NextTry(Try& t) const {
    if (t.again) {
      t.again = false;
      return true;
    }
    if (++t.attempt >= std::max(1, options_.attempts)) return false;
    if (t.attempt > 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50 << (2 * (t.attempt - 1))));
    }
    return true;
  }
  // A try's exchange failed: what to report, and whether the next try is at once.
  std::string Broke(Try& t, const std::string& what, const Connection& conn, bool reused,
                    const beast::error_code& ec) {
    t.again = reused && !conn.expired;
    if (t.again) DropIdle();
    return Failure(what, conn, ec);
  }

  // A kept-alive connection (reused set), or a new one; armed with the
  // request's deadline either way.
  Result<std::unique_ptr<Connection>> Take(bool& reused) {
    {
      std::lock_guard lock(mu_);
      reused = !idle_.empty();
      if (reused) {
        auto conn = std::move(idle_.back());
        idle_.pop_back();
        watchdog_.Arm(conn.get(), options_.timeout_seconds);
        return conn;
      }
    }
    auto conn = std::make_unique<Connection>(io_, watchdog_);
    beast::error_code ec;
    tcp::resolver resolver(io_);
    auto addresses = resolver.resolve(host_, endpoint_.port, ec);
    if (!ec) ec = ConnectWithin(conn->socket, addresses, options_.timeout_seconds);
    if (ec) {
      return OperatorFault(ErrorCode::kUnavailable,
                           "connect to " + host_ + ":" + endpoint_.port + ": " + ec.message());
    }
    conn->socket.set_option(tcp::no_delay(true), ec);
    if (endpoint_.tls) {
      conn->tls = std::make_unique<ssl::stream<tcp::socket>>(std::move(conn->socket), tls_);
      if (SSL_set_tlsext_host_name(conn->tls->native_handle(), host_.c_str()) != 1) {
        return OperatorFault(ErrorCode::kInternal,
                             "TLS: cannot name " + host_ + " in the handshake");
      }
      conn->tls->set_verify_callback(ssl::host_name_verification(host_));
    }
    watchdog_.Arm(conn.get(), options_.timeout_seconds);
    if (endpoint_.tls) {
      conn->tls->handshake(ssl::stream_base::client, ec);
      if (ec) {
        return OperatorFault(ErrorCode::kUnavailable,
                             "TLS with " + host_ + ":" + endpoint_.port + ": " + ec.message());
      }
    }
    return conn;
  }

  // After a kept-alive connection turned out closed by the store: the
  // others idle as long are closed too.
  void DropIdle() {
    std::lock_guard lock(mu_);
    idle_.clear();
  }

  // What a failed exchange says: a timeout named as one.
  std::string Failure(const std::string& what, const Connection& conn,
                      const beast::error_code& ec) const {
    if (conn.expired) {
      return what + ": no answer within " + std::to_string(options_.timeout_seconds) + " s";
    }
    return what + ": " + ec.message();
  }

  S3Options options_;
  Endpoint endpoint_;
  SigV4Key key_;
  std::string host_;
  std::string authority_;
  asio::io_context io_;
  ssl::context tls_;
  Watchdog watchdog_;  // before idle_: connections disarm themselves as they go
  std::mutex mu_;
  std::vector<std::unique_ptr<Connection>> idle_;  // GUARDED_BY(mu_)
};

Download::~Download() {
  // A body read to its end leaves the connection fit for another request.
  bool done = left_ ? *left_ == 0 && conn_->buffer.size() == 0 : parser_->is_done();
  if (conn_ && done && parser_->get().keep_alive()) client_->Give(std::move(conn_));
}

Error Download::ReadFailure(const beast::error_code& ec) const {
  if (conn_->expired) {
    return OperatorFault(ErrorCode::kUnavailable, "reading from the blob store: no data within " +
                                                      std::to_string(client_->timeout_seconds()) +
                                                      " s");
  }
  return OperatorFault(ErrorCode::kUnavailable, "reading from the blob store: " + ec.message());
}

Result<std::size_t> Download::Read(void* buf, std::size_t n) {
  if (left_) {
    n = static_cast<std::size_t>(std::min<std::uint64_t>(n, *left_));
    if (n == 0) return std::size_t{0};
    // What came with the header first, then the socket.
    if (auto buffered = conn_->buffer.size(); buffered > 0) {
      std::size_t k = std::min(n, buffered);
      asio::buffer_copy(asio::buffer(buf, k), conn_->buffer.data());
      conn_->buffer.consume(k);
      *left_ -= k;
      return k;
    }
    beast::error_code ec;
    // Armed only while a read waits on the store: between reads the caller
    // may take its time (a slow client of the blob).
    conn_->watchdog->Arm(conn_.get(), client_->timeout_seconds());
    std::size_t got =
        conn_->With([&](auto& stream) { return stream.read_some(asio::buffer(buf, n), ec); });
    conn_->watchdog->Disarm(conn_.get());
    if (ec) return ReadFailure(ec);
    *left_ -= got;
    return got;
  }
  if (parser_->is_done() || n == 0) return std::size_t{0};
  conn_->watchdog->Arm(conn_.get(), client_->timeout_seconds());
  auto& body = parser_->get().body();
  body.data = buf;
  body.size = n;
  beast::error_code ec;
  conn_->With([&](auto& stream) { http::read_some(stream, conn_->buffer, *parser_, ec); });
  conn_->watchdog->Disarm(conn_.get());
  if (ec == http::error::need_buffer) ec = {};
  if (ec) return ReadFailure(ec);
  std::size_t got = n - body.size;
  if (got == 0 && !parser_->is_done()) {
    // Headers of a chunk, not bytes: read on.
    return Read(buf, n);
  }
  return got;
}

}  // namespace

std::string S3Client::Describe(std::string_view what, const S3Response& response) {
  std::string s = std::string(what) + ": " + std::to_string(response.status);
  if (auto code = XmlText(response.body, "Code"); !code.empty()) s += " " + code;
  if (auto message = XmlText(response.body, "Message"); !message.empty()) s += ": " + message;
  return s;
}

Result<std::unique_ptr<S3Client>> OpenS3Client(const S3Options& options) {
  auto endpoint = ParseEndpoint(options.endpoint);
  if (!endpoint) return endpoint.error();
  if (options.bucket.empty()) return Fail(ErrorCode::kInvalid, "storage.s3.bucket is not set");
  auto client = std::make_unique<Client>(options, std::move(*endpoint));
  KEEP_TRY(client->Init());
  return std::unique_ptr<S3Client>(std::move(client));
}

std::vector<std::string_view> XmlElements(std::string_view xml, std::string_view name) {
  std::vector<std::string_view> out;
  std::string open = "<" + std::string(name) + ">";
  std::string close = "</" + std::string(name) + ">";
  std::size_t at = 0;
  while ((at = xml.find(open, at)) != std::string_view::npos) {
    std::size_t start = at + open.size();
    std::size_t end = xml.find(close, start);
    if (end == std::string_view::npos) break;
    out.push_back(xml.substr(start, end - start));
    at = end + close.size();
  }
  return out;
}

std::string XmlText(std::string_view xml, std::string_view name) {
  auto elements = XmlElements(xml, name);
  return elements.empty() ? std::string() : DecodeEntities(elements.front());
}

}  // namespace keep
