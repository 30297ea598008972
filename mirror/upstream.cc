// mirror/upstream.cc — the upstream client: a small pool of Beast
// connections, the registry's auth dance, retries, and the four calls.
//
// Structure, bottom up: Connection (one socket, its io_context and the Run
// helper that gives every asynchronous step a deadline); Answer (a response
// whose header has arrived and whose body is still on the wire); Impl::Send
// (a request on a pooled connection), Impl::Ask (Send plus authentication
// and redirects) and Impl::Retrying (the attempt loop). Errors inside an
// attempt are Failures: an Error plus whether another try may help.
#include "mirror/upstream.h"

#include "core/base64.h"
#include "core/log_text.h"
#include "core/names.h"
#include "core/range.h"

#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>
#include <utility>

namespace keep::mirror {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
namespace urls = boost::urls;
using boost::system::error_code;
using Clock = std::chrono::steady_clock;
using Headers = std::vector<std::pair<std::string, std::string>>;

constexpr std::size_t kChunkBytes = 256 << 10;     // one read of a blob body
constexpr std::size_t kSmallBodyBytes = 64 << 10;  // error bodies, /v2/ answers
constexpr std::size_t kTokenBodyBytes = 1 << 20;   // a token service's JSON
constexpr std::size_t kTagPageBytes = 4 << 20;     // one page of a tag list
constexpr std::size_t kReferrersBytes = 4 << 20;
constexpr int kMaxTagPages = 100;
// At most this many tags of one repository (Docker Hub's largest have a few
// tens of thousands).
constexpr std::size_t kMaxTags = 100000;
constexpr int kMaxRedirects = 5;
constexpr auto kMaxRetrySleep = std::chrono::seconds(30);
constexpr auto kDefaultTokenLifetime = std::chrono::seconds(60);
constexpr auto kTokenMargin = std::chrono::seconds(10);

constexpr const char* kManifestAccept =
    "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, "
    "application/vnd.docker.distribution.manifest.v2+json, "
    "application/vnd.docker.distribution.manifest.list.v2+json";
constexpr const char* kIndexType = "application/vnd.oci.image.index.v1+json";

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// A query parameter's value, percent-encoded.
std::string QueryValue(std::string_view value) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : value) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == ':' || c == '/') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

// Where requests go: scheme, host and port.
struct Origin {
  bool tls = true;
  std::string host;  // lower case; an IPv6 address without its brackets
  std::string port;
  bool ip = false;
  bool ipv6 = false;

  std::string Bracketed() const { return ipv6 ? "[" + host + "]" : host; }
  std::string HostPort() const { return Bracketed() + ":" + port; }
  std::string Str() const { return (tls ? "https://" : "http://") + HostPort(); }
  // The Host header: the port only when it is not the scheme's default, as
  // presigned object-store URLs are signed for.
  std::string HostHeader() const { return port == (tls ? "443" : "80") ? Bracketed() : HostPort(); }
  bool operator==(const Origin& o) const {
    return tls == o.tls && host == o.host && port == o.port;
  }
};

// An absolute URL as an origin and a request target (path and query).
struct Location {
  Origin origin;
  std::string target;

  std::string Str() const { return origin.Str() + target; }
};

// The origin and target of an absolute http(s) URL; the reason why not else.
boost::system::result<Location, std::string> ToLocation(const urls::url_view& url) {
  Location out;
  std::string scheme = Lower(std::string(url.scheme()));
  if (scheme != "https" && scheme != "http") return std::string("it is neither https nor http");
  out.origin.tls = scheme == "https";
  switch (url.host_type()) {
    case urls::host_type::ipv4: out.origin.ip = true; break;
    case urls::host_type::ipv6: out.origin.ip = out.origin.ipv6 = true; break;
    case urls::host_type::name: break;
    default: return std::string("it names no host name or IP address");
  }
  out.origin.host = Lower(std::string(url.host_address()));
  if (out.origin.host.empty()) return std::string("it names no host");
  out.origin.port = out.origin.tls ? "443" : "80";
  if (url.has_port()) {
    std::string_view port = url.port();
    unsigned n = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), n);
    if (ec != std::errc() || end != port.data() + port.size() || n == 0 || n > 65535) {
      return "bad port \"" + LogText(port) + "\"";
    }
    out.origin.port = std::to_string(n);
  }
  out.target = std::string(url.encoded_path());
  if (out.target.empty()) out.target = "/";
  if (url.has_query()) out.target += "?" + std::string(url.encoded_query());
  return out;
}

// `reference` (absolute, or relative to `base`) as a location.
boost::system::result<Location, std::string> Resolve(const Location& base,
                                                     std::string_view reference) {
  auto ref = urls::parse_uri_reference(reference);
  if (!ref) return std::string("not a URL");
  std::string base_text = base.Str();  // the view below points into it
  auto base_url = urls::parse_uri(base_text);
  if (!base_url) return std::string("not a URL");
  urls::url resolved;
  if (!urls::resolve(*base_url, *ref, resolved)) return std::string("cannot be resolved");
  return ToLocation(resolved);
}

// An error inside one attempt: `transient` when another try may succeed.
struct Failure {
  Error error;
  bool transient = false;
  std::optional<std::chrono::seconds> retry_after;
};

template <class T>
using Step = boost::system::result<T, Failure>;

