#include "tests/support/https_client.h"

#include "core/base64.h"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include <stdexcept>

namespace keep::testkit {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace ssl = asio::ssl;

bool SendsBody(http::verb v) {
  return v == http::verb::post || v == http::verb::put || v == http::verb::patch;
}

}  // namespace

std::string Response::Header(std::string_view name) const {
  auto it = headers.find(name);
  return it == headers.end() ? std::string() : std::string(it->value());
}

bool Response::HasHeader(std::string_view name) const { return headers.find(name) != headers.end(); }

nlohmann::json Response::Json() const { return nlohmann::json::parse(body, nullptr, false); }

struct HttpsClient::Connection {
  Connection(asio::io_context& ioc, ssl::context& tls) : stream(ioc, tls) {}
  beast::ssl_stream<beast::tcp_stream> stream;
  beast::flat_buffer buffer;
};

HttpsClient::HttpsClient(std::uint16_t port, std::string ca_file, std::string host)
    : port_(port),
      host_(std::move(host)),
      ioc_(std::make_unique<asio::io_context>()),
      tls_(std::make_unique<ssl::context>(ssl::context::tls_client)) {
  plain_ = ca_file.empty();
  if (!plain_) tls_->load_verify_file(ca_file);
}

template <class F>
void HttpsClient::WithStream(F&& f) {
  if (plain_) {
    f(beast::get_lowest_layer(conn_->stream));
  } else {
    f(conn_->stream);
  }
}

void HttpsClient::SetClientCertificate(const std::string& cert_file, const std::string& key_file) {
  tls_->use_certificate_chain_file(cert_file);
  tls_->use_private_key_file(key_file, ssl::context::pem);
  conn_.reset();
}

HttpsClient::~HttpsClient() = default;
HttpsClient::HttpsClient(HttpsClient&&) noexcept = default;
// Not the default: that assigns members in order, so the old io_context and
// TLS context were destroyed while the old connection's stream still used
// them (a use after free when a client with an open connection was
// replaced, seen as glibc's "corrupted size vs. prev_size").
HttpsClient& HttpsClient::operator=(HttpsClient&& other) noexcept {
  if (this == &other) return *this;
  conn_.reset();
  port_ = other.port_;
  plain_ = other.plain_;
  host_ = std::move(other.host_);
  source_ = std::move(other.source_);
  ioc_ = std::move(other.ioc_);
  tls_ = std::move(other.tls_);
  conn_ = std::move(other.conn_);
  authorization_ = std::move(other.authorization_);
  last_error_ = std::move(other.last_error_);
  connections_opened_ = other.connections_opened_;
  timeout_ = other.timeout_;
  return *this;
}

void HttpsClient::SetSourceAddress(std::string address) { source_ = std::move(address); }

void HttpsClient::SetBasicAuth(const std::string& user, const std::string& password) {
  authorization_ = user.empty() ? std::string() : "Basic " + EncodeBase64(user + ":" + password);
}

template <class Initiate>
void HttpsClient::Await(Initiate&& initiate) {
  beast::get_lowest_layer(conn_->stream).expires_after(timeout_);
  boost::system::error_code result;
  initiate([&](boost::system::error_code ec, auto&&...) { result = ec; });
  ioc_->restart();
  ioc_->run();
  if (result) throw boost::system::system_error(result);
}

void HttpsClient::Connect() {
  conn_ = std::make_unique<Connection>(*ioc_, *tls_);
  auto& stream = conn_->stream;
  stream.set_verify_mode(ssl::verify_peer);
  stream.set_verify_callback(ssl::host_name_verification(host_));
  asio::ip::tcp::endpoint server(asio::ip::make_address(host_), port_);
  if (!source_.empty()) {
    auto& socket = beast::get_lowest_layer(stream).socket();
    socket.open(server.protocol());
    socket.bind(asio::ip::tcp::endpoint(asio::ip::make_address(source_), 0));
  }
  Await([&](auto handler) { beast::get_lowest_layer(stream).async_connect(server, handler); });
  if (!plain_) {
    Await([&](auto handler) { stream.async_handshake(ssl::stream_base::client, handler); });
  }
  ++connections_opened_;
}

