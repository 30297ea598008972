// cli/client.h — keepctl's HTTPS client of the admin API (docs/admin-api.md).
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
#include <memory>
#include <optional>
#include <string>
#include <string_view>

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

class AdminClient {
 public:
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

  // The hint printed under a 401; by default, to run `keepctl login`.
  void set_unauthorized_hint(std::string hint) { unauthorized_hint_ = std::move(hint); }
  const ServerUrl& server() const;

 private:
  struct Impl;
  enum class Method { kGet, kPost, kPut, kPatch, kDelete };
  explicit AdminClient(std::unique_ptr<Impl> impl);
  Result<nlohmann::json> Call(Method method, const std::string& path,
                              const std::optional<nlohmann::json>& body);
  Failure ServerError(int status, std::string_view reason, const std::string& body) const;

  std::unique_ptr<Impl> impl_;
  std::string unauthorized_hint_;
};

}  // namespace keep::cli