Failure Final(Error error) { return Failure{std::move(error), false, std::nullopt}; }
Failure Final(ErrorCode code, std::string message) {
  return Final(Error(code, std::move(message)));
}
Failure Transient(std::string reason, std::optional<std::chrono::seconds> retry_after = {}) {
  return Failure{Error(ErrorCode::kUnavailable, std::move(reason)), true, retry_after};
}

#define KEEP_STEP_TRY(expr)                         \
  do {                                              \
    auto keep_step_r_ = (expr);                     \
    if (!keep_step_r_) return keep_step_r_.error(); \
  } while (0)

bool RetryableStatus(int status) {
  return status == 429 || status == 500 || status == 502 || status == 503 || status == 504;
}

bool IsRedirect(int status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

// One connection: its own io_context, so that a call runs its steps to their
// end (or deadline) on the calling thread.
struct Connection {
  Origin origin;
  asio::io_context ioc;
  std::unique_ptr<ssl::stream<beast::tcp_stream>> tls;
  std::unique_ptr<beast::tcp_stream> plain;
  beast::flat_buffer buffer;

  beast::tcp_stream& tcp() { return tls ? tls->next_layer() : *plain; }

  // Runs one asynchronous operation to its end, or its deadline.
  template <class Initiate>
  error_code Run(std::chrono::seconds timeout, Initiate&& initiate) {
    tcp().expires_after(timeout);
    error_code result = asio::error::operation_aborted;
    initiate([&result](error_code ec, auto&&...) { result = ec; });
    ioc.restart();
    ioc.run();
    return result;
  }

  ~Connection() {
    if (!tls && !plain) return;
    error_code ignored;
    tcp().socket().close(ignored);
  }
};

using Parser = http::response_parser<http::buffer_body>;

// A response whose header has arrived; its body is still to be read.
struct Answer {
  std::unique_ptr<Connection> conn;
  std::unique_ptr<Parser> parser;
  Location from;

  int status() const { return parser->get().result_int(); }
  std::string Header(http::field f) const { return std::string(parser->get()[f]); }
  std::string Header(std::string_view name) const {
    return std::string(parser->get()[beast::string_view(name.data(), name.size())]);
  }
  std::optional<std::uint64_t> ContentLength() const {
    auto n = parser->content_length();
    return n ? std::optional<std::uint64_t>(*n) : std::nullopt;
  }
};

// "BLOB_UNKNOWN: blob unknown to registry" from an OCI error body, or "".
std::string UpstreamSays(const std::string& body) {
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (!j.is_object() || !j.contains("errors") || !j["errors"].is_array() || j["errors"].empty() ||
      !j["errors"][0].is_object()) {
    return "";
  }
  const auto& e = j["errors"][0];
  std::string code =
      e.value("code", nlohmann::json()).is_string() ? e["code"].get<std::string>() : "";
  std::string message =
      e.value("message", nlohmann::json()).is_string() ? e["message"].get<std::string>() : "";
  if (code.empty() && message.empty()) return "";
  return LogText(code, 40) + (message.empty() ? "" : ": " + LogText(message, 160));
}

// The seconds of a Retry-After header; nullopt for an HTTP date or nothing.
std::optional<std::chrono::seconds> RetryAfter(std::string_view value) {
  value = TrimOws(value);
  unsigned long n = 0;
  auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
  if (value.empty() || ec != std::errc() || end != value.data() + value.size()) return std::nullopt;
  return std::chrono::seconds(std::min<unsigned long>(n, kMaxRetrySleep.count()));
}

// A WWW-Authenticate challenge: its scheme and parameters (names in lower case).
struct Challenge {
  std::string scheme;  // lower case: "basic", "bearer"
  std::map<std::string, std::string> params;
};

// Reads the first challenge of a WWW-Authenticate value: scheme, then
// name=value pairs separated by commas, values bare or quoted (with
// backslash escapes; commas inside quotes are part of the value).
std::optional<Challenge> ParseChallenge(std::string_view text) {
  Challenge c;
  std::size_t i = 0;
  auto skip_space = [&] {
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) ++i;
  };
  auto token = [&] {
    std::size_t start = i;
    while (i < text.size() && text[i] != '=' && text[i] != ',' && text[i] != ' ' &&
           text[i] != '\t' && text[i] != '"') {
      ++i;
    }
    return std::string(text.substr(start, i - start));
  };
  skip_space();
  c.scheme = Lower(token());
  if (c.scheme.empty()) return std::nullopt;
  while (true) {
    skip_space();
    while (i < text.size() && text[i] == ',') {
      ++i;
      skip_space();
    }
    if (i >= text.size()) break;
    std::string name = Lower(token());
    skip_space();
    // Anything but name=value starts another challenge ("Basic realm=..., Bearer ..."):
    // the first one is answered.
    if (name.empty() || i >= text.size() || text[i] != '=') break;
    ++i;  // '='
    skip_space();
    std::string value;
    if (i < text.size() && text[i] == '"') {
      ++i;
      bool closed = false;
      while (i < text.size()) {
        char ch = text[i++];
        if (ch == '\\' && i < text.size()) {
          value += text[i++];
        } else if (ch == '"') {
          closed = true;
          break;
        } else {
          value += ch;
        }
      }
      if (!closed) return std::nullopt;
    } else {
      std::size_t start = i;
      while (i < text.size() && text[i] != ',' && text[i] != ' ' && text[i] != '\t') ++i;
      value = std::string(text.substr(start, i - start));
    }
    c.params.emplace(std::move(name), std::move(value));
  }
  return c;
}

}  // namespace

