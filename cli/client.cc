#include "cli/client.h"

#include "core/base64.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/url/parse.hpp>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include <algorithm>
#include <cctype>

namespace keep::cli {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using boost::system::error_code;

constexpr std::size_t kMaxAnswerBytes = 16 << 20;

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

}  // namespace

std::string ServerUrl::HostPort() const {
  return (ipv6 ? "[" + host + "]" : host) + ":" + port;
}

std::string ServerUrl::ToString() const {
  std::string out = "https://" + (ipv6 ? "[" + host + "]" : host);
  if (port != "443") out += ":" + port;
  return out + base_path;
}

Result<ServerUrl> ParseServerUrl(std::string_view text) {
  std::string s(text);
  if (s.find("://") == std::string::npos) s = "https://" + s;
  auto bad = [&](const std::string& why) {
    return Usage("bad server URL \"" + std::string(text) + "\": " + why);
  };
  auto url = boost::urls::parse_uri(s);
  if (!url) return bad("expected https://HOST[:PORT]");
  if (Lower(std::string(url->scheme())) != "https") return bad("keepctl speaks https only");
  if (url->has_userinfo()) return bad("put the user in --user, not in the URL");
  if (url->has_query() || url->has_fragment()) return bad("a query or fragment has no place in it");
  ServerUrl out;
  switch (url->host_type()) {
    case boost::urls::host_type::ipv4: out.ip = true; break;
    case boost::urls::host_type::ipv6: out.ip = out.ipv6 = true; break;
    case boost::urls::host_type::name: break;
    default: return bad("expected a host name or an IP address");
  }
  out.host = Lower(url->host_address());
  if (out.host.empty()) return bad("it names no host");
  out.port = "443";
  if (url->has_port()) {
    // port_number() wraps past 65535: read the digits ourselves.
    std::string port(url->port());
    unsigned long n = 0;
    for (char c : port) n = n > 65535 ? n : n * 10 + static_cast<unsigned long>(c - '0');
    if (port.empty() || n == 0 || n > 65535) return bad("bad port \"" + port + "\"");
    out.port = std::to_string(n);
  }
  out.base_path = std::string(url->encoded_path());
  while (!out.base_path.empty() && out.base_path.back() == '/') out.base_path.pop_back();
  return out;
}

std::string PathSegment(std::string_view segment) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : segment) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

struct AdminClient::Impl {
  Options options;
  asio::io_context ioc;
  ssl::context tls{ssl::context::tls_client};
  std::unique_ptr<beast::ssl_stream<beast::tcp_stream>> stream;
  beast::flat_buffer buffer;

  // Runs one asynchronous operation to its end (or its deadline): the calls
  // are synchronous, with the deadlines only the asynchronous API offers.
  template <class Initiate>
  error_code Run(Initiate&& initiate) {
    beast::get_lowest_layer(*stream).expires_after(options.timeout);
    error_code result = asio::error::operation_aborted;
    initiate([&](error_code ec, auto&&...) { result = ec; });
    ioc.restart();
    ioc.run();
    return result;
  }

  Failure Transport(const std::string& step, const error_code& ec) const {
    if (ec == beast::error::timeout) {
      return Failed(options.server.HostPort() + " did not answer within " +
                    std::to_string(options.timeout.count()) + " s (" + step + ")");
    }
    return Failed("cannot reach " + options.server.HostPort() + " (" + step + "): " + ec.message());
  }

  Result<void> Connect() {
    const ServerUrl& server = options.server;
    asio::ip::tcp::resolver resolver(ioc);
    error_code ec;
    auto endpoints = resolver.resolve(server.host, server.port, ec);
    if (ec) return Failed("cannot resolve " + server.host + ": " + ec.message());
    stream = std::make_unique<beast::ssl_stream<beast::tcp_stream>>(ioc, tls);
    SSL* ssl = stream->native_handle();
    stream->set_verify_mode(ssl::verify_peer);
    // OpenSSL checks the name (or address) during the handshake.
    bool named = server.ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), server.host.c_str())
                           : SSL_set1_host(ssl, server.host.c_str()) &&
                                 SSL_set_tlsext_host_name(ssl, server.host.c_str());
    if (!named) return Failed("cannot set up TLS for the host " + server.host);
    ec = Run([&](auto handler) {
      beast::get_lowest_layer(*stream).async_connect(endpoints, handler);
    });
    if (ec) return Transport("connect", ec);
    ec = Run([&](auto handler) { stream->async_handshake(ssl::stream_base::client, handler); });
    if (ec) {
      long verify = SSL_get_verify_result(ssl);
      if (verify != X509_V_OK) {
        std::string hint =
            options.ca_file.empty()
                ? "pass --ca with the registry's certificate (keepd prints its path when it starts)"
                : "pass --ca with the certificate the registry serves, or of the CA that issued it";
        if (verify == X509_V_ERR_HOSTNAME_MISMATCH || verify == X509_V_ERR_IP_ADDRESS_MISMATCH) {
          hint = "use the host name or address the certificate was issued for";
        }
        return Failed("cannot verify the TLS certificate of " + server.HostPort() + ": " +
                          X509_verify_cert_error_string(verify),
                      hint);
      }
      return Transport("TLS handshake", ec);
    }
    buffer.clear();
    return {};
  }

  void Disconnect() {
    if (!stream) return;
    error_code ignored;
    beast::get_lowest_layer(*stream).socket().close(ignored);
    stream.reset();
  }
};

