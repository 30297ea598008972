// cli/client.h — keepctl's HTTPS client of the admin API (docs/admin-api.md)
// and, for `keepctl sign`, of the registry API (/v2/) on the same server.
//
// One AdminClient talks to one registry as one account (HTTP Basic on every
// request), over TLS 1.2 or later. The server's certificate must chain to
// the CA file given (or to the system's CAs when there is none) and be issued
// for the host name or IP address of the URL. Calls block; each network step
// has a deadline, so a server that stops answering fails the call instead of
// hanging keepctl. Errors come back as Failures that carry the server's own
// message. Not thread-safe: one thread uses one client.
#pragma once

#include "cli/error.h"

#include <nlohmann/json.hpp>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace keep::cli {

// A registry's address: https only; a port defaults to 443; a path is a
// prefix before /admin/v1 (for a registry behind a reverse proxy).
struct ServerUrl {
  std::string host;       // a name, or an IP address without brackets
  bool ipv6 = false;
  bool ip = false;        // host is an IP address (v4 or v6)
  std::string port;       // "443" when the URL named none
  std::string base_path;  // "" or "/prefix" (no trailing slash)

  std::string HostPort() const;  // "[::1]:5000", "example.com:443"
  std::string ToString() const;  // "https://host:port/prefix", without :443
};

// Accepts "https://host[:port][/path]" and, as a convenience, "host[:port]".
// A Usage failure for anything else (http://, a query, credentials in it).
[[nodiscard]] Result<ServerUrl> ParseServerUrl(std::string_view text);

// Percent-encodes one path segment: everything but A-Z a-z 0-9 - . _ ~.
std::string PathSegment(std::string_view segment);

// One answer as it came, for the registry API, whose bodies are not all JSON.
struct HttpAnswer {
  int status = 0;
  std::string reason;
  std::map<std::string, std::string, std::less<>> headers;  // names in lower case
  std::string body;

  // The header's value, or "" when absent. `name` in lower case.
  std::string Header(std::string_view name) const;
};

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

class AdminClient {
 public:
  enum class Method { kGet, kHead, kPost, kPut, kPatch, kDelete };

  struct Options {
    ServerUrl server;
    std::string ca_file;  // empty: the system's CAs
    std::string user;
    std::string password;
    std::chrono::seconds timeout{30};
  };

  // Reads the CA file; fails when it is not a PEM certificate file.
  [[nodiscard]] static Result<AdminClient> Open(Options options);
  ~AdminClient();
  AdminClient(AdminClient&&) noexcept;
  AdminClient& operator=(AdminClient&&) noexcept;

  // `path` is below /admin/v1 and already encoded: "/users/alice". The
  // answer's JSON, null for an empty answer (204), or the server's error.
  [[nodiscard]] Result<nlohmann::json> Get(const std::string& path);
  [[nodiscard]] Result<nlohmann::json> Delete(const std::string& path);
  [[nodiscard]] Result<nlohmann::json> Post(const std::string& path, const nlohmann::json& body);
  [[nodiscard]] Result<nlohmann::json> Put(const std::string& path, const nlohmann::json& body);
  [[nodiscard]] Result<nlohmann::json> Patch(const std::string& path, const nlohmann::json& body);

  // A request to `target`, below the server's base path and already encoded
  // ("/v2/acme/app/manifests/v1"), with the same credentials. Every status
  // comes back as an answer; only a transport failure is a Failure.
  [[nodiscard]] Result<HttpAnswer> Send(Method method, const std::string& target,
                                        const HttpHeaders& headers, std::string body = {});
  // The Failure for an answer that is not 2xx: the server's own message.
  Failure ErrorOf(const HttpAnswer& answer) const;

  // The hint printed under a 401; by default, to run `keepctl login`.
  void set_unauthorized_hint(std::string hint) { unauthorized_hint_ = std::move(hint); }
  const ServerUrl& server() const;

 private:
  struct Impl;
  explicit AdminClient(std::unique_ptr<Impl> impl);
  Result<nlohmann::json> Call(Method method, const std::string& path,
                              const std::optional<nlohmann::json>& body);

  std::unique_ptr<Impl> impl_;
  std::string unauthorized_hint_;
};

}  // namespace keep::cli