struct Upstream::Impl {
  UpstreamOptions options;
  Origin origin;
  ssl::context tls{ssl::context::tls_client};
  std::string basic;  // "Basic <base64>", or empty without credentials

  // The pool: at most options.connections calls at once; idle connections
  // kept for the next call to the same origin.
  std::mutex pool_mu;
  std::condition_variable slot_freed;
  int in_flight = 0;
  std::vector<std::unique_ptr<Connection>> idle;

  // What the upstream's challenges taught us.
  enum class Scheme { kUnknown, kBasic, kBearer };
  struct Token {
    std::string value;
    Clock::time_point renew_at;
  };
  std::mutex auth_mu;
  Scheme scheme = Scheme::kUnknown;
  std::map<std::string, Token> tokens;  // by scope

  // Holds one of the pool's places for a call.
  class Slot {
   public:
    explicit Slot(Impl& impl) : impl_(impl) {
      std::unique_lock lock(impl_.pool_mu);
      impl_.slot_freed.wait(lock, [&] { return impl_.in_flight < impl_.options.connections; });
      ++impl_.in_flight;
    }
    ~Slot() {
      {
        std::lock_guard lock(impl_.pool_mu);
        --impl_.in_flight;
      }
      impl_.slot_freed.notify_one();
    }
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;

   private:
    Impl& impl_;
  };

  // "upstream https://host:port: GET /v2/..." — the start of every message.
  std::string Prefix(const std::string& what) const {
    return "upstream " + origin.Str() + ": " + what;
  }

  std::string Who() const {
    return options.username.empty() ? std::string("anonymously")
                                    : "as user \"" + LogText(options.username) + "\"";
  }

  // ----- connections -----

  std::unique_ptr<Connection> TakeIdle(const Origin& o) {
    std::lock_guard lock(pool_mu);
    for (auto it = idle.begin(); it != idle.end(); ++it) {
      if ((*it)->origin == o) {
        auto conn = std::move(*it);
        idle.erase(it);
        return conn;
      }
    }
    return nullptr;
  }

  void Release(std::unique_ptr<Connection> conn) {
    std::lock_guard lock(pool_mu);
    if (idle.size() >= static_cast<std::size_t>(options.connections)) idle.erase(idle.begin());
    idle.push_back(std::move(conn));
  }

  Failure TransportFailure(const Origin& o, const std::string& step, const error_code& ec) const {
    std::string where = o == origin ? "" : " (" + o.Str() + ")";
    if (ec == beast::error::timeout || ec == asio::error::timed_out) {
      return Transient("no answer within " + std::to_string(options.timeout.count()) + " s (" +
                       step + ")" + where);
    }
    if (ec == http::error::partial_message || ec == ssl::error::stream_truncated) {
      return Transient("the connection closed before the answer was complete" + where);
    }
    std::string reason = ec.message();
    if (!reason.empty()) reason[0] = static_cast<char>(std::tolower(reason[0]));
    return Transient(reason + where);
  }

