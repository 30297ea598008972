// tests/support/https_client.h — a small synchronous HTTPS client for tests.
//
// One client keeps one TLS connection alive across requests, as registry
// clients do, and reconnects only when the server closed it (or after
// Disconnect()). The peer is verified against the server's certificate used
// as the only CA. Every network step has a deadline, so a server that hangs
// fails the test instead of hanging it. The server's address is 127.0.0.1
// unless another is given ("::1", say); the client's own address may be
// chosen too, e.g. another loopback address, to be a second client host.
// Not thread-safe.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/verb.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace keep::testkit {

namespace http = boost::beast::http;

using Headers = std::vector<std::pair<std::string, std::string>>;

struct Request {
  Request(http::verb method, std::string target, Headers headers = {}, std::string body = {},
          bool chunked = false)
      : method(method), target(std::move(target)), headers(std::move(headers)),
        body(std::move(body)), chunked(chunked) {}

  http::verb method;
  std::string target;
  Headers headers;
  std::string body;
  // Transfer-Encoding: chunked instead of Content-Length, as docker sends PATCH bodies.
  bool chunked = false;
};

struct Response {
  int status = 0;
  http::fields headers;
  std::string body;
  bool keep_alive = false;

  // The header's value, or "" when absent.
  std::string Header(std::string_view name) const;
  bool HasHeader(std::string_view name) const;
  // The body as JSON; a discarded value when it is not JSON.
  nlohmann::json Json() const;
};

class HttpsClient {
 public:
  // `host` is the server's IP address, and the name its certificate must
  // carry. An empty `ca_file` makes a plain-HTTP client (no TLS at all),
  // for a keepd with tls.enabled false.
  HttpsClient(std::uint16_t port, std::string ca_file, std::string host = "127.0.0.1");
  ~HttpsClient();
  HttpsClient(HttpsClient&&) noexcept;
  HttpsClient& operator=(HttpsClient&&) noexcept;

  // Sends "Authorization: Basic ..." with every request; an empty user sends none.
  void SetBasicAuth(const std::string& user, const std::string& password);
  // Connects from this local IP address (e.g. "127.0.0.2") from the next connection on.
  void SetSourceAddress(std::string address);
  // Presents this client certificate and key (PEM files) from the next
  // connection on.
  void SetClientCertificate(const std::string& cert_file, const std::string& key_file);

  // Throws std::runtime_error when the exchange fails at the transport level.
  Response Send(const Request& request);
  // As Send, but nullopt (and the connection dropped) on a transport failure.
  std::optional<Response> TrySend(const Request& request);

  Response Get(std::string target, Headers headers = {});
  Response Head(std::string target, Headers headers = {});
  Response Delete(std::string target, Headers headers = {});
  Response Post(std::string target, std::string body = {}, Headers headers = {});
  Response Put(std::string target, std::string body = {}, Headers headers = {});
  Response Patch(std::string target, std::string body, Headers headers = {});

  // Opens the connection now; false (with the reason in last_error()) on failure.
  bool TryConnect();
  // Drops the connection abruptly: no TLS close_notify, like a client that dies.
  void Disconnect();
  // Writes the request without reading the answer, for requests cut short on
  // purpose (a Content-Length larger than the body, say). Throws on failure.
  void Write(const Request& request);
  // Writes bytes as they are on the (opened if needed) connection.
  void WriteRaw(std::string_view bytes);
  // Reads one response from the connection; nullopt when it was closed or broke.
  std::optional<Response> ReadResponse(bool head = false);

  bool connected() const { return conn_ != nullptr; }
  int connections_opened() const { return connections_opened_; }
  const std::string& last_error() const { return last_error_; }

 private:
  struct Connection;

  void Connect();
  void WriteRequest(const Request& request);
  Response ReadOrThrow(bool head);
  // Runs one asynchronous operation to completion; throws its error.
  template <class Initiate>
  void Await(Initiate&& initiate);

  // Runs f on the connection's stream: the TLS one, or its TCP layer.
  template <class F>
  void WithStream(F&& f);

  std::uint16_t port_;
  bool plain_ = false;
  std::string host_;
  std::string source_;
  std::unique_ptr<boost::asio::io_context> ioc_;
  std::unique_ptr<boost::asio::ssl::context> tls_;
  std::unique_ptr<Connection> conn_;
  std::string authorization_;
  std::string last_error_;
  int connections_opened_ = 0;
  std::chrono::seconds timeout_{30};
};

}  // namespace keep::testkit
