// server/tls.h — the TLS context (TLS 1.2+) and, for a development setup,
// a self-signed certificate made on first start.
#pragma once

#include "core/error.h"

#include <boost/asio/ssl/context.hpp>

#include <string>

namespace keep::server {

struct CertPaths {
  std::string cert;
  std::string key;
  bool created = false;  // made just now
};

// Returns dir/server.crt and dir/server.key, creating a self-signed ECDSA
// P-256 certificate for localhost, 127.0.0.1 and ::1 (and this host's name)
// when they do not exist. The key is written 0600.
[[nodiscard]] Result<CertPaths> EnsureSelfSignedCertificate(const std::string& dir);

[[nodiscard]] Result<void> ConfigureTls(boost::asio::ssl::context& ctx, const std::string& cert,
                                        const std::string& key);

}  // namespace keep::server