  Step<std::unique_ptr<Connection>> Connect(const Origin& o, const std::string& what) {
    auto conn = std::make_unique<Connection>();
    conn->origin = o;
    asio::ip::tcp::resolver resolver(conn->ioc);
    asio::ip::tcp::resolver::results_type endpoints;
    error_code ec = asio::error::operation_aborted;
    asio::steady_timer deadline(conn->ioc, options.timeout);
    deadline.async_wait([&](error_code e) {
      if (!e) resolver.cancel();
    });
    resolver.async_resolve(o.host, o.port, [&](error_code e, auto results) {
      ec = e;
      endpoints = std::move(results);
      deadline.cancel();
    });
    conn->ioc.run();
    if (ec) {
      if (ec == asio::error::operation_aborted) ec = beast::error::timeout;
      return TransportFailure(o, "resolving " + o.host, ec);
    }
    if (o.tls) {
      conn->tls = std::make_unique<ssl::stream<beast::tcp_stream>>(conn->ioc, tls);
      SSL* s = conn->tls->native_handle();
      // OpenSSL checks the name (or address) during the handshake.
      bool named = o.ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(s), o.host.c_str()) == 1
                        : SSL_set1_host(s, o.host.c_str()) == 1 &&
                              SSL_set_tlsext_host_name(s, o.host.c_str()) == 1;
      if (!named) {
        return Final(ErrorCode::kUnavailable,
                     Prefix(what) + ": cannot set up TLS for the host " + o.host);
      }
    } else {
      conn->plain = std::make_unique<beast::tcp_stream>(conn->ioc);
    }
    ec = conn->Run(options.timeout,
                   [&](auto handler) { conn->tcp().async_connect(endpoints, handler); });
    if (ec) return TransportFailure(o, "connect", ec);
    if (!o.tls) return conn;
    ec = conn->Run(options.timeout, [&](auto handler) {
      conn->tls->async_handshake(ssl::stream_base::client, handler);
    });
    if (ec) {
      long verify = SSL_get_verify_result(conn->tls->native_handle());
      if (verify != X509_V_OK) {
        std::string hint =
            options.ca_file.empty()
                ? "give the rule a CA file holding the certificate of the CA "
                  "that issued it"
                : "the CA file " + options.ca_file + " does not hold the CA that issued it";
        if (verify == X509_V_ERR_HOSTNAME_MISMATCH || verify == X509_V_ERR_IP_ADDRESS_MISMATCH) {
          hint = "it was issued for another name";
        }
        return Final(ErrorCode::kUnavailable,
                     Prefix(what) + ": cannot verify the TLS certificate of " + o.Str() + ": " +
                         X509_verify_cert_error_string(verify) + " (" + hint + ")");
      }
      return TransportFailure(o, "TLS handshake", ec);
    }
    return conn;
  }

  // Sends a bodiless request on a pooled (or new) connection and reads the
  // response's header. A kept-alive connection the server has closed in the
  // meantime is replaced by a new one once.
  Step<Answer> Send(const Location& at, http::verb verb, const Headers& headers,
                    const std::string& what) {
    for (int round = 0;; ++round) {
      std::unique_ptr<Connection> conn = round == 0 ? TakeIdle(at.origin) : nullptr;
      bool reused = conn != nullptr;
      if (!conn) {
        auto fresh = Connect(at.origin, what);
        if (!fresh) return fresh.error();
        conn = std::move(*fresh);
      }
      http::request<http::empty_body> req{verb, at.target, 11};
      req.set(http::field::host, at.origin.HostHeader());
      req.set(http::field::user_agent, "keepd-mirror");
      for (const auto& [name, value] : headers) req.set(name, value);
      auto stream_op = [&](auto op) {
        return conn->Run(options.timeout, [&](auto handler) {
          if (conn->tls) {
            op(*conn->tls, handler);
          } else {
            op(*conn->plain, handler);
          }
        });
      };
      error_code ec = stream_op([&](auto& s, auto h) { http::async_write(s, req, h); });
      auto parser = std::make_unique<Parser>();
      parser->body_limit(boost::none);
      if (!ec) {
        ec = stream_op(
            [&](auto& s, auto h) { http::async_read_header(s, conn->buffer, *parser, h); });
      }
      if (ec) {
        if (reused) continue;
        return TransportFailure(at.origin, "request", ec);
      }
      return Answer{std::move(conn), std::move(parser), at};
    }
  }

  // Reads the body in chunks, handing each to `take`; keeps the connection
  // for the next call when the body ended cleanly and the server allows it.
  template <class Take>
  Step<void> StreamBody(Answer& a, Take&& take) {
    Parser& p = *a.parser;
    std::vector<char> chunk(kChunkBytes);
    while (!p.is_done()) {
      p.get().body().data = chunk.data();
      p.get().body().size = chunk.size();
      error_code ec = a.conn->Run(options.timeout, [&](auto handler) {
        if (a.conn->tls) {
          http::async_read(*a.conn->tls, a.conn->buffer, p, handler);
        } else {
          http::async_read(*a.conn->plain, a.conn->buffer, p, handler);
        }
      });
      if (ec == http::error::need_buffer) ec = {};
      std::size_t n = chunk.size() - p.get().body().size;
      if (n > 0) {
        Step<void> r = take(std::string_view(chunk.data(), n));
        if (!r) {
          a.conn.reset();
          return r;
        }
      }
      if (ec) {
        a.conn.reset();
        return TransportFailure(a.from.origin, "reading the body", ec);
      }
    }
    if (p.keep_alive()) {
      Release(std::move(a.conn));
    } else {
      a.conn.reset();
    }
    return {};
  }

  // The whole body, refused (kTooLarge) beyond `max` bytes.
  Step<std::string> ReadBody(Answer& a, std::size_t max, const std::string& what) {
    auto too_large = [&] {
      return Final(ErrorCode::kTooLarge,
                   Prefix(what) + ": the answer is larger than " + std::to_string(max) + " bytes");
    };
    if (auto n = a.ContentLength(); n && *n > max) {
      a.conn.reset();
      return too_large();
    }
    std::string body;
    KEEP_STEP_TRY(StreamBody(a, [&](std::string_view piece) -> Step<void> {
      if (body.size() + piece.size() > max) return too_large();
      body.append(piece);
      return {};
    }));
    return body;
  }

  // The body of an answer not wanted, or of an error: what fits in a small
  // bound; the connection is dropped when it does not.
  std::string Drain(Answer& a) {
    auto body = ReadBody(a, kSmallBodyBytes, "");
    return body ? std::move(*body) : std::string();
  }

  // The Failure an unexpected status makes, the body read (and dropped).
  Failure StatusFailure(Answer& a, const std::string& what, ErrorCode not_found) {
    int status = a.status();
    std::string reason = std::to_string(status) + " " +
                         std::string(http::obsolete_reason(static_cast<http::status>(status)));
    std::optional<std::chrono::seconds> retry_after =
        RetryAfter(a.Header(http::field::retry_after));
    std::string says = UpstreamSays(Drain(a));
    std::string detail = reason + (says.empty() ? "" : " (" + says + ")");
    if (RetryableStatus(status)) return Transient(detail, retry_after);
    std::string message = Prefix(what) + ": " + detail;
    switch (status) {
      case 404:
        return Final(says.rfind("NAME_UNKNOWN", 0) == 0 ? ErrorCode::kNameUnknown : not_found,
                     message);
      case 401:
      case 403: return Final(ErrorCode::kDenied, message + "; access denied " + Who());
      case 416: return Final(ErrorCode::kRangeInvalid, message);
      default: return Final(ErrorCode::kUnavailable, message);
    }
  }

  // ----- authentication -----

  std::optional<std::string> AuthorizationFor(const std::string& scope) {
    std::lock_guard lock(auth_mu);
    if (scheme == Scheme::kBasic && !basic.empty()) return basic;
    if (scheme == Scheme::kBearer) {
      auto it = tokens.find(scope);
      if (it != tokens.end() && Clock::now() < it->second.renew_at) {
        return "Bearer " + it->second.value;
      }
    }
    return std::nullopt;
  }

  // Gets a token from the realm of a Bearer challenge, for `scope`.
  Step<void> FetchToken(const Challenge& c, const std::string& scope, const std::string& what) {
    auto realm_it = c.params.find("realm");
    if (realm_it == c.params.end() || realm_it->second.empty()) {
      return Final(ErrorCode::kUnavailable,
                   Prefix(what) + ": the Bearer challenge names no realm (token service)");
    }
    auto parsed = urls::parse_absolute_uri(realm_it->second);
    auto realm = parsed ? ToLocation(*parsed)
                        : boost::system::result<Location, std::string>(std::string("not a URL"));
    if (!realm) {
      return Final(ErrorCode::kUnavailable, Prefix(what) + ": the token service's URL \"" +
                                                LogText(realm_it->second, 200) +
                                                "\" is unusable: " + realm.error());
    }
    if (!realm->origin.tls && origin.tls) {
      return Final(ErrorCode::kUnavailable,
                   Prefix(what) + ": the token service " + realm->origin.Str() +
                       " is plain http; credentials and tokens go over https only");
    }
    Location at = *realm;
    char sep = at.target.find('?') == std::string::npos ? '?' : '&';
    if (auto s = c.params.find("service"); s != c.params.end()) {
      at.target += sep + std::string("service=") + QueryValue(s->second);
      sep = '&';
    }
    if (!scope.empty()) at.target += sep + std::string("scope=") + QueryValue(scope);
    std::string token_what = what + " (token from " + realm->origin.Str() + ")";
    Headers headers;
    if (!basic.empty()) headers.emplace_back("Authorization", basic);
    auto a = Send(at, http::verb::get, headers, token_what);
    if (!a) return a.error();
    int status = a->status();
    if (status == 401 || status == 403) {
      Drain(*a);
      return Final(ErrorCode::kDenied,
                   Prefix(what) + ": the token service " + realm->origin.Str() +
                       (basic.empty() ? " refuses an anonymous token; give the rule a username "
                                        "and password"
                                      : " refuses the credentials of user \"" +
                                            LogText(options.username) + "\""));
    }
    if (status != 200) return StatusFailure(*a, token_what, ErrorCode::kUnavailable);
    auto body = ReadBody(*a, kTokenBodyBytes, token_what);
    if (!body) return body.error();
    auto j = nlohmann::json::parse(*body, nullptr, false);
    std::string token;
    if (j.is_object()) {
      for (const char* key : {"token", "access_token"}) {
        if (j.contains(key) && j[key].is_string() && !j[key].get<std::string>().empty()) {
          token = j[key].get<std::string>();
          break;
        }
      }
    }
    if (token.empty()) {
      return Final(ErrorCode::kUnavailable, Prefix(what) + ": the token service " +
                                                realm->origin.Str() + " answered without a token");
    }
    auto lifetime = kDefaultTokenLifetime;
    if (j.contains("expires_in") && j["expires_in"].is_number_integer() &&
        j["expires_in"].get<std::int64_t>() > 0) {
      // A token is asked for again at least daily, whatever the service says.
      lifetime = std::chrono::seconds(
          std::min<std::int64_t>(j["expires_in"].get<std::int64_t>(), 24 * 3600));
    }
    auto margin = std::min<std::chrono::seconds>(kTokenMargin, lifetime / 2);
    std::lock_guard lock(auth_mu);
    scheme = Scheme::kBearer;
    tokens[scope] = Token{std::move(token), Clock::now() + lifetime - margin};
    return {};
  }

  // Answers a 401's challenge, so that the request may be sent again.
  Step<void> Authenticate(const std::string& header, const std::string& scope,
                          const std::string& what) {
    auto c = ParseChallenge(header);
    if (!c || (c->scheme != "basic" && c->scheme != "bearer")) {
      return Final(ErrorCode::kDenied, Prefix(what) +
                                           ": 401 with a challenge Keep cannot answer (\"" +
                                           LogText(header, 120) + "\")");
    }
    if (c->scheme == "basic") {
      if (basic.empty()) {
        return Final(
            ErrorCode::kDenied,
            Prefix(what) +
                ": the upstream asks for credentials; give the rule a username and password");
      }
      std::lock_guard lock(auth_mu);
      scheme = Scheme::kBasic;
      return {};
    }
    std::string token_scope = scope;
    if (token_scope.empty()) {
      if (auto s = c->params.find("scope"); s != c->params.end()) token_scope = s->second;
    }
    return FetchToken(*c, token_scope, what);
  }

  struct Ask {
    std::string target;
    std::string scope;  // "repository:<repo>:pull", or "" for the /v2/ probe
    Headers headers;
    bool follow_redirects = false;
    std::string what;  // "GET /v2/...", for messages
  };

  // Sends the request with the credentials it needs, answering one 401
  // challenge, and following redirects when asked (Authorization only ever
  // goes to the upstream itself).
  Step<Answer> Request(const Ask& ask) {
    Location at{origin, ask.target};
    bool authenticated = false;
    int redirects = 0;
    while (true) {
      bool own = at.origin == origin;
      Headers headers = ask.headers;
      if (own) {
        if (auto authorization = AuthorizationFor(ask.scope)) {
          headers.emplace_back("Authorization", std::move(*authorization));
        }
      }
      auto a = Send(at, http::verb::get, headers, ask.what);
      if (!a) return a.error();
      int status = a->status();
      if (status == 401 && own) {
        std::string challenge = a->Header(http::field::www_authenticate);
        std::string says = UpstreamSays(Drain(*a));
        if (authenticated) {
          return Final(ErrorCode::kDenied,
                       Prefix(ask.what) + ": 401 Unauthorized" +
                           (says.empty() ? "" : " (" + says + ")") + "; access denied " + Who() +
                           (basic.empty() ? "; give the rule a username and password" : ""));
        }
        KEEP_STEP_TRY(Authenticate(challenge, ask.scope, ask.what));
        authenticated = true;
        continue;
      }
      if (ask.follow_redirects && IsRedirect(status)) {
        std::string location = a->Header(http::field::location);
        Drain(*a);
        if (++redirects > kMaxRedirects) {
          return Final(ErrorCode::kUnavailable, Prefix(ask.what) + ": more than " +
                                                    std::to_string(kMaxRedirects) + " redirects");
        }
        auto next = Resolve(at, location);
        if (!next) {
          return Final(ErrorCode::kUnavailable, Prefix(ask.what) + ": redirected to \"" +
                                                    LogText(location, 200) +
                                                    "\", which is unusable: " + next.error());
        }
        if (!next->origin.tls && at.origin.tls) {
          return Final(ErrorCode::kUnavailable, Prefix(ask.what) +
                                                    ": redirected from https to plain http (" +
                                                    next->origin.Str() + ")");
        }
        at = std::move(*next);
        continue;
      }
      return a;
    }
  }

  // ----- retries -----

  // Runs `attempt` up to options.attempts times while it fails transiently,
  // sleeping between tries (Retry-After when given, else exponential
  // back-off; both capped).
  template <class T, class Attempt>
  Result<T> Retrying(const std::string& what, Attempt&& attempt) {
    Failure last;
    for (int n = 0; n < options.attempts; ++n) {
      Step<T> r = attempt();
      if (r) {
        if constexpr (std::is_void_v<T>) {
          return {};
        } else {
          return std::move(*r);
        }
      }
      if (!r.error().transient) return r.error().error;
      last = std::move(r.error());
      if (n + 1 == options.attempts) break;
      std::chrono::milliseconds sleep = options.first_backoff * (1LL << std::min(n, 20));
      if (last.retry_after) sleep = *last.retry_after;
      std::this_thread::sleep_for(std::min<std::chrono::milliseconds>(sleep, kMaxRetrySleep));
    }
    return Fail(ErrorCode::kUnavailable,
                Prefix(what) + " failed after " + std::to_string(options.attempts) +
                    (options.attempts == 1 ? " try: " : " tries: ") + last.error.message);
  }
};