bool HttpsClient::TryConnect() {
  try {
    if (!conn_) Connect();
    return true;
  } catch (const std::exception& e) {
    last_error_ = e.what();
    Disconnect();
    return false;
  }
}

void HttpsClient::Disconnect() {
  if (!conn_) return;
  boost::system::error_code ignored;
  beast::get_lowest_layer(conn_->stream).socket().close(ignored);
  conn_.reset();
}

void HttpsClient::WriteRequest(const Request& request) {
  http::request<http::string_body> req{request.method, request.target, 11};
  bool v6 = host_.find(':') != std::string::npos;
  req.set(http::field::host,
          (v6 ? "[" + host_ + "]" : host_) + ":" + std::to_string(port_));
  if (!authorization_.empty()) req.set(http::field::authorization, authorization_);
  for (const auto& [name, value] : request.headers) req.set(name, value);
  req.body() = request.body;
  if (request.chunked) {
    req.chunked(true);
  } else if (!req.count(http::field::content_length) &&
             (SendsBody(request.method) || !request.body.empty())) {
    req.content_length(request.body.size());
  }
  Await([&](auto handler) {
    WithStream([&](auto& stream) { http::async_write(stream, req, std::move(handler)); });
  });
}

Response HttpsClient::ReadOrThrow(bool head) {
  http::response_parser<http::string_body> parser;
  parser.body_limit(boost::none);
  parser.skip(head);
  Await([&](auto handler) {
    WithStream(
        [&](auto& stream) { http::async_read(stream, conn_->buffer, parser, std::move(handler)); });
  });
  auto& msg = parser.get();
  Response r;
  r.status = msg.result_int();
  r.headers = static_cast<const http::fields&>(msg);
  r.body = std::move(msg.body());
  r.keep_alive = msg.keep_alive();
  return r;
}

std::optional<Response> HttpsClient::ReadResponse(bool head) {
  try {
    if (!conn_) throw std::runtime_error("not connected");
    Response r = ReadOrThrow(head);
    if (!r.keep_alive) Disconnect();
    return r;
  } catch (const std::exception& e) {
    last_error_ = e.what();
    Disconnect();
    return std::nullopt;
  }
}

std::optional<Response> HttpsClient::TrySend(const Request& request) {
  if (!TryConnect()) return std::nullopt;
  bool sent = true;
  try {
    WriteRequest(request);
  } catch (const std::exception& e) {
    // A server may answer early (413, 401) and stop reading: its answer may still be there.
    last_error_ = e.what();
    sent = false;
  }
  auto response = ReadResponse(request.method == http::verb::head);
  // A request not wholly sent leaves the connection out of step: never reuse it.
  if (!sent) Disconnect();
  return response;
}

Response HttpsClient::Send(const Request& request) {
  auto r = TrySend(request);
  if (!r) {
    throw std::runtime_error(std::string(http::to_string(request.method)) + " " +
                             request.target + " failed: " + last_error_);
  }
  return *std::move(r);
}

void HttpsClient::Write(const Request& request) {
  if (!conn_) Connect();
  WriteRequest(request);
}

void HttpsClient::WriteRaw(std::string_view bytes) {
  if (!conn_) Connect();
  Await([&](auto handler) {
    WithStream(
        [&](auto& stream) { asio::async_write(stream, asio::buffer(bytes), std::move(handler)); });
  });
}

Response HttpsClient::Get(std::string target, Headers headers) {
  return Send({http::verb::get, std::move(target), std::move(headers)});
}
Response HttpsClient::Head(std::string target, Headers headers) {
  return Send({http::verb::head, std::move(target), std::move(headers)});
}
Response HttpsClient::Delete(std::string target, Headers headers) {
  return Send({http::verb::delete_, std::move(target), std::move(headers)});
}
Response HttpsClient::Post(std::string target, std::string body, Headers headers) {
  return Send({http::verb::post, std::move(target), std::move(headers), std::move(body)});
}
Response HttpsClient::Put(std::string target, std::string body, Headers headers) {
  return Send({http::verb::put, std::move(target), std::move(headers), std::move(body)});
}
Response HttpsClient::Patch(std::string target, std::string body, Headers headers) {
  return Send({http::verb::patch, std::move(target), std::move(headers), std::move(body)});
}

}  // namespace keep::testkit
