#include "server/metrics_server.h"

#include "core/metrics.h"
#include "server/errors.h"
#include "server/handlers/handlers.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>

namespace keep::server {
namespace {

using tcp = asio::ip::tcp;
// A scraper or a probe needs few connections; more are closed at once.
constexpr int kMaxConnections = 64;
constexpr std::uint32_t kHeaderLimit = 8 * 1024;

struct Answer {
  Reply reply;
  metrics::Route route = metrics::Route::kOther;
};

Awaitable<Answer> RouteRequest(const Services& svc, http::verb verb, std::string_view target) {
  std::string_view path = target.substr(0, target.find('?'));
  Answer a;
  if (path == "/metrics") {
    a.route = metrics::Route::kMetrics;
  } else if (path == "/healthz" || path == "/readyz") {
    a.route = metrics::Route::kHealth;
  } else {
    a.reply = ErrorReply(
        Fail(ErrorCode::kNotFound, "this listener serves only /metrics, /healthz and /readyz"));
    co_return a;
  }
  if (verb != http::verb::get && verb != http::verb::head) {
    a.reply = ErrorReply(Fail(ErrorCode::kMethodNotAllowed, "only GET and HEAD are served here"));
    a.reply.headers.set(http::field::allow, "GET, HEAD");
    co_return a;
  }
  if (path == "/metrics") {
    a.reply = co_await handlers::MetricsReply(svc);
  } else if (path == "/healthz") {
    a.reply = handlers::HealthReply();
  } else {
    a.reply = co_await handlers::ReadyReply(svc);
  }
  co_return a;
}

Awaitable<void> ServeConnection(beast::tcp_stream stream, const Services& svc) {
  const Config& cfg = svc.config;
  beast::flat_buffer buffer(kHeaderLimit + 1024);
  bool first = true;
  while (true) {
    stream.expires_after(
        std::chrono::seconds(first ? cfg.header_timeout_seconds : cfg.idle_timeout_seconds));
    first = false;
    http::request_parser<http::empty_body> parser;
    parser.header_limit(kHeaderLimit);
    auto [ec, n] = co_await http::async_read(stream, buffer, parser, kAwait);
    const auto start = std::chrono::steady_clock::now();
    Answer answer;
    bool keep_alive = false;
    if (ec == http::error::end_of_stream || ec == beast::error::timeout || ec == asio::error::eof ||
        ec == asio::error::connection_reset || ec == asio::error::operation_aborted) {
      break;
    }
    if (ec) {  // malformed, oversized, or a body, which nothing here takes
      answer.reply = ErrorReply(Fail(ErrorCode::kInvalid, "malformed request, or one with a body"));
    } else {
      keep_alive = parser.keep_alive();
      answer = co_await RouteRequest(svc, parser.get().method(), parser.get().target());
    }
    const bool head = !ec && parser.get().method() == http::verb::head;
    Reply& reply = answer.reply;
    reply.headers.set("X-Content-Type-Options", "nosniff");
    reply.headers.set(http::field::cache_control, "no-store");
    stream.expires_after(std::chrono::seconds(cfg.body_timeout_seconds));
    std::optional<std::uint64_t> sent;
    if (head) {
      http::response<http::empty_body> res{reply.status, 11};
      static_cast<http::fields&>(res) = std::move(reply.headers);
      res.result(reply.status);
      res.content_length(reply.body.size());
      res.keep_alive(keep_alive);
      auto [wec, w] = co_await http::async_write(stream, res, kAwait);
      if (!wec) sent = 0;
    } else {
      http::response<http::string_body> res{reply.status, 11};
      static_cast<http::fields&>(res) = std::move(reply.headers);
      res.result(reply.status);
      res.body() = std::move(reply.body);
      res.keep_alive(keep_alive);
      res.prepare_payload();
      auto [wec, w] = co_await http::async_write(stream, res, kAwait);
      if (!wec) sent = res.body().size();
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    metrics::CountRequest(
        answer.route,
        ec ? metrics::Method::kOther : metrics::MethodOf(parser.get().method_string()),
        static_cast<int>(reply.status), 0, sent.value_or(0), seconds);
    if (!sent || !keep_alive) break;
  }
  boost::system::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
}

}  // namespace

Result<std::string> ReadScraperToken(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Fail(ErrorCode::kInternal,
                "metrics.token_file: cannot read " + path + ": " + std::strerror(errno));
  }
  std::stringstream ss;
  ss << in.rdbuf();
  std::string token = ss.str();
  const char* space = " \t\r\n";
  token.erase(0, std::min(token.size(), token.find_first_not_of(space)));
  auto end = token.find_last_not_of(space);
  token.erase(end == std::string::npos ? 0 : end + 1);
  if (token.empty()) {
    return Fail(ErrorCode::kInternal, "metrics.token_file: " + path +
                                          " is empty; put the scraper's bearer credential in it "
                                          "(e.g. the output of `openssl rand -hex 32`)");
  }
  for (char c : token) {
    if (static_cast<unsigned char>(c) < 0x21 || static_cast<unsigned char>(c) > 0x7e) {
      return Fail(ErrorCode::kInternal,
                  "metrics.token_file: " + path +
                      " must hold one credential of printable ASCII without spaces");
    }
  }
  return token;
}

Awaitable<void> ServeMetricsListener(tcp::acceptor& acceptor, const Services& svc) {
  // The acceptor's loop is one thread's: its connections need no strand.
  auto& ioc = static_cast<asio::io_context&>(acceptor.get_executor().context());
  auto open = std::make_shared<std::atomic<int>>(0);
  while (true) {
    auto [ec, socket] = co_await acceptor.async_accept(ioc, kAwait);
    if (ec) {
      if (ec == asio::error::operation_aborted) co_return;
      asio::steady_timer t(acceptor.get_executor(), std::chrono::milliseconds(50));
      co_await t.async_wait(kAwait);
      continue;
    }
    if (open->load() >= kMaxConnections) continue;  // closes the socket
    ++*open;
    auto exec = socket.get_executor();
    asio::co_spawn(exec, ServeConnection(beast::tcp_stream(std::move(socket)), svc),
                   [open](std::exception_ptr e) {
                     --*open;
                     if (!e) return;
                     try {
                       std::rethrow_exception(e);
                     } catch (const std::exception& ex) {
                       std::fprintf(stderr, "keepd: a metrics connection ended by an error: %s\n",
                                    ex.what());
                     }
                   });
  }
}

}  // namespace keep::server
