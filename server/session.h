// server/session.h — serves one TLS connection: HTTP/1.1 keep-alive, a
// fresh parser and deadline per request, routing, authentication and
// authorisation before any handler, one JSON log line per request.
#pragma once

#include "server/exchange.h"

#include <boost/asio/ssl/context.hpp>

namespace keep::server {

// Runs until the peer goes away, a deadline passes or the connection breaks.
Awaitable<void> Serve(Stream stream, const Services& services, std::string remote);

}  // namespace keep::server
