// server/forwarded.h — where a request came from when a proxy stands in
// between: the client's address, the scheme and the host it asked for.
//
// A load balancer that terminates TLS connects to keepd itself, and says
// who its client was in X-Forwarded-For, X-Forwarded-Proto and
// X-Forwarded-Host. Anyone can send those fields, so they are believed only
// from the proxies the configuration names (proxies.trusted); from any
// other peer they are ignored, and the peer is the client. The client's
// address is what the rate limits count, the request log and the audit log
// name; the scheme and host make the token realm clients are sent to.
#pragma once

#include "core/address.h"

#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/message.hpp>

#include <string>
#include <string_view>

namespace keep::server {

struct Origin {
  std::string client;  // the client's address
  std::string scheme;  // "https" or "http": how the client reached the registry
  std::string host;    // the Host it asked for, as it sent it (may be empty)
};

// `peer` is the connection's remote address and `tls` whether it is
// encrypted. From a trusted proxy:
// - the client is the last address of X-Forwarded-For (all its fields, in
//   order) that is not itself a trusted proxy, walking from the right (what
//   the nearest proxy appended); when every one is trusted, the first. An
//   entry that is not an IP address stops the walk: what lies left of it
//   cannot be believed;
// - the scheme is the last X-Forwarded-Proto value when it is "http" or
//   "https";
// - the host is the last X-Forwarded-Host value.
// Otherwise the fields are ignored.
Origin OriginOf(const boost::beast::http::request_header<>& request, std::string_view peer,
                bool tls, const AddressSet& trusted);

}  // namespace keep::server
