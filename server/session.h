// server/session.h — serves one connection (TLS, or plain HTTP behind a
// load balancer that terminates TLS): HTTP/1.1 keep-alive, a
// fresh parser and deadline per request, routing, authentication and
// authorisation before any handler, one JSON log line per request.
#pragma once

#include "server/exchange.h"

#include <boost/asio/ssl/context.hpp>

namespace keep::server {

// Runs until the peer goes away, a deadline passes or the connection breaks.
// `peer` is the connection's remote address (the client's, unless it is a
// trusted proxy: server/forwarded.h).
Awaitable<void> Serve(Stream stream, const Services& services, std::string peer);

}  // namespace keep::server