AdminClient::AdminClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
AdminClient::~AdminClient() {
  if (impl_) impl_->Disconnect();
}
AdminClient::AdminClient(AdminClient&&) noexcept = default;
AdminClient& AdminClient::operator=(AdminClient&&) noexcept = default;

const ServerUrl& AdminClient::server() const { return impl_->options.server; }

Result<AdminClient> AdminClient::Open(Options options) {
  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  SSL_CTX_set_min_proto_version(impl->tls.native_handle(), TLS1_2_VERSION);
  error_code ec;
  if (impl->options.ca_file.empty()) {
    impl->tls.set_default_verify_paths(ec);
    if (ec) return Failed("cannot load the system's CA certificates: " + ec.message());
  } else {
    impl->tls.load_verify_file(impl->options.ca_file, ec);
    if (ec) {
      return Failed("cannot use " + impl->options.ca_file +
                    " as CA file: " + ec.message(),
                    "give --ca a PEM file holding the registry's certificate");
    }
  }
  AdminClient client(std::move(impl));
  client.unauthorized_hint_ = "run `keepctl login " + client.server().ToString() +
                              " --user NAME` to sign in";
  return client;
}

Result<nlohmann::json> AdminClient::Get(const std::string& path) {
  return Call(Method::kGet, path, std::nullopt);
}
Result<nlohmann::json> AdminClient::Delete(const std::string& path) {
  return Call(Method::kDelete, path, std::nullopt);
}
Result<nlohmann::json> AdminClient::Post(const std::string& path, const nlohmann::json& body) {
  return Call(Method::kPost, path, body);
}
Result<nlohmann::json> AdminClient::Put(const std::string& path, const nlohmann::json& body) {
  return Call(Method::kPut, path, body);
}
Result<nlohmann::json> AdminClient::Patch(const std::string& path, const nlohmann::json& body) {
  return Call(Method::kPatch, path, body);
}

std::string HttpAnswer::Header(std::string_view name) const {
  auto it = headers.find(name);
  return it == headers.end() ? std::string() : it->second;
}

Result<HttpAnswer> AdminClient::Send(Method method, const std::string& target,
                                     const HttpHeaders& headers, std::string body) {
  static constexpr http::verb kVerbs[] = {http::verb::get,   http::verb::head,
                                          http::verb::post,  http::verb::put,
                                          http::verb::patch, http::verb::delete_};
  Impl& im = *impl_;
  const std::string full = im.options.server.base_path + target;
  http::request<http::string_body> req{kVerbs[static_cast<int>(method)], full, 11};
  req.set(http::field::host, im.options.server.HostPort());
  req.set(http::field::user_agent, "keepctl");
  req.set(http::field::authorization,
          "Basic " + EncodeBase64(im.options.user + ":" + im.options.password));
  for (const auto& [name, value] : headers) req.set(name, value);
  req.body() = std::move(body);
  req.prepare_payload();

  if (!im.stream) KEEPCTL_TRY(im.Connect());
  error_code ec = im.Run([&](auto handler) { http::async_write(*im.stream, req, handler); });
  if (ec) {
    im.Disconnect();
    return im.Transport("sending " + full, ec);
  }
  http::response_parser<http::string_body> parser;
  parser.body_limit(kMaxAnswerBytes);
  parser.skip(method == Method::kHead);  // a HEAD answer has no body to read
  ec = im.Run([&](auto handler) { http::async_read(*im.stream, im.buffer, parser, handler); });
  if (ec) {
    im.Disconnect();
    return im.Transport("reading the answer to " + full, ec);
  }
  auto& res = parser.get();
  if (!res.keep_alive()) im.Disconnect();
  HttpAnswer answer{static_cast<int>(res.result_int()), std::string(res.reason()), {}, std::move(res.body())};
  for (const auto& field : res) {
    answer.headers[Lower(std::string(field.name_string()))] = std::string(field.value());
  }
  return answer;
}

Result<nlohmann::json> AdminClient::Call(Method method, const std::string& path,
                                         const std::optional<nlohmann::json>& body) {
  const std::string target = "/admin/v1" + path;
  HttpHeaders headers = {{"Accept", "application/json"}};
  if (body) headers.emplace_back("Content-Type", "application/json");
  auto answer = Send(method, target, headers, body ? body->dump() : std::string());
  if (!answer) return answer.error();
  if (answer->status < 200 || answer->status > 299) return ErrorOf(*answer);
  if (answer->body.empty()) return Ok(nlohmann::json());
  auto json = nlohmann::json::parse(answer->body, nullptr, false);
  if (json.is_discarded()) {
    return Failed("the answer to " + target + " is not JSON; is " +
                  impl_->options.server.ToString() + " a Keep registry?");
  }
  return Ok(std::move(json));
}

Failure AdminClient::ErrorOf(const HttpAnswer& answer) const {
  auto json = nlohmann::json::parse(answer.body, nullptr, false);
  std::string message;
  if (json.is_object() && json.contains("errors") && json["errors"].is_array() &&
      !json["errors"].empty() && json["errors"][0].is_object()) {
    const auto& e = json["errors"][0];
    if (e.contains("message") && e["message"].is_string()) message = e["message"];
  }
  if (message.empty()) {
    message = "the server answered " + std::to_string(answer.status) + " " + answer.reason;
  }
  Failure failure = Failed(message, answer.status == 401 ? unauthorized_hint_ : "");
  failure.http_status = answer.status;
  return failure;
}

}  // namespace keep::cli
