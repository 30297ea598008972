// server/metrics_server.h — the metrics' own access: the scraper's
// credential file (metrics.token_file), and the optional plain-HTTP listener
// (metrics.listen) that serves /metrics, /healthz and /readyz, and nothing
// else, to anyone who can reach it: meant for loopback or an internal
// network that only the monitoring system reaches.
//
// The listener's connections run on the server's io_context, like the
// HTTPS ones; each has a deadline per request and no request body.
#pragma once

#include "server/exchange.h"

#include <boost/asio/ip/tcp.hpp>

#include <string>

namespace keep::server {

// The credential in the file: its content without surrounding white space.
// An error saying why when the file cannot be read or holds nothing.
[[nodiscard]] Result<std::string> ReadScraperToken(const std::string& path);

// Accepts and serves connections until the acceptor is closed.
Awaitable<void> ServeMetricsListener(asio::ip::tcp::acceptor& acceptor, const Services& svc);

}  // namespace keep::server