Upstream::Upstream(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Upstream::~Upstream() = default;

const std::string& Upstream::url() const { return impl_->options.url; }

Result<std::unique_ptr<Upstream>> Upstream::Open(UpstreamOptions options) {
  auto impl = std::make_unique<Impl>();
  // A URL with user information may hold a password: it is not repeated.
  std::string shown =
      options.url.find('@') == std::string::npos ? " \"" + LogText(options.url, 200) + "\"" : "";
  auto bad = [&](const std::string& why) {
    return Fail(ErrorCode::kInvalid, "bad upstream URL" + shown + ": " + why);
  };
  auto url = urls::parse_absolute_uri(options.url);
  if (!url) return bad("expected https://HOST[:PORT] or http://HOST[:PORT]");
  if (url->has_userinfo())
    return bad("give the credentials as username and password, not in the URL");
  if (url->has_query() || url->has_fragment()) return bad("a query or fragment has no place in it");
  if (!url->encoded_path().empty() && url->encoded_path() != "/") {
    return bad("a path has no place in it");
  }
  auto location = ToLocation(*url);
  if (!location) return bad(location.error());
  impl->origin = location->origin;
  options.attempts = std::max(options.attempts, 1);
  options.connections = std::max(options.connections, 1);
  if (options.timeout.count() <= 0) options.timeout = std::chrono::seconds(60);
  if (!options.username.empty()) {
    impl->basic = "Basic " + EncodeBase64(options.username + ":" + options.password);
  }

  SSL_CTX_set_min_proto_version(impl->tls.native_handle(), TLS1_2_VERSION);
  impl->tls.set_verify_mode(ssl::verify_peer);
  error_code ec;
  if (options.ca_file.empty()) {
    impl->tls.set_default_verify_paths(ec);
    if (ec) {
      return Fail(ErrorCode::kInternal,
                  "cannot load the system's CA certificates: " + ec.message());
    }
  } else {
    impl->tls.load_verify_file(options.ca_file, ec);
    if (ec) {
      return Fail(ErrorCode::kInvalid, "cannot use " + options.ca_file +
                                           " as the upstream's CA file: " + ec.message() +
                                           " (it must hold PEM certificates)");
    }
  }
  impl->options = std::move(options);
  return std::unique_ptr<Upstream>(new Upstream(std::move(impl)));
}

Result<void> Upstream::Probe() {
  Impl& u = *impl_;
  Impl::Slot slot(u);
  std::string what = "GET /v2/";
  return u.Retrying<void>(what, [&]() -> Step<void> {
    auto a = u.Request({"/v2/", "", {}, false, what});
    if (!a) return a.error();
    if (a->status() != 200) return u.StatusFailure(*a, what, ErrorCode::kNotFound);
    u.Drain(*a);
    return {};
  });
}

Result<UpstreamManifest> Upstream::GetManifest(std::string_view repo, std::string_view reference,
                                               std::size_t max_bytes) {
  KEEP_TRY(ValidateRepoName(repo));
  auto ref = Reference::Parse(reference);
  if (!ref) return ref.error();
  Impl& u = *impl_;
  Impl::Slot slot(u);
  std::string target = "/v2/" + std::string(repo) + "/manifests/" + ref->str();
  std::string what = "GET " + target;
  std::string scope = "repository:" + std::string(repo) + ":pull";
  return u.Retrying<UpstreamManifest>(what, [&]() -> Step<UpstreamManifest> {
    auto a = u.Request({target, scope, {{"Accept", kManifestAccept}}, false, what});
    if (!a) return a.error();
    if (a->status() != 200) return u.StatusFailure(*a, what, ErrorCode::kManifestUnknown);
    std::string content_type = a->Header(http::field::content_type);
    std::string sent_digest = a->Header("Docker-Content-Digest");
    auto body = u.ReadBody(*a, max_bytes, what);
    if (!body) return body.error();
    std::string media_type = Lower(std::string(
        TrimOws(std::string_view(content_type)
                    .substr(0, std::min(content_type.size(), content_type.find(';'))))));
    auto hash = [&](DigestAlgorithm algorithm) {
      Hasher h(algorithm);
      h.Update(*body);
      return h.Finish();
    };
    Digest digest = ref->is_digest() ? hash(ref->digest().algorithm()) : Sha256Of(*body);
    if (ref->is_digest()) {
      if (!(digest == ref->digest())) {
        return Final(ErrorCode::kDigestInvalid, u.Prefix(what) + ": the bytes sent have digest " +
                                                    digest.str() + ", not " + ref->digest().str());
      }
    } else {
      if (!sent_digest.empty()) {
        auto claimed = Digest::Parse(TrimOws(sent_digest));
        if (!claimed) {
          return Final(ErrorCode::kDigestInvalid, u.Prefix(what) + ": Docker-Content-Digest \"" +
                                                      LogText(sent_digest, 140) +
                                                      "\" is not a digest");
        }
        Digest actual =
            claimed->algorithm() == DigestAlgorithm::kSha256 ? digest : hash(claimed->algorithm());
        if (!(actual == *claimed)) {
          return Final(ErrorCode::kDigestInvalid,
                       u.Prefix(what) + ": the bytes sent have digest " + actual.str() +
                           ", but Docker-Content-Digest says " + claimed->str());
        }
      }
    }
    return UpstreamManifest{std::move(media_type), std::move(*body), std::move(digest)};
  });
}

Result<std::vector<std::string>> Upstream::ListTags(std::string_view repo) {
  KEEP_TRY(ValidateRepoName(repo));
  Impl& u = *impl_;
  Impl::Slot slot(u);
  std::string scope = "repository:" + std::string(repo) + ":pull";
  std::vector<std::string> tags;
  std::string target = "/v2/" + std::string(repo) + "/tags/list?n=1000";
  for (int page = 0;; ++page) {
    if (page == kMaxTagPages) {
      return Fail(ErrorCode::kUnavailable, u.Prefix("GET /v2/" + std::string(repo) + "/tags/list") +
                                               ": more than " + std::to_string(kMaxTagPages) +
                                               " pages");
    }
    std::string what = "GET " + target;
    std::optional<std::string> next;
    auto r = u.Retrying<void>(what, [&]() -> Step<void> {
      auto a = u.Request({target, scope, {}, false, what});
      if (!a) return a.error();
      if (a->status() != 200) return u.StatusFailure(*a, what, ErrorCode::kNameUnknown);
      std::string link = a->Header(http::field::link);
      auto body = u.ReadBody(*a, kTagPageBytes, what);
      if (!body) return body.error();
      auto j = nlohmann::json::parse(*body, nullptr, false);
      if (!j.is_object() || (j.contains("tags") && !j["tags"].is_array() && !j["tags"].is_null())) {
        return Final(ErrorCode::kUnavailable, u.Prefix(what) + ": the answer is not a tag list");
      }
      std::vector<std::string> page_tags;
      if (j.contains("tags") && j["tags"].is_array()) {
        for (const auto& t : j["tags"]) {
          if (!t.is_string()) {
            return Final(ErrorCode::kUnavailable, u.Prefix(what) + ": a tag is not a string");
          }
          // Tags longer than the spec allows are nobody's: skipped.
          if (t.get_ref<const std::string&>().size() <= 128)
            page_tags.push_back(t.get<std::string>());
        }
        if (tags.size() + page_tags.size() > kMaxTags) {
          return Final(ErrorCode::kUnavailable,
                       u.Prefix(what) + ": more than " + std::to_string(kMaxTags) + " tags");
        }
      }
      tags.insert(tags.end(), page_tags.begin(), page_tags.end());
      next.reset();
      // Link: <url>; rel="next" (there may be other links, comma-separated).
      std::string_view rest = link;
      while (!rest.empty()) {
        auto open = rest.find('<');
        auto close = rest.find('>', open == std::string_view::npos ? 0 : open);
        if (open == std::string_view::npos || close == std::string_view::npos) break;
        std::string_view url = rest.substr(open + 1, close - open - 1);
        rest.remove_prefix(close + 1);
        std::string_view params = rest.substr(0, rest.find('<'));
        std::string lowered = Lower(std::string(params));
        if (lowered.find("rel=\"next\"") != std::string::npos ||
            lowered.find("rel=next") != std::string::npos) {
          next = std::string(url);
          break;
        }
      }
      return {};
    });
    if (!r) return r.error();
    if (!next) return tags;
    auto loc = Resolve(Location{u.origin, target}, *next);
    if (!loc || !(loc->origin == u.origin)) {
      return Fail(ErrorCode::kUnavailable, u.Prefix(what) + ": the next page's link \"" +
                                               LogText(*next, 200) +
                                               "\" does not point at the upstream");
    }
    target = loc->target;
  }
}

Result<void> Upstream::FetchBlob(std::string_view repo, const Digest& digest,
                                 std::uint64_t expected_size, std::uint64_t offset,
                                 const ChunkSink& sink) {
  KEEP_TRY(ValidateRepoName(repo));
  Impl& u = *impl_;
  std::string target = "/v2/" + std::string(repo) + "/blobs/" + digest.str();
  std::string what = "GET " + target;
  if (offset > expected_size) {
    return Fail(ErrorCode::kRangeInvalid, u.Prefix(what) + ": offset " + std::to_string(offset) +
                                              " is past the blob's size " +
                                              std::to_string(expected_size));
  }
  if (offset == expected_size && expected_size > 0) return {};
  Impl::Slot slot(u);
  std::string scope = "repository:" + std::string(repo) + ":pull";
  const std::uint64_t wanted = expected_size - offset;
  return u.Retrying<void>(what, [&]() -> Step<void> {
    Headers headers;
    if (offset > 0) headers.emplace_back("Range", "bytes=" + std::to_string(offset) + "-");
    auto a = u.Request({target, scope, std::move(headers), true, what});
    if (!a) return a.error();
    std::uint64_t skip = 0;
    if (a->status() == 206) {
      // Content-Range: bytes <first>-<last>/<size>
      std::string range = a->Header(http::field::content_range);
      std::string expected_start = "bytes " + std::to_string(offset) + "-";
      if (range.rfind(expected_start, 0) != 0) {
        a->conn.reset();
        return Final(ErrorCode::kUnavailable,
                     u.Prefix(what) + ": asked for bytes from " + std::to_string(offset) +
                         " on, the upstream sent \"" + LogText(range, 80) + "\"");
      }
    } else if (a->status() == 200) {
      skip = offset;
    } else {
      return u.StatusFailure(*a, what, ErrorCode::kBlobUnknown);
    }
    if (auto n = a->ContentLength(); n && *n >= skip && *n - skip > wanted) {
      a->conn.reset();
      return Final(ErrorCode::kSizeInvalid, u.Prefix(what) + ": the upstream sends " +
                                                std::to_string(*n - skip) + " bytes from offset " +
                                                std::to_string(offset) + ", the blob has " +
                                                std::to_string(wanted) + " left (" +
                                                std::to_string(expected_size) + " bytes in all)");
    }
    std::uint64_t got = 0;
    auto r = u.StreamBody(*a, [&](std::string_view piece) -> Step<void> {
      if (skip > 0) {
        auto n = static_cast<std::size_t>(std::min<std::uint64_t>(skip, piece.size()));
        piece.remove_prefix(n);
        skip -= n;
        if (piece.empty()) return {};
      }
      if (got + piece.size() > wanted) {
        return Final(ErrorCode::kSizeInvalid,
                     u.Prefix(what) + ": the upstream sent more than the " +
                         std::to_string(expected_size) + " bytes the blob has");
      }
      auto s = sink(piece);
      if (!s) return Final(s.error());
      got += piece.size();
      return {};
    });
    if (!r) {
      if (r.error().transient && got > 0) {
        return Final(ErrorCode::kUnavailable,
                     u.Prefix(what) + ": the transfer broke after " + std::to_string(got) +
                         " bytes arrived (from offset " + std::to_string(offset) + ", " +
                         std::to_string(wanted - got) +
                         " bytes missing): " + r.error().error.message);
      }
      return r.error();
    }
    if (got < wanted) {
      return Final(ErrorCode::kSizeInvalid, u.Prefix(what) + ": the upstream's blob ended after " +
                                                std::to_string(got) + " bytes from offset " +
                                                std::to_string(offset) + "; " +
                                                std::to_string(wanted) + " were expected (" +
                                                std::to_string(expected_size) + " bytes in all)");
    }
    return {};
  });
}

Result<std::optional<std::string>> Upstream::Referrers(std::string_view repo,
                                                       const Digest& digest) {
  KEEP_TRY(ValidateRepoName(repo));
  Impl& u = *impl_;
  Impl::Slot slot(u);
  std::string target = "/v2/" + std::string(repo) + "/referrers/" + digest.str();
  std::string what = "GET " + target;
  std::string scope = "repository:" + std::string(repo) + ":pull";
  return u.Retrying<std::optional<std::string>>(what, [&]() -> Step<std::optional<std::string>> {
    auto a = u.Request({target, scope, {{"Accept", kIndexType}}, false, what});
    if (!a) return a.error();
    if (a->status() == 404) {
      u.Drain(*a);
      return std::optional<std::string>();
    }
    if (a->status() != 200) return u.StatusFailure(*a, what, ErrorCode::kNotFound);
    auto body = u.ReadBody(*a, kReferrersBytes, what);
    if (!body) return body.error();
    return std::optional<std::string>(std::move(*body));
  });
}

}  // namespace keep::mirror
