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

// A graceful stop (SIGTERM). From StartDraining on, a connection closes once
// the request it is serving is answered (the answer says `Connection:
// close`), and one that waits between requests closes when
// CloseIdleConnections runs on its event loop's thread.
void StartDraining();
bool Draining();
void CloseIdleConnections();

}  // namespace keep::server
